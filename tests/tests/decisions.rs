//! The `decisions` component through the real host over HTTP, with activities and memberships
//! published through `projection`: auth and request errors, sticky A/B allocation, `xt` by
//! segment membership, caps across requests, fallbacks, reports after display and click
//! notifications, explain, preview tokens, geography from CDN headers (and the `geo_headers`
//! variable), and activities compiled at publish (new versions, replays, retirement).

use serde_json::{Value, json};
use vantage_tests::{Client, Resp, Setup, TestApp, ago as ts};

const ADMIN: (&str, &str) = ("authorization", "Bearer test-admin-token");
const API: (&str, &str) = ("authorization", "Bearer test-api-token");
const JSON: (&str, &str) = ("content-type", "application/json");

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "decisions-tests"

[variables]
admin_token = { default = "" }
api_token = { default = "" }

[[trigger.http]]
route = "/v1/projection"
component = "projection"
[[trigger.http]]
route = "/v1/decisions/..."
component = "decisions"
[[trigger.http]]
route = "/v1/reports/..."
component = "decisions"

[component.projection]
source = "{{component:projection}}"
key_value_stores = ["default"]
[component.projection.variables]
admin_token = "{{ admin_token }}"

[component.decisions]
source = "{{component:decisions}}"
key_value_stores = ["default"]
[component.decisions.variables]
api_token = "{{ api_token }}"
admin_token = "{{ admin_token }}"
"#;

fn start() -> TestApp {
    Setup::new(APP)
        .variable("admin_token", "test-admin-token")
        .variable("api_token", "test-api-token")
        .start()
        .unwrap()
}

fn ecid(i: usize) -> String {
    format!("{:038}", 7_000_000 + i)
}

fn dom(id: &str) -> Value {
    json!({"id": id, "schema": "https://ns.adobe.com/personalization/dom-action",
        "data": {"type": "setHtml", "selector": "#hero", "content": format!("<p>{id}</p>")}})
}

async fn publish(c: &Client, records: &[Value]) {
    let body: String = records.iter().map(|r| format!("{r}\n")).collect();
    let r = c
        .send(
            "POST",
            "/v1/projection",
            &[ADMIN, ("content-type", "application/x-ndjson")],
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["accepted"], records.len(), "{}", r.text());
}

fn activity(mut v: Value) -> Value {
    v["type"] = json!("activity");
    v["timestamp"] = json!(ts(60_000));
    v
}

fn body(ecid: &str, scopes: &[&str]) -> Value {
    json!({"identityMap": {"ECID": [{"id": ecid, "primary": true}]}, "scopes": scopes,
        "context": {"page": "https://shop.example/home", "referrer": "https://search.example/",
                    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "timezoneOffset": 60}})
}

