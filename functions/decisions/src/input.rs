//! Request bodies in their wire shapes: the XDM `identityMap`, the decision `context` (page,
//! referrer, User-Agent, time zone, geography) and the bodies of each route, with the limits
//! that keep one request bounded.
//!
//! Identity-map parsing is deliberately local: `functions/segments` and `functions/projection`
//! each keep their own request helpers too, and `shared/segments` is not a dependency here.

use serde::Deserialize;
use serde_json::Value;
use vantage_decisioning::context::{Environment, Geo};
use vantage_model::Identity;
use vantage_model::identity::IdentityMapError;

/// Most identities read from one identity map.
pub const MAX_IDENTITIES: usize = vantage_model::identity::MAX_MAP_IDENTITIES;
/// Most scopes decided in one request.
pub const MAX_SCOPES: usize = 64;
/// Longest scope name.
pub const MAX_SCOPE_LEN: usize = 1024;
/// Most notification events in one request.
pub const MAX_EVENTS: usize = 32;
/// Longest preview-token lifetime a mint accepts: a week.
pub const MAX_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// Preview-token lifetime when none is asked for: an hour.
pub const DEFAULT_TTL_SECONDS: i64 = 3600;

/// A request body that parses as JSON but cannot be served (a client error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// `identityMap` is not `{namespace: [{id, primary?}, …]}`.
    #[error("identityMap: {0}")]
    IdentityMap(String),
    /// No identity at all.
    #[error("identityMap is required and must hold at least one identity")]
    NoIdentity,
    /// Bad `scopes`.
    #[error("scopes: {0}")]
    Scopes(String),
    /// Bad `events`.
    #[error("events: {0}")]
    Events(String),
    /// Bad `context`.
    #[error("context: {0}")]
    Context(String),
    /// A bad preview-token mint request.
    #[error("{0}")]
    Mint(String),
}

/// `POST /v1/decisions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionsBody {
    /// Who the visitor is.
    #[serde(default)]
    pub identity_map: Value,
    /// Scopes to decide.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Page, referrer, device, time zone.
    #[serde(default, deserialize_with = "object")]
    pub context: Context,
    /// Notification events (XDM, or `{"xdm": …}` as the Web SDK nests them).
    #[serde(default)]
    pub events: Vec<Value>,
    /// `{"token": "<preview token>"}`: forced experience for QA.
    #[serde(default)]
    pub preview: Option<PreviewRef>,
}

/// The preview part of a decision request.
#[derive(Debug, Clone, Deserialize)]
pub struct PreviewRef {
    /// The admin-signed preview token.
    pub token: String,
}

/// `POST /v1/decisions/explain`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplainBody {
    /// Who the visitor is.
    #[serde(default)]
    pub identity_map: Value,
    /// The activity to explain.
    pub activity_id: String,
    /// Extra scopes to decide alongside the activity's own.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Page, referrer, device, time zone.
    #[serde(default, deserialize_with = "object")]
    pub context: Context,
}

/// `POST /v1/decisions/preview-token`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintBody {
    /// The activity to force.
    pub activity_id: String,
    /// Its experience to force.
    pub experience_id: String,
    /// Lifetime, 1 s to a week ([`DEFAULT_TTL_SECONDS`] when absent).
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
}

impl MintBody {
    /// The lifetime in ms, checked.
    pub fn ttl_ms(&self) -> Result<i64, InputError> {
        let ttl = self.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
        if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
            return Err(InputError::Mint(format!(
                "ttlSeconds must be between 1 and {MAX_TTL_SECONDS}, got {ttl}"
            )));
        }
        if self.activity_id.is_empty() || self.experience_id.is_empty() {
            return Err(InputError::Mint(
                "activityId and experienceId must be non-empty".into(),
            ));
        }
        Ok(ttl * 1000)
    }
}

/// Deserializes a struct from a JSON object only (serde's derive also takes the fields as a
/// positional array, which no client means).
fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error as _;
    let map = serde_json::Map::<String, Value>::deserialize(deserializer)?;
    serde_json::from_value(Value::Object(map)).map_err(D::Error::custom)
}

