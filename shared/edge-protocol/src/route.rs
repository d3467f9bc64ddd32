//! Which edge endpoint a request path names: `/{base}[/{locationHint}]/v1/{action}` for alloy
//! (`interact`, `collect`, `privacy/set-consent`, `identity/acquire`) and
//! `/{base}[/{locationHint}]/v2/interact` for server-to-server callers, plus the query
//! parameters the SDKs add. The base path is `ee` unless configured (alloy's `edgeBasePath`
//! is free text and may contain `/`).

use crate::error::ProtocolError;

/// alloy's default `edgeBasePath`.
pub const DEFAULT_BASE_PATH: &str = "ee";
/// Longest location hint accepted (Adobe's are short region codes such as `or2`, `t12`).
pub const MAX_HINT_LEN: usize = 64;

/// An edge endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `v1/interact`: events in, identity and personalization out (200).
    Interact,
    /// `v1/collect`: events in, nothing out (204; sent by `sendBeacon`).
    Collect,
    /// `v1/privacy/set-consent` (200).
    SetConsent,
    /// `v1/identity/acquire` (200).
    Acquire,
    /// `v2/interact`, the server-to-server form with a single `event` (200).
    InteractV2,
}

impl Endpoint {
    /// The status of a successful answer: 204 for `collect`, 200 otherwise (207 when a
    /// [`Response`](crate::Response) carries errors).
    pub fn success_status(self) -> u16 {
        match self {
            Self::Collect => 204,
            _ => 200,
        }
    }

    /// Whether a successful answer has a body.
    pub fn has_body(self) -> bool {
        self != Self::Collect
    }

    /// The query parameter that names the datastream: `configId` for v1, `datastreamId` for v2.
    pub fn datastream_param(self) -> &'static str {
        match self {
            Self::InteractV2 => "datastreamId",
            _ => "configId",
        }
    }

    fn from_parts(version: &str, action: &[&str]) -> Option<Self> {
        Some(match (version, action) {
            ("v1", ["interact"]) => Self::Interact,
            ("v1", ["collect"]) => Self::Collect,
            ("v1", ["privacy", "set-consent"]) => Self::SetConsent,
            ("v1", ["identity", "acquire"]) => Self::Acquire,
            ("v2", ["interact"]) => Self::InteractV2,
            _ => return None,
        })
    }
}

/// A path under the edge base, matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The location hint segment, if the path has one (`/ee/or2/v1/interact` → `or2`).
    pub location_hint: Option<&'a str>,
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind<'a> {
    /// An edge endpoint.
    Edge(Route<'a>),
    /// Under the edge base but no endpoint (answer 404 with a problem body).
    UnknownEdge,
    /// Not under the edge base at all (someone else's route).
    NotEdge,
}

impl<'a> PathKind<'a> {
    /// The route, or [`ProtocolError::NotFound`].
    pub fn route(self) -> Result<Route<'a>, ProtocolError> {
        match self {
            Self::Edge(route) => Ok(route),
            _ => Err(ProtocolError::NotFound),
        }
    }
}

/// Classifies `path` (a query string, if any, is ignored) under the default base `ee`.
pub fn classify(path: &str) -> PathKind<'_> {
    classify_with_base(path, DEFAULT_BASE_PATH)
}

/// Classifies `path` under `base` (without leading or trailing `/`, may contain `/`).
pub fn classify_with_base<'a>(path: &'a str, base: &str) -> PathKind<'a> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let base = base.trim_matches('/');
    let Some(rest) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(base))
        .and_then(|p| p.strip_prefix('/'))
    else {
        return PathKind::NotEdge;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    if let [version, action @ ..] = segments.as_slice()
        && let Some(endpoint) = Endpoint::from_parts(version, action)
    {
        return PathKind::Edge(Route {
            endpoint,
            location_hint: None,
        });
    }
    if let [hint, version, action @ ..] = segments.as_slice()
        && is_valid_hint(hint)
        && let Some(endpoint) = Endpoint::from_parts(version, action)
    {
        return PathKind::Edge(Route {
            endpoint,
            location_hint: Some(hint),
        });
    }
    PathKind::UnknownEdge
}

/// Whether `hint` can be a location hint path segment: 1–[`MAX_HINT_LEN`] of `A–Z a–z 0–9 _ -`.
pub fn is_valid_hint(hint: &str) -> bool {
    !hint.is_empty()
        && hint.len() <= MAX_HINT_LEN
        && hint
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The query parameters the SDKs add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// `configId` (v1) or `datastreamId` (v2).
    pub datastream_id: Option<String>,
    /// `requestId` (a UUID v4 from alloy).
    pub request_id: Option<String>,
    /// `adobeAepValidationToken` (Assurance).
    pub validation_token: Option<String>,
}

