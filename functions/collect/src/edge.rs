//! The Web SDK edge endpoints (`shared/reference/adobe-edge-protocol.md`): `interact` (events
//! in; identity, state and personalization out), `collect` (204), `privacy/set-consent`,
//! `identity/acquire`, and the server-to-server `v2/interact`. One store open, at most one
//! profile read-modify-write per request (plus a link on the first request that names a known
//! identity with this ECID), then the outbox.

use std::ops::Deref;

use serde_json::value::RawValue;
use serde_json::{Value, json};
use vantage_decisioning::context::{Environment, Geo};
use vantage_decisioning::{Activities, Proposition};
use vantage_edge_protocol::{
    ConsentForm, ConsentRequest, Endpoint, ErrorCode, Event, General, Handle, IdentityMap,
    IdentityResult, JSON_CONTENT_TYPE, Limits, MethodCheck, PROBLEM_CONTENT_TYPE, Problem,
    ProtocolError, QueryParams, Response, SameSite, StateEntry, StoreEntry, check_method,
    check_size, classify, cors_response_headers, parse_request, preflight, response_request_id,
};
use vantage_kv::Kv;
use vantage_model::profile::consent::{self, Choice, Entry};
use vantage_model::time::format_rfc3339;
use vantage_model::{Graph, Identity, Policy};
use vantage_segments::Segments;

use crate::api::{Config, DefaultConsent, Env, Reply, effective_consent};
use crate::outbox;
use crate::pipeline::{self, Incoming, Step};
use crate::visitor::{self, Visitor};

/// Client timestamps further than this from the edge's clock are replaced by it.
pub const MAX_CLOCK_SKEW_MS: i64 = 24 * 3600 * 1000;

