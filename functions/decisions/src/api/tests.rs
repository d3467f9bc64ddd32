//! Unit tests of the request logic over an in-memory store.

use serde_json::{Value, json};
use vantage_kv::MemoryKv;
use vantage_model::catalog::{
    ActivityDefinition, DefinitionStatus, publish_activity, publish_activity_compiled,
};

use super::*;

const NOW: i64 = 1_796_119_200_000;
const API: &str = "api-secret";
const ADMIN: &str = "admin-secret";
const ECID: &str = "12345678901234567890123456789012345678";

fn tokens() -> Variables<'static> {
    Variables {
        api: Some(API),
        admin: Some(ADMIN),
        geo_headers: None,
    }
}

fn definition(v: &Value) -> ActivityDefinition {
    let a = vantage_decisioning::parse_activity_value(v).unwrap();
    ActivityDefinition {
        id: a.id.clone(),
        timestamp: 1,
        status: DefinitionStatus::Active,
        json: serde_json::to_string(&a).unwrap(),
        scopes: a.scopes.clone(),
    }
}

/// Publishes as projection does: compiled at ingest, then the index synced.
fn publish(kv: &MemoryKv, v: Value) {
    let compiled = vantage_decisioning::compile_hook(&v).unwrap();
    publish_activity_compiled(kv, &definition(&v), Some(compiled), &Policy::default()).unwrap();
    vantage_decisioning::sync(kv, &Policy::default()).unwrap();
}

/// Publishes the JSON source only, as a build before compiled activities did (no index).
fn publish_source_only(kv: &MemoryKv, v: Value) {
    publish_activity(kv, &definition(&v), &Policy::default()).unwrap();
}

fn dom(id: &str) -> Value {
    json!({"id": id, "schema": "https://ns.adobe.com/personalization/dom-action",
        "data": {"type": "setHtml", "selector": "#hero", "content": id}})
}

fn call_raw(
    kv: &MemoryKv,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
    now: i64,
) -> Reply {
    call_with(kv, method, path, auth, &[], tokens(), body, now)
}

#[allow(
    clippy::too_many_arguments,
    reason = "a test helper mirroring every input"
)]
fn call_with(
    kv: &MemoryKv,
    method: &str,
    path: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
    vars: Variables<'_>,
    body: &[u8],
    now: i64,
) -> Reply {
    let header = auth.map(|t| format!("Bearer {t}"));
    let req = Request {
        method,
        path,
        authorization: header.as_deref(),
        headers,
        body,
    };
    handle(&req, vars, || Ok::<_, vantage_kv::Error>(kv), now)
}

