//! The decisions component's request logic, free of WASI and HTTP types so it unit-tests
//! natively: routing, bearer authentication, body limits and JSON parsing, the calls into
//! `vantage-decisioning`, the store writes, and the one mapping of errors to HTTP status
//! ([`ApiError::status`]).
//!
//! | route | token | answer |
//! |---|---|---|
//! | `POST /v1/decisions` | `api_token` | `{"propositions": […]}` (notifications in `events` are applied first) |
//! | `POST /v1/decisions/explain` | `admin_token` | the engine's explanation |
//! | `POST /v1/decisions/preview-token` | `admin_token` | `{"token", "expiresAt", …}` |
//! | `GET /v1/reports/activities/{id}` | `admin_token` | per-experience counts, rates, lift |

use std::collections::BTreeMap;
use std::ops::Deref;

use serde::Deserialize;
use serde_json::{Value, json};
use vantage_decisioning::context::{Geo, GeoConfigError, GeoHeaders};
use vantage_decisioning::report_keys::{self, Metric};
use vantage_decisioning::{
    Activities, Forced, PreviewError, Proposition, Request as Decide, explain, preview, stats,
};
use vantage_kv::Kv;
use vantage_model::time::format_rfc3339;
use vantage_model::{Graph, Identity, Policy, Profile, ProfileId};
use vantage_personalize::{Conditions, Inputs, Visit};

use crate::input::{self, Context, DecisionsBody, ExplainBody, InputError, MintBody};
use crate::preview_token::{self, Claims, TokenError};

/// `POST`: decide.
pub const DECISIONS_PATH: &str = "/v1/decisions";
/// `POST`: explain one activity for one visitor.
pub const EXPLAIN_PATH: &str = "/v1/decisions/explain";
/// `POST`: mint a preview token.
pub const PREVIEW_TOKEN_PATH: &str = "/v1/decisions/preview-token";
/// `GET /v1/reports/activities/{id}`.
pub const REPORTS_PREFIX: &str = "/v1/reports/activities/";
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
    /// The other headers, names in lower case (the CDN's geography headers are read from them).
    pub headers: &'a [(&'a str, &'a str)],
    /// The whole body.
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The first value of a header, by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

/// The component's variables (`None` or empty tokens: the routes needing them answer 503).
#[derive(Debug, Clone, Copy, Default)]
pub struct Variables<'a> {
    /// `api_token`: `/v1/decisions`.
    pub api: Option<&'a str>,
    /// `admin_token`: explain, preview tokens, reports; also the preview-token signing key.
    pub admin: Option<&'a str>,
    /// `geo_headers`: which request headers carry the visitor's geography
    /// ([`GeoHeaders::parse`]; `None` or empty: the built-in CDN headers).
    pub geo_headers: Option<&'a str>,
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
    /// `POST /v1/decisions`.
    Decide,
    /// `POST /v1/decisions/explain`.
    Explain,
    /// `POST /v1/decisions/preview-token`.
    MintPreview,
    /// `GET /v1/reports/activities/{id}`.
    Report {
        /// Decoded activity id.
        activity_id: String,
    },
}

/// Which token a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// `api_token`.
    Api,
    /// `admin_token`.
    Admin,
}

