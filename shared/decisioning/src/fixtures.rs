//! Shared test fixtures: a fixed clock, profiles, activities and alloy-style notifications.

use serde_json::{Value, json};
use vantage_model::{Identity, Policy, Profile, ProfileId};

use crate::context::Environment;
use crate::model::Activity;
use crate::proposition::Proposition;
use crate::validate::parse_activity_value;

/// 2026-12-01T10:00:00Z.
pub const NOW: i64 = 1_796_119_200_000;
/// An hour in ms.
pub const HOUR: i64 = 3_600_000;

/// A dom-action offer.
pub fn dom(id: &str) -> Value {
    json!({"id": id, "schema": "https://ns.adobe.com/personalization/dom-action",
           "data": {"type": "setHtml", "selector": "#hero", "content": format!("<p>{id}</p>")}})
}

/// A validated activity.
pub fn activity(v: Value) -> Activity {
    parse_activity_value(&v).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh profile.
pub fn profile() -> Profile {
    let who = Identity::new("ECID", "1").unwrap();
    Profile::new(ProfileId::primary(&who), who, 0, 0, &Policy::default())
}

/// A desktop request for the shop's home page at [`NOW`].
pub fn env() -> Environment {
    Environment::new(Some("https://shop.example/"), None, "", NOW, 0)
}

/// Propositions echoed back the way alloy sends them: `{id, scope, scopeDetails}` only.
pub fn echo(d: &[Proposition], event_type: &str, flag: &str) -> Value {
    let props: Vec<Value> = d
        .iter()
        .map(|p| json!({"id": p.id, "scope": p.scope, "scopeDetails": p.scope_details}))
        .collect();
    json!({"eventType": event_type,
           "_experience": {"decisioning": {"propositions": props, "propositionEventType": {flag: 1}}}})
}
