//! The projection records of the external contract, parsed and validated one at a time.
//!
//! ```json
//! {"type":"profile","identity":{"namespace":"CRMID","id":"c-42"},"timestamp":"…","attributes":{…},"consent":{"collect":"y"}}
//! {"type":"identity-link","timestamp":"…","identities":[{"namespace":"ECID","id":"…"},{"namespace":"CRMID","id":"c-42"}]}
//! {"type":"identity-unlink","identity":{…},"timestamp":"…"}
//! {"type":"membership","identity":{…},"segmentId":"high-value","status":"realized","timestamp":"…","source":"batch"}
//! {"type":"profile-delete","identity":{…},"timestamp":"…"}
//! {"type":"segment","id":"…","name":"…","expression":"<PQL>","timestamp":"…","status":"active"}
//! {"type":"activity","id":"…","timestamp":"…","status":"active", …the activity definition…}
//! ```
//!
//! Extensions beyond the contract: `consent` on profile records (purpose → `y`/`n`/`p`, or
//! `{"val":…}`), `identity-unlink`, and `identity.namespace` also given as `{"code":…}` (the
//! Adobe identity shape). `membership.source` defaults to `batch`, `status` of definitions to
//! `active`; `existing` is read as `realized`.

use serde_json::{Map, Value};
use vantage_model::catalog::DefinitionStatus;
use vantage_model::identity::{Identity, IdentityError};
use vantage_model::profile::consent::{Choice, Entry};
use vantage_model::profile::membership::{Source, Status};
use vantage_model::time::{TimeError, parse_rfc3339};

/// Longest segment, activity or purpose id accepted.
pub const MAX_NAME_LEN: usize = 256;

