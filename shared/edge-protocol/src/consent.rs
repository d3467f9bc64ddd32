//! `privacy/set-consent`: the three consent forms alloy can send (Adobe 1.0 `general`,
//! Adobe 2.0 `collect`/`personalize`, IAB TCF 2.0 strings), each validated as strictly as the
//! reference platform does and kept as given for the profile; and the one `general=in|out`
//! answer the `kndctr_<org>_consent` cookie needs, without which alloy blocks every later
//! event.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ProtocolError;
use crate::identity_map::IdentityMap;
use crate::limits::Limits;
use crate::request::{Meta, RequestQuery, check_meta};
use crate::tcf;

/// The general consent alloy reads from its consent cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum General {
    /// Collect and personalize.
    In,
    /// Collect nothing beyond the consent change itself.
    Out,
}

impl General {
    /// `in` or `out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }

    /// Parses `in` or `out`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "in" => Some(Self::In),
            "out" => Some(Self::Out),
            _ => None,
        }
    }
}

/// An Adobe 2.0 consent value (`val`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentVal {
    /// Yes.
    Y,
    /// No.
    N,
    /// Yes by default.
    Dy,
    /// No by default.
    Dn,
}

impl ConsentVal {
    /// Whether the value grants.
    pub fn granted(self) -> bool {
        matches!(self, Self::Y | Self::Dy)
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "y" => Some(Self::Y),
            "n" => Some(Self::N),
            "dy" => Some(Self::Dy),
            "dn" => Some(Self::Dn),
            _ => None,
        }
    }
}

/// A `set-consent` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequest {
    /// The consent entries.
    pub consent: Vec<Consent>,
    /// Identities the consent belongs to (top level here, not under `xdm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_map: Option<IdentityMap>,
    /// Request-level query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<RequestQuery>,
    /// Request metadata.
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One consent entry, exactly as sent; [`Consent::form`] interprets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// `Adobe` or `IAB TCF`.
    pub standard: String,
    /// `1.0` or `2.0`.
    pub version: String,
    /// The consent value: an object (Adobe) or the TC string (IAB).
    pub value: Value,
    /// IAB: whether GDPR applies (absent means it does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gdpr_applies: Option<bool>,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a consent entry means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentForm {
    /// Adobe 1.0: `{"general": "in"|"out"}`.
    Adobe1 {
        /// The general consent.
        general: General,
    },
    /// Adobe 2.0: `{"collect": {"val"}, "personalize": {"content": {"val"}}?, …}`.
    Adobe2 {
        /// `collect.val`.
        collect: ConsentVal,
        /// `personalize.content.val`, when given.
        personalize: Option<ConsentVal>,
    },
    /// IAB TCF 2.0: the TC string, stored as given.
    IabTcf2 {
        /// The TC string.
        tc_string: String,
        /// Whether GDPR applies.
        gdpr_applies: bool,
    },
}

impl ConsentForm {
    /// The general consent this form amounts to. IAB: in when GDPR does not apply, otherwise
    /// only if the TC string grants the purposes and vendor in [`tcf::grants_edge`].
    pub fn general(&self) -> General {
        let granted = match self {
            Self::Adobe1 { general } => return *general,
            Self::Adobe2 { collect, .. } => collect.granted(),
            Self::IabTcf2 {
                tc_string,
                gdpr_applies,
            } => !gdpr_applies || tcf::grants_edge(tc_string),
        };
        if granted { General::In } else { General::Out }
    }

    /// Whether this form lets the edge personalize (Adobe 2.0 can say collect yes,
    /// personalize no).
    pub fn personalize(&self) -> bool {
        match self {
            Self::Adobe2 {
                personalize: Some(val),
                ..
            } => val.granted() && self.general() == General::In,
            _ => self.general() == General::In,
        }
    }
}

fn val_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    value.pointer(pointer)
}

