//! The collect component's request logic, free of WASI and HTTP types so it unit-tests
//! natively: configuration from variables, routing between the Web SDK edge ([`crate::edge`])
//! and the outbox's admin routes, and the replies.
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `POST /ee[/{hint}]/v1/{interact,collect,privacy/set-consent,identity/acquire}`, `POST /ee/v2/interact` | none (CORS) | Web SDK handles |
//! | `GET /v1/outbox?after=SEQ&limit=N` | `admin_token` | NDJSON, in sequence order |
//! | `POST /v1/outbox/ack` `{"upTo": SEQ}` | `admin_token` | `{"acked", "deleted", "backlog"}` |
//! | `GET /v1/outbox/stats` | `admin_token` | head, acked, pending, dropped, max |

use std::ops::Deref;

use serde_json::json;
use vantage_edge_protocol::{AllowedOrigins, CookieNames, General, RandomSource};
use vantage_kv::Kv;

use crate::outbox;

/// Prefix of the outbox routes.
pub const OUTBOX_PATH: &str = "/v1/outbox";
/// Default bound on events waiting for the hub.
pub const DEFAULT_OUTBOX_MAX: u64 = 1_000_000;
/// Default `limit` of an outbox read.
pub const DEFAULT_READ_LIMIT: u64 = 1_000;

/// What the logic needs from an HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, `OPTIONS`, …
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: &'a str,
    /// Headers, names lowercase.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Consent assumed when a request carries none (no consent cookie, nothing in the profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultConsent {
    /// Collect and personalize.
    In,
    /// Neither collect nor personalize until consent is given.
    Pending,
    /// Neither.
    Out,
}

/// The component's settings, from its variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// The IMS org id cookie names derive from.
    pub org_id: String,
    /// `kndctr_<org>_…` names.
    pub cookies: CookieNames,
    /// `admin_token`: the outbox routes (unset: they answer 503).
    pub admin_token: Option<String>,
    /// Consent without a cookie.
    pub default_consent: DefaultConsent,
    /// Origins allowed to call the edge with credentials.
    pub allowed_origins: AllowedOrigins,
    /// Bound on events waiting for the hub.
    pub outbox_max: u64,
    /// Which request headers carry the visitor's geography (the CDN's).
    pub geo_headers: vantage_decisioning::context::GeoHeaders,
}

/// A variable with a value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("variable {name}: {message}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Config {
    /// Reads the settings through `var` (a variable's value, `None` when unset).
    pub fn from_variables(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let org_id = get("org_id").ok_or(ConfigError {
            name: "org_id",
            message: "must be set (the IMS org id cookie names derive from)".into(),
        })?;
        let default_consent = match get("default_consent").as_deref() {
            None | Some("in") => DefaultConsent::In,
            Some("pending") => DefaultConsent::Pending,
            Some("out") => DefaultConsent::Out,
            Some(other) => {
                return Err(ConfigError {
                    name: "default_consent",
                    message: format!("{other:?} is not one of in, pending, out"),
                });
            }
        };
        let allowed_origins = match get("allowed_origins").as_deref() {
            None | Some("*") => AllowedOrigins::Any,
            Some(list) => AllowedOrigins::List(
                list.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .collect(),
            ),
        };
        let outbox_max = match get("outbox_max_events") {
            None => DEFAULT_OUTBOX_MAX,
            Some(v) => v.parse().map_err(|_| ConfigError {
                name: "outbox_max_events",
                message: format!("{v:?} is not a non-negative integer"),
            })?,
        };
        // Unset or empty: the common CDNs' headers.
        let geo_headers = vantage_decisioning::context::GeoHeaders::parse(
            get("geo_headers").as_deref().unwrap_or_default(),
        )
        .map_err(|e| ConfigError {
            name: "geo_headers",
            message: e.to_string(),
        })?;
        Ok(Config {
            geo_headers,
            cookies: CookieNames::new(&org_id),
            org_id,
            admin_token: get("admin_token"),
            default_consent,
            allowed_origins,
            outbox_max,
        })
    }
}

/// Everything the handler needs from its surroundings.
pub struct Env<'r, F> {
    /// Opens the store; called only once a request is worth it.
    pub open_store: F,
    /// Random bytes (ECIDs, request ids).
    pub rng: &'r mut dyn RandomSource,
    /// The clock, ms (read more than once: the outbox stamps after reserving).
    pub clock: &'r dyn Fn() -> i64,
}

/// Serves one request.
pub fn handle<S, F>(req: &Request<'_>, config: &Config, env: Env<'_, F>) -> Reply
where
    S: Deref,
    S::Target: Kv,
    F: FnOnce() -> Result<S, vantage_kv::Error>,
{
    if req.path == OUTBOX_PATH || req.path.starts_with("/v1/outbox/") {
        return admin(req, config, env);
    }
    crate::edge::handle(req, config, env)
}

