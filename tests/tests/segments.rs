//! The `segments` component over real HTTP through the host: validation, authentication,
//! same-page realization by the current event, exits, dry runs and the memberships route.
//! Segments are published the production way, as `segment` records posted to `projection`
//! (which compiles them with `vantage_segments::compile_hook` and refreshes the request-time
//! index with `vantage_segments::sync`).

use serde_json::{Value, json};
use vantage_tests::{Client, Setup, TestApp, unique};

const ADMIN: &str = "admin-t0k3n";
const API: &str = "api-t0k3n";

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "segments-tests"

[variables]
admin_token = { required = true, secret = true }
api_token = { default = "" }

[[trigger.http]]
route = "/v1/segments/..."
component = "segments"
[[trigger.http]]
route = "/v1/projection"
component = "projection"
[[trigger.http]]
route = "/v1/profiles/..."
component = "projection"

[component.segments]
source = "{{component:segments}}"
key_value_stores = ["default"]
[component.segments.variables]
api_token = "{{ api_token }}"

[component.projection]
source = "{{component:projection}}"
key_value_stores = ["default"]
[component.projection.variables]
admin_token = "{{ admin_token }}"
"#;

fn start() -> TestApp {
    Setup::new(APP)
        .variable("admin_token", ADMIN)
        .variable("api_token", API)
        .start()
        .unwrap()
}

