//! The Web SDK request bodies: v1 `interact`/`collect` (a batch of `events`), `identity/acquire`
//! and the server-to-server v2 `interact` (a single `event`). Every object keeps the keys it
//! does not model in `extra`, so XDM and `data` travel on exactly as sent; the fields the edge
//! acts on are typed, so a mistyped one is refused with its path rather than misread.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ProtocolError;
use crate::identity_map::IdentityMap;
use crate::limits::Limits;

/// The `xdm.eventType` of alloy's notifications start with this.
pub const PROPOSITION_EVENT_PREFIX: &str = "decisioning.proposition";
/// The page-wide decision scope.
pub const VIEW_SCOPE: &str = "__view__";

/// A v1 `interact` or `collect` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractRequest {
    /// The events (alloy sends exactly one).
    pub events: Vec<Event>,
    /// Request-level query (`identity.fetch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<RequestQuery>,
    /// Request-level XDM: the migration `identityMap`, a sibling of `events`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xdm: Option<RequestXdm>,
    /// Request metadata (`state`, `configOverrides`, …).
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A v2 (server-to-server) `interact` body: one `event` instead of `events[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInteractRequest {
    /// The event.
    pub event: Event,
    /// Request-level query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<RequestQuery>,
    /// Request-level XDM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xdm: Option<RequestXdm>,
    /// Request metadata.
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl From<ServerInteractRequest> for InteractRequest {
    /// The v1 batch of one event, so both versions share one pipeline.
    fn from(v2: ServerInteractRequest) -> Self {
        Self {
            events: vec![v2.event],
            query: v2.query,
            xdm: v2.xdm,
            meta: v2.meta,
            extra: v2.extra,
        }
    }
}

/// An `identity/acquire` body: no events, only the identity query and state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AcquireRequest {
    /// Request-level query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<RequestQuery>,
    /// Request-level XDM (may carry an `identityMap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xdm: Option<RequestXdm>,
    /// Request metadata.
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event's XDM, as sent (absent reads as empty; empty is not written back).
    #[serde(default, skip_serializing_if = "Xdm::is_empty")]
    pub xdm: Xdm,
    /// Free-form `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// What the event asks for (personalization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<EventQuery>,
    /// Per-event metadata, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Event {
    /// The personalization query, unless absent or `enabled: false` (authoring mode).
    pub fn personalization(&self) -> Option<&PersonalizationQuery> {
        self.query
            .as_ref()?
            .personalization
            .as_ref()
            .filter(|p| p.enabled != Some(false))
    }

    /// Whether this is one of alloy's proposition notifications (display, interact, …).
    pub fn is_notification(&self) -> bool {
        self.xdm
            .event_type
            .as_deref()
            .is_some_and(|t| t.starts_with(PROPOSITION_EVENT_PREFIX))
    }
}

/// An event's `xdm`: the fields the edge reads are typed, everything else is in `fields`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Xdm {
    /// `eventType`, e.g. `web.webpagedetails.pageViews`.
    #[serde(rename = "eventType", default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// `timestamp` (ISO-8601, as sent; not parsed here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// `identityMap` of the event (the user's identities).
    #[serde(
        rename = "identityMap",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub identity_map: Option<IdentityMap>,
    /// Every other XDM field, as sent.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl Xdm {
    /// Whether the XDM holds nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// A value below `fields` by JSON pointer, e.g. `/web/webPageDetails/URL`.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        let rest = pointer.strip_prefix('/')?;
        let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let value = self
            .fields
            .get(&head.replace("~1", "/").replace("~0", "~"))?;
        if tail.is_empty() {
            Some(value)
        } else {
            value.pointer(&format!("/{tail}"))
        }
    }

    /// `web.webPageDetails.URL`.
    pub fn page_url(&self) -> Option<&str> {
        self.pointer("/web/webPageDetails/URL")?.as_str()
    }

    /// `web.webReferrer.URL`.
    pub fn referrer(&self) -> Option<&str> {
        self.pointer("/web/webReferrer/URL")?.as_str()
    }

    /// `web.webPageDetails.viewName` (SPA views).
    pub fn view_name(&self) -> Option<&str> {
        self.pointer("/web/webPageDetails/viewName")?.as_str()
    }

    /// The whole XDM object as sent (typed fields put back).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// An event's `query`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventQuery {
    /// `query.personalization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personalization: Option<PersonalizationQuery>,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `query.personalization`: what to decide for this event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonalizationQuery {
    /// `false` in authoring mode: decide nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Item schemas the client can render.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// Decision scopes (`__view__`, mbox names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decision_scopes: Vec<String>,
    /// Surfaces (`web://host/path`, `#fragment`s already expanded by alloy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surfaces: Vec<String>,
    /// Client-side option that other SDKs send; alloy does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_display_event: Option<bool>,
    /// Client-side option that other SDKs send; alloy does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_rendered_propositions: Option<bool>,
    /// On-device rules context; kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_context: Option<Value>,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PersonalizationQuery {
    /// Whether the page-wide `__view__` scope is asked for.
    pub fn wants_view(&self) -> bool {
        self.decision_scopes.iter().any(|s| s == VIEW_SCOPE)
    }

    /// Whether the client renders `schema` (full URI).
    pub fn accepts_schema(&self, schema: &str) -> bool {
        self.schemas.iter().any(|s| s == schema)
    }
}