fn call(kv: &MemoryKv, method: &str, path: &str, auth: &str, body: Value) -> (u16, Value) {
    let r = call_raw(
        kv,
        method,
        path,
        Some(auth),
        body.to_string().as_bytes(),
        NOW,
    );
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn decide_body(ecid: &str, scopes: &[&str]) -> Value {
    json!({"identityMap": {"ECID": [{"id": ecid}]}, "scopes": scopes,
        "context": {"page": "https://shop.example/", "userAgent": "Mozilla/5.0"}})
}

fn hero(kv: &MemoryKv) {
    publish(
        kv,
        json!({"id": "hero", "activityType": "ab", "scopes": ["__view__"],
        "bucketing": {"client": "acme"},
        "experiences": [{"id": "0", "allocation": 50, "offers": [dom("a")]},
                        {"id": "1", "allocation": 50, "offers": [{"caps": [{"count": 2, "per": "day"}],
                          "id": "b", "schema": "https://ns.adobe.com/personalization/dom-action",
                          "data": {"type": "setHtml", "selector": "#hero", "content": "b"}}]}],
        "fallbacks": {"__view__": dom("fallback")}}),
    );
}

#[test]
fn routes_and_methods() {
    assert_eq!(route("POST", "/v1/decisions").unwrap(), Route::Decide);
    assert_eq!(
        route("POST", "/v1/decisions/explain").unwrap(),
        Route::Explain
    );
    assert_eq!(
        route("POST", "/v1/decisions/preview-token").unwrap(),
        Route::MintPreview
    );
    assert_eq!(
        route("GET", "/v1/reports/activities/a%2Fb").unwrap(),
        Route::Report {
            activity_id: "a/b".into()
        }
    );
    for (m, p, status) in [
        ("GET", "/v1/decisions", 405),
        ("GET", "/v1/decisions/explain", 405),
        ("POST", "/v1/reports/activities/x", 405),
        ("POST", "/v1/decisions/other", 404),
        ("GET", "/v1/reports/activities/", 404),
        ("GET", "/v1/reports/activities/a/b", 404),
        ("GET", "/v1/reports/other", 404),
        ("GET", "/v1/reports/activities/%ff", 400),
    ] {
        assert_eq!(route(m, p).unwrap_err().status(), status, "{m} {p}");
    }
    let kv = MemoryKv::new();
    let r = call_raw(&kv, "GET", "/v1/decisions", None, b"", NOW);
    assert_eq!(r.status, 405);
    assert!(r.headers.contains(&("allow", "POST".to_owned())));
}

#[test]
fn authentication() {
    let kv = MemoryKv::new();
    let body = decide_body(ECID, &["__view__"]).to_string();
    let r = call_raw(&kv, "POST", DECISIONS_PATH, None, body.as_bytes(), NOW);
    assert_eq!(r.status, 401);
    assert!(r.headers.iter().any(|(k, _)| *k == "www-authenticate"));
    assert!(
        r.headers
            .contains(&("content-type", "application/problem+json".to_owned()))
    );
    let r = call_raw(
        &kv,
        "POST",
        DECISIONS_PATH,
        Some(ADMIN),
        body.as_bytes(),
        NOW,
    );
    assert_eq!(r.status, 403);
    // The admin routes want the admin token, not the api token.
    let r = call_raw(&kv, "GET", "/v1/reports/activities/x", Some(API), b"", NOW);
    assert_eq!(r.status, 403);
    let req = Request {
        method: "POST",
        path: DECISIONS_PATH,
        authorization: Some("Bearer x"),
        headers: &[],
        body: body.as_bytes(),
    };
    let closed = Variables {
        api: None,
        admin: Some(ADMIN),
        geo_headers: None,
    };
    let r = handle(&req, closed, || Ok::<_, vantage_kv::Error>(&kv), NOW);
    assert_eq!(r.status, 503);
}

#[test]
fn body_errors() {
    let kv = MemoryKv::new();
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    let r = call_raw(&kv, "POST", DECISIONS_PATH, Some(API), &big, NOW);
    assert_eq!(r.status, 413);
    let r = call_raw(
        &kv,
        "POST",
        DECISIONS_PATH,
        Some(API),
        b"{\n \"scopes\": [1",
        NOW,
    );
    assert_eq!(r.status, 400);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["line"], 2);
    assert!(v["column"].as_u64().unwrap() > 0);
    let (s, _) = call(&kv, "POST", DECISIONS_PATH, API, json!({"scopes": ["a"]}));
    assert_eq!(s, 400, "no identity");
    let (s, _) = call(
        &kv,
        "POST",
        DECISIONS_PATH,
        API,
        json!({"identityMap": {"ECID": [{"id": ECID}]}, "scopes": [""]}),
    );
    assert_eq!(s, 400);
}

