//! The segments component's request logic, free of WASI and HTTP types so it unit-tests
//! natively: routing, bearer authentication, body limits and JSON parsing, the calls into
//! `vantage-segments` and `vantage-pql`, and the one mapping of errors to HTTP status
//! ([`ApiError::status`]).

use std::ops::Deref;

use serde::Deserialize;
use serde_json::{Value, json};
use vantage_kv::Kv;
use vantage_model::{Identity, Policy};
use vantage_segments::{Input, InputError};

/// `POST` evaluation route.
pub const EVALUATE_PATH: &str = "/v1/segments/evaluate";
/// `POST` validation route.
pub const VALIDATE_PATH: &str = "/v1/segments/validate";
/// `GET /v1/segments/profiles/{namespace}/{id}`.
pub const PROFILES_PREFIX: &str = "/v1/segments/profiles/";
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the logic needs from an HTTP request (the glue fills it from the wasi:http request).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path, still percent-encoded, without the query.
    pub path: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The whole body.
    pub body: &'a [u8],
}

/// The answer, for the glue to turn into an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers (lowercase names).
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Which action a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/segments/evaluate`.
    Evaluate,
    /// `POST /v1/segments/validate`.
    Validate,
    /// `GET /v1/segments/profiles/{namespace}/{id}`.
    Memberships {
        /// Decoded namespace.
        namespace: String,
        /// Decoded id.
        id: String,
    },
}

/// Everything a request can fail with; [`ApiError::status`] is the only place that decides the
/// HTTP status of a failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Not one of this component's resources.
    #[error("no resource at this path")]
    NotFound,
    /// The resource exists but not with this method.
    #[error("method {method} is not allowed here; use {allow}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The methods the resource takes (the `Allow` header).
        allow: &'static str,
    },
    /// A path segment is not valid percent-encoded UTF-8.
    #[error("path segment {0:?} is not valid percent-encoded UTF-8")]
    BadPath(String),
    /// `api_token` is empty or unset: the protected routes stay closed.
    #[error("the server is not configured: the api_token variable is empty or unset")]
    NotConfigured,
    /// No bearer token.
    #[error("this route needs Authorization: Bearer <api_token>")]
    Unauthenticated,
    /// A bearer token that is not the api token.
    #[error("the bearer token is not valid for this route")]
    Forbidden,
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("the body is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is not the expected JSON.
    #[error("malformed JSON body: {source}")]
    Json {
        /// The parser's error, with its position.
        source: serde_json::Error,
    },
    /// An identity map or event that is not usable.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A namespace or id in the path that the identity rules refuse.
    #[error("{0}")]
    Identity(String),
    /// No live profile for the identity.
    #[error("no profile for {namespace}/{id}")]
    ProfileNotFound {
        /// Namespace asked for.
        namespace: String,
        /// Id asked for.
        id: String,
    },
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(vantage_kv::Error),
    /// Reading or writing segments failed.
    #[error(transparent)]
    Segments(#[from] vantage_segments::Error),
    /// Encoding the answer failed.
    #[error("encoding the response: {0}")]
    Encode(String),
}

impl ApiError {
    /// The HTTP status of this failure.
    pub fn status(&self) -> u16 {
        use vantage_segments::Error as S;
        match self {
            Self::NotFound | Self::ProfileNotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::BadPath(_) | Self::Json { .. } | Self::Input(_) | Self::Identity(_) => 400,
            Self::NotConfigured => 503,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::TooLarge { .. } => 413,
            // Lost too many CAS races: the request can be retried.
            Self::Segments(
                S::Model(vantage_model::Error::Unsettled)
                | S::Model(vantage_model::Error::Store(vantage_kv::Error::Contended { .. }))
                | S::Store(vantage_kv::Error::Contended { .. }),
            ) => 503,
            Self::Segments(S::NoIdentity) => 400,
            Self::Segments(_) | Self::Store(_) | Self::Encode(_) => 500,
        }
    }

    /// The RFC 9457 problem document and the headers this failure needs.
    pub fn to_reply(&self) -> Reply {
        let status = self.status();
        let mut body = json!({
            "type": "about:blank",
            "title": reason(status),
            "status": status,
            "detail": self.to_string(),
        });
        if let Self::Json { source } = self {
            body["line"] = json!(source.line());
            body["column"] = json!(source.column());
        }
        let mut headers = vec![
            ("content-type", "application/problem+json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ];
        match self {
            Self::Unauthenticated => {
                headers.push(("www-authenticate", r#"Bearer realm="vantage""#.to_owned()));
            }
            Self::MethodNotAllowed { allow, .. } => headers.push(("allow", (*allow).to_owned())),
            _ => {}
        }
        Reply {
            status,
            headers,
            body: body.to_string().into_bytes(),
        }
    }
}

/// The reason phrase of a status (the problem's `title`).
fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// `POST /v1/segments/evaluate` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EvaluateBody {
    identity_map: Value,
    #[serde(default)]
    event: Option<Value>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /v1/segments/validate` body.