async fn decide(c: &Client, body: &Value) -> Value {
    let r = c
        .send("POST", "/v1/decisions", &[API, JSON], body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()
}

/// The experience of the first proposition.
fn experience(answer: &Value) -> String {
    answer["propositions"][0]["scopeDetails"]["experience"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A notification event as alloy sends it: `{id, scope, scopeDetails}` echoed back.
fn notification(p: &Value, kind: &str) -> Value {
    let event_type = match kind {
        "display" => "decisioning.propositionDisplay",
        _ => "decisioning.propositionInteract",
    };
    json!({"xdm": {"eventType": event_type, "_experience": {"decisioning": {
        "propositions": [{"id": p["id"], "scope": p["scope"], "scopeDetails": p["scopeDetails"]}],
        "propositionEventType": {kind: 1}}}}})
}

async fn notify(c: &Client, ecid: &str, events: Vec<Value>) -> Value {
    let mut b = body(ecid, &[]);
    b["events"] = Value::Array(events);
    decide(c, &b).await
}

async fn report(c: &Client, id: &str) -> Value {
    let r = c
        .send("GET", &format!("/v1/reports/activities/{id}"), &[ADMIN], "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn row<'a>(report: &'a Value, experience: &str) -> &'a Value {
    report["experiences"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["experienceId"] == experience))
        .unwrap_or_else(|| panic!("no row {experience} in {report}"))
}

fn assert_problem(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!(p["status"], status);
    p
}

fn hero() -> Value {
    activity(
        json!({"id": "hero", "name": "Homepage hero", "activityType": "ab", "priority": 10,
        "scopes": ["__view__"], "bucketing": {"scheme": "adobe-target", "client": "acme", "salt": "0", "version": 1},
        "experiences": [{"id": "0", "name": "A", "allocation": 50, "offers": [dom("hero-a")]},
                        {"id": "1", "name": "B", "allocation": 50, "offers": [dom("hero-b")]}]}),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_and_request_errors() {
    let host = start();
    let c = host.client();
    let b = body(&ecid(1), &["__view__"]).to_string();
    let r = c.send("POST", "/v1/decisions", &[JSON], b.clone()).await;
    assert_problem(&r, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
    );
    let wrong = ("authorization", "Bearer nope");
    assert_problem(
        &c.send("POST", "/v1/decisions", &[wrong], b.clone()).await,
        403,
    );
    // The admin token is not the api token, and the other way round.
    assert_problem(
        &c.send("POST", "/v1/decisions", &[ADMIN], b.clone()).await,
        403,
    );
    let explain = json!({"identityMap": {"ECID": [{"id": ecid(1)}]}, "activityId": "hero"});
    assert_problem(
        &c.send("POST", "/v1/decisions/explain", &[API], explain.to_string())
            .await,
        403,
    );
    assert_problem(
        &c.send("GET", "/v1/reports/activities/hero", &[API], "")
            .await,
        403,
    );
    let r = c.send("GET", "/v1/decisions", &[API], "").await;
    assert_problem(&r, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_problem(
        &c.send("POST", "/v1/decisions/nope", &[API], "{}").await,
        404,
    );
    let p = assert_problem(
        &c.send("POST", "/v1/decisions", &[API], "{\n\"scopes\": [\n")
            .await,
        400,
    );
    assert_eq!(p["line"], 3, "{p}");
    assert_problem(&c.send("POST", "/v1/decisions", &[API], "{}").await, 400);
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    assert_problem(&c.send("POST", "/v1/decisions", &[API], big).await, 413);
    // Unknown activities.
    assert_problem(
        &c.send("GET", "/v1/reports/activities/hero", &[ADMIN], "")
            .await,
        404,
    );
    host.stop();

    // Without an api_token the route stays closed.
    let closed = Setup::new(APP)
        .variable("admin_token", "test-admin-token")
        .start()
        .unwrap();
    let r = closed
        .client()
        .send("POST", "/v1/decisions", &[API], b)
        .await;
    assert_problem(&r, 503);
    closed.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn ab_is_sticky_and_split() {
    let host = start();
    let c = host.client();
    publish(&c, &[hero()]).await;
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..40 {
        let v = ecid(i);
        let first = decide(&c, &body(&v, &["__view__"])).await;
        let props = first["propositions"].as_array().unwrap();
        assert_eq!(props.len(), 1, "{first}");
        let p = &props[0];
        assert_eq!(p["scope"], "__view__");
        assert_eq!(p["scopeDetails"]["decisionProvider"], "TGT");
        assert_eq!(p["scopeDetails"]["activity"]["id"], "hero");
        assert!(p["id"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(p["scopeDetails"]["characteristics"]["eventToken"].is_string());
        let e = experience(&first);
        let item = &p["items"][0];
        assert_eq!(
            item["schema"],
            "https://ns.adobe.com/personalization/dom-action"
        );
        assert_eq!(item["id"], if e == "0" { "hero-a" } else { "hero-b" });
        let again = decide(&c, &body(&v, &["__view__"])).await;
        assert_eq!(experience(&again), e, "visitor {v} moved");
        *seen.entry(e).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 2, "both experiences get visitors: {seen:?}");

    // Editing the weights does not move visitors already assigned.
    let mut edited = hero();
    edited["experiences"][0]["allocation"] = json!(1);
    edited["experiences"][1]["allocation"] = json!(99);
    edited["timestamp"] = json!(ts(30_000));
    let before = experience(&decide(&c, &body(&ecid(0), &["__view__"])).await);
    publish(&c, &[edited]).await;
    assert_eq!(
        experience(&decide(&c, &body(&ecid(0), &["__view__"])).await),
        before
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn xt_by_segment_membership() {
    let host = start();
    let c = host.client();
    let xt = activity(
        json!({"id": "loyal", "activityType": "xt", "scopes": ["banner"],
        "experiences": [{"id": "gold", "audience": "gold-members", "offers": [dom("gold-offer")]},
                        {"id": "everyone", "offers": [dom("default-offer")]}]}),
    );
    let member = json!({"type": "membership", "identity": {"namespace": "CRMID", "id": "c-42"},
        "segmentId": "gold-members", "status": "realized", "timestamp": ts(1000), "source": "batch"});
    publish(&c, &[xt, member]).await;
    let known =
        json!({"identityMap": {"CRMID": [{"id": "c-42", "primary": true}]}, "scopes": ["banner"]});
    let v = decide(&c, &known).await;
    assert_eq!(experience(&v), "gold", "{v}");
    assert_eq!(v["propositions"][0]["items"][0]["id"], "gold-offer");
    let v = decide(&c, &body(&ecid(5), &["banner"])).await;
    assert_eq!(experience(&v), "everyone", "{v}");
    // Exiting the segment changes the answer.
    let exit = json!({"type": "membership", "identity": {"namespace": "CRMID", "id": "c-42"},
        "segmentId": "gold-members", "status": "exited", "timestamp": ts(500), "source": "batch"});
    publish(&c, &[exit]).await;
    assert_eq!(experience(&decide(&c, &known).await), "everyone");
}

#[tokio::test(flavor = "multi_thread")]
async fn caps_fallbacks_and_reports() {
    let host = start();
    let c = host.client();
    let mut capped = dom("promo");
    capped["caps"] = json!([{"count": 2, "per": "day"}]);
    let promo = activity(
        json!({"id": "promo", "name": "Promo", "activityType": "ab", "scopes": ["side"],
        "bucketing": {"client": "acme"},
        "experiences": [{"id": "control", "allocation": 50, "control": true, "offers": [dom("plain")]},
                        {"id": "treat", "allocation": 50, "offers": [capped]}],
        "fallbacks": {"side": dom("side-fallback")}}),
    );
    publish(&c, &[promo]).await;

    // One visitor of each experience.
    let mut by_experience: std::collections::BTreeMap<String, (String, Value)> =
        std::collections::BTreeMap::new();
    for i in 100..200 {
        let v = ecid(i);
        let answer = decide(&c, &body(&v, &["side"])).await;
        let e = experience(&answer);
        by_experience
            .entry(e)
            .or_insert((v, answer["propositions"][0].clone()));
        if by_experience.len() == 2 {
            break;
        }
    }
    let (treated, treat_prop) = by_experience["treat"].clone();
    let (control, control_prop) = by_experience["control"].clone();
    assert_eq!(treat_prop["items"][0]["id"], "promo");

    // Two displays (one per request) reach the cap: the next decision gets the fallback.
    for _ in 0..2 {
        let n = notify(&c, &treated, vec![notification(&treat_prop, "display")]).await;
        assert_eq!(n["notifications"]["counted"], 1, "{n}");
        let again = decide(&c, &body(&treated, &["side"])).await;
        let _ = again;
    }
    let capped_now = decide(&c, &body(&treated, &["side"])).await;
    assert_eq!(
        capped_now["propositions"][0]["items"][0]["id"], "side-fallback",
        "{capped_now}"
    );
    // The control visitor is not capped.
    for _ in 0..3 {
        notify(&c, &control, vec![notification(&control_prop, "display")]).await;
    }
    assert_eq!(
        decide(&c, &body(&control, &["side"])).await["propositions"][0]["items"][0]["id"],
        "plain"
    );
    // Clicks, one in a request that also decides.
    notify(&c, &treated, vec![notification(&treat_prop, "interact")]).await;
    let mut both = body(&control, &["side"]);
    both["events"] = json!([notification(&control_prop, "interact")]);
    decide(&c, &both).await;

    let r = report(&c, "promo").await;
    let (t, k) = (row(&r, "treat"), row(&r, "control"));
    assert_eq!(
        (t["exposures"].clone(), t["clicks"].clone()),
        (json!(2), json!(1)),
        "{r}"
    );
    assert_eq!(
        (k["exposures"].clone(), k["clicks"].clone()),
        (json!(3), json!(1)),
        "{r}"
    );
    assert_eq!(r["control"], "control");
    assert_eq!(k["control"], true);
    assert_eq!(t["clickRate"]["rate"], 0.5);
    let lift = &t["clickRate"]["vsControl"];
    assert!((lift["lift"].as_f64().unwrap() - 0.5).abs() < 1e-9, "{r}");
    let ci = lift["liftCi"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() < 0.5 && ci[1].as_f64().unwrap() > 0.5);
    let p = lift["pValue"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(r["totals"]["exposures"], 5);
    assert_eq!(r["totals"]["clicks"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_and_preview() {
    let host = start();
    let c = host.client();
    publish(&c, &[hero()]).await;
    let v = ecid(3);
    let assigned = experience(&decide(&c, &body(&v, &["__view__"])).await);

    let r = c
        .send(
            "POST",
            "/v1/decisions/explain",
            &[ADMIN],
            json!({"identityMap": {"ECID": [{"id": v}]}, "activityId": "hero",
                "context": {"page": "https://shop.example/"}})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json();
    assert_eq!(e["found"], true);
    assert_eq!(e["visitorId"], v);
    assert!(e["bucket"].is_object(), "{e}");
    assert_eq!(
        e["propositions"][0]["scopeDetails"]["experience"]["id"],
        assigned
    );
    assert!(e["activity"].is_object());

    // Preview the other experience.
    let other = if assigned == "0" { "1" } else { "0" };
    let mint = |ttl: i64, exp: &str| {
        json!({"activityId": "hero", "experienceId": exp, "ttlSeconds": ttl}).to_string()
    };
    assert_problem(
        &c.send(
            "POST",
            "/v1/decisions/preview-token",
            &[API],
            mint(60, other),
        )
        .await,
        403,
    );
    assert_problem(
        &c.send(
            "POST",
            "/v1/decisions/preview-token",
            &[ADMIN],
            mint(60, "9"),
        )
        .await,
        404,
    );
    let r = c
        .send(
            "POST",
            "/v1/decisions/preview-token",
            &[ADMIN],
            mint(60, other),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let mut b = body(&v, &["__view__"]);
    b["preview"] = json!({"token": token});
    let forced = decide(&c, &b).await;
    assert_eq!(experience(&forced), other, "{forced}");
    // The preview's display is never counted.
    let before = report(&c, "hero").await;
    let n = notify(
        &c,
        &v,
        vec![notification(&forced["propositions"][0], "display")],
    )
    .await;
    assert_eq!(n["notifications"]["counted"], 0, "{n}");
    assert_eq!(report(&c, "hero").await, before);
    // The visitor's own assignment is untouched.
    assert_eq!(
        experience(&decide(&c, &body(&v, &["__view__"])).await),
        assigned
    );

    // Forged and expired tokens.
    let mut forged = b.clone();
    let (payload, _) = token.split_once('.').unwrap();
    forged["preview"]["token"] = json!(format!("{payload}.AAAA"));
    assert_problem(
        &c.send("POST", "/v1/decisions", &[API], forged.to_string())
            .await,
        403,
    );
    let r = c
        .send(
            "POST",
            "/v1/decisions/preview-token",
            &[ADMIN],
            mint(1, other),
        )
        .await;
    let short = r.json()["token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    b["preview"]["token"] = json!(short);
    let p = assert_problem(
        &c.send("POST", "/v1/decisions", &[API], b.to_string()).await,
        403,
    );
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_notifications_lose_nothing() {
    let host = start();
    let c = host.client();
    let mut capped = dom("limited");
    capped["caps"] = json!([{"count": 8, "per": "lifetime"}]);
    let single = activity(
        json!({"id": "single", "activityType": "ab", "scopes": ["top"],
        "experiences": [{"id": "only", "allocation": 100, "offers": [capped]}],
        "fallbacks": {"top": dom("top-fallback")}}),
    );
    publish(&c, &[single]).await;
    let v = ecid(900);
    let first = decide(&c, &body(&v, &["top"])).await;
    let p = first["propositions"][0].clone();
    assert_eq!(p["items"][0]["id"], "limited", "{first}");
    // Eight displays at once: every cap hit lands in the profile (CAS) and every exposure in
    // the report counter (atomic increment).
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            let (v, p) = (v.clone(), p.clone());
            tokio::spawn(async move { notify(&c, &v, vec![notification(&p, "display")]).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap()["notifications"]["counted"], 1);
    }
    let after = decide(&c, &body(&v, &["top"])).await;
    assert_eq!(
        after["propositions"][0]["items"][0]["id"], "top-fallback",
        "{after}"
    );
    assert_eq!(row(&report(&c, "single").await, "only")["exposures"], 8);
}

/// Decides with extra request headers.
async fn decide_with(c: &Client, headers: &[(&str, &str)], body: &Value) -> Value {
    let mut all = vec![API, JSON];
    all.extend_from_slice(headers);
    let r = c
        .send("POST", "/v1/decisions", &all, body.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn activity_ids(answer: &Value) -> Vec<String> {
    answer["propositions"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["scopeDetails"]["activity"]["id"].as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn geography_from_cdn_headers() {
    let host = start();
    let c = host.client();
    let germany = activity(
        json!({"id": "de-only", "activityType": "ab", "scopes": ["geo"],
        "audience": {"pql": "environment.geo.country = \"DE\""},
        "experiences": [{"id": "0", "allocation": 100, "offers": [dom("de-offer")]}]}),
    );
    publish(&c, &[germany]).await;
    let b = body(&ecid(60), &["geo"]);
    let de = decide_with(&c, &[("cf-ipcountry", "DE")], &b).await;
    assert_eq!(activity_ids(&de), ["de-only"], "{de}");
    assert_eq!(de["propositions"][0]["items"][0]["id"], "de-offer");
    let fr = decide_with(&c, &[("cf-ipcountry", "FR")], &b).await;
    assert!(activity_ids(&fr).is_empty(), "{fr}");
    assert!(activity_ids(&decide_with(&c, &[], &b).await).is_empty());
    // CloudFront's header too; and a server-side caller's `context.geo` wins over headers.
    let cf = decide_with(&c, &[("CloudFront-Viewer-Country", "DE")], &b).await;
    assert_eq!(activity_ids(&cf), ["de-only"]);
    let mut stated = b.clone();
    stated["context"]["geo"] = json!({"country": "FR"});
    let v = decide_with(&c, &[("cf-ipcountry", "DE")], &stated).await;
    assert!(activity_ids(&v).is_empty(), "{v}");
    host.stop();

    // A configured mapping reads only its headers; one that does not parse is a 500 naming it.
    let manifest = APP
        .replace(
            "api_token = { default = \"\" }",
            "api_token = { default = \"\" }\ngeo_headers = { default = \"\" }",
        )
        .replace(
            "[component.decisions.variables]\n",
            "[component.decisions.variables]\ngeo_headers = \"{{ geo_headers }}\"\n",
        );
    for (mapping, header, matches) in [
        ("country=x-geo-country", ("x-geo-country", "DE"), true),
        ("country=x-geo-country", ("cf-ipcountry", "DE"), false),
        ("none", ("cf-ipcountry", "DE"), false),
    ] {
        let app = Setup::new(&manifest)
            .variable("admin_token", "test-admin-token")
            .variable("api_token", "test-api-token")
            .variable("geo_headers", mapping)
            .start()
            .unwrap();
        let c = app.client();
        publish(
            &c,
            &[activity(
                json!({"id": "de-only", "activityType": "ab", "scopes": ["geo"],
                "audience": {"pql": "environment.geo.country = \"DE\""},
                "experiences": [{"id": "0", "allocation": 100, "offers": [dom("de-offer")]}]}),
            )],
        )
        .await;
        let v = decide_with(&c, &[header], &b).await;
        assert_eq!(
            !activity_ids(&v).is_empty(),
            matches,
            "{mapping} {header:?}: {v}"
        );
        app.stop();
    }
    let app = Setup::new(&manifest)
        .variable("admin_token", "test-admin-token")
        .variable("api_token", "test-api-token")
        .variable("geo_headers", "cuntry=x-geo-country")
        .start()
        .unwrap();
    let r = app
        .client()
        .send("POST", "/v1/decisions", &[API, JSON], b.to_string())
        .await;
    let p = assert_problem(&r, 500);
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("geo_headers")),
        "{p}"
    );
    app.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn activities_are_compiled_at_publish() {
    let host = start();
    let c = host.client();
    publish(&c, &[hero()]).await;
    let v = decide(&c, &body(&ecid(70), &["__view__"])).await;
    assert_eq!(activity_ids(&v), ["hero"]);
    // A new version replaces the compiled one; an older replay does not bring it back.
    let mut v2 = hero();
    v2["timestamp"] = json!(ts(10_000));
    v2["experiences"][0]["offers"] = json!([dom("hero-a2")]);
    v2["experiences"][1]["offers"] = json!([dom("hero-b2")]);
    publish(&c, &[v2]).await;
    publish(&c, &[hero()]).await;
    let v = decide(&c, &body(&ecid(71), &["__view__"])).await;
    let item = v["propositions"][0]["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(item == "hero-a2" || item == "hero-b2", "{v}");
    // Retired: gone from decisions, reports and preview tokens.
    let retire =
        json!({"type": "activity", "id": "hero", "status": "retired", "timestamp": ts(5_000)});
    publish(&c, &[retire]).await;
    assert!(activity_ids(&decide(&c, &body(&ecid(71), &["__view__"])).await).is_empty());
    assert_problem(
        &c.send("GET", "/v1/reports/activities/hero", &[ADMIN], "")
            .await,
        404,
    );
}
