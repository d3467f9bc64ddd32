//! Inline PQL conditions (activity and experience audiences, offer eligibility) through the PQL
//! engine: each distinct expression is compiled once per request and every evaluation shares
//! one [`EvalContext`], built on first use so requests without inline PQL pay nothing.
//!
//! What an expression reads:
//! - the profile's attributes at the root (`loyalty.tier`) and, as decisioning contexts write
//!   it, under `profile.` (`profile.loyalty.tier`), plus `identityMap`;
//! - `environment.page.{url,host,path,scheme,params.<name>}`, `environment.referrer.…`,
//!   `environment.device.{deviceType,browser,browserVersion,os,bot}`,
//!   `environment.time.{hour,minute,dayOfWeek,date}` (the visitor's local time) and
//!   `environment.geo.{country,region,regionName,city,postalCode,latitude,longitude,metroCode,
//!   continent,timezone}` (what is known; absent fields are missing);
//! - `web.webPageDetails.URL` and `web.webReferrer.URL` (unless the profile has its own `web`);
//! - `xEvent`: the profile's recent events plus a context event for this request
//!   (`web.webpagedetails.pageViews` with the page, referrer, User-Agent and, when known,
//!   `placeContext.geo` in XDM's shape), the event edge decisioning rules are evaluated
//!   against;
//! - `inSegment("id")`: the profile's memberships.
//!
//! Calendar functions use the visitor's offset from UTC.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::{Map, Value, json};
use vantage_decisioning::context::{Environment, Url};
use vantage_decisioning::{ConditionEvaluator, DecisionContext};
use vantage_model::Profile;
use vantage_model::profile::membership::Status;
use vantage_pql::{Compiled, EvalContext, Event, MembershipState};

/// Event type of the synthesized context event.
pub const CONTEXT_EVENT_TYPE: &str = "web.webpagedetails.pageViews";

/// A membership lookup borrowed for the evaluation.
type Membership<'p> = Box<dyn Fn(&str) -> Option<MembershipState> + 'p>;

/// What the evaluations of one request read, built lazily.
pub struct Inputs<'p> {
    profile: &'p Profile,
    environment: &'p Environment,
    user_agent: &'p str,
    offset_minutes: i32,
    now_ms: i64,
    json: OnceCell<Value>,
    events: OnceCell<Vec<Event>>,
    current: OnceCell<Event>,
    membership: Membership<'p>,
}

impl<'p> Inputs<'p> {
    /// The inputs of one request.
    pub fn new(
        profile: &'p Profile,
        environment: &'p Environment,
        user_agent: &'p str,
        offset_minutes: i32,
        now_ms: i64,
    ) -> Self {
        let membership: Membership<'p> = Box::new(move |id: &str| {
            profile.memberships.get(id).map(|m| match m.status {
                Status::Realized => MembershipState::Realized,
                Status::Exited => MembershipState::Exited,
            })
        });
        Inputs {
            profile,
            environment,
            user_agent,
            offset_minutes,
            now_ms,
            json: OnceCell::new(),
            events: OnceCell::new(),
            current: OnceCell::new(),
            membership,
        }
    }

    fn context(&self) -> EvalContext<'_> {
        let json = self
            .json
            .get_or_init(|| profile_json(self.profile, self.environment));
        let events = self.events.get_or_init(|| {
            self.profile
                .events
                .iter()
                .map(|e| Event {
                    timestamp_ms: e.ts,
                    event_type: e.kind.clone(),
                    xdm: serde_json::from_str(&e.xdm).unwrap_or(Value::Null),
                })
                .collect()
        });
        let current = self.current.get_or_init(|| Event {
            timestamp_ms: self.now_ms,
            event_type: CONTEXT_EVENT_TYPE.to_owned(),
            xdm: context_xdm(self.environment, self.user_agent),
        });
        EvalContext::new(json, events, Some(current), &*self.membership, self.now_ms)
            .with_utc_offset_minutes(self.offset_minutes)
    }
}

/// The [`ConditionEvaluator`] of one request.
pub struct Conditions<'a> {
    inputs: &'a Inputs<'a>,
    context: OnceCell<EvalContext<'a>>,
    plans: RefCell<HashMap<String, Result<Rc<Compiled>, String>>>,
}

