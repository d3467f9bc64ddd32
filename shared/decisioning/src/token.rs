//! The `eventToken` of a proposition: a deterministic, opaque token naming the activity, the
//! experience and the offers shown, so a display or click notification (which carries only
//! `{id, scope, scopeDetails}` back, never the items) can be attributed and capped.
//!
//! Format (version 1): `"1."` followed by the URL-safe, unpadded base64 of the UTF-8 fields
//! joined by U+001F (unit separator): activity id, experience id, flags, then one field per
//! offer id. Flags is `""`, or `"p"` for a preview (never counted). Ids cannot hold control
//! characters (validation refuses them), so the separator is unambiguous. The token is not
//! signed: a client can forge notifications anyway, so it claims no more than they do.

use crate::base64;

/// Separates the fields inside the token.
const SEPARATOR: char = '\u{1f}';
/// Version prefix of the current format.
const PREFIX: &str = "1.";

/// What an event token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventToken {
    /// The activity decided.
    pub activity_id: String,
    /// The experience shown (or [`crate::model::HOLDOUT_EXPERIENCE_ID`]).
    pub experience_id: String,
    /// The offers (proposition items) shown, in item order.
    pub offer_ids: Vec<String>,
    /// A forced preview: shown to QA, never counted.
    pub preview: bool,
}

/// The token text for borrowed fields (what [`EventToken::encode`] writes, without building
/// an [`EventToken`] first: propositions are made on the hot path).
pub fn encode<'a>(
    activity_id: &str,
    experience_id: &str,
    offer_ids: impl Iterator<Item = &'a str>,
    preview: bool,
) -> String {
    let mut plain = String::with_capacity(64);
    plain.push_str(activity_id);
    plain.push(SEPARATOR);
    plain.push_str(experience_id);
    plain.push(SEPARATOR);
    if preview {
        plain.push('p');
    }
    for offer in offer_ids {
        plain.push(SEPARATOR);
        plain.push_str(offer);
    }
    let mut token = String::with_capacity(PREFIX.len() + plain.len().div_ceil(3) * 4);
    token.push_str(PREFIX);
    base64::encode_url_into(&mut token, plain.as_bytes());
    token
}

/// Why a string is not an event token of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not version 1, or not base64.
    #[error("not a Vantage event token")]
    Malformed,
    /// Decodes, but the fields make no sense.
    #[error("event token has {0}")]
    BadFields(&'static str),
}

impl EventToken {
    /// The token text.
    pub fn encode(&self) -> String {
        encode(
            &self.activity_id,
            &self.experience_id,
            self.offer_ids.iter().map(String::as_str),
            self.preview,
        )
    }

    /// Reads a token back.
    pub fn decode(token: &str) -> Result<EventToken, TokenError> {
        let body = token.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
        let bytes = base64::decode_url(body).ok_or(TokenError::Malformed)?;
        let plain = String::from_utf8(bytes).map_err(|_| TokenError::Malformed)?;
        let mut fields = plain.split(SEPARATOR);
        let (Some(activity), Some(experience), Some(flags)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(TokenError::BadFields("too few fields"));
        };
        if activity.is_empty() || experience.is_empty() {
            return Err(TokenError::BadFields("an empty activity or experience id"));
        }
        let preview = match flags {
            "" => false,
            "p" => true,
            _ => return Err(TokenError::BadFields("unknown flags")),
        };
        Ok(EventToken {
            activity_id: activity.to_owned(),
            experience_id: experience.to_owned(),
            offer_ids: fields.map(str::to_owned).collect(),
            preview,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(offers: &[&str], preview: bool) -> EventToken {
        EventToken {
            activity_id: "hero-test".into(),
            experience_id: "1".into(),
            offer_ids: offers.iter().map(|&o| o.to_owned()).collect(),
            preview,
        }
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        for t in [
            token(&["hero-b"], false),
            token(&["a", "b/c", "ü 😀"], true),
            token(&[], false),
        ] {
            let text = t.encode();
            assert_eq!(text, t.clone().encode());
            assert!(text.starts_with("1."));
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            );
            assert_eq!(EventToken::decode(&text), Ok(t));
        }
        // Documented layout, checked once literally.
        assert_eq!(
            token(&["hero-b"], false).encode(),
            format!("1.{}", base64::encode_url(b"hero-test\x1f1\x1f\x1fhero-b"))
        );
    }

    #[test]
    fn rejects_foreign_tokens() {
        for bad in ["", "tok-view-1", "1.", "1.***", "2.aGk"] {
            assert!(EventToken::decode(bad).is_err(), "{bad}");
        }
        let two_fields = format!("1.{}", base64::encode_url(b"a\x1fb"));
        assert_eq!(
            EventToken::decode(&two_fields),
            Err(TokenError::BadFields("too few fields"))
        );
        let flags = format!("1.{}", base64::encode_url(b"a\x1fb\x1fx"));
        assert_eq!(
            EventToken::decode(&flags),
            Err(TokenError::BadFields("unknown flags"))
        );
    }
}
