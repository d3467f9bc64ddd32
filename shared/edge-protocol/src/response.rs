//! The answer body `{requestId, handle: [{type, payload, eventIndex?}], errors?, warnings?}`
//! and the payload items alloy consumes (`identity:result`, `state:store`,
//! `locationHint:result`, `personalization:decisions`). Payloads are serialized once, when the
//! handle is built, and embedded raw: propositions come from the decisioning crate as its own
//! types, and this crate need not know them.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::ecid::{ECID_NAMESPACE, Ecid};
use crate::problem::Problem;

/// `identity:result`.
pub const IDENTITY_RESULT: &str = "identity:result";
/// `state:store`.
pub const STATE_STORE: &str = "state:store";
/// `personalization:decisions`.
pub const PERSONALIZATION_DECISIONS: &str = "personalization:decisions";
/// `locationHint:result`.
pub const LOCATION_HINT_RESULT: &str = "locationHint:result";

/// One `handle` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Handle {
    /// `namespace:action`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The payload array, serialized.
    pub payload: Box<RawValue>,
    /// The event the handle answers, when it answers one.
    #[serde(rename = "eventIndex", default)]
    pub event_index: Option<usize>,
}

impl PartialEq for Handle {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.payload.get() == other.payload.get()
            && self.event_index == other.event_index
    }
}

impl Serialize for Handle {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", &self.kind)?;
        map.serialize_entry("payload", &self.payload)?;
        if let Some(index) = self.event_index {
            map.serialize_entry("eventIndex", &index)?;
        }
        map.end()
    }
}

impl Handle {
    /// A handle of `kind` whose payload is `items`.
    pub fn new<T: Serialize>(
        kind: &str,
        items: &[T],
        event_index: Option<usize>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            kind: kind.to_owned(),
            payload: serde_json::value::to_raw_value(items)?,
            event_index,
        })
    }

    /// `identity:result` for `ids`.
    pub fn identity_result(ids: &[IdentityResult]) -> Result<Self, serde_json::Error> {
        Self::new(IDENTITY_RESULT, ids, None)
    }

    /// `state:store` for `entries` (cookies alloy writes).
    pub fn state_store(entries: &[StoreEntry]) -> Result<Self, serde_json::Error> {
        Self::new(STATE_STORE, entries, None)
    }

    /// `locationHint:result` for `hints`.
    pub fn location_hint(hints: &[LocationHint]) -> Result<Self, serde_json::Error> {
        Self::new(LOCATION_HINT_RESULT, hints, None)
    }

    /// `personalization:decisions` for event `event_index`: `propositions` in the Web SDK
    /// proposition format, of whatever type the decisioning engine produces.
    pub fn decisions<T: Serialize>(
        propositions: &[T],
        event_index: usize,
    ) -> Result<Self, serde_json::Error> {
        Self::new(PERSONALIZATION_DECISIONS, propositions, Some(event_index))
    }

    /// The payload items read back as `T`.
    pub fn items<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>, serde_json::Error> {
        serde_json::from_str(self.payload.get())
    }
}

/// The answer to `interact`, `set-consent` and `acquire`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// `<client requestId>-<16 hex>`; see [`crate::response_request_id`].
    #[serde(rename = "requestId")]
    pub request_id: String,
    /// The handles.
    pub handle: Vec<Handle>,
    /// Non-fatal errors (alloy logs them); their presence makes the status 207.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Problem>,
    /// Warnings (alloy logs them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Problem>,
}

impl Response {
    /// An answer with no handle yet.
    pub fn new(request_id: String) -> Self {
        Self {
            request_id,
            handle: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Appends a handle.
    pub fn push(&mut self, handle: Handle) -> &mut Self {
        self.handle.push(handle);
        self
    }

    /// 207 when non-fatal errors are present (as the reference platform does), else 200.
    pub fn status(&self) -> u16 {
        if self.errors.is_empty() { 200 } else { 207 }
    }

    /// The body.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// The payload items of every handle of `kind`, flattened as alloy does.
    pub fn items<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
    ) -> Result<Vec<T>, serde_json::Error> {
        let mut out = Vec::new();
        for handle in self.handle.iter().filter(|h| h.kind == kind) {
            out.extend(handle.items()?);
        }
        Ok(out)
    }
}

/// `{code}` of an identity namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceCode {
    /// The namespace code, e.g. `ECID`.
    pub code: String,
}

/// An `identity:result` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityResult {
    /// The id.
    pub id: String,
    /// Its namespace.
    pub namespace: NamespaceCode,
}

impl IdentityResult {
    /// The ECID item alloy caches for `getIdentity`.
    pub fn ecid(ecid: &Ecid) -> Self {
        Self {
            id: ecid.as_str().to_owned(),
            namespace: NamespaceCode {
                code: ECID_NAMESPACE.to_owned(),
            },
        }
    }
}

/// The `SameSite` attribute alloy gives the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SameSite {
    /// Cross-site allowed; alloy then forces `Secure`.
    None,
    /// Lax.
    Lax,
    /// Strict.
    Strict,
}

impl SameSite {
    /// The attribute to give cookies for a page at `origin`: `None` (cross-site capable) for
    /// https pages and localhost, `Lax` for plain-http pages elsewhere (a `Secure` cookie
    /// could not be written there), `None` without an origin (same-origin or server calls).
    pub fn for_origin(origin: Option<&str>) -> Self {
        let Some(origin) = origin else {
            return Self::None;
        };
        let Some(rest) = origin.strip_prefix("http://") else {
            return Self::None;
        };
        let host = rest.rsplit_once(':').map_or(rest, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                rest
            }
        });
        let local = host == "localhost"
            || host.ends_with(".localhost")
            || host == "127.0.0.1"
            || host == "[::1]";
        if local { Self::None } else { Self::Lax }
    }
}

/// `attrs` of a `state:store` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieAttrs {
    /// `SameSite`.
    #[serde(rename = "SameSite")]
    pub same_site: SameSite,
}

/// A `state:store` item: a cookie alloy writes with `document.cookie`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreEntry {
    /// Cookie name.
    pub key: String,
    /// Cookie value.
    pub value: String,
    /// Lifetime, seconds.
    pub max_age: u64,
    /// Attributes; omitted means alloy's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attrs: Option<CookieAttrs>,
}

impl StoreEntry {
    /// An entry with an optional `SameSite`.
    pub fn new(key: String, value: String, max_age: u64, same_site: Option<SameSite>) -> Self {
        Self {
            key,
            value,
            max_age,
            attrs: same_site.map(|same_site| CookieAttrs { same_site }),
        }
    }
}

/// A `locationHint:result` item (alloy ignores it; the cluster cookie does the work).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationHint {
    /// `EdgeNetwork`, `Target` or `AAM`.
    pub scope: String,
    /// The hint, e.g. `or2`.
    pub hint: String,
    /// Lifetime, seconds.
    pub ttl_seconds: u64,
}

impl LocationHint {
    /// The `EdgeNetwork` hint matching a cluster cookie.
    pub fn edge(hint: &str) -> Self {
        Self {
            scope: "EdgeNetwork".to_owned(),
            hint: hint.to_owned(),
            ttl_seconds: crate::cookie::CLUSTER_MAX_AGE,
        }
    }
}