impl QueryParams {
    /// Parses a query string (with or without the leading `?`, or a whole path+query) for
    /// `endpoint`. Form encoding: `+` is a space, `%XX` escapes; a bad escape leaves the value
    /// as written.
    pub fn parse(query: &str, endpoint: Endpoint) -> Self {
        let query = query.split_once('?').map_or(query, |(_, q)| q);
        let mut out = Self::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = form_decode(value);
            match key {
                k if k == endpoint.datastream_param() => out.datastream_id = Some(value),
                "requestId" => out.request_id = Some(value),
                "adobeAepValidationToken" => out.validation_token = Some(value),
                _ => {}
            }
        }
        out
    }

    /// The datastream id, or [`ProtocolError::MissingParameter`] when absent or empty (the
    /// reference platform refuses such requests).
    pub fn require_datastream(&self, endpoint: Endpoint) -> Result<&str, ProtocolError> {
        match self.datastream_id.as_deref() {
            Some(id) if !id.is_empty() => Ok(id),
            _ => Err(ProtocolError::MissingParameter(endpoint.datastream_param())),
        }
    }
}

fn form_decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    if !spaced.contains('%') {
        return spaced;
    }
    let bytes = spaced.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(endpoint: Endpoint, location_hint: Option<&str>) -> PathKind<'_> {
        PathKind::Edge(Route {
            endpoint,
            location_hint,
        })
    }

    #[test]
    fn routes_v1_v2_and_location_hints() {
        let cases = [
            ("/ee/v1/interact", edge(Endpoint::Interact, None)),
            (
                "/ee/v1/interact?configId=1111&requestId=33f0be0b",
                edge(Endpoint::Interact, None),
            ),
            ("/ee/v1/collect", edge(Endpoint::Collect, None)),
            (
                "/ee/v1/privacy/set-consent",
                edge(Endpoint::SetConsent, None),
            ),
            ("/ee/v1/identity/acquire", edge(Endpoint::Acquire, None)),
            ("/ee/v2/interact", edge(Endpoint::InteractV2, None)),
            // §1: captured after `state:store` wrote `cluster=local1`.
            (
                "/ee/local1/v1/interact",
                edge(Endpoint::Interact, Some("local1")),
            ),
            ("/ee/or2/v1/collect", edge(Endpoint::Collect, Some("or2"))),
            (
                "/ee/t12/v1/privacy/set-consent",
                edge(Endpoint::SetConsent, Some("t12")),
            ),
            (
                "/ee/irl1/v2/interact",
                edge(Endpoint::InteractV2, Some("irl1")),
            ),
            ("/ee/v1/v1/interact", edge(Endpoint::Interact, Some("v1"))),
        ];
        for (path, want) in cases {
            assert_eq!(classify(path), want, "{path}");
        }
    }

    #[test]
    fn unknown_and_foreign_paths() {
        for path in [
            "/ee/v1/",
            "/ee/v1/interact/",
            "/ee/v1/identity",
            "/ee/v2/collect",
            "/ee/va/v1/sessions",
            "/ee/or2/v3/interact",
            "/ee/a.b/v1/interact",
            "/ee//v1/interact",
            "/ee/",
        ] {
            assert_eq!(classify(path), PathKind::UnknownEdge, "{path}");
        }
        for path in [
            "/v1/outbox",
            "/eev1/interact",
            "",
            "/",
            "ee/v1/interact",
            "/ee",
        ] {
            assert_eq!(classify(path), PathKind::NotEdge, "{path}");
        }
        assert_eq!(classify("/ee/x/y").route(), Err(ProtocolError::NotFound));
    }

    #[test]
    fn custom_base_paths() {
        assert_eq!(
            classify_with_base("/ee-pre-prd/v1/interact", "ee-pre-prd"),
            edge(Endpoint::Interact, None)
        );
        assert_eq!(
            classify_with_base("/edge/api/or2/v1/interact", "/edge/api/"),
            edge(Endpoint::Interact, Some("or2"))
        );
        assert_eq!(
            classify_with_base("/ee/v1/interact", "edge"),
            PathKind::NotEdge
        );
    }

    #[test]
    fn statuses_per_endpoint() {
        assert_eq!(Endpoint::Interact.success_status(), 200);
        assert_eq!(Endpoint::Collect.success_status(), 204);
        assert!(!Endpoint::Collect.has_body());
        assert_eq!(Endpoint::SetConsent.success_status(), 200);
        assert_eq!(Endpoint::InteractV2.success_status(), 200);
    }

    #[test]
    fn query_parameters() {
        let q = QueryParams::parse(
            "/ee/v1/interact?configId=1111-5555&requestId=33f0be0b-aa&adobeAepValidationToken=s%7Cc",
            Endpoint::Interact,
        );
        assert_eq!(q.datastream_id.as_deref(), Some("1111-5555"));
        assert_eq!(q.request_id.as_deref(), Some("33f0be0b-aa"));
        assert_eq!(q.validation_token.as_deref(), Some("s|c"));
        assert_eq!(q.require_datastream(Endpoint::Interact), Ok("1111-5555"));
        let v2 = QueryParams::parse("datastreamId=d+1&configId=x", Endpoint::InteractV2);
        assert_eq!(v2.datastream_id.as_deref(), Some("d 1"));
        let none = QueryParams::parse("configId=&x=%zz%", Endpoint::Interact);
        assert_eq!(
            none.require_datastream(Endpoint::Interact),
            Err(ProtocolError::MissingParameter("configId"))
        );
        assert_eq!(
            QueryParams::parse("requestId=%ff", Endpoint::Interact)
                .request_id
                .as_deref(),
            Some("\u{fffd}")
        );
    }
}