impl<'a> Conditions<'a> {
    /// An evaluator over `inputs` (the profile and environment the engine decides with).
    pub fn new(inputs: &'a Inputs<'a>) -> Self {
        Conditions {
            inputs,
            context: OnceCell::new(),
            plans: RefCell::new(HashMap::new()),
        }
    }

    fn plan(&self, pql: &str) -> Result<Rc<Compiled>, String> {
        if let Some(plan) = self.plans.borrow().get(pql) {
            return plan.clone();
        }
        let plan = vantage_pql::compile(pql)
            .map(Rc::new)
            .map_err(|e| format!("PQL does not compile: {e}"));
        self.plans.borrow_mut().insert(pql.to_owned(), plan.clone());
        plan
    }
}

impl ConditionEvaluator for Conditions<'_> {
    /// Evaluates against the request's inputs (the engine passes the same profile and
    /// environment in `_ctx`).
    fn eval(&self, pql: &str, _ctx: &DecisionContext<'_>) -> Result<bool, String> {
        let plan = self.plan(pql)?;
        let context = self.context.get_or_init(|| self.inputs.context());
        plan.evaluate(context).map_err(|e| e.to_string())
    }
}

fn url_json(url: Option<&Url>) -> Value {
    let Some(u) = url else {
        return Value::Null;
    };
    let mut params = Map::new();
    for (k, v) in &u.query {
        params
            .entry(k.clone())
            .or_insert_with(|| Value::String(v.clone()));
    }
    json!({"url": u.url, "scheme": u.scheme, "host": u.host, "port": u.port, "path": u.path,
        "params": params, "fragment": u.fragment})
}

/// `environment` as conditions read it.
pub fn environment_json(env: &Environment) -> Value {
    let (y, m, d) = env.time.date;
    json!({
        "page": url_json(env.page.as_ref()),
        "referrer": url_json(env.referrer.as_ref()),
        "device": serde_json::to_value(&env.device).unwrap_or(Value::Null),
        "time": {
            "hour": env.time.hour,
            "minute": env.time.minute,
            "dayOfWeek": serde_json::to_value(env.time.day_of_week).unwrap_or(Value::Null),
            "date": format!("{y:04}-{m:02}-{d:02}"),
        },
        "geo": serde_json::to_value(&env.geo).unwrap_or(Value::Null),
    })
}

/// `placeContext.geo` of the context event, in XDM's shape (`countryCode`, `stateProvince` as
/// ISO 3166-2 `DE-BY`, `city`, `postalCode`, `_schema.latitude/longitude`); `None` when
/// nothing is known. The collect component writes the same into the events it records.
pub fn xdm_geo(g: &vantage_decisioning::context::Geo) -> Option<Value> {
    if g.is_empty() {
        return None;
    }
    let mut geo = Map::new();
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            geo.insert(key.to_owned(), v);
        }
    };
    put("countryCode", g.country.clone().map(Value::from));
    put(
        "stateProvince",
        g.country
            .as_ref()
            .zip(g.region.as_ref())
            .map(|(c, r)| Value::from(format!("{c}-{r}"))),
    );
    put("city", g.city.clone().map(Value::from));
    put("postalCode", g.postal_code.clone().map(Value::from));
    let mut schema = Map::new();
    if let Some(lat) = g.latitude {
        schema.insert("latitude".into(), json!(lat));
    }
    if let Some(lon) = g.longitude {
        schema.insert("longitude".into(), json!(lon));
    }
    if !schema.is_empty() {
        geo.insert("_schema".into(), Value::Object(schema));
    }
    Some(Value::Object(geo))
}

fn web_json(env: &Environment) -> Value {
    let url = |u: Option<&Url>| u.map(|u| u.url.clone()).unwrap_or_default();
    json!({"webPageDetails": {"URL": url(env.page.as_ref())},
        "webReferrer": {"URL": url(env.referrer.as_ref())}})
}

fn context_xdm(env: &Environment, user_agent: &str) -> Value {
    let mut xdm = json!({"eventType": CONTEXT_EVENT_TYPE, "web": web_json(env),
        "environment": {"browserDetails": {"userAgent": user_agent}}});
    if let Some(geo) = xdm_geo(&env.geo) {
        xdm["placeContext"] = json!({"geo": geo});
    }
    xdm
}