/// Why one record was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// Over [`Limits::max_record_bytes`](crate::Limits::max_record_bytes).
    #[error("record is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Nested deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    #[error("record nests deeper than {0} levels")]
    TooDeep(usize),
    /// Not UTF-8.
    #[error("record is not UTF-8")]
    NotUtf8,
    /// Not JSON.
    #[error("record is not valid JSON: {0}")]
    Json(String),
    /// JSON, but not an object.
    #[error("record is not a JSON object")]
    NotAnObject,
    /// No `type`, or one this edge does not know.
    #[error("unknown record type {0:?}")]
    UnknownType(String),
    /// A required field is absent.
    #[error("missing field {0:?}")]
    Missing(&'static str),
    /// A field has the wrong shape.
    #[error("field {field:?} {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An identity is malformed.
    #[error("identity: {0}")]
    Identity(#[from] IdentityError),
    /// The timestamp is not RFC 3339.
    #[error("timestamp: {0}")]
    Time(#[from] TimeError),
    /// A definition was refused by its compiler or validator (PQL, activity schema).
    #[error("{0}")]
    Definition(String),
    /// The store refused or failed the write.
    #[error("{0}")]
    Store(#[from] vantage_model::Error),
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Attributes (and consent) for one identity's profile.
    Profile {
        /// Whose.
        identity: Identity,
        /// When, ms.
        ts: i64,
        /// An object, deep-merged.
        attributes: Value,
        /// Consent by purpose.
        consent: Vec<(String, Entry)>,
    },
    /// These identities are one person.
    Link {
        /// Two or more.
        identities: Vec<Identity>,
        /// When, ms.
        ts: i64,
    },
    /// This identity is no longer linked to the others.
    Unlink {
        /// Whose.
        identity: Identity,
        /// When, ms.
        ts: i64,
    },
    /// A segment membership decided by the hub.
    Membership {
        /// Whose.
        identity: Identity,
        /// The segment.
        segment: String,
        /// In or out.
        status: Status,
        /// Who decided.
        source: Source,
        /// When, ms.
        ts: i64,
    },
    /// Forget this person.
    Delete {
        /// Whose.
        identity: Identity,
        /// When, ms.
        ts: i64,
    },
    /// A segment definition.
    Segment {
        /// Its id.
        id: String,
        /// Display name (the id when absent).
        name: String,
        /// PQL source (may be empty when retiring).
        expression: String,
        /// When, ms.
        ts: i64,
        /// Active or retired.
        status: DefinitionStatus,
    },
    /// An activity definition.
    Activity {
        /// Its id.
        id: String,
        /// When, ms.
        ts: i64,
        /// Active or retired.
        status: DefinitionStatus,
        /// The decision scopes it names.
        scopes: Vec<String>,
        /// The record as parsed, for validators.
        json: Value,
    },
}

/// Parses and validates one record's JSON text.
pub fn parse(text: &str, max_depth: usize) -> Result<Record, RecordError> {
    if crate::depth::exceeds(text.as_bytes(), max_depth) {
        return Err(RecordError::TooDeep(max_depth));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| RecordError::Json(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(RecordError::NotAnObject);
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or_default();
    let ts = || timestamp(&obj);
    Ok(match kind {
        "profile" => {
            match obj.get("attributes") {
                Some(Value::Object(_)) => {}
                None | Some(Value::Null) if obj.contains_key("consent") => {}
                None => return Err(RecordError::Missing("attributes")),
                Some(_) => return Err(invalid("attributes", "must be an object")),
            }
            let ts = ts()?;
            let identity = identity(obj.get("identity"), "identity")?;
            let consent = consent(obj.get("consent"), ts)?;
            // Moved out, not copied: the attributes are most of a profile record.
            let attributes = match obj.remove("attributes") {
                Some(v @ Value::Object(_)) => v,
                _ => Value::Object(Map::new()),
            };
            Record::Profile {
                identity,
                consent,
                attributes,
                ts,
            }
        }
        "identity-link" => {
            let list = match obj.get("identities") {
                Some(Value::Array(list)) => list,
                Some(_) => return Err(invalid("identities", "must be an array")),
                None => return Err(RecordError::Missing("identities")),
            };
            if list.len() < 2 {
                return Err(invalid("identities", "must hold at least two identities"));
            }
            let identities = list
                .iter()
                .map(|v| identity(Some(v), "identities"))
                .collect::<Result<_, _>>()?;
            Record::Link {
                identities,
                ts: ts()?,
            }
        }
        "identity-unlink" => Record::Unlink {
            identity: identity(obj.get("identity"), "identity")?,
            ts: ts()?,
        },
        "membership" => Record::Membership {
            identity: identity(obj.get("identity"), "identity")?,
            segment: name(&obj, "segmentId")?,
            status: {
                let s = string(&obj, "status")?;
                Status::parse(s)
                    .ok_or_else(|| invalid("status", "must be realized, existing or exited"))?
            },
            source: match obj.get("source") {
                None | Some(Value::Null) => Source::Batch,
                Some(Value::String(s)) => Source::parse(s).ok_or_else(|| {
                    invalid("source", "must be edge, streaming, batch or external")
                })?,
                Some(_) => return Err(invalid("source", "must be a string")),
            },
            ts: ts()?,
        },
        "profile-delete" => Record::Delete {
            identity: identity(obj.get("identity"), "identity")?,
            ts: ts()?,
        },
        "segment" => {
            let id = name(&obj, "id")?;
            let status = status(&obj)?;
            let expression = match (obj.get("expression"), status) {
                (Some(Value::String(s)), _) if !s.trim().is_empty() => s.clone(),
                (None | Some(Value::Null), DefinitionStatus::Retired) => String::new(),
                (Some(Value::String(_)) | None | Some(Value::Null), _) => {
                    return Err(RecordError::Missing("expression"));
                }
                (Some(_), _) => return Err(invalid("expression", "must be a string")),
            };
            let display = match obj.get("name") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => id.clone(),
                Some(_) => return Err(invalid("name", "must be a string")),
            };
            Record::Segment {
                name: display,
                expression,
                ts: ts()?,
                status,
                id,
            }
        }
        "activity" => {
            let scopes = match obj.get("scopes") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| invalid("scopes", "must be an array of strings"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(invalid("scopes", "must be an array of strings")),
            };
            Record::Activity {
                id: name(&obj, "id")?,
                ts: ts()?,
                status: status(&obj)?,
                scopes,
                json: Value::Object(obj),
            }
        }
        "" => return Err(RecordError::Missing("type")),
        other => return Err(RecordError::UnknownType(other.chars().take(64).collect())),
    })
}

fn invalid(field: &'static str, reason: &str) -> RecordError {
    RecordError::Invalid {
        field,
        reason: reason.to_owned(),
    }
}

fn string<'v>(obj: &'v Map<String, Value>, field: &'static str) -> Result<&'v str, RecordError> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(RecordError::Missing(field)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn name(obj: &Map<String, Value>, field: &'static str) -> Result<String, RecordError> {
    let s = string(obj, field)?;
    if s.is_empty() || s.len() > MAX_NAME_LEN || s.chars().any(char::is_control) {
        return Err(RecordError::Invalid {
            field,
            reason: format!("must be 1-{MAX_NAME_LEN} bytes without control characters"),
        });
    }
    Ok(s.to_owned())
}

fn timestamp(obj: &Map<String, Value>) -> Result<i64, RecordError> {
    Ok(parse_rfc3339(string(obj, "timestamp")?)?)
}

fn status(obj: &Map<String, Value>) -> Result<DefinitionStatus, RecordError> {
    match obj.get("status") {
        None | Some(Value::Null) => Ok(DefinitionStatus::Active),
        Some(Value::String(s)) => {
            DefinitionStatus::parse(s).ok_or_else(|| invalid("status", "must be active or retired"))
        }
        Some(_) => Err(invalid("status", "must be a string")),
    }
}

fn identity(v: Option<&Value>, field: &'static str) -> Result<Identity, RecordError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Err(RecordError::Missing(field));
    };
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(field, "must be an object {namespace, id}"))?;
    let namespace = match obj.get("namespace") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Object(ns)) => ns
            .get("code")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(field, "namespace.code must be a string"))?,
        _ => return Err(invalid(field, "needs a namespace string")),
    };
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(field, "needs an id string"))?;
    Ok(Identity::new(namespace, id)?)
}

