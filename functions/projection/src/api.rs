//! The projection component's request logic, free of WASI and HTTP types so it unit-tests
//! natively: routing, admin authentication, content types, the calls into `vantage-ingest`, and
//! the one mapping of errors to HTTP status ([`ApiError::status`]).

use std::ops::Deref;

use serde_json::json;
use vantage_ingest::{IngestError, Options};
use vantage_kv::Kv;

/// The ingest route.
pub const INGEST_PATH: &str = "/v1/projection";
/// The admin profile routes: `/v1/profiles/{namespace}/{id}`.
pub const PROFILES_PREFIX: &str = "/v1/profiles/";

/// What the logic needs from an HTTP request (the glue fills it from the wasi:http request).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path, still percent-encoded, without the query.
    pub path: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The whole body (the host reads it under its own cap before the component runs).
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

/// Which admin action a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/projection`.
    Ingest,
    /// `GET /v1/profiles/{namespace}/{id}`.
    GetProfile {
        /// Decoded namespace.
        namespace: String,
        /// Decoded id.
        id: String,
    },
    /// `DELETE /v1/profiles/{namespace}/{id}`.
    DeleteProfile {
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
    /// `admin_token` is empty or unset: admin routes stay closed rather than open by default.
    #[error("the server is not configured: the admin_token variable is empty or unset")]
    NotConfigured,
    /// No bearer token.
    #[error("this route needs Authorization: Bearer <admin_token>")]
    Unauthenticated,
    /// A bearer token that is not the admin token.
    #[error("the bearer token is not valid for this route")]
    Forbidden,
    /// A body that is neither JSON nor NDJSON.
    #[error("content type {0:?} is not supported: send application/x-ndjson or application/json")]
    UnsupportedMediaType(String),
    /// The body as a whole broke a request limit.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// No live profile for the identity.
    #[error("no profile for {namespace}/{id}")]
    ProfileNotFound {
        /// Namespace asked for.
        namespace: String,
        /// Id asked for.
        id: String,
    },
    /// A profile read or delete failed (bad identity, or the store).
    #[error(transparent)]
    Profile(#[from] vantage_ingest::Error),
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(vantage_kv::Error),
    /// Encoding the answer failed.
    #[error("encoding the response: {0}")]
    Encode(String),
    /// The segment index could not be rebuilt after ingest.
    #[error("updating the segment index: {0}")]
    SegmentIndex(String),
    /// The activity index could not be rebuilt after ingest.
    #[error("updating the activity index: {0}")]
    ActivityIndex(String),
}

impl ApiError {
    /// The HTTP status of this failure.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound | Self::ProfileNotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::BadPath(_) => 400,
            Self::NotConfigured => 503,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::UnsupportedMediaType(_) => 415,
            Self::Ingest(IngestError::BodyTooLarge { .. }) => 413,
            Self::Ingest(IngestError::TooManyRecords { .. } | IngestError::MalformedArray(_)) => {
                400
            }
            Self::Profile(vantage_ingest::Error::Identity(_)) => 400,
            Self::Profile(vantage_ingest::Error::Model(_))
            | Self::Store(_)
            | Self::Encode(_)
            | Self::SegmentIndex(_)
            | Self::ActivityIndex(_) => 500,
        }
    }

    /// The RFC 9457 problem document and the headers this failure needs.
    pub fn to_reply(&self) -> Reply {
        let status = self.status();
        let body = json!({
            "type": "about:blank",
            "title": reason(status),
            "status": status,
            "detail": self.to_string(),
        });
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

/// The reason phrase of the statuses this component answers with (the problem's `title`, as
/// RFC 9457 asks for `about:blank` problems).
fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Serves one request. `open_store` is only called once the caller is authenticated and the
/// request is well-formed, so rejected requests never touch the store.
/// `open_store` yields anything that dereferences to a store (a `Box<WasiKv>` in the
/// component, a `&MemoryKv` in tests).
pub fn handle<S, F>(
    req: &Request<'_>,
    admin_token: Option<&str>,
    open_store: F,
    now_ms: i64,
) -> Reply
where
    S: Deref,
    S::Target: Kv,
    F: FnOnce() -> Result<S, vantage_kv::Error>,
{
    serve(req, admin_token, open_store, now_ms).unwrap_or_else(|e| e.to_reply())
}

fn serve<S, F>(
    req: &Request<'_>,
    admin_token: Option<&str>,
    open_store: F,
    now_ms: i64,
) -> Result<Reply, ApiError>
where
    S: Deref,
    S::Target: Kv,
    F: FnOnce() -> Result<S, vantage_kv::Error>,
{
    let route = route(req.method, req.path)?;
    authorize(admin_token, req.authorization)?;
    match route {
        Route::Ingest => {
            check_content_type(req.content_type)?;
            let kv = open_store().map_err(ApiError::Store)?;
            let options = Options {
                // An activity is validated and compiled once, here; a bad one is rejected with
                // every problem found.
                compile_activity: Some(&vantage_decisioning::compile_hook),
                // A segment that does not compile is rejected with its positioned error.
                compile_segment: Some(&vantage_segments::compile_hook),
                ..Options::default()
            };
            let report = vantage_ingest::ingest_with(&*kv, req.body, &options, now_ms)?;
            // Rebuild the request-time segment and activity indexes (cheap when nothing
            // changed). Failing here answers 500 so the hub retries; replaying accepted records
            // changes nothing.
            vantage_segments::sync(&*kv, &options.policy)
                .map_err(|e| ApiError::SegmentIndex(e.to_string()))?;
            vantage_decisioning::sync(&*kv, &options.policy)
                .map_err(|e| ApiError::ActivityIndex(e.to_string()))?;
            let body = serde_json::to_vec(&report).map_err(|e| ApiError::Encode(e.to_string()))?;
            Ok(json_reply(200, body))
        }
        Route::GetProfile { namespace, id } => {
            let kv = open_store().map_err(ApiError::Store)?;
            match vantage_ingest::profile_view(&*kv, &namespace, &id, now_ms)? {
                Some(profile) => Ok(json_reply(200, profile.to_string().into_bytes())),
                None => Err(ApiError::ProfileNotFound { namespace, id }),
            }
        }
        Route::DeleteProfile { namespace, id } => {
            let kv = open_store().map_err(ApiError::Store)?;
            vantage_ingest::delete_profile(&*kv, &namespace, &id, now_ms)?;
            Ok(Reply {
                status: 204,
                headers: vec![("cache-control", "no-store".to_owned())],
                body: Vec::new(),
            })
        }
    }
}

fn json_reply(status: u16, body: Vec<u8>) -> Reply {
    Reply {
        status,
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ],
        body,
    }
}