impl Consent {
    /// Interprets the entry; the error names the offending path below the entry.
    pub fn form(&self) -> Result<ConsentForm, (String, String)> {
        let err = |path: &str, msg: &str| Err((path.to_owned(), msg.to_owned()));
        match (self.standard.as_str(), self.version.as_str()) {
            ("Adobe", "1.0") => {
                match val_at(&self.value, "/general")
                    .and_then(Value::as_str)
                    .and_then(General::parse)
                {
                    Some(general) => Ok(ConsentForm::Adobe1 { general }),
                    None => err("value.general", "must be \"in\" or \"out\""),
                }
            }
            ("Adobe", "2.0") => {
                if !self.value.is_object() {
                    return err("value", "must be an object");
                }
                let val = |pointer: &str| {
                    val_at(&self.value, pointer)
                        .map(|v| v.as_str().and_then(ConsentVal::parse).ok_or(()))
                        .transpose()
                };
                let collect = match val("/collect/val") {
                    Ok(Some(v)) => v,
                    _ => return err("value.collect.val", "must be one of y, n, dy, dn"),
                };
                let personalize = match val("/personalize/content/val") {
                    Ok(v) => v,
                    Err(()) => {
                        return err(
                            "value.personalize.content.val",
                            "must be one of y, n, dy, dn",
                        );
                    }
                };
                Ok(ConsentForm::Adobe2 {
                    collect,
                    personalize,
                })
            }
            ("IAB TCF", "2.0") => match self.value.as_str() {
                Some(tc) if !tc.is_empty() => Ok(ConsentForm::IabTcf2 {
                    tc_string: tc.to_owned(),
                    gdpr_applies: self.gdpr_applies.unwrap_or(true),
                }),
                _ => err("value", "must be a non-empty TC string"),
            },
            ("Adobe" | "IAB TCF", _) => err("version", "unsupported version for this standard"),
            _ => err("standard", "must be \"Adobe\" or \"IAB TCF\""),
        }
    }
}

impl ConsentRequest {
    /// Checks every entry's form and the per-request bounds.
    pub fn validate(&self, limits: &Limits) -> Result<(), ProtocolError> {
        if self.consent.is_empty() {
            return Err(ProtocolError::invalid(
                "consent",
                "at least one consent entry is required",
            ));
        }
        if self.consent.len() > limits.max_consents {
            return Err(ProtocolError::invalid(
                "consent",
                format!(
                    "{} entries, over the limit of {}",
                    self.consent.len(),
                    limits.max_consents
                ),
            ));
        }
        for (i, entry) in self.consent.iter().enumerate() {
            entry.form().map_err(|(path, msg)| {
                ProtocolError::invalid(format!("consent[{i}].{path}"), msg)
            })?;
        }
        if let Some(map) = &self.identity_map
            && map.len() > limits.max_identities
        {
            return Err(ProtocolError::invalid(
                "identityMap",
                format!(
                    "{} identities, over the limit of {}",
                    map.len(),
                    limits.max_identities
                ),
            ));
        }
        check_meta(&self.meta, limits)
    }

    /// The interpreted entries (invalid ones skipped; [`validate`](Self::validate) refuses them).
    pub fn forms(&self) -> Vec<ConsentForm> {
        self.consent.iter().filter_map(|c| c.form().ok()).collect()
    }

    /// The general consent for the cookie: out if any entry says out, otherwise in.
    pub fn general(&self) -> General {
        if self.forms().iter().any(|f| f.general() == General::Out) {
            General::Out
        } else {
            General::In
        }
    }