fn consent(v: Option<&Value>, ts: i64) -> Result<Vec<(String, Entry)>, RecordError> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(obj)) => obj,
        Some(_) => return Err(invalid("consent", "must be an object")),
    };
    obj.iter()
        .map(|(purpose, answer)| {
            let text = match answer {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("val").and_then(Value::as_str),
                _ => None,
            };
            let choice = text
                .and_then(Choice::parse)
                .ok_or_else(|| invalid("consent", "answers must be y, n or p"))?;
            if purpose.is_empty() || purpose.len() > MAX_NAME_LEN {
                return Err(invalid("consent", "has an empty or overlong purpose"));
            }
            Ok((purpose.clone(), Entry { ts, choice }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Record, RecordError> {
        parse(text, 32)
    }

    #[test]
    fn parses_the_contract_records() {
        let r = p(r#"{"type":"profile","identity":{"namespace":"crmid","id":"c-42"},"timestamp":"2026-12-01T10:00:00Z","attributes":{"loyalty":{"tier":"gold"}}}"#).unwrap();
        let Record::Profile { identity, ts, .. } = r else {
            panic!()
        };
        assert_eq!(identity.namespace(), "CRMID");
        assert_eq!(ts, 1_796_119_200_000);
        assert!(matches!(
            p(
                r#"{"type":"identity-link","timestamp":"2026-12-01T10:00:00Z","identities":[{"namespace":"ECID","id":"1"},{"namespace":{"code":"CRMID"},"id":"c"}]}"#
            ),
            Ok(Record::Link { .. })
        ));
        assert!(matches!(
            p(
                r#"{"type":"membership","identity":{"namespace":"ECID","id":"1"},"segmentId":"s","status":"existing","timestamp":"2026-12-01T10:00:00Z"}"#
            ),
            Ok(Record::Membership {
                status: Status::Realized,
                source: Source::Batch,
                ..
            })
        ));
        assert!(matches!(
            p(
                r#"{"type":"segment","id":"s","status":"retired","timestamp":"2026-12-01T10:00:00Z"}"#
            ),
            Ok(Record::Segment {
                status: DefinitionStatus::Retired,
                ..
            })
        ));
        let Ok(Record::Activity { scopes, .. }) = p(
            r#"{"type":"activity","id":"hero","timestamp":"2026-12-01T10:00:00Z","scopes":["__view__"],"experiences":[]}"#,
        ) else {
            panic!()
        };
        assert_eq!(scopes, ["__view__"]);
    }

    #[test]
    fn says_what_is_wrong() {
        let cases = [
            ("nope", "not valid JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"a":1}"#, "missing field \"type\""),
            (r#"{"type":"bogus"}"#, "unknown record type \"bogus\""),
            (
                r#"{"type":"profile","identity":{"namespace":"ECID","id":"x"},"timestamp":"2026-12-01T10:00:00Z","attributes":{}}"#,
                "ECID id must be 1-38 digits",
            ),
            (
                r#"{"type":"profile","identity":{"namespace":"ECID","id":"1"},"timestamp":"yesterday","attributes":{}}"#,
                "timestamp: timestamp is not RFC 3339",
            ),
            (
                r#"{"type":"profile","identity":{"namespace":"ECID","id":"1"},"timestamp":"2026-12-01T10:00:00Z","attributes":[]}"#,
                "field \"attributes\" must be an object",
            ),
            (
                r#"{"type":"identity-link","timestamp":"2026-12-01T10:00:00Z","identities":[{"namespace":"ECID","id":"1"}]}"#,
                "at least two",
            ),
            (
                r#"{"type":"membership","identity":{"namespace":"ECID","id":"1"},"segmentId":"s","status":"maybe","timestamp":"2026-12-01T10:00:00Z"}"#,
                "field \"status\"",
            ),
            (
                r#"{"type":"segment","id":"s","timestamp":"2026-12-01T10:00:00Z"}"#,
                "missing field \"expression\"",
            ),
            (
                r#"{"type":"profile-delete","timestamp":"2026-12-01T10:00:00Z"}"#,
                "missing field \"identity\"",
            ),
        ];
        for (text, expected) in cases {
            let err = p(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let deep = format!(
            "{{\"type\":\"profile\",\"a\":{}{}}}",
            "[".repeat(40),
            "]".repeat(40)
        );
        assert_eq!(p(&deep), Err(RecordError::TooDeep(32)));
    }
}