/// Maps a method and path to a route (404 and 405 come before authentication: they reveal
/// nothing an unauthenticated caller could not guess from the manifest).
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let not_allowed = |allow| ApiError::MethodNotAllowed {
        method: method.to_owned(),
        allow,
    };
    if path == INGEST_PATH {
        return match method {
            "POST" => Ok(Route::Ingest),
            _ => Err(not_allowed("POST")),
        };
    }
    let Some(rest) = path.strip_prefix(PROFILES_PREFIX) else {
        return Err(ApiError::NotFound);
    };
    let mut segments = rest.split('/');
    let (Some(namespace), Some(id), None) = (segments.next(), segments.next(), segments.next())
    else {
        return Err(ApiError::NotFound);
    };
    if namespace.is_empty() || id.is_empty() {
        return Err(ApiError::NotFound);
    }
    let delete = match method {
        "GET" => false,
        "DELETE" => true,
        _ => return Err(not_allowed("GET, DELETE")),
    };
    let namespace = percent_decode(namespace)?;
    let id = percent_decode(id)?;
    Ok(if delete {
        Route::DeleteProfile { namespace, id }
    } else {
        Route::GetProfile { namespace, id }
    })
}

/// Checks the bearer token against `admin_token`. An empty or unset token closes the admin
/// routes (503) instead of opening them.
pub fn authorize(admin_token: Option<&str>, authorization: Option<&str>) -> Result<(), ApiError> {
    vantage_auth::authorize(admin_token, authorization).map_err(|refusal| match refusal {
        vantage_auth::Refusal::NotConfigured => ApiError::NotConfigured,
        vantage_auth::Refusal::Missing => ApiError::Unauthenticated,
        vantage_auth::Refusal::Wrong => ApiError::Forbidden,
    })
}

/// Accepts NDJSON, JSON (an array) and no content type at all (curl's `--data-binary` sends
/// `application/x-www-form-urlencoded`, which is refused so a mistake is visible).
pub fn check_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = content_type else {
        return Ok(());
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "" | "application/json" | "application/x-ndjson" | "application/ndjson" => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(essence)),
    }
}

/// Decodes `%XX` escapes of one path segment (`+` stays `+`: this is a path, not a query).
pub fn percent_decode(segment: &str) -> Result<String, ApiError> {
    let bad = || ApiError::BadPath(segment.chars().take(64).collect());
    let mut out = Vec::with_capacity(segment.len());
    let mut bytes = segment.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(hex).ok_or_else(bad)?;
            let lo = bytes.next().and_then(hex).ok_or_else(bad)?;
            out.push(hi << 4 | lo);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