/// The root object PQL paths read (see the module docs).
fn profile_json(profile: &Profile, env: &Environment) -> Value {
    let attributes = profile.attributes.to_json();
    let mut root = match &attributes {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    if !root.contains_key("identityMap") {
        let mut map = Map::new();
        for l in &profile.identities {
            if let Value::Array(items) = map
                .entry(l.identity.namespace().to_owned())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                items.push(json!({"id": l.identity.id()}));
            }
        }
        root.insert("identityMap".into(), Value::Object(map));
    }
    root.entry("profile").or_insert(attributes);
    root.entry("environment")
        .or_insert_with(|| environment_json(env));
    root.entry("web").or_insert_with(|| web_json(env));
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use vantage_model::profile::membership::{self, Source};
    use vantage_model::{Identity, Policy, ProfileId};

    use super::*;

    fn profile() -> Profile {
        let who = Identity::new("CRMID", "c-1").unwrap();
        let mut p = Profile::new(ProfileId::primary(&who), who, 0, 0, &Policy::default());
        p.attributes
            .merge_json(&json!({"loyalty": {"tier": "gold"}}), 1);
        membership::transition(
            &mut p.memberships,
            "vip",
            Status::Realized,
            1,
            Source::Batch,
        );
        p
    }

    #[test]
    fn reads_profile_environment_and_memberships() {
        let p = profile();
        let env = Environment::new(
            Some("https://shop.example/cart?utm=mail"),
            None,
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
            0,
            120,
        );
        let inputs = Inputs::new(&p, &env, "ua", 120, 0);
        let c = Conditions::new(&inputs);
        let ctx = DecisionContext {
            profile: &p,
            environment: &env,
            visitor_id: "c-1",
            now_ms: 0,
        };
        let eval = |q: &str| c.eval(q, &ctx);
        assert_eq!(eval(r#"loyalty.tier = "gold""#), Ok(true));
        assert_eq!(eval(r#"profile.loyalty.tier = "silver""#), Ok(false));
        assert_eq!(eval(r#"inSegment("vip")"#), Ok(true));
        assert_eq!(eval(r#"inSegment("other")"#), Ok(false));
        assert_eq!(eval(r#"environment.page.host = "shop.example""#), Ok(true));
        assert_eq!(eval(r#"environment.page.params.utm = "mail""#), Ok(true));
        assert_eq!(eval(r#"environment.time.hour = 2"#), Ok(true));
        assert_eq!(eval(r#"web.webPageDetails.URL.contains("shop")"#), Ok(true));
        assert!(eval("this is (not pql").is_err());
        // Cached: the same failure again, and one entry per expression.
        assert!(eval("this is (not pql").is_err());
        assert_eq!(c.plans.borrow().len(), 9);
        // Nothing known about geography: its fields are missing.
        assert_eq!(eval(r#"environment.geo.country = "DE""#), Ok(false));
    }

    #[test]
    fn reads_geography() {
        use vantage_decisioning::context::Geo;
        let p = profile();
        let env = Environment::new(Some("https://shop.example/"), None, "", 0, 0).with_geo(Geo {
            country: Some("DE".into()),
            region: Some("BY".into()),
            city: Some("Munich".into()),
            postal_code: Some("80331".into()),
            latitude: Some(48.14),
            longitude: Some(11.58),
            ..Geo::default()
        });
        let inputs = Inputs::new(&p, &env, "", 0, 0);
        let c = Conditions::new(&inputs);
        let ctx = DecisionContext {
            profile: &p,
            environment: &env,
            visitor_id: "c-1",
            now_ms: 0,
        };
        let eval = |q: &str| c.eval(q, &ctx);
        assert_eq!(eval(r#"environment.geo.country = "DE""#), Ok(true));
        assert_eq!(eval(r#"environment.geo.country = "FR""#), Ok(false));
        assert_eq!(eval(r#"environment.geo.region = "BY""#), Ok(true));
        assert_eq!(eval(r#"environment.geo.city = "Munich""#), Ok(true));
        assert_eq!(eval(r#"environment.geo.postalCode = "80331""#), Ok(true));
        assert_eq!(eval("environment.geo.latitude > 48"), Ok(true));
        assert_eq!(eval("environment.geo.longitude < 11"), Ok(false));
        assert_eq!(
            eval(r#"xEvent.any(placeContext.geo.countryCode = "DE")"#),
            Ok(true)
        );
        let xdm = context_xdm(&env, "");
        assert_eq!(xdm["placeContext"]["geo"]["stateProvince"], "DE-BY");
        assert_eq!(xdm["placeContext"]["geo"]["_schema"]["latitude"], 48.14);
    }
}