impl Secret {
    /// The variable's name.
    pub fn name(self) -> &'static str {
        match self {
            Secret::Api => "api_token",
            Secret::Admin => "admin_token",
        }
    }
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
    /// The token a route needs is empty or unset: the route stays closed.
    #[error("the server is not configured: the {} variable is empty or unset", .0.name())]
    NotConfigured(Secret),
    /// No bearer token.
    #[error("this route needs Authorization: Bearer <{}>", .0.name())]
    Unauthenticated(Secret),
    /// A bearer token that is not the one the route needs.
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
    /// JSON of the right shape with unusable values.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A preview token that is forged, malformed or expired.
    #[error(transparent)]
    PreviewToken(#[from] TokenError),
    /// The activity is not (or no longer) published.
    #[error("no published activity {0:?}")]
    UnknownActivity(String),
    /// The forced activity or experience does not exist.
    #[error(transparent)]
    Preview(#[from] PreviewError),
    /// A store operation failed.
    #[error("store: {0}")]
    Store(#[from] vantage_kv::Error),
    /// Reading or writing a profile or the catalog failed.
    #[error(transparent)]
    Model(#[from] vantage_model::Error),
    /// The `geo_headers` variable does not parse.
    #[error("the server is misconfigured: {0}")]
    GeoConfig(#[from] GeoConfigError),
    /// Encoding the answer failed.
    #[error("encoding the response: {0}")]
    Encode(String),
}

impl ApiError {
    /// The HTTP status of this failure.
    pub fn status(&self) -> u16 {
        use vantage_kv::Error as K;
        use vantage_model::Error as M;
        match self {
            Self::NotFound | Self::UnknownActivity(_) | Self::Preview(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::BadPath(_) | Self::Json { .. } | Self::Input(_) => 400,
            Self::NotConfigured(_) => 503,
            Self::Unauthenticated(_) => 401,
            Self::Forbidden | Self::PreviewToken(_) => 403,
            Self::TooLarge { .. } => 413,
            // Lost too many CAS races: the request can be retried.
            Self::Store(K::Contended { .. })
            | Self::Model(M::Unsettled | M::Store(K::Contended { .. })) => 503,
            Self::Store(_) | Self::Model(_) | Self::Encode(_) | Self::GeoConfig(_) => 500,
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
            Self::Unauthenticated(_) => {
                headers.push(("www-authenticate", r#"Bearer realm="vantage""#.to_owned()));
            }
            Self::MethodNotAllowed { allow, .. } => headers.push(("allow", (*allow).to_owned())),
            Self::Store(vantage_kv::Error::Contended { .. })
            | Self::Model(vantage_model::Error::Unsettled) => {
                headers.push(("retry-after", "1".to_owned()));
            }
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

/// Serves one request. `open_store` is only called once the request is authenticated and
/// well-formed, so rejected requests never touch the store. It yields anything that
/// dereferences to a store (a `Box<WasiKv>` in the component, a `&MemoryKv` in tests).
pub fn handle<S, F>(req: &Request<'_>, vars: Variables<'_>, open_store: F, now_ms: i64) -> Reply
where
    S: Deref,
    S::Target: Kv,
    F: FnOnce() -> Result<S, vantage_kv::Error>,
{
    serve(req, vars, open_store, now_ms).unwrap_or_else(|e| e.to_reply())
}

fn serve<S, F>(
    req: &Request<'_>,
    vars: Variables<'_>,
    open_store: F,
    now_ms: i64,
) -> Result<Reply, ApiError>
where
    S: Deref,
    S::Target: Kv,
    F: FnOnce() -> Result<S, vantage_kv::Error>,
{
    let route = route(req.method, req.path)?;
    let secret = match route {
        Route::Decide => Secret::Api,
        _ => Secret::Admin,
    };
    let expected = match secret {
        Secret::Api => vars.api,
        Secret::Admin => vars.admin,
    };
    vantage_auth::authorize(expected, req.authorization).map_err(|e| match e {
        vantage_auth::Refusal::NotConfigured => ApiError::NotConfigured(secret),
        vantage_auth::Refusal::Missing => ApiError::Unauthenticated(secret),
        vantage_auth::Refusal::Wrong => ApiError::Forbidden,
    })?;
    let policy = Policy::default();
    match route {
        Route::Decide => {
            let body: DecisionsBody = parse(req.body)?;
            let geo = geography(req, vars, &body.context)?;
            let kv = open_store()?;
            json_reply(&decisions(&*kv, body, geo, vars.admin, &policy, now_ms)?)
        }
        Route::Explain => {
            let body: ExplainBody = parse(req.body)?;
            let geo = geography(req, vars, &body.context)?;
            let kv = open_store()?;
            json_reply(&explanation(&*kv, body, geo, &policy, now_ms)?)
        }
        Route::MintPreview => {
            let body: MintBody = parse(req.body)?;
            let ttl_ms = body.ttl_ms()?;
            let kv = open_store()?;
            // Signing needs the admin token, which authorization just checked is set.
            let secret = vars.admin.unwrap_or_default();
            json_reply(&mint(&*kv, body, ttl_ms, secret, now_ms)?)
        }
        Route::Report { activity_id } => {
            let kv = open_store()?;
            json_reply(&report(&*kv, &activity_id)?)
        }
    }
}

/// The visitor's geography: `context.geo` when the body has it (a server-side caller states
/// where its visitor is; its own request headers describe its own connection), else the CDN
/// headers that `geo_headers` names.
fn geography(req: &Request<'_>, vars: Variables<'_>, context: &Context) -> Result<Geo, ApiError> {
    if let Some(geo) = context.geo()? {
        return Ok(geo);
    }
    let mapping = GeoHeaders::parse(vars.geo_headers.unwrap_or_default())?;
    Ok(Geo::from_headers(&mapping, |name| req.header(name)))
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
    let post = |route| {
        if method == "POST" {
            Ok(route)
        } else {
            Err(not_allowed("POST"))
        }
    };
    match path {
        DECISIONS_PATH => return post(Route::Decide),
        EXPLAIN_PATH => return post(Route::Explain),
        PREVIEW_TOKEN_PATH => return post(Route::MintPreview),
        _ => {}
    }
    let Some(id) = path.strip_prefix(REPORTS_PREFIX) else {
        return Err(ApiError::NotFound);
    };
    if id.is_empty() || id.contains('/') {
        return Err(ApiError::NotFound);
    }
    if !matches!(method, "GET" | "HEAD") {
        return Err(not_allowed("GET, HEAD"));
    }
    Ok(Route::Report {
        activity_id: percent_decode(id)?,
    })
}

/// Decodes `%XX` escapes of one path segment.
pub fn percent_decode(segment: &str) -> Result<String, ApiError> {
    let bad = || ApiError::BadPath(segment.chars().take(64).collect());
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// The visitor's live profile (the first of `identities` that has one) and the identity to
/// write it through; a fresh, unsaved profile of the first identity when none has one.
fn load_profile<K: Kv + ?Sized>(
    graph: &Graph<'_, K>,
    identities: &[Identity],
    policy: &Policy,
    now_ms: i64,
) -> Result<(Identity, Profile), ApiError> {
    for identity in identities {
        if let Some(p) = graph.lookup(identity, now_ms)? {
            return Ok((identity.clone(), p));
        }
    }
    let first = identities.first().cloned().ok_or(InputError::NoIdentity)?;
    let fresh = Profile::new(
        ProfileId::primary(&first),
        first.clone(),
        now_ms,
        now_ms,
        policy,
    );
    Ok((first, fresh))
}

/// The answer of `POST /v1/decisions`, serialized straight from the propositions (going
/// through a `serde_json::Value` tree costs ten times more for a large answer).
#[derive(Debug, serde::Serialize)]
pub struct Answer {
    /// The Web SDK propositions.
    pub propositions: Vec<Proposition>,
    /// What the request's notification events did, when it had any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Value>,
    /// Set on a preview answer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
}

/// `POST /v1/decisions`: notifications first (so a display just reported counts against its
/// caps), then the decision; the profile changes of both in one CAS update, then one atomic
/// increment per report counter. A preview request is read-only.
fn decisions<K: Kv + ?Sized>(
    kv: &K,
    body: DecisionsBody,
    geo: Geo,
    admin_token: Option<&str>,
    policy: &Policy,
    now_ms: i64,
) -> Result<Answer, ApiError> {
    let identities = input::identities(&body.identity_map)?;
    let scopes = input::scopes(body.scopes)?;
    let xdms = input::event_xdms(&body.events)?;
    let environment = body.context.environment(now_ms)?.with_geo(geo);
    let offset = body.context.offset_minutes()?;
    let user_agent = body.context.user_agent.as_deref().unwrap_or_default();
    // Checked before any store access: a refused preview costs nothing.
    let forced = match &body.preview {
        Some(p) => {
            let secret = admin_token
                .filter(|t| !t.trim().is_empty())
                .ok_or(ApiError::NotConfigured(Secret::Admin))?;
            Some(preview_token::verify(secret.as_bytes(), &p.token, now_ms)?)
        }
        None => None,
    };
    let visitor_id = input::visitor_id(&identities).to_owned();
    let store = Activities::open(kv)?;
    let graph = Graph::new(kv, policy);
    let (identity, mut profile) = load_profile(&graph, &identities, policy, now_ms)?;

    if let Some(claims) = forced {
        let catalog = store.for_ids(kv, [claims.activity_id.as_str()])?;
        let request = Decide {
            visitor_id: &visitor_id,
            scopes: &scopes,
            profile: &profile,
            environment: &environment,
            now_ms,
        };
        let propositions = preview(
            &catalog,
            &request,
            Forced {
                activity_id: &claims.activity_id,
                experience_id: &claims.experience_id,
            },
        )?;
        return Ok(Answer {
            propositions,
            notifications: None,
            preview: true,
        });
    }

    let outcome = vantage_personalize::visit(
        kv,
        &store,
        &mut profile,
        &Visit {
            visitor_id: &visitor_id,
            scopes: &scopes,
            environment: &environment,
            user_agent,
            offset_minutes: offset,
            events: &xdms,
            now_ms,
        },
    )?;
    let (changes, counters) = (outcome.changes, outcome.counters);
    if !changes.is_empty() {
        graph.update(&identity, now_ms, now_ms, |p| {
            changes.apply(p);
            Ok(true)
        })?;
    }
    for (key, delta) in &counters {
        kv.increment(key, *delta)?;
    }
    let notifications = (!xdms.is_empty()).then(|| {
        json!({
            "events": xdms.len(),
            "counted": counters.len(),
            "ignored": outcome.ignored,
        })
    });
    Ok(Answer {
        propositions: outcome.propositions,
        notifications,
        preview: false,
    })
}

/// `POST /v1/decisions/explain`: read-only.
fn explanation<K: Kv + ?Sized>(
    kv: &K,
    body: ExplainBody,
    geo: Geo,
    policy: &Policy,
    now_ms: i64,
) -> Result<Value, ApiError> {
    let identities = input::identities(&body.identity_map)?;
    let extra = input::scopes(body.scopes)?;
    let environment = body.context.environment(now_ms)?.with_geo(geo);
    let offset = body.context.offset_minutes()?;
    let user_agent = body.context.user_agent.as_deref().unwrap_or_default();
    let store = Activities::open(kv)?;
    let own = store.for_ids(kv, [body.activity_id.as_str()])?;
    let own_scopes = match own.get(&body.activity_id) {
        Some(p) => p.activity.scopes.clone(),
        // Published but not preparable: explained with the problem, on the extra scopes.
        None if own.problems().iter().any(|p| p.id == body.activity_id) => Vec::new(),
        None => return Err(ApiError::UnknownActivity(body.activity_id)),
    };
    let mut scopes = extra;
    for s in own_scopes {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    let catalog = store.for_scopes(kv, &scopes)?;
    let graph = Graph::new(kv, policy);
    let (_, profile) = load_profile(&graph, &identities, policy, now_ms)?;
    let visitor_id = input::visitor_id(&identities);
    let inputs = Inputs::new(&profile, &environment, user_agent, offset, now_ms);
    let conditions = Conditions::new(&inputs);
    let request = Decide {
        visitor_id,
        scopes: &scopes,
        profile: &profile,
        environment: &environment,
        now_ms,
    };
    let explanation = explain(&catalog, &request, &conditions, &body.activity_id);
    let mut value =
        serde_json::to_value(&explanation).map_err(|e| ApiError::Encode(e.to_string()))?;
    if let Some(problem) = own
        .problems()
        .iter()
        .chain(catalog.problems())
        .find(|p| p.id == body.activity_id)
    {
        value["loadProblem"] = json!(problem.message);
    }
    Ok(value)
}

/// `POST /v1/decisions/preview-token`: the activity and experience must exist.
fn mint<K: Kv + ?Sized>(
    kv: &K,
    body: MintBody,
    ttl_ms: i64,
    secret: &str,
    now_ms: i64,
) -> Result<Value, ApiError> {
    let catalog = Activities::open(kv)?.for_ids(kv, [body.activity_id.as_str()])?;
    let activity = &catalog
        .get(&body.activity_id)
        .ok_or_else(|| ApiError::UnknownActivity(body.activity_id.clone()))?
        .activity;
    if activity.experience(&body.experience_id).is_none() {
        return Err(PreviewError::UnknownExperience {
            activity_id: body.activity_id,
            experience_id: body.experience_id,
        }
        .into());
    }
    let claims = Claims {
        activity_id: body.activity_id,
        experience_id: body.experience_id,
        expires_ms: now_ms.saturating_add(ttl_ms),
    };
    let token = preview_token::mint(secret.as_bytes(), &claims);
    Ok(json!({
        "token": token,
        "activityId": claims.activity_id,
        "experienceId": claims.experience_id,
        "expiresAt": format_rfc3339(claims.expires_ms),
        "expiresAtMs": claims.expires_ms,
    }))
}

/// `GET /v1/reports/activities/{id}`: every counter read in one `get_many`.
fn report<K: Kv + ?Sized>(kv: &K, activity_id: &str) -> Result<Value, ApiError> {
    let catalog = Activities::open(kv)?.for_ids(kv, [activity_id])?;
    let activity = &catalog
        .get(activity_id)
        .ok_or_else(|| ApiError::UnknownActivity(activity_id.to_owned()))?
        .activity;
    let mut experiences: Vec<&str> = activity.experiences.iter().map(|e| e.id.as_str()).collect();
    if activity.holdout > 0.0 {
        experiences.push(vantage_decisioning::model::HOLDOUT_EXPERIENCE_ID);
    }
    let keys: Vec<String> = experiences
        .iter()
        .flat_map(|e| {
            Metric::ALL
                .into_iter()
                .map(move |m| report_keys::counter(&activity.id, e, m))
        })
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = kv.get_many(&refs)?;
    let counts: BTreeMap<&str, u64> = refs
        .iter()
        .zip(values)
        .map(|(k, v)| {
            let n = v
                .as_deref()
                .and_then(vantage_kv::decode_counter)
                .unwrap_or(0);
            (*k, u64::try_from(n).unwrap_or(0))
        })
        .collect();
    let report = stats::activity_report(activity, |k| counts.get(k).copied().unwrap_or_default());
    let totals = report.experiences.iter().fold([0u64; 3], |t, r| {
        [
            t[0] + r.counts.exposures,
            t[1] + r.counts.clicks,
            t[2] + r.counts.conversions,
        ]
    });
    let mut value = serde_json::to_value(&report).map_err(|e| ApiError::Encode(e.to_string()))?;
    value["activityId"] = json!(activity.id);
    value["name"] = json!(activity.name);
    value["totals"] =
        json!({"exposures": totals[0], "clicks": totals[1], "conversions": totals[2]});
    Ok(value)
}

#[cfg(test)]
mod tests;
