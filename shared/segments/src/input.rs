//! Request inputs in their wire shapes: the XDM `identityMap` (namespace → ids with a primary
//! flag) and the current event (XDM with `eventType` and an RFC 3339 `timestamp`).

use serde_json::Value;
use vantage_model::Identity;
use vantage_model::identity::IdentityMapError;
use vantage_model::time::parse_rfc3339;
use vantage_pql::Event;

/// Why an input was refused (a client error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// `identityMap` is not `{namespace: [{id, primary?}, …]}`.
    #[error("identityMap: {0}")]
    IdentityMap(String),
    /// `identityMap` names no identity.
    #[error("identityMap holds no identity")]
    NoIdentity,
    /// The event is not an XDM object with an `eventType`.
    #[error("event: {0}")]
    Event(String),
}

/// Most identities read from one identity map.
pub const MAX_IDENTITIES: usize = vantage_model::identity::MAX_MAP_IDENTITIES;

/// The identities of an XDM identity map, primary first, then in map order. Ids are validated
/// and normalised by the model's rules.
pub fn identities(map: &Value) -> Result<Vec<Identity>, InputError> {
    vantage_model::identity::from_identity_map(map).map_err(|e| match e {
        IdentityMapError::Empty => InputError::NoIdentity,
        IdentityMapError::Invalid(m) => InputError::IdentityMap(m),
    })
}

/// The event being collected, as the engine reads it, plus its id (a stored event with the
/// same id is the same event and is not counted twice).
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentEvent {
    /// The engine's view.
    pub event: Event,
    /// XDM `_id`, or `~` and a fingerprint of the event's JSON when it has none (so replaying
    /// the same event is still recognised).
    pub id: String,
}

/// Reads an XDM event: `eventType` (required), `timestamp` (RFC 3339; `now_ms` when absent)
/// and `_id`. An object of the Web SDK's shape `{"xdm": {…}}` is unwrapped.
pub fn event(value: &Value, now_ms: i64) -> Result<CurrentEvent, InputError> {
    let bad = |m: &str| InputError::Event(m.to_owned());
    let Value::Object(obj) = value else {
        return Err(bad("expected an XDM object"));
    };
    if !obj.contains_key("eventType")
        && let Some(inner @ Value::Object(_)) = obj.get("xdm")
    {
        return event(inner, now_ms);
    }
    let event_type = match obj.get("eventType") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => return Err(bad("\"eventType\" must be a non-empty string")),
    };
    let timestamp_ms = match obj.get("timestamp") {
        None | Some(Value::Null) => now_ms,
        Some(Value::String(s)) => parse_rfc3339(s).map_err(|e| InputError::Event(e.to_string()))?,
        Some(_) => return Err(bad("\"timestamp\" must be an RFC 3339 string")),
    };
    let id = match obj.get("_id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!(
            "~{:016x}",
            crate::keys::fingerprint(value.to_string().as_bytes())
        ),
    };
    Ok(CurrentEvent {
        event: Event {
            timestamp_ms,
            event_type,
            xdm: value.clone(),
        },
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_maps() {
        let ids = identities(&json!({
            "CRMID": [{"id": "c-42"}],
            "ECID": [{"id": "12345678901234567890123456789012345678", "primary": true}]
        }))
        .unwrap_or_default();
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            ["ECID/12345678901234567890123456789012345678", "CRMID/c-42"]
        );
        assert_eq!(identities(&json!({})), Err(InputError::NoIdentity));
        assert!(identities(&json!([])).is_err());
        assert!(identities(&json!({"CRMID": [{"nope": 1}]})).is_err());
        assert!(identities(&json!({"bad/ns": [{"id": "x"}]})).is_err());
    }

    #[test]
    fn events() {
        let e = event(
            &json!({"eventType": "commerce.purchases", "timestamp": "2026-12-01T10:00:00Z", "_id": "e1"}),
            5,
        );
        let e = e.ok();
        assert_eq!(
            e.as_ref().map(|e| e.event.timestamp_ms),
            Some(1_796_119_200_000)
        );
        assert_eq!(e.map(|e| e.id), Some("e1".into()));
        let a = event(&json!({"eventType": "x"}), 5).ok().map(|e| e.id);
        let b = event(&json!({"eventType": "x"}), 9).ok().map(|e| e.id);
        assert!(a.as_deref().is_some_and(|a| a.starts_with('~')));
        assert_eq!(a, b, "the same event gets the same id");
        let wrapped = event(&json!({"xdm": {"eventType": "x"}}), 5).ok();
        assert_eq!(
            wrapped.map(|e| (e.event.event_type, e.event.timestamp_ms)),
            Some(("x".into(), 5))
        );
        assert!(event(&json!({"timestamp": "2026-12-01T10:00:00Z"}), 5).is_err());
        assert!(event(&json!({"eventType": "x", "timestamp": "yesterday"}), 5).is_err());
        assert!(event(&json!(3), 5).is_err());
    }
}