    /// Whether the edge may personalize under these entries.
    pub fn personalize(&self) -> bool {
        self.general() == General::In && self.forms().iter().all(ConsentForm::personalize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_consent;

    fn one(consent: &str) -> Result<ConsentRequest, ProtocolError> {
        parse_consent(
            format!(r#"{{"consent":[{consent}]}}"#).as_bytes(),
            &Limits::default(),
        )
    }

    #[test]
    fn adobe_one_point_zero() {
        let req = one(r#"{"standard":"Adobe","version":"1.0","value":{"general":"in"}}"#).unwrap();
        assert_eq!(req.general(), General::In);
        let req = one(r#"{"standard":"Adobe","version":"1.0","value":{"general":"out"}}"#).unwrap();
        assert_eq!(req.general(), General::Out);
        assert!(!req.personalize());
        let err =
            one(r#"{"standard":"Adobe","version":"1.0","value":{"general":"maybe"}}"#).unwrap_err();
        assert_eq!(err.path(), Some("consent[0].value.general"));
        assert_eq!(err.status(), 422);
    }

    #[test]
    fn adobe_two_point_zero() {
        let doc = r#"{"standard":"Adobe","version":"2.0","value":{"collect":{"val":"y"},"personalize":{"content":{"val":"y"}},"metadata":{"time":"2026-01-01T00:00:00Z"}}}"#;
        let req = one(doc).unwrap();
        assert_eq!(req.general(), General::In);
        assert!(req.personalize());
        assert_eq!(
            req.consent[0].value["metadata"]["time"],
            "2026-01-01T00:00:00Z"
        );
        let req = one(r#"{"standard":"Adobe","version":"2.0","value":{"collect":{"val":"y"},"personalize":{"content":{"val":"n"}}}}"#).unwrap();
        assert_eq!(req.general(), General::In);
        assert!(!req.personalize());
        let req = one(r#"{"standard":"Adobe","version":"2.0","value":{"collect":{"val":"dn"}}}"#)
            .unwrap();
        assert_eq!(req.general(), General::Out);
        let err = one(r#"{"standard":"Adobe","version":"2.0","value":{"personalize":{"content":{"val":"y"}}}}"#).unwrap_err();
        assert_eq!(err.path(), Some("consent[0].value.collect.val"));
        let err = one(r#"{"standard":"Adobe","version":"2.0","value":{"collect":{"val":"y"},"personalize":{"content":{"val":1}}}}"#).unwrap_err();
        assert_eq!(err.path(), Some("consent[0].value.personalize.content.val"));
    }

    #[test]
    fn iab_tcf_is_stored_as_given_and_decoded_for_the_cookie() {
        let granted = tcf::tests::build(&[1, 10], &[565], false);
        let req = one(&format!(
            r#"{{"standard":"IAB TCF","version":"2.0","value":"{granted}","gdprApplies":true}}"#
        ))
        .unwrap();
        assert_eq!(req.general(), General::In);
        assert_eq!(req.consent[0].value, Value::from(granted.clone()));
        let denied = tcf::tests::build(&[1], &[565], false);
        let req = one(&format!(
            r#"{{"standard":"IAB TCF","version":"2.0","value":"{denied}"}}"#
        ))
        .unwrap();
        assert_eq!(req.general(), General::Out);
        let req = one(&format!(
            r#"{{"standard":"IAB TCF","version":"2.0","value":"{denied}","gdprApplies":false}}"#
        ))
        .unwrap();
        assert_eq!(req.general(), General::In);
        assert!(one(r#"{"standard":"IAB TCF","version":"2.0","value":""}"#).is_err());
    }

    #[test]
    fn mixed_forms_combine_to_out_when_any_denies() {
        let denied = tcf::tests::build(&[], &[], false);
        let req = parse_consent(
            format!(r#"{{"consent":[{{"standard":"Adobe","version":"1.0","value":{{"general":"in"}}}},{{"standard":"IAB TCF","version":"2.0","value":"{denied}"}}]}}"#).as_bytes(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(req.general(), General::Out);
    }

    #[test]
    fn refuses_unknown_standards_and_versions() {
        let err = one(r#"{"standard":"GPP","version":"1.0","value":"x"}"#).unwrap_err();
        assert_eq!(err.path(), Some("consent[0].standard"));
        let err = one(r#"{"standard":"Adobe","version":"3.0","value":{}}"#).unwrap_err();
        assert_eq!(err.path(), Some("consent[0].version"));
        let err = parse_consent(br#"{"consent":[]}"#, &Limits::default()).unwrap_err();
        assert_eq!(err.path(), Some("consent"));
        let err = parse_consent(br#"{"consent":[{"standard":"Adobe"}]}"#, &Limits::default())
            .unwrap_err();
        assert_eq!(err.status(), 422);
    }
}