#[test]
fn sticky_ab_and_fallback() {
    let kv = MemoryKv::new();
    hero(&kv);
    let (s, v) = call(
        &kv,
        "POST",
        DECISIONS_PATH,
        API,
        decide_body(ECID, &["__view__"]),
    );
    assert_eq!(s, 200, "{v}");
    let props = v["propositions"].as_array().unwrap();
    assert_eq!(props.len(), 1);
    let p = &props[0];
    assert_eq!(p["scope"], "__view__");
    assert_eq!(p["scopeDetails"]["decisionProvider"], "TGT");
    assert_eq!(p["scopeDetails"]["activity"]["id"], "hero");
    let experience = p["scopeDetails"]["experience"]["id"].clone();
    // Written back: the profile holds the sticky assignment.
    let who = Identity::new("ECID", ECID).unwrap();
    let profile = Graph::new(&kv, &Policy::default())
        .lookup(&who, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(profile.sticky["hero"].experience, experience);
    for _ in 0..3 {
        let (_, v) = call(
            &kv,
            "POST",
            DECISIONS_PATH,
            API,
            decide_body(ECID, &["__view__"]),
        );
        assert_eq!(
            v["propositions"][0]["scopeDetails"]["experience"]["id"],
            experience
        );
    }
    // A scope nothing answers gets nothing.
    let (_, v) = call(
        &kv,
        "POST",
        DECISIONS_PATH,
        API,
        decide_body(ECID, &["none"]),
    );
    assert_eq!(v["propositions"], json!([]));
}

fn display(p: &Value, kind: &str) -> Value {
    let flag = if kind == "display" {
        "decisioning.propositionDisplay"
    } else {
        "decisioning.propositionInteract"
    };
    json!({"xdm": {"eventType": flag, "_experience": {"decisioning": {
        "propositions": [{"id": p["id"], "scope": p["scope"], "scopeDetails": p["scopeDetails"]}],
        "propositionEventType": {kind: 1}}}}})
}

#[test]
fn caps_notifications_and_report() {
    let kv = MemoryKv::new();
    hero(&kv);
    // Find a visitor in experience 1 (the capped offer).
    let mut visitor = None;
    for i in 0..200 {
        let ecid = format!("{:038}", 1000 + i);
        let (_, v) = call(
            &kv,
            "POST",
            DECISIONS_PATH,
            API,
            decide_body(&ecid, &["__view__"]),
        );
        if v["propositions"][0]["scopeDetails"]["experience"]["id"] == "1" {
            visitor = Some((ecid, v["propositions"][0].clone()));
            break;
        }
    }
    let (ecid, prop) = visitor.unwrap();
    assert_eq!(prop["items"][0]["id"], "b");
    // Two displays reach the cap of 2 per day: the third decision falls back.
    for n in 0..2 {
        let mut body = decide_body(&ecid, &[]);
        body["events"] = json!([display(&prop, "display")]);
        let (s, v) = call(&kv, "POST", DECISIONS_PATH, API, body);
        assert_eq!(s, 200);
        assert_eq!(v["notifications"]["counted"], 1, "{n}: {v}");
    }
    let (_, v) = call(
        &kv,
        "POST",
        DECISIONS_PATH,
        API,
        decide_body(&ecid, &["__view__"]),
    );
    assert_eq!(v["propositions"][0]["items"][0]["id"], "fallback", "{v}");
    // A click.
    let mut body = decide_body(&ecid, &[]);
    body["events"] = json!([display(&prop, "interact")]);
    call(&kv, "POST", DECISIONS_PATH, API, body);
    let (s, r) = call(
        &kv,
        "GET",
        "/v1/reports/activities/hero",
        ADMIN,
        json!(null),
    );
    assert_eq!(s, 200, "{r}");
    let row = r["experiences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["experienceId"] == "1")
        .unwrap();
    assert_eq!(
        (row["exposures"].clone(), row["clicks"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(row["clickRate"]["rate"], 0.5);
    assert_eq!(r["totals"]["exposures"], 2);
    let (s, _) = call(
        &kv,
        "GET",
        "/v1/reports/activities/nope",
        ADMIN,
        json!(null),
    );
    assert_eq!(s, 404);
}

#[test]
fn preview_tokens() {
    let kv = MemoryKv::new();
    hero(&kv);
    let (s, _) = call(
        &kv,
        "POST",
        PREVIEW_TOKEN_PATH,
        ADMIN,
        json!({"activityId": "hero", "experienceId": "9"}),
    );
    assert_eq!(s, 404);
    let (s, m) = call(
        &kv,
        "POST",
        PREVIEW_TOKEN_PATH,
        ADMIN,
        json!({"activityId": "hero", "experienceId": "1", "ttlSeconds": 60}),
    );
    assert_eq!(s, 200, "{m}");
    let token = m["token"].as_str().unwrap();
    let mut body = decide_body(ECID, &["__view__"]);
    body["preview"] = json!({"token": token});
    let (s, v) = call(&kv, "POST", DECISIONS_PATH, API, body.clone());
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["propositions"][0]["scopeDetails"]["experience"]["id"],
        "1"
    );
    // Nothing was written for the preview.
    let who = Identity::new("ECID", ECID).unwrap();
    assert!(
        Graph::new(&kv, &Policy::default())
            .lookup(&who, NOW)
            .unwrap()
            .is_none()
    );
    // Its display is not counted.
    let mut notify = decide_body(ECID, &[]);
    notify["events"] = json!([display(&v["propositions"][0], "display")]);
    let (_, n) = call(&kv, "POST", DECISIONS_PATH, API, notify);
    assert_eq!(n["notifications"]["counted"], 0, "{n}");
    assert_eq!(n["notifications"]["ignored"][0]["reason"], "preview");
    // Expired and forged tokens are refused.
    let r = call_raw(
        &kv,
        "POST",
        DECISIONS_PATH,
        Some(API),
        body.to_string().as_bytes(),
        NOW + 61_000,
    );
    assert_eq!(r.status, 403);
    body["preview"]["token"] = json!(format!("{}x", token));
    let (s, p) = call(&kv, "POST", DECISIONS_PATH, API, body);
    assert_eq!(s, 403, "{p}");
}

#[test]
fn explain_and_pql_audience() {
    let kv = MemoryKv::new();
    publish(
        &kv,
        json!({"id": "shop", "activityType": "xt", "scopes": ["banner"],
        "experiences": [{"id": "shoppers", "audience": {"pql": "environment.page.host = \"shop.example\""}, "offers": [dom("s")]},
                        {"id": "rest", "offers": [dom("r")]}]}),
    );
    let (_, v) = call(
        &kv,
        "POST",
        DECISIONS_PATH,
        API,
        decide_body(ECID, &["banner"]),
    );
    assert_eq!(
        v["propositions"][0]["scopeDetails"]["experience"]["id"], "shoppers",
        "{v}"
    );
    let mut body = decide_body(ECID, &["banner"]);
    body["context"]["page"] = json!("https://blog.example/");
    let (_, v) = call(&kv, "POST", DECISIONS_PATH, API, body);
    assert_eq!(
        v["propositions"][0]["scopeDetails"]["experience"]["id"],
        "rest"
    );
    let (s, e) = call(
        &kv,
        "POST",
        EXPLAIN_PATH,
        ADMIN,
        json!({"identityMap": {"ECID": [{"id": ECID}]}, "activityId": "shop",
            "context": {"page": "https://shop.example/"}}),
    );
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["found"], true);
    assert_eq!(e["activityId"], "shop");
    assert_eq!(
        e["propositions"][0]["scopeDetails"]["experience"]["id"],
        "shoppers"
    );
    let (s, _) = call(
        &kv,
        "POST",
        EXPLAIN_PATH,
        ADMIN,
        json!({"identityMap": {"ECID": [{"id": ECID}]}, "activityId": "nope"}),
    );
    assert_eq!(s, 404);
}

fn geo_activity(kv: &MemoryKv) {
    publish(
        kv,
        json!({"id": "de-only", "activityType": "ab", "scopes": ["geo"],
            "audience": {"pql": "environment.geo.country = \"DE\""},
            "experiences": [{"id": "0", "allocation": 100, "offers": [dom("de")]}]}),
    );
}

fn geo_call(
    kv: &MemoryKv,
    headers: &[(&str, &str)],
    geo_headers: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let vars = Variables {
        geo_headers,
        ..tokens()
    };
    let r = call_with(
        kv,
        "POST",
        DECISIONS_PATH,
        Some(API),
        headers,
        vars,
        body.to_string().as_bytes(),
        NOW,
    );
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

fn activities_of(v: &Value) -> Vec<String> {
    v["propositions"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    p["scopeDetails"]["activity"]["id"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn geography_from_cdn_headers() {
    let kv = MemoryKv::new();
    geo_activity(&kv);
    let body = decide_body(ECID, &["geo"]);
    let (s, v) = geo_call(&kv, &[("cf-ipcountry", "DE")], None, body.clone());
    assert_eq!(s, 200, "{v}");
    assert_eq!(activities_of(&v), ["de-only"]);
    let (_, v) = geo_call(&kv, &[("cf-ipcountry", "FR")], None, body.clone());
    assert!(activities_of(&v).is_empty(), "{v}");
    let (_, v) = geo_call(
        &kv,
        &[("cloudfront-viewer-country", "de")],
        None,
        body.clone(),
    );
    assert_eq!(activities_of(&v), ["de-only"]);
    let (_, v) = geo_call(&kv, &[], None, body.clone());
    assert!(activities_of(&v).is_empty());
    // A configured mapping: only its headers count.
    let mapping = Some("country=x-geo-country");
    let (_, v) = geo_call(&kv, &[("x-geo-country", "DE")], mapping, body.clone());
    assert_eq!(activities_of(&v), ["de-only"]);
    let (_, v) = geo_call(&kv, &[("cf-ipcountry", "DE")], mapping, body.clone());
    assert!(activities_of(&v).is_empty());
    let (_, v) = geo_call(&kv, &[("cf-ipcountry", "DE")], Some("none"), body.clone());
    assert!(activities_of(&v).is_empty());
    // A mapping that does not parse is a server error naming the variable.
    let (s, p) = geo_call(&kv, &[("cf-ipcountry", "DE")], Some("cuntry=x"), body);
    assert_eq!(s, 500);
    assert!(p["detail"].as_str().unwrap().contains("geo_headers"), "{p}");
}

#[test]
fn geography_from_the_body_wins_over_headers() {
    let kv = MemoryKv::new();
    geo_activity(&kv);
    let mut body = decide_body(ECID, &["geo"]);
    body["context"]["geo"] = json!({"country": "DE", "city": "Berlin"});
    let (_, v) = geo_call(&kv, &[("cf-ipcountry", "FR")], None, body.clone());
    assert_eq!(activities_of(&v), ["de-only"]);
    body["context"]["geo"] = json!({"country": "FR"});
    let (_, v) = geo_call(&kv, &[("cf-ipcountry", "DE")], None, body.clone());
    assert!(activities_of(&v).is_empty());
    body["context"]["geo"] = json!({"country": "Deutschland"});
    let (s, p) = geo_call(&kv, &[], None, body);
    assert_eq!(s, 400);
    assert!(p["detail"].as_str().unwrap().contains("geo.country"), "{p}");
}

#[test]
fn stores_without_compiled_activities_are_served_from_the_source() {
    let kv = MemoryKv::new();
    publish_source_only(
        &kv,
        json!({"id": "hero", "activityType": "ab", "scopes": ["__view__"],
            "experiences": [{"id": "0", "allocation": 100, "offers": [dom("a")]}]}),
    );
    assert!(
        !vantage_decisioning::Activities::open(&kv)
            .unwrap()
            .is_compiled()
    );
    let (s, v) = call(
        &kv,
        "POST",
        DECISIONS_PATH,
        API,
        decide_body(ECID, &["__view__"]),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(activities_of(&v), ["hero"]);
    let (s, _) = call(
        &kv,
        "GET",
        "/v1/reports/activities/hero",
        ADMIN,
        json!(null),
    );
    assert_eq!(s, 200);
    // Once synced, the same answer from the compiled form.
    vantage_decisioning::sync(&kv, &Policy::default()).unwrap();
    assert!(
        vantage_decisioning::Activities::open(&kv)
            .unwrap()
            .is_compiled()
    );
    let (_, w) = call(
        &kv,
        "POST",
        DECISIONS_PATH,
        API,
        decide_body(ECID, &["__view__"]),
    );
    assert_eq!(w["propositions"], v["propositions"]);
}
