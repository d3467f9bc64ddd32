//! Request-level tests of the segments API over an in-memory store.

use serde_json::json;
use vantage_kv::MemoryKv;
use vantage_model::Policy;
use vantage_model::catalog::DefinitionStatus;

use super::*;

const TOKEN: &str = "s3cret-api-token";
const NOW: i64 = 1_796_119_200_000; // 2026-12-01T10:00:00Z

fn call(kv: &MemoryKv, method: &str, path: &str, auth: Option<&str>, body: &str) -> Reply {
    let req = Request {
        method,
        path,
        authorization: auth,
        body: body.as_bytes(),
    };
    handle(&req, Some(TOKEN), || Ok::<_, vantage_kv::Error>(kv), NOW)
}

fn bearer() -> Option<&'static str> {
    Some("Bearer s3cret-api-token")
}

fn body(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn header<'r>(r: &'r Reply, name: &str) -> Option<&'r str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn publish(kv: &MemoryKv, id: &str, expression: &str) {
    let def = vantage_segments::Definition {
        id: id.into(),
        name: id.into(),
        expression: expression.into(),
        timestamp: 1,
        status: DefinitionStatus::Active,
    };
    let r = vantage_segments::publish(kv, &def, &Policy::default());
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn validate_answers_without_auth() {
    let kv = MemoryKv::new();
    let r = call(
        &kv,
        "POST",
        VALIDATE_PATH,
        None,
        r#"{"expression":"homeAddress.countryCode = \"US\""}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["valid"], true);
    assert_eq!(body(&r)["eligibility"], "edge");
    let r = call(&kv, "POST", VALIDATE_PATH, None, r#"{"expression":"a = "}"#);
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["valid"], false);
    assert_eq!(body(&r)["errors"][0]["offset"], 4);
}

#[test]
fn malformed_json_and_limits() {
    let kv = MemoryKv::new();
    let r = call(&kv, "POST", VALIDATE_PATH, None, "{\n  \"expression\": }");
    assert_eq!(r.status, 400);
    assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
    assert_eq!(body(&r)["line"], 2);
    assert_eq!(body(&r)["column"], 17);
    let big = format!(r#"{{"expression":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    assert_eq!(call(&kv, "POST", VALIDATE_PATH, None, &big).status, 413);
    let r = call(&kv, "GET", VALIDATE_PATH, None, "");
    assert_eq!(r.status, 405);
    assert_eq!(header(&r, "allow"), Some("POST"));
    assert_eq!(
        call(&kv, "POST", "/v1/segments/profiles/CRMID/x", bearer(), "").status,
        405
    );
    assert_eq!(call(&kv, "GET", "/v1/segments/nope", None, "").status, 404);
}

#[test]
fn auth_cases() {
    let kv = MemoryKv::new();
    let ok = r#"{"identityMap":{"CRMID":[{"id":"c-1"}]}}"#;
    let r = call(&kv, "POST", EVALUATE_PATH, None, ok);
    assert_eq!(r.status, 401);
    assert!(header(&r, "www-authenticate").is_some());
    assert_eq!(
        call(&kv, "POST", EVALUATE_PATH, Some("Bearer wrong"), ok).status,
        403
    );
    assert_eq!(
        call(
            &kv,
            "POST",
            EVALUATE_PATH,
            Some("Basic s3cret-api-token"),
            ok
        )
        .status,
        401
    );
    assert_eq!(call(&kv, "POST", EVALUATE_PATH, bearer(), ok).status, 200);
    let req = Request {
        method: "POST",
        path: EVALUATE_PATH,
        authorization: bearer(),
        body: ok.as_bytes(),
    };
    for token in [None, Some(""), Some("  ")] {
        let r = handle(&req, token, || Ok::<_, vantage_kv::Error>(&kv), NOW);
        assert_eq!(r.status, 503);
    }
}

#[test]
fn evaluate_realizes_same_page_and_dry_run_writes_nothing() {
    let kv = MemoryKv::new();
    publish(
        &kv,
        "buyer",
        "chain(xEvent, timestamp, [A: WHAT(eventType = \"commerce.purchases\") WHEN(< 24 hours before now)])",
    );
    let req = json!({
        "identityMap": {"CRMID": [{"id": "c-42", "primary": true}]},
        "event": {"eventType": "commerce.purchases", "timestamp": "2026-12-01T09:59:00Z"},
        "dryRun": true
    })
    .to_string();
    let r = call(&kv, "POST", EVALUATE_PATH, bearer(), &req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        body(&r),
        json!({"segments": [{"id": "buyer", "status": "realized",
                             "since": "2026-12-01T10:00:00.000Z", "source": "edge"}]})
    );
    let path = "/v1/segments/profiles/CRMID/c-42";
    assert_eq!(call(&kv, "GET", path, bearer(), "").status, 404);

    let req = req.replace("\"dryRun\":true", "\"dryRun\":false");
    assert_eq!(call(&kv, "POST", EVALUATE_PATH, bearer(), &req).status, 200);
    let r = call(&kv, "GET", path, bearer(), "");
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["segments"][0]["id"], "buyer");
    assert_eq!(body(&r)["segments"][0]["status"], "realized");
    assert_eq!(call(&kv, "GET", path, None, "").status, 401);
}

#[test]
fn bad_inputs_are_client_errors() {
    let kv = MemoryKv::new();
    for bad in [
        r#"{"identityMap":{}}"#,
        r#"{"identityMap":[]}"#,
        r#"{"event":{"eventType":"x"}}"#,
        r#"{"identityMap":{"CRMID":[{"id":"c"}]},"event":{"timestamp":"2026-12-01T09:59:00Z"}}"#,
        r#"{"identityMap":{"CRMID":[{"id":"c"}]},"dryRun":"yes"}"#,
    ] {
        let r = call(&kv, "POST", EVALUATE_PATH, bearer(), bad);
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    let r = call(&kv, "GET", "/v1/segments/profiles/bad%2Fns/x", bearer(), "");
    assert_eq!(r.status, 400);
    let r = call(&kv, "GET", "/v1/segments/profiles/CRMID/%zz", bearer(), "");
    assert_eq!(r.status, 400);
    assert_eq!(percent_decode("a%20b").ok().as_deref(), Some("a b"));
    assert!(percent_decode("%+1").is_err());
}