/// Everything an edge request can fail with; [`EdgeError::problem`] is the one mapping to
/// status and body.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The request breaks the protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] vantage_kv::Error),
    /// The profile could not be read or written.
    #[error("profile: {0}")]
    Model(#[from] vantage_model::Error),
    /// Segments could not be read.
    #[error("segments: {0}")]
    Segments(#[from] vantage_segments::Error),
    /// An answer could not be encoded.
    #[error("encoding the answer: {0}")]
    Encode(#[from] serde_json::Error),
}

impl EdgeError {
    /// Status, problem body and extra headers.
    fn problem(&self, request_id: &str) -> (u16, Problem, Option<(&'static str, String)>) {
        use vantage_kv::Error as K;
        use vantage_model::Error as M;
        match self {
            Self::Protocol(e) => (e.status(), e.to_problem(request_id), None),
            // Lost races and an unavailable store are worth a retry (alloy retries 503).
            Self::Store(K::Contended { .. } | K::Other(_))
            | Self::Model(M::Unsettled | M::Store(_))
            | Self::Segments(vantage_segments::Error::Store(_)) => (
                503,
                Problem::fatal(ErrorCode::Upstream, Some(self.to_string()), request_id),
                Some(("Retry-After", "1".to_owned())),
            ),
            _ => (
                500,
                Problem::fatal(ErrorCode::Internal, Some(self.to_string()), request_id),
                None,
            ),
        }
    }
}

/// Serves an edge request.
pub fn handle<S, F>(req: &crate::api::Request<'_>, config: &Config, env: Env<'_, F>) -> Reply
where
    S: Deref,
    S::Target: Kv,
    F: FnOnce() -> Result<S, vantage_kv::Error>,
{
    let origin = req.header("origin");
    let mut headers = cors_response_headers(origin, &config.allowed_origins);
    match check_method(req.method) {
        MethodCheck::Handle => {}
        MethodCheck::Preflight => {
            let (status, headers) = preflight(
                origin,
                req.header("access-control-request-headers"),
                &config.allowed_origins,
            );
            return Reply {
                status,
                headers,
                body: Vec::new(),
            };
        }
        MethodCheck::NotAllowed => {
            headers.push(("Allow", "POST, OPTIONS".to_owned()));
            let e = ProtocolError::MethodNotAllowed(req.method.to_owned());
            return fail(&EdgeError::Protocol(e), "", headers);
        }
    }
    let Env {
        open_store,
        rng,
        clock,
    } = env;
    let endpoint = match classify(req.path).route() {
        Ok(route) => route.endpoint,
        Err(e) => return fail(&EdgeError::Protocol(e), "", headers),
    };
    let params = QueryParams::parse(req.query, endpoint);
    let request_id = response_request_id(params.request_id.as_deref(), rng);
    let served = (|| -> Result<Reply, EdgeError> {
        params.require_datastream(endpoint)?;
        let limits = Limits::default();
        if let Some(length) = req
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            check_size(length, &limits)?;
        }
        let parsed = parse_request(endpoint, req.body, &limits)?;
        let kv = open_store()?;
        let ctx = Ctx {
            req,
            config,
            endpoint,
            origin,
            request_id: &request_id,
            now_ms: clock(),
            clock,
        };
        use vantage_edge_protocol::Request as R;
        let response = match parsed {
            R::Interact(r) | R::Collect(r) => {
                let events: Vec<&Event> = r.events.iter().collect();
                interact(
                    &*kv,
                    &ctx,
                    rng,
                    r.meta.entries(),
                    r.xdm.as_ref().and_then(|x| x.identity_map.as_ref()),
                    &events,
                )?
            }
            R::ServerInteract(r) => {
                let events = [&r.event];
                interact(
                    &*kv,
                    &ctx,
                    rng,
                    r.meta.entries(),
                    r.xdm.as_ref().and_then(|x| x.identity_map.as_ref()),
                    &events,
                )?
            }
            R::SetConsent(r) => set_consent(&*kv, &ctx, rng, &r)?,
            R::Acquire(r) => acquire(
                &ctx,
                rng,
                r.meta.entries(),
                r.xdm.as_ref().and_then(|x| x.identity_map.as_ref()),
            )?,
        };
        Ok(answer(endpoint, &response)?)
    })();
    match served {
        Ok(mut reply) => {
            reply.headers.extend(headers);
            reply
        }
        Err(e) => fail(&e, &request_id, headers),
    }
}

/// A fatal answer.
fn fail(e: &EdgeError, request_id: &str, mut headers: Vec<(&'static str, String)>) -> Reply {
    let (status, problem, extra) = e.problem(request_id);
    if status >= 500 {
        eprintln!("collect: {e}");
    }
    headers.push(("Content-Type", PROBLEM_CONTENT_TYPE.to_owned()));
    headers.push(("Cache-Control", "no-store".to_owned()));
    headers.extend(extra);
    Reply {
        status,
        headers,
        body: serde_json::to_vec(&problem).unwrap_or_default(),
    }
}

/// A successful answer: the handles, or 204 for `collect`.
fn answer(endpoint: Endpoint, response: &Response) -> Result<Reply, serde_json::Error> {
    if !endpoint.has_body() {
        return Ok(Reply {
            status: endpoint.success_status(),
            headers: vec![("Cache-Control", "no-store".to_owned())],
            body: Vec::new(),
        });
    }
    Ok(Reply {
        status: response.status(),
        headers: vec![
            ("Content-Type", JSON_CONTENT_TYPE.to_owned()),
            ("Cache-Control", "no-store".to_owned()),
        ],
        body: response.to_json()?.into_bytes(),
    })
}

/// What every endpoint shares.
struct Ctx<'a> {
    req: &'a crate::api::Request<'a>,
    config: &'a Config,
    endpoint: Endpoint,
    origin: Option<&'a str>,
    request_id: &'a str,
    now_ms: i64,
    clock: &'a dyn Fn() -> i64,
}

impl Ctx<'_> {
    fn same_site(&self) -> SameSite {
        SameSite::for_origin(self.origin)
    }

    /// `identity:result` and the identity cookie, which every answer carries.
    fn identity_handles(
        &self,
        response: &mut Response,
        visitor: &Visitor,
        extra: &[StoreEntry],
    ) -> Result<(), serde_json::Error> {
        response.push(Handle::identity_result(&[IdentityResult::ecid(
            &visitor.ecid,
        )])?);
        let mut entries = vec![
            self.config
                .cookies
                .identity_entry(&visitor.ecid, Some(self.same_site())),
        ];
        entries.extend(extra.iter().cloned());
        response.push(Handle::state_store(&entries)?);
        Ok(())
    }
}

/// Resolves the visitor of a request.
fn resolve(
    ctx: &Ctx<'_>,
    rng: &mut dyn vantage_edge_protocol::RandomSource,
    entries: &[StateEntry],
    request_map: Option<&IdentityMap>,
    event_maps: &[&IdentityMap],
) -> Result<Visitor, EdgeError> {
    visitor::resolve(
        &ctx.config.cookies,
        entries,
        ctx.req.header("cookie"),
        request_map,
        event_maps,
        rng,
    )
    .map_err(|m| ProtocolError::invalid("identityMap", m).into())
}

/// `identity/acquire`: the identity, nothing stored.
fn acquire(
    ctx: &Ctx<'_>,
    rng: &mut dyn vantage_edge_protocol::RandomSource,
    entries: &[StateEntry],
    request_map: Option<&IdentityMap>,
) -> Result<Response, EdgeError> {
    let visitor = resolve(ctx, rng, entries, request_map, &[])?;
    let mut response = Response::new(ctx.request_id.to_owned());
    ctx.identity_handles(&mut response, &visitor, &[])?;
    Ok(response)
}

/// Links the visitor's ECID with the known identities it names, unless they already share a
/// profile: the anonymous history joins the known profile, and a profile the hub projected
/// for a known identity applies from this request on (first-login personalization). Returns
/// the identity whose profile the request reads and writes, and a warning when the known
/// profile's identity graph is full: then this ECID stays unlinked and the request uses the
/// known profile as it is (a shared account used on many devices must not stop working).
fn stitch<K: Kv + ?Sized>(
    graph: &Graph<'_, K>,
    visitor: &Visitor,
    now_ms: i64,
) -> Result<(Identity, Option<String>), EdgeError> {
    if visitor.known.is_empty() {
        return Ok((visitor.ecid_identity.clone(), None));
    }
    let ecid_profile = graph
        .identity_record(&visitor.ecid_identity)?
        .and_then(|r| r.profile);
    let mut linked = ecid_profile.is_some();
    for known in &visitor.known {
        let profile = graph.identity_record(known)?.and_then(|r| r.profile);
        if profile.is_none() || profile != ecid_profile {
            linked = false;
            break;
        }
    }
    if linked {
        return Ok((visitor.ecid_identity.clone(), None));
    }
    match graph.link(&visitor.identities(), now_ms, now_ms) {
        Ok(_) => Ok((visitor.ecid_identity.clone(), None)),
        Err(vantage_model::Error::TooManyIdentities { limit, .. }) => {
            let primary = visitor.known[0].clone();
            let warning = format!(
                "the profile of {primary} already holds {limit} identities: this ECID was not linked to it"
            );
            Ok((primary, Some(warning)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The environment of an event: page and referrer from its XDM, device from the
/// User-Agent, local time from `placeContext`.
fn environment(xdm: &Value, user_agent: &str, now_ms: i64) -> (Environment, i32) {
    let text = |pointer: &str| {
        xdm.pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    // JavaScript's getTimezoneOffset(): minutes west of UTC.
    let offset = xdm
        .pointer("/placeContext/localTimezoneOffset")
        .and_then(Value::as_i64)
        .filter(|m| (-18 * 60..=18 * 60).contains(m))
        .map_or(0, |m| -(m as i32));
    let env = Environment::new(
        text("/web/webPageDetails/URL"),
        text("/web/webReferrer/URL"),
        user_agent,
        now_ms,
        offset,
    );
    (env, offset)
}

/// Adds what the edge knows to an event's XDM, without overwriting what the client sent:
/// the User-Agent (`environment.browserDetails.userAgent`) and the geography from the CDN's
/// headers (`placeContext.geo`, XDM's field names), so segment PQL reads them like any field.
fn enrich(xdm: &mut Value, user_agent: Option<&str>, geo: &Geo) {
    fn object<'v>(
        parent: &'v mut serde_json::Map<String, Value>,
        key: &str,
    ) -> Option<&'v mut serde_json::Map<String, Value>> {
        parent
            .entry(key)
            .or_insert_with(|| Value::Object(Default::default()))
            .as_object_mut()
    }
    let Value::Object(obj) = xdm else { return };
    if let Some(ua) = user_agent.filter(|u| !u.is_empty())
        && let Some(details) = object(obj, "environment").and_then(|e| object(e, "browserDetails"))
    {
        details
            .entry("userAgent")
            .or_insert_with(|| Value::String(ua.chars().take(1024).collect()));
    }
    let Some(g) = vantage_personalize::conditions::xdm_geo(geo) else {
        return;
    };
    if let Some(place) = object(obj, "placeContext") {
        place.entry("geo").or_insert(g);
    }
}

/// The scopes an event asks decisions for: `__view__` and surfaces, plus named scopes;
/// `None` when it asks for none (or turns personalization off).
fn requested_scopes(event: &Event) -> Option<Vec<String>> {
    let query = event.personalization()?;
    if query.enabled == Some(false) {
        return None;
    }
    let mut scopes: Vec<String> = Vec::new();
    for s in query.decision_scopes.iter().chain(&query.surfaces) {
        if !s.is_empty() && !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    (!scopes.is_empty()).then_some(scopes)
}

/// Keeps the items of the schemas the client renders (all, when it lists none); drops a
/// proposition left with no item.
fn filter_schemas(propositions: Vec<Proposition>, event: &Event) -> Vec<Proposition> {
    let Some(query) = event.personalization() else {
        return propositions;
    };
    if query.schemas.is_empty() {
        return propositions;
    }
    propositions
        .into_iter()
        .filter_map(|mut p| {
            p.items.retain(|i| query.accepts_schema(&i.schema));
            (!p.items.is_empty()).then_some(p)
        })
        .collect()
}

/// The fields every outbox record of a request shares: when, which request, who.
fn record_base(ctx: &Ctx<'_>, visitor: &Visitor) -> serde_json::Map<String, Value> {
    let identities: Vec<Value> = visitor
        .identities()
        .iter()
        .map(|i| json!({"namespace": i.namespace(), "id": i.id()}))
        .collect();
    let mut base = serde_json::Map::new();
    base.insert("receivedAt".into(), format_rfc3339(ctx.now_ms).into());
    base.insert("requestId".into(), ctx.request_id.into());
    base.insert("ecid".into(), visitor.ecid.as_str().into());
    base.insert("identities".into(), identities.into());
    base
}

/// An outbox record: the request's shared fields plus `fields` (an object).
fn record(
    base: &serde_json::Map<String, Value>,
    fields: Value,
) -> Result<Box<RawValue>, serde_json::Error> {
    let mut record = base.clone();
    if let Value::Object(fields) = fields {
        record.extend(fields);
    }
    serde_json::value::to_raw_value(&record)
}

/// `interact`, `collect` and `v2/interact`.
fn interact<K: Kv + ?Sized>(
    kv: &K,
    ctx: &Ctx<'_>,
    rng: &mut dyn vantage_edge_protocol::RandomSource,
    entries: &[StateEntry],
    request_map: Option<&IdentityMap>,
    events: &[&Event],
) -> Result<Response, EdgeError> {
    let event_maps: Vec<&IdentityMap> = events
        .iter()
        .filter_map(|e| e.xdm.identity_map.as_ref())
        .collect();
    let visitor = resolve(ctx, rng, entries, request_map, &event_maps)?;
    let mut response = Response::new(ctx.request_id.to_owned());
    ctx.identity_handles(&mut response, &visitor, &[])?;
    let cookie = visitor::cookie_consent(&ctx.config.cookies, entries, ctx.req.header("cookie"));
    let consent = effective_consent(cookie, ctx.config.default_consent);
    if consent != DefaultConsent::In {
        let why = if consent == DefaultConsent::Out {
            "consent is out: nothing was collected or personalized"
        } else {
            "consent is pending: nothing was collected or personalized"
        };
        response
            .warnings
            .push(Problem::warning(ErrorCode::ConsentOut, why, 200));
        return Ok(response);
    }

    let user_agent = ctx.req.header("user-agent");
    let geo = Geo::from_headers(&ctx.config.geo_headers, |h| ctx.req.header(h));
    let mut incoming: Vec<Incoming> = Vec::with_capacity(events.len());
    let mut scopes: Vec<String> = Vec::new();
    let mut asking: Option<usize> = None;
    for (index, event) in events.iter().enumerate() {
        let mut xdm = event.xdm.to_value();
        enrich(&mut xdm, user_agent, &geo);
        let current = if event.is_notification() {
            None
        } else {
            let mut current = vantage_segments::input::event(&xdm, ctx.now_ms).map_err(|e| {
                ProtocolError::invalid(format!("events[{index}].xdm"), e.to_string())
            })?;
            let ts = &mut current.event.timestamp_ms;
            if (*ts - ctx.now_ms).abs() > MAX_CLOCK_SKEW_MS {
                *ts = ctx.now_ms;
            }
            Some(current)
        };
        if ctx.endpoint != Endpoint::Collect
            && let Some(s) = requested_scopes(event)
        {
            asking.get_or_insert(index);
            for scope in s {
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
        }
        incoming.push(Incoming { xdm, current });
    }

    let policy = Policy::default();
    let graph = Graph::new(kv, &policy);
    let (through, stitch_warning) = stitch(&graph, &visitor, ctx.now_ms)?;
    if let Some(w) = stitch_warning {
        response
            .warnings
            .push(Problem::warning(ErrorCode::IdentityNotLinked, &w, 200));
    }
    let activities = Activities::open(kv)?;
    let page_xdm = incoming
        .get(asking.unwrap_or(0))
        .map_or(&Value::Null, |e| &e.xdm);
    let (env, offset) = environment(page_xdm, user_agent.unwrap_or_default(), ctx.now_ms);
    let env = env.with_geo(geo);
    let mut segments = Segments::load(kv)?;
    let mut produced = None;
    let mut refused_by_profile = false;
    let mut failure: Option<vantage_segments::Error> = None;
    graph.update(&through, ctx.now_ms, ctx.now_ms, |profile| {
        if !consent::allows(&profile.consent, pipeline::COLLECT) {
            refused_by_profile = true;
            return Ok(false);
        }
        refused_by_profile = false;
        let mut step = Step {
            segments: &mut segments,
            activities: &activities,
            kv,
            events: &incoming,
            scopes: &scopes,
            environment: &env,
            user_agent: user_agent.unwrap_or_default(),
            offset_minutes: offset,
            visitor_id: visitor.bucketing_id(),
            now_ms: ctx.now_ms,
            policy: &policy,
        };
        match pipeline::run(profile, &mut step) {
            Ok(p) => {
                produced = Some(p);
                Ok(true)
            }
            Err(e) => {
                failure = Some(e);
                Ok(false)
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    if refused_by_profile {
        response.warnings.push(Problem::warning(
            ErrorCode::ConsentOut,
            "the profile's consent is out: nothing was collected or personalized",
            200,
        ));
        return Ok(response);
    }
    let produced = produced.unwrap_or_default();
    for (key, delta) in &produced.outcome.counters {
        kv.increment(key, *delta)?;
    }

    let base = record_base(ctx, &visitor);
    let records: Vec<Box<RawValue>> = events
        .iter()
        .zip(&incoming)
        .map(|(e, i)| {
            record(
                &base,
                json!({"type": "event", "xdm": i.xdm, "data": e.data}),
            )
        })
        .collect::<Result<_, _>>()?;
    let queued = outbox::enqueue(kv, &records, ctx.config.outbox_max, ctx.clock)?;
    if queued.dropped > 0 {
        response.warnings.push(Problem::warning(
            ErrorCode::NotQueued,
            &format!(
                "the outbox to the hub is full: {} event(s) were not queued (counted in the outbox stats)",
                queued.dropped
            ),
            507,
        ));
    }
    if let Some(index) = asking {
        let propositions = if produced.personalization_refused {
            Vec::new()
        } else {
            filter_schemas(produced.outcome.propositions, events[index])
        };
        response.push(Handle::decisions(&propositions, index)?);
    }
    Ok(response)
}

/// `privacy/set-consent`: the consent cookie, the profile's consent (the consent change is
/// written and queued whatever it says) and an outbox record with the entries as given (IAB
/// TCF strings included).
fn set_consent<K: Kv + ?Sized>(
    kv: &K,
    ctx: &Ctx<'_>,
    rng: &mut dyn vantage_edge_protocol::RandomSource,
    request: &ConsentRequest,
) -> Result<Response, EdgeError> {
    let entries = request.meta.entries();
    let maps: Vec<&IdentityMap> = request.identity_map.iter().collect();
    let visitor = resolve(ctx, rng, entries, None, &maps)?;
    let general = request.general();
    let personalize = request.personalize();
    let policy = Policy::default();
    let graph = Graph::new(kv, &policy);
    let (through, stitch_warning) = stitch(&graph, &visitor, ctx.now_ms)?;
    let choice = |yes: bool| if yes { Choice::Yes } else { Choice::No };
    let collect = choice(general == General::In);
    let personalize = choice(personalize);
    graph.update(&through, ctx.now_ms, ctx.now_ms, |profile| {
        let at = |choice| Entry {
            ts: ctx.now_ms,
            choice,
        };
        let mut changed = consent::set(&mut profile.consent, pipeline::COLLECT, at(collect));
        changed |= consent::set(&mut profile.consent, pipeline::PERSONALIZE, at(personalize));
        profile.touch(ctx.now_ms, &policy);
        Ok(changed)
    })?;
    let forms: Vec<Value> = request
        .forms()
        .iter()
        .map(|f| match f {
            ConsentForm::IabTcf2 {
                tc_string,
                gdpr_applies,
            } => json!({"standard": "IAB TCF", "version": "2.0", "tcString": tc_string, "gdprApplies": gdpr_applies}),
            ConsentForm::Adobe1 { general } => {
                json!({"standard": "Adobe", "version": "1.0", "general": general.as_str()})
            }
            ConsentForm::Adobe2 { .. } => json!({"standard": "Adobe", "version": "2.0"}),
        })
        .collect();
    let record = record(
        &record_base(ctx, &visitor),
        json!({
            "type": "consent",
            "general": general.as_str(),
            "personalize": personalize == Choice::Yes,
            "consent": request.consent,
            "forms": forms,
        }),
    )?;
    let mut response = Response::new(ctx.request_id.to_owned());
    if let Some(w) = stitch_warning {
        response
            .warnings
            .push(Problem::warning(ErrorCode::IdentityNotLinked, &w, 200));
    }
    let queued = outbox::enqueue(kv, &[record], ctx.config.outbox_max, ctx.clock)?;
    if queued.dropped > 0 {
        response.warnings.push(Problem::warning(
            ErrorCode::NotQueued,
            "the outbox to the hub is full: the consent change was not queued",
            507,
        ));
    }
    let cookie = ctx
        .config
        .cookies
        .consent_entry(general, Some(ctx.same_site()));
    ctx.identity_handles(&mut response, &visitor, &[cookie])?;
    Ok(response)
}