#[derive(Debug, Deserialize)]
struct ValidateBody {
    expression: String,
}

/// Serves one request. `open_store` is only called once the request is authenticated and
/// well-formed, so rejected requests never touch the store.
pub fn handle<S, F>(req: &Request<'_>, api_token: Option<&str>, open_store: F, now_ms: i64) -> Reply
where
    S: Deref,
    S::Target: Kv,
    F: FnOnce() -> Result<S, vantage_kv::Error>,
{
    serve(req, api_token, open_store, now_ms).unwrap_or_else(|e| e.to_reply())
}

fn serve<S, F>(
    req: &Request<'_>,
    api_token: Option<&str>,
    open_store: F,
    now_ms: i64,
) -> Result<Reply, ApiError>
where
    S: Deref,
    S::Target: Kv,
    F: FnOnce() -> Result<S, vantage_kv::Error>,
{
    let route = route(req.method, req.path)?;
    if route != Route::Validate {
        authorize(api_token, req.authorization)?;
    }
    let policy = Policy::default();
    match route {
        Route::Validate => {
            let body: ValidateBody = parse(req.body)?;
            json_reply(&vantage_pql::validate(&body.expression))
        }
        Route::Evaluate => {
            let body: EvaluateBody = parse(req.body)?;
            let identities = vantage_segments::input::identities(&body.identity_map)?;
            let event = body
                .event
                .as_ref()
                .filter(|e| !e.is_null())
                .map(|e| vantage_segments::input::event(e, now_ms))
                .transpose()?;
            let input = Input {
                event: event.as_ref(),
                changed_attributes: &[],
                // Without an event nothing says what changed: evaluate every edge segment.
                full: event.is_none(),
                record_event: true,
                now_ms,
            };
            let kv = open_store().map_err(ApiError::Store)?;
            let result =
                vantage_segments::evaluate(&*kv, &identities, &input, body.dry_run, &policy)?;
            json_reply(&result)
        }
        Route::Memberships { namespace, id } => {
            let identity =
                Identity::new(&namespace, &id).map_err(|e| ApiError::Identity(e.to_string()))?;
            let kv = open_store().map_err(ApiError::Store)?;
            match vantage_segments::memberships(&*kv, &identity, now_ms, &policy)? {
                Some(segments) => json_reply(&json!({ "segments": segments })),
                None => Err(ApiError::ProfileNotFound { namespace, id }),
            }
        }
    }
}

/// Parses a JSON body under the size limit.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    serde_json::from_slice(body).map_err(|source| ApiError::Json { source })
}

fn json_reply<T: serde::Serialize>(value: &T) -> Result<Reply, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Encode(e.to_string()))?;
    Ok(Reply {
        status: 200,
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ],
        body,
    })
}

/// Maps a method and path to a route (404 and 405 come before authentication: they reveal
/// nothing an unauthenticated caller could not guess from the manifest).
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let not_allowed = |allow| ApiError::MethodNotAllowed {
        method: method.to_owned(),
        allow,
    };
    match path {
        EVALUATE_PATH | VALIDATE_PATH => {
            if method != "POST" {
                return Err(not_allowed("POST"));
            }
            return Ok(if path == EVALUATE_PATH {
                Route::Evaluate
            } else {
                Route::Validate
            });
        }
        _ => {}
    }
    let Some(rest) = path.strip_prefix(PROFILES_PREFIX) else {
        return Err(ApiError::NotFound);
    };
    let mut parts = rest.split('/');
    let (Some(namespace), Some(id), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ApiError::NotFound);
    };
    if namespace.is_empty() || id.is_empty() {
        return Err(ApiError::NotFound);
    }
    if !matches!(method, "GET" | "HEAD") {
        return Err(not_allowed("GET, HEAD"));
    }
    Ok(Route::Memberships {
        namespace: percent_decode(namespace)?,
        id: percent_decode(id)?,
    })
}

/// Checks the bearer token against `api_token`. An empty or unset token closes the protected
/// routes (503) instead of opening them.
pub fn authorize(api_token: Option<&str>, authorization: Option<&str>) -> Result<(), ApiError> {
    vantage_auth::authorize(api_token, authorization).map_err(|refusal| match refusal {
        vantage_auth::Refusal::NotConfigured => ApiError::NotConfigured,
        vantage_auth::Refusal::Missing => ApiError::Unauthenticated,
        vantage_auth::Refusal::Wrong => ApiError::Forbidden,
    })
}

/// Decodes `%XX` escapes of one path segment.
pub fn percent_decode(segment: &str) -> Result<String, ApiError> {
    let bad = || ApiError::BadPath(segment.chars().take(64).collect());
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests;