/// The decision context: what the environment conditions read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// The page URL: a string, or `{"url": …}` / `{"URL": …}`.
    #[serde(default)]
    pub page: Value,
    /// The referrer URL, same shapes.
    #[serde(default)]
    pub referrer: Value,
    /// The visitor's User-Agent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The visitor's offset from UTC in minutes, east positive (+60 for CET).
    #[serde(default)]
    pub timezone_offset: Option<i32>,
    /// JavaScript's `getTimezoneOffset()` (west positive, what the Web SDK sends as
    /// `placeContext.localTimezoneOffset`); used when `timezoneOffset` is absent.
    #[serde(default)]
    pub local_timezone_offset: Option<i32>,
    /// The visitor's geography (`{country, region, city, postalCode, latitude, longitude, …}`)
    /// as a server-side caller knows it; when present it replaces what the request headers say.
    #[serde(default)]
    pub geo: Option<Value>,
}

/// A URL given as a string or an object with `url`/`URL`.
fn url_of(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Object(o) => o
            .get("url")
            .or_else(|| o.get("URL"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty()),
        _ => None,
    }
}

impl Context {
    /// The page URL, if given.
    pub fn page_url(&self) -> Option<&str> {
        url_of(&self.page)
    }

    /// The referrer URL, if given.
    pub fn referrer_url(&self) -> Option<&str> {
        url_of(&self.referrer)
    }

    /// The offset east of UTC in minutes (0 when unknown), checked against real zones (±18 h).
    pub fn offset_minutes(&self) -> Result<i32, InputError> {
        let offset = self
            .timezone_offset
            .or(self.local_timezone_offset.map(|m| m.saturating_neg()))
            .unwrap_or(0);
        if offset.unsigned_abs() > 18 * 60 {
            return Err(InputError::Context(format!(
                "timezoneOffset {offset} is not within ±1080 minutes"
            )));
        }
        Ok(offset)
    }

    /// `geo`, checked (`None` when absent or `null`).
    pub fn geo(&self) -> Result<Option<Geo>, InputError> {
        match &self.geo {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Geo::from_json(v)
                .map(Some)
                .map_err(|e| InputError::Context(e.to_string())),
        }
    }

    /// The environment conditions read (without geography: see [`Context::geo`]).
    pub fn environment(&self, now_ms: i64) -> Result<Environment, InputError> {
        Ok(Environment::new(
            self.page_url(),
            self.referrer_url(),
            self.user_agent.as_deref().unwrap_or_default(),
            now_ms,
            self.offset_minutes()?,
        ))
    }
}

/// The identities of an XDM identity map, primary first, then in map order.
pub fn identities(map: &Value) -> Result<Vec<Identity>, InputError> {
    // An absent map is "no identity" here, not a malformed one.
    if map.is_null() {
        return Err(InputError::NoIdentity);
    }
    vantage_model::identity::from_identity_map(map).map_err(|e| match e {
        IdentityMapError::Empty => InputError::NoIdentity,
        IdentityMapError::Invalid(m) => InputError::IdentityMap(m),
    })
}

/// The id visitors are bucketed by: the ECID, else the primary (first) identity.
pub fn visitor_id(identities: &[Identity]) -> &str {
    identities
        .iter()
        .find(|i| i.namespace() == "ECID")
        .or(identities.first())
        .map(Identity::id)
        .unwrap_or_default()
}

