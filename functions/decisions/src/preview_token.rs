//! Preview tokens: `base64url(activityId:experienceId:expiry_ms)` `.`
//! `base64url(HMAC-SHA256(admin_token, payload))`, where the MAC covers the encoded payload text
//! (the part before the dot). Minted by an admin route; a decision request carrying a valid,
//! unexpired one gets the forced experience. Activity ids may hold `:`: the payload is split at
//! its last two colons (experience ids and the expiry cannot hold one).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted (ids are bounded by validation; this bounds the work).
const MAX_TOKEN_LEN: usize = 4096;

/// What a preview token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The activity forced.
    pub activity_id: String,
    /// The experience forced.
    pub experience_id: String,
    /// Expiry, ms since the epoch.
    pub expires_ms: i64,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `payload.signature` in base64url, or a payload that does not parse.
    #[error("the preview token is malformed")]
    Malformed,
    /// The signature does not match (forged, or signed with another admin token).
    #[error("the preview token's signature is not valid")]
    BadSignature,
    /// Past its expiry.
    #[error("the preview token expired at {0} ms")]
    Expired(i64),
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; the error branch cannot happen.
    HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key"))
}

/// Signs the claims with `secret`.
pub fn mint(secret: &[u8], claims: &Claims) -> String {
    let payload = URL_SAFE_NO_PAD.encode(format!(
        "{}:{}:{}",
        claims.activity_id, claims.experience_id, claims.expires_ms
    ));
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{payload}.{signature}")
}

/// Checks the signature (in constant time), then the expiry against `now_ms`.
pub fn verify(secret: &[u8], token: &str, now_ms: i64) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (payload, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    m.verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let text = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(TokenError::Malformed)?;
    let mut parts = text.rsplitn(3, ':');
    let (Some(expiry), Some(experience), Some(activity)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let expires_ms: i64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    if activity.is_empty() || experience.is_empty() {
        return Err(TokenError::Malformed);
    }
    if now_ms > expires_ms {
        return Err(TokenError::Expired(expires_ms));
    }
    Ok(Claims {
        activity_id: activity.to_owned(),
        experience_id: experience.to_owned(),
        expires_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            activity_id: "urn:act:hero".into(),
            experience_id: "1".into(),
            expires_ms: 2_000,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let token = mint(b"secret", &claims());
        assert_eq!(verify(b"secret", &token, 1_000), Ok(claims()));
        assert_eq!(verify(b"secret", &token, 2_000), Ok(claims()));
        assert_eq!(
            verify(b"secret", &token, 2_001),
            Err(TokenError::Expired(2_000))
        );
        assert_eq!(
            verify(b"other", &token, 1_000),
            Err(TokenError::BadSignature)
        );
        // A payload edited to extend the expiry no longer matches its signature.
        let (_, sig) = token.split_once('.').unwrap();
        let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode("urn:act:hero:1:9999999"));
        assert_eq!(
            verify(b"secret", &forged, 1_000),
            Err(TokenError::BadSignature)
        );
        for bad in ["", "x", "a.b.c", "!!.!!", &"a".repeat(5000)] {
            assert!(verify(b"secret", bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2.
        let mut m = mac(b"Jefe");
        m.update(b"what do ya want for nothing?");
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