async fn post_json(c: &Client, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    let r = c.send("POST", path, &headers, body.to_string()).await;
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

async fn project(c: &Client, records: &[Value]) {
    let body: Vec<String> = records.iter().map(Value::to_string).collect();
    let auth = format!("Bearer {ADMIN}");
    let r = c
        .send(
            "POST",
            "/v1/projection",
            &[
                ("authorization", &auth),
                ("content-type", "application/x-ndjson"),
            ],
            body.join("\n"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["rejected"], json!([]), "{report}");
}

fn segment(id: &str, expression: &str) -> Value {
    json!({"type": "segment", "id": id, "name": id, "expression": expression,
           "timestamp": "2026-12-01T09:00:00Z"})
}

async fn evaluate(c: &Client, body: Value) -> Value {
    let (status, v) = post_json(c, "/v1/segments/evaluate", Some(API), &body).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn statuses(v: &Value) -> Vec<(String, String)> {
    v["segments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_owned(),
                s["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_reports_eligibility_and_positioned_errors() {
    let host = start();
    let c = host.client();
    for (expression, eligibility) in [
        ("homeAddress.countryCode = \"US\"", "edge"),
        (
            "chain(xEvent, timestamp, [A: WHAT(eventType = \"x\") WHEN(today), B: WHAT(eventType = \"y\") WHEN(today)])",
            "streaming",
        ),
        ("xEvent.any(eventType = \"x\")", "batch"),
    ] {
        let (status, v) = post_json(
            &c,
            "/v1/segments/validate",
            None,
            &json!({ "expression": expression }),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["valid"], true, "{expression}: {v}");
        assert_eq!(v["eligibility"], eligibility, "{expression}: {v}");
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let (status, v) = post_json(
        &c,
        "/v1/segments/validate",
        None,
        &json!({"expression": "homeAddress.countryCode = "}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["offset"], 26, "{v}");
    assert!(v["errors"][0]["message"].as_str().is_some());

    // Malformed JSON: 400 problem with the parser's position.
    let r = c
        .send("POST", "/v1/segments/validate", &[], "{\"expression\": ")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["line"], 1, "{}", r.text());
    // Wrong method, unknown path, body over 64 KiB.
    let r = c.get("/v1/segments/validate").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(c.get("/v1/segments/nothing").await.status, 404);
    let big = json!({"expression": "x".repeat(70 * 1024)}).to_string();
    assert_eq!(c.post("/v1/segments/validate", big).await.status, 413);
}

#[tokio::test(flavor = "multi_thread")]
async fn evaluate_needs_the_api_token() {
    let host = start();
    let c = host.client();
    let body = json!({"identityMap": {"CRMID": [{"id": unique("c")}]}});
    let (status, v) = post_json(&c, "/v1/segments/evaluate", None, &body).await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["status"], 401);
    let (status, _) = post_json(&c, "/v1/segments/evaluate", Some("wrong"), &body).await;
    assert_eq!(status, 403);
    let (status, _) = post_json(&c, "/v1/segments/evaluate", Some(ADMIN), &body).await;
    assert_eq!(status, 403, "the admin token is not the api token");
    let (status, v) = post_json(&c, "/v1/segments/evaluate", Some(API), &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"segments": []}));
    assert_eq!(
        c.get(&format!("/v1/segments/profiles/CRMID/{}", unique("c")))
            .await
            .status,
        401
    );
    host.stop();

    // Without an api_token the protected routes are closed, validation still answers.
    let host = Setup::new(APP)
        .variable("admin_token", ADMIN)
        .start()
        .unwrap();
    let c = host.client();
    let (status, v) = post_json(&c, "/v1/segments/evaluate", Some(API), &body).await;
    assert_eq!(status, 503, "{v}");
    let (status, _) = post_json(
        &c,
        "/v1/segments/validate",
        None,
        &json!({"expression": "a = 1"}),
    )
    .await;
    assert_eq!(status, 200);
}

/// Needs `projection` to plug in `vantage_segments::compile_hook` and call
/// `vantage_segments::sync` after ingesting.
#[tokio::test(flavor = "multi_thread")]
async fn same_page_realization_dry_run_and_memberships() {
    let host = start();
    let c = host.client();
    let buyer = unique("buyer");
    let viewer = unique("viewer");
    project(
        &c,
        &[
            segment(
                &buyer,
                "chain(xEvent, timestamp, [A: WHAT(eventType = \"commerce.purchases\") WHEN(< 24 hours before now)])",
            ),
            segment(
                &viewer,
                "chain(xEvent, timestamp, [A: WHAT(eventType = \"web.webpagedetails.pageViews\") WHEN(today)])",
            ),
        ],
    )
    .await;
    // A definition that does not compile is rejected with its position; the others stay.
    let auth = format!("Bearer {ADMIN}");
    let r = c
        .send(
            "POST",
            "/v1/projection",
            &[("authorization", &auth)],
            segment(&buyer, "homeAddress.countryCode = ").to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
    let report = r.json();
    assert_eq!(report["accepted"], 0, "{report}");
    assert!(
        report["rejected"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("column 27")),
        "{report}"
    );

    let crm = unique("c");
    let identity_map = json!({"CRMID": [{"id": crm, "primary": true}]});
    let purchase = json!({"eventType": "commerce.purchases", "_id": unique("e")});

    // Dry run: the answer, nothing stored.
    let v = evaluate(
        &c,
        json!({"identityMap": identity_map, "event": purchase, "dryRun": true}),
    )
    .await;
    assert_eq!(statuses(&v), pairs(&[(&buyer, "realized")]));
    assert!(
        v["segments"][0]["since"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    let path = format!("/v1/segments/profiles/CRMID/{crm}");
    let auth = format!("Bearer {API}");
    let r = c.send("GET", &path, &[("authorization", &auth)], "").await;
    assert_eq!(r.status, 404, "a dry run creates no profile: {}", r.text());

    // For real: realized by the event of this very request.
    let v = evaluate(&c, json!({"identityMap": identity_map, "event": purchase})).await;
    assert_eq!(statuses(&v), pairs(&[(&buyer, "realized")]));
    let r = c.send("GET", &path, &[("authorization", &auth)], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m = r.json();
    assert_eq!(m["segments"][0]["id"], buyer.as_str(), "{m}");
    assert_eq!(m["segments"][0]["status"], "realized");
    assert_eq!(m["segments"][0]["source"], "edge");

    // A page view: the viewer segment is realized, the buyer is still a member.
    let view = json!({"eventType": "web.webpagedetails.pageViews"});
    let v = evaluate(&c, json!({"identityMap": identity_map, "event": view})).await;
    let mut got = statuses(&v);
    got.sort();
    let mut want = pairs(&[(&buyer, "existing"), (&viewer, "realized")]);
    want.sort();
    assert_eq!(got, want);
}

/// Needs `projection` to plug in `vantage_segments::compile_hook` and call
/// `vantage_segments::sync` after ingesting.
#[tokio::test(flavor = "multi_thread")]
async fn profile_changes_realize_and_exit() {
    let host = start();
    let c = host.client();
    let us = unique("us");
    let crm = unique("c");
    project(
        &c,
        &[
            segment(&us, "homeAddress.countryCode = \"US\""),
            json!({"type": "profile", "identity": {"namespace": "CRMID", "id": crm},
                   "timestamp": "2026-12-01T10:00:00Z",
                   "attributes": {"homeAddress": {"countryCode": "US"}}}),
        ],
    )
    .await;
    let identity_map = json!({"CRMID": [{"id": crm}]});
    let v = evaluate(&c, json!({"identityMap": identity_map})).await;
    assert_eq!(statuses(&v), pairs(&[(&us, "realized")]));
    let v = evaluate(&c, json!({"identityMap": identity_map})).await;
    assert_eq!(statuses(&v), pairs(&[(&us, "existing")]));

    project(
        &c,
        &[
            json!({"type": "profile", "identity": {"namespace": "CRMID", "id": crm},
                   "timestamp": "2026-12-01T11:00:00Z",
                   "attributes": {"homeAddress": {"countryCode": "FR"}}}),
        ],
    )
    .await;
    let v = evaluate(&c, json!({"identityMap": identity_map})).await;
    assert_eq!(statuses(&v), pairs(&[(&us, "exited")]));
    let auth = format!("Bearer {API}");
    let r = c
        .send(
            "GET",
            &format!("/v1/segments/profiles/CRMID/{crm}"),
            &[("authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["segments"][0]["status"], "exited");

    // Retiring the segment removes it from edge evaluation.
    project(
        &c,
        &[json!({"type": "segment", "id": us, "status": "retired",
                 "timestamp": "2026-12-01T12:00:00Z"})],
    )
    .await;
    project(
        &c,
        &[
            json!({"type": "profile", "identity": {"namespace": "CRMID", "id": crm},
                   "timestamp": "2026-12-01T13:00:00Z",
                   "attributes": {"homeAddress": {"countryCode": "US"}}}),
        ],
    )
    .await;
    let v = evaluate(&c, json!({"identityMap": identity_map})).await;
    assert_eq!(statuses(&v), pairs(&[]));
}