/// A problem+json reply for the admin routes.
pub fn problem(status: u16, detail: &str) -> Reply {
    let title = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let body = json!({"type": "about:blank", "title": title, "status": status, "detail": detail});
    let mut headers = vec![
        ("content-type", "application/problem+json".to_owned()),
        ("cache-control", "no-store".to_owned()),
    ];
    if status == 401 {
        headers.push(("www-authenticate", r#"Bearer realm="vantage""#.to_owned()));
    }
    if status == 503 {
        headers.push(("retry-after", "1".to_owned()));
    }
    Reply {
        status,
        headers,
        body: body.to_string().into_bytes(),
    }
}

fn json_reply(value: &serde_json::Value) -> Reply {
    Reply {
        status: 200,
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ],
        body: value.to_string().into_bytes(),
    }
}

/// Largest body of an acknowledgement.
const MAX_ACK_BODY: usize = 4096;

/// The outbox routes.
fn admin<S, F>(req: &Request<'_>, config: &Config, env: Env<'_, F>) -> Reply
where
    S: Deref,
    S::Target: Kv,
    F: FnOnce() -> Result<S, vantage_kv::Error>,
{
    let (allow, action) = match req.path {
        OUTBOX_PATH => ("GET, HEAD", "read"),
        "/v1/outbox/stats" => ("GET, HEAD", "stats"),
        "/v1/outbox/ack" => ("POST", "ack"),
        _ => return problem(404, "no resource at this path"),
    };
    if !allow.split(", ").any(|m| m == req.method) {
        let mut r = problem(
            405,
            &format!("method {} is not allowed here; use {allow}", req.method),
        );
        r.headers.push(("allow", allow.to_owned()));
        return r;
    }
    match vantage_auth::authorize(config.admin_token.as_deref(), req.header("authorization")) {
        Ok(()) => {}
        Err(vantage_auth::Refusal::NotConfigured) => {
            return problem(
                503,
                "the server is not configured: the admin_token variable is empty or unset",
            );
        }
        Err(vantage_auth::Refusal::Missing) => {
            return problem(401, "this route needs Authorization: Bearer <admin_token>");
        }
        Err(vantage_auth::Refusal::Wrong) => {
            return problem(403, "the bearer token is not valid for this route");
        }
    }
    let store_failed = |e: vantage_kv::Error| {
        let status = if matches!(e, vantage_kv::Error::Contended { .. }) {
            503
        } else {
            500
        };
        problem(status, &format!("store: {e}"))
    };
    match action {
        "read" => {
            let (after, limit) = match read_params(req.query) {
                Ok(p) => p,
                Err(e) => return problem(400, &e),
            };
            let kv = match (env.open_store)() {
                Ok(kv) => kv,
                Err(e) => return store_failed(e),
            };
            match outbox::read(&*kv, after, limit, config.outbox_max, (env.clock)()) {
                Ok(batch) => {
                    let mut body = Vec::new();
                    for e in &batch.entries {
                        body.extend_from_slice(e);
                        body.push(b'\n');
                    }
                    Reply {
                        status: 200,
                        headers: vec![
                            ("content-type", "application/x-ndjson".to_owned()),
                            ("cache-control", "no-store".to_owned()),
                            ("x-outbox-next-after", batch.next_after.to_string()),
                            ("x-outbox-head", batch.stats.head.to_string()),
                            ("x-outbox-pending", batch.stats.pending.to_string()),
                            ("x-outbox-dropped", batch.stats.dropped.to_string()),
                            ("x-outbox-waiting", batch.waiting.to_string()),
                        ],
                        body,
                    }
                }
                Err(e) => store_failed(e),
            }
        }
        "stats" => {
            let kv = match (env.open_store)() {
                Ok(kv) => kv,
                Err(e) => return store_failed(e),
            };
            match outbox::stats(&*kv, config.outbox_max) {
                Ok(s) => json_reply(&json!(s)),
                Err(e) => store_failed(e),
            }
        }
        _ => {
            if req.body.len() > MAX_ACK_BODY {
                return problem(
                    413,
                    &format!(
                        "the body is {} bytes, over the limit of {MAX_ACK_BODY}",
                        req.body.len()
                    ),
                );
            }
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields, rename_all = "camelCase")]
            struct Ack {
                up_to: u64,
            }
            let ack: Ack = match serde_json::from_slice(req.body) {
                Ok(a) => a,
                Err(e) => {
                    return problem(
                        400,
                        &format!("expected {{\"upTo\": <sequence number>}}: {e}"),
                    );
                }
            };
            let kv = match (env.open_store)() {
                Ok(kv) => kv,
                Err(e) => return store_failed(e),
            };
            match outbox::ack(&*kv, ack.up_to, vantage_kv::DEFAULT_CAS_RETRIES) {
                Ok(a) => json_reply(&json!(a)),
                Err(outbox::AckError::Beyond { up_to, head }) => problem(
                    400,
                    &format!("upTo {up_to} is past the last sequence number handed out ({head})"),
                ),
                Err(outbox::AckError::Store(e)) => store_failed(e),
            }
        }
    }
}

/// `after` (default 0) and `limit` (default [`DEFAULT_READ_LIMIT`], at most
/// [`outbox::MAX_READ`]) of an outbox read.
fn read_params(query: &str) -> Result<(u64, u64), String> {
    let (mut after, mut limit) = (0, DEFAULT_READ_LIMIT);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{key}={value:?} is not a non-negative integer"))
        };
        match key {
            "after" => after = number()?,
            "limit" => {
                limit = number()?;
                if limit == 0 || limit > outbox::MAX_READ {
                    return Err(format!("limit must be 1 to {}", outbox::MAX_READ));
                }
            }
            _ => {
                return Err(format!(
                    "unknown query parameter {key:?}; use after and limit"
                ));
            }
        }
    }
    Ok((after, limit))
}

/// The consent that applies to a request.
pub fn effective_consent(cookie: Option<General>, default: DefaultConsent) -> DefaultConsent {
    match cookie {
        Some(General::In) => DefaultConsent::In,
        Some(General::Out) => DefaultConsent::Out,
        None => default,
    }
}

#[cfg(test)]
mod tests;