/// The request-level `query`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestQuery {
    /// `query.identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityQuery>,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `query.identity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityQuery {
    /// Namespaces to return in `identity:result` (`["ECID"]`, sometimes `"CORE"`).
    #[serde(default)]
    pub fetch: Vec<String>,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The request-level `xdm` (only `identityMap` is meaningful there).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestXdm {
    /// Migration identities (ECID from AMCV/s_ecid/Visitor.js/`adobe_mc`).
    #[serde(
        rename = "identityMap",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub identity_map: Option<IdentityMap>,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Request `meta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Cookie state and domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// Datastream overrides, per service key; kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_overrides: Option<Map<String, Value>>,
    /// `sdkConfig` (`datastream.original`); kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_config: Option<Value>,
    /// Milliseconds between event creation and send (alloy clamps it to 0–300000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_time_millis: Option<u64>,
    /// `target.migration`; kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Value>,
    /// Mobile SDKs' streaming config; kept as sent, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub konductor_config: Option<Value>,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Meta {
    /// Whether nothing was sent.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `state.entries`, or none.
    pub fn entries(&self) -> &[StateEntry] {
        self.state.as_ref().map_or(&[], |s| s.entries.as_slice())
    }
}

/// `meta.state`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The page's apex domain (`""` on localhost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Whether the client can store cookies (alloy always sends `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies_enabled: Option<bool>,
    /// Copies of the client's `kndctr_<org>_*` (and legacy) cookies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<StateEntry>,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One cookie copied into `meta.state.entries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateEntry {
    /// Cookie name.
    pub key: String,
    /// Cookie value, as the client read it.
    pub value: String,
    /// Unmodelled keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn check_identity_map(
    map: Option<&IdentityMap>,
    path: &str,
    limits: &Limits,
) -> Result<(), ProtocolError> {
    match map {
        Some(map) if map.len() > limits.max_identities => Err(ProtocolError::invalid(
            path,
            format!(
                "{} identities, over the limit of {}",
                map.len(),
                limits.max_identities
            ),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn check_meta(meta: &Meta, limits: &Limits) -> Result<(), ProtocolError> {
    let entries = meta.entries().len();
    if entries > limits.max_state_entries {
        return Err(ProtocolError::invalid(
            "meta.state.entries",
            format!(
                "{entries} entries, over the limit of {}",
                limits.max_state_entries
            ),
        ));
    }
    Ok(())
}

pub(crate) fn check_request_xdm(
    xdm: Option<&RequestXdm>,
    limits: &Limits,
) -> Result<(), ProtocolError> {
    check_identity_map(
        xdm.and_then(|x| x.identity_map.as_ref()),
        "xdm.identityMap",
        limits,
    )
}

pub(crate) fn check_event(
    event: &Event,
    prefix: &str,
    limits: &Limits,
) -> Result<(), ProtocolError> {
    check_identity_map(
        event.xdm.identity_map.as_ref(),
        &format!("{prefix}.xdm.identityMap"),
        limits,
    )?;
    if let Some(p) = event
        .query
        .as_ref()
        .and_then(|q| q.personalization.as_ref())
    {
        let asked = p.decision_scopes.len() + p.surfaces.len();
        if asked > limits.max_scopes {
            return Err(ProtocolError::invalid(
                format!("{prefix}.query.personalization"),
                format!(
                    "{asked} decision scopes and surfaces, over the limit of {}",
                    limits.max_scopes
                ),
            ));
        }
    }
    Ok(())
}

impl InteractRequest {
    /// Checks what serde cannot: 1..=`max_events` events and the per-request bounds.
    pub fn validate(&self, limits: &Limits) -> Result<(), ProtocolError> {
        if self.events.is_empty() {
            return Err(ProtocolError::invalid(
                "events",
                "at least one event is required",
            ));
        }
        if self.events.len() > limits.max_events {
            return Err(ProtocolError::invalid(
                "events",
                format!(
                    "{} events, over the limit of {}",
                    self.events.len(),
                    limits.max_events
                ),
            ));
        }
        for (i, event) in self.events.iter().enumerate() {
            check_event(event, &format!("events[{i}]"), limits)?;
        }
        check_request_xdm(self.xdm.as_ref(), limits)?;
        check_meta(&self.meta, limits)
    }

    /// The request-level (migration) `identityMap`.
    pub fn identity_map(&self) -> Option<&IdentityMap> {
        self.xdm.as_ref()?.identity_map.as_ref()
    }

    /// `query.identity.fetch`, or `["ECID"]` when absent (what every alloy request asks).
    pub fn identity_fetch(&self) -> Vec<&str> {
        identity_fetch(self.query.as_ref())
    }
}

impl ServerInteractRequest {
    /// Checks the per-request bounds.
    pub fn validate(&self, limits: &Limits) -> Result<(), ProtocolError> {
        check_event(&self.event, "event", limits)?;
        check_request_xdm(self.xdm.as_ref(), limits)?;
        check_meta(&self.meta, limits)
    }
}

impl AcquireRequest {
    /// Checks the per-request bounds.
    pub fn validate(&self, limits: &Limits) -> Result<(), ProtocolError> {
        check_request_xdm(self.xdm.as_ref(), limits)?;
        check_meta(&self.meta, limits)
    }

    /// The request-level `identityMap`.
    pub fn identity_map(&self) -> Option<&IdentityMap> {
        self.xdm.as_ref()?.identity_map.as_ref()
    }

    /// `query.identity.fetch`, or `["ECID"]` when absent.
    pub fn identity_fetch(&self) -> Vec<&str> {
        identity_fetch(self.query.as_ref())
    }
}

fn identity_fetch(query: Option<&RequestQuery>) -> Vec<&str> {
    match query.and_then(|q| q.identity.as_ref()) {
        Some(identity) => identity.fetch.iter().map(String::as_str).collect(),
        None => vec![crate::ecid::ECID_NAMESPACE],
    }
}