/// Checks the scopes: at most [`MAX_SCOPES`], non-empty, bounded, duplicates dropped.
pub fn scopes(scopes: Vec<String>) -> Result<Vec<String>, InputError> {
    if scopes.len() > MAX_SCOPES {
        return Err(InputError::Scopes(format!(
            "{} scopes, over the limit of {MAX_SCOPES}",
            scopes.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for s in scopes {
        if s.is_empty() || s.len() > MAX_SCOPE_LEN {
            return Err(InputError::Scopes(format!(
                "every scope must be 1 to {MAX_SCOPE_LEN} bytes"
            )));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// The XDM of each notification event (unwrapping `{"xdm": …}`), at most [`MAX_EVENTS`].
pub fn event_xdms(events: &[Value]) -> Result<Vec<&Value>, InputError> {
    if events.len() > MAX_EVENTS {
        return Err(InputError::Events(format!(
            "{} events, over the limit of {MAX_EVENTS}",
            events.len()
        )));
    }
    events
        .iter()
        .map(|e| {
            let xdm = e.get("xdm").unwrap_or(e);
            if xdm.is_object() {
                Ok(xdm)
            } else {
                Err(InputError::Events(
                    "every event must be an XDM object".into(),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn identity_map_and_visitor() {
        let ids = identities(&json!({
            "CRMID": [{"id": "c-1", "primary": true}],
            "ECID": [{"id": "12345678901234567890123456789012345678"}]
        }))
        .unwrap();
        assert_eq!(ids[0].namespace(), "CRMID");
        assert_eq!(visitor_id(&ids), "12345678901234567890123456789012345678");
        let ids = identities(&json!({"CRMID": [{"id": "c-1"}]})).unwrap();
        assert_eq!(visitor_id(&ids), "c-1");
        assert_eq!(identities(&json!(null)), Err(InputError::NoIdentity));
        assert_eq!(identities(&json!({})), Err(InputError::NoIdentity));
        assert!(matches!(
            identities(&json!({"ECID": "x"})),
            Err(InputError::IdentityMap(_))
        ));
        assert!(matches!(
            identities(&json!({"ECID": [{"id": 5}]})),
            Err(InputError::IdentityMap(_))
        ));
    }

    #[test]
    fn context_shapes() {
        let c: Context = serde_json::from_value(json!({
            "page": {"url": "https://shop.example/a?x=1"}, "referrer": "https://g.example/",
            "userAgent": "Mozilla/5.0", "localTimezoneOffset": -60
        }))
        .unwrap();
        assert_eq!(c.page_url(), Some("https://shop.example/a?x=1"));
        assert_eq!(c.referrer_url(), Some("https://g.example/"));
        assert_eq!(c.offset_minutes(), Ok(60));
        let env = c.environment(0).unwrap();
        assert_eq!(env.page.unwrap().host, "shop.example");
        assert_eq!(env.time.hour, 1);
        let c: Context = serde_json::from_value(json!({"timezoneOffset": 5000})).unwrap();
        assert!(c.environment(0).is_err());
        let c: Context =
            serde_json::from_value(json!({"geo": {"country": "de", "city": "Köln"}})).unwrap();
        let geo = c.geo().unwrap().unwrap();
        assert_eq!(geo.country.as_deref(), Some("DE"));
        assert_eq!(geo.city.as_deref(), Some("Köln"));
        let c: Context = serde_json::from_value(json!({"geo": {"country": "Germany"}})).unwrap();
        assert_eq!(
            c.geo().unwrap_err().to_string(),
            "context: geo.country: expected a two-letter ISO 3166-1 country code"
        );
        // The context is an object, not the fields in a row; an offset of i32::MIN is refused.
        assert!(serde_json::from_value::<DecisionsBody>(json!({"context": [null, null]})).is_err());
        let c: DecisionsBody =
            serde_json::from_value(json!({"context": {"timezoneOffset": i32::MIN}})).unwrap();
        assert!(c.context.offset_minutes().is_err());
        let c: Context = serde_json::from_value(json!({"geo": null})).unwrap();
        assert_eq!(c.geo(), Ok(None));
    }

    #[test]
    fn limits() {
        assert_eq!(
            scopes(vec!["a".into(), "a".into(), "b".into()]).unwrap(),
            ["a", "b"]
        );
        assert!(scopes(vec![String::new()]).is_err());
        assert!(scopes(vec!["s".into(); MAX_SCOPES + 1]).is_err());
        assert!(event_xdms(&[json!(1)]).is_err());
        let events = [
            json!({"xdm": {"eventType": "x"}}),
            json!({"eventType": "y"}),
        ];
        let x = event_xdms(&events).unwrap();
        assert_eq!(x[0]["eventType"], "x");
        assert_eq!(x[1]["eventType"], "y");
        let m = MintBody {
            activity_id: "a".into(),
            experience_id: "b".into(),
            ttl_seconds: Some(0),
        };
        assert!(m.ttl_ms().is_err());
    }
}
