//! alloy's proposition notifications: display, click ("interact") and the other
//! `decisioning.proposition*` events, read out of an event's XDM. They are best-effort by
//! nature, so a malformed one reads as "no notification" rather than failing the request.

use serde_json::Value;

use crate::request::Event;

/// What happened to the propositions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationKind {
    /// Rendered (`propositionEventType.display`).
    Display,
    /// Clicked (`propositionEventType.interact`).
    Interact,
    /// Rendering suppressed (`suppressDisplay`).
    SuppressDisplay,
    /// Triggered (on-device rules).
    Trigger,
    /// Dismissed (in-app messages).
    Dismiss,
    /// Any other key set to 1.
    Other(String),
}

impl NotificationKind {
    fn from_key(key: &str) -> Self {
        match key {
            "display" => Self::Display,
            "interact" => Self::Interact,
            "suppressDisplay" => Self::SuppressDisplay,
            "trigger" => Self::Trigger,
            "dismiss" => Self::Dismiss,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One proposition echoed back: alloy sends exactly `{id, scope, scopeDetails}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PropositionRef<'a> {
    /// The proposition id.
    pub id: &'a str,
    /// Its scope.
    pub scope: &'a str,
    /// Its `scopeDetails`, untouched (activity, experience, event token…).
    pub scope_details: &'a Value,
}

impl PropositionRef<'_> {
    /// `scopeDetails.characteristics.eventToken`, if present.
    pub fn event_token(&self) -> Option<&str> {
        self.scope_details
            .pointer("/characteristics/eventToken")?
            .as_str()
    }

    /// `scopeDetails.activity.id`, if present.
    pub fn activity_id(&self) -> Option<&str> {
        self.scope_details.pointer("/activity/id")?.as_str()
    }

    /// `scopeDetails.experience.id`, if present.
    pub fn experience_id(&self) -> Option<&str> {
        self.scope_details.pointer("/experience/id")?.as_str()
    }
}

/// A notification carried by one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification<'a> {
    /// What happened (several keys may be set).
    pub kinds: Vec<NotificationKind>,
    /// The propositions concerned.
    pub propositions: Vec<PropositionRef<'a>>,
    /// `propositionAction.label` (click label), if any.
    pub label: Option<&'a str>,
    /// `propositionAction.tokens`, if any.
    pub tokens: Vec<&'a str>,
}

/// The notification in `event`'s `_experience.decisioning`, if it carries one. A notification
/// may ride on a non-notification event (`includeRenderedPropositions`), so the XDM decides,
/// not `eventType`.
pub fn notification(event: &Event) -> Option<Notification<'_>> {
    let decisioning = event.xdm.pointer("/_experience/decisioning")?;
    let kinds: Vec<_> = decisioning
        .get("propositionEventType")?
        .as_object()?
        .iter()
        .filter(|(_, v)| v.as_i64() == Some(1) || v.as_f64() == Some(1.0))
        .map(|(k, _)| NotificationKind::from_key(k))
        .collect();
    let propositions: Vec<_> = decisioning
        .get("propositions")?
        .as_array()?
        .iter()
        .filter_map(|p| {
            Some(PropositionRef {
                id: p.get("id")?.as_str()?,
                scope: p.get("scope")?.as_str()?,
                scope_details: p.get("scopeDetails")?,
            })
        })
        .collect();
    if kinds.is_empty() || propositions.is_empty() {
        return None;
    }
    let action = decisioning.get("propositionAction");
    let label = action.and_then(|a| a.get("label")).and_then(Value::as_str);
    let tokens = action
        .and_then(|a| a.get("tokens"))
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Some(Notification {
        kinds,
        propositions,
        label,
        tokens,
    })
}
