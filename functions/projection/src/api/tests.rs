//! Unit tests of the request logic over the in-memory store.

use serde_json::Value;
use vantage_kv::MemoryKv;

use super::*;

const TOKEN: &str = "s3cret-admin";
const NOW: i64 = 1_796_119_200_000; // 2026-12-01T10:00:00Z
const AUTH: &str = "Bearer s3cret-admin";

fn req<'a>(method: &'a str, path: &'a str, body: &'a [u8]) -> Request<'a> {
    Request {
        method,
        path,
        authorization: Some(AUTH),
        content_type: None,
        body,
    }
}

fn run(kv: &MemoryKv, r: &Request<'_>) -> Reply {
    handle(r, Some(TOKEN), || Ok(kv), NOW)
}

fn json(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap()
}

fn header<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
    reply
        .headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

fn assert_problem(reply: &Reply, status: u16) -> Value {
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        header(reply, "content-type"),
        Some("application/problem+json")
    );
    let p = json(reply);
    assert_eq!(p["status"], status);
    assert_eq!(p["type"], "about:blank");
    assert!(p["title"].is_string() && p["detail"].is_string(), "{p}");
    p
}

const PROFILE: &str = r#"{"type":"profile","identity":{"namespace":"CRMID","id":"c/42 x"},"timestamp":"2026-12-01T09:00:00Z","attributes":{"loyalty":{"tier":"gold"}}}"#;

#[test]
fn routes_and_methods() {
    assert_eq!(route("POST", "/v1/projection").unwrap(), Route::Ingest);
    assert_eq!(
        route("GET", "/v1/profiles/ECID/123").unwrap(),
        Route::GetProfile {
            namespace: "ECID".into(),
            id: "123".into()
        }
    );
    assert_eq!(
        route("DELETE", "/v1/profiles/Email/a%40b.example%2Fx+y").unwrap(),
        Route::DeleteProfile {
            namespace: "Email".into(),
            id: "a@b.example/x+y".into()
        }
    );
    for path in [
        "/v1/profiles/ECID",
        "/v1/profiles/ECID/",
        "/v1/profiles//1",
        "/v1/profiles/a/b/c",
        "/v1/projectionx",
        "/v1/other",
    ] {
        assert!(
            matches!(route("GET", path), Err(ApiError::NotFound)),
            "{path}"
        );
    }
    let e = route("GET", "/v1/projection").unwrap_err();
    assert_eq!(e.status(), 405);
    assert_eq!(header(&e.to_reply(), "allow"), Some("POST"));
    let e = route("PUT", "/v1/profiles/a/b").unwrap_err();
    assert_eq!(header(&e.to_reply(), "allow"), Some("GET, DELETE"));
    for bad in ["%", "%4", "%zz", "%ff"] {
        let path = format!("/v1/profiles/ECID/{bad}");
        assert_eq!(route("GET", &path).unwrap_err().status(), 400, "{bad}");
    }
}

#[test]
fn auth_is_closed_by_default() {
    assert!(matches!(
        authorize(None, Some(AUTH)),
        Err(ApiError::NotConfigured)
    ));
    assert!(matches!(
        authorize(Some(""), Some("Bearer ")),
        Err(ApiError::NotConfigured)
    ));
    assert!(matches!(
        authorize(Some("  "), Some("Bearer   ")),
        Err(ApiError::NotConfigured)
    ));
    for header in [
        None,
        Some(""),
        Some("Basic czNjcmV0"),
        Some("Bearer"),
        Some(TOKEN),
    ] {
        assert!(
            matches!(
                authorize(Some(TOKEN), header),
                Err(ApiError::Unauthenticated)
            ),
            "{header:?}"
        );
    }
    for header in [
        "Bearer s3cret-admiN",
        "Bearer s3cret",
        "Bearer s3cret-admin-and-more",
    ] {
        assert!(matches!(
            authorize(Some(TOKEN), Some(header)),
            Err(ApiError::Forbidden)
        ));
    }
    assert!(authorize(Some(TOKEN), Some(AUTH)).is_ok());
    assert!(authorize(Some(TOKEN), Some("bearer  s3cret-admin ")).is_ok());
}

#[test]
fn auth_failures_answer_problems_without_touching_the_store() {
    let never = || -> Result<&'static MemoryKv, vantage_kv::Error> { panic!("store opened") };
    let mut r = req("POST", "/v1/projection", PROFILE.as_bytes());
    let p = assert_problem(&handle(&r, None, never, NOW), 503);
    assert!(p["detail"].as_str().unwrap().contains("not configured"));
    assert_problem(&handle(&r, Some(""), never, NOW), 503);
    r.authorization = None;
    let reply = handle(&r, Some(TOKEN), never, NOW);
    assert_problem(&reply, 401);
    assert!(
        header(&reply, "www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    r.authorization = Some("Bearer nope");
    assert_problem(&handle(&r, Some(TOKEN), never, NOW), 403);
    let g = Request {
        authorization: None,
        ..req("GET", "/v1/profiles/ECID/1", b"")
    };
    assert_problem(&handle(&g, Some(TOKEN), never, NOW), 401);
    assert_problem(&handle(&g, None, never, NOW), 503);
}

#[test]
fn content_types() {
    for ok in [
        None,
        Some("application/json"),
        Some("application/x-ndjson"),
        Some("Application/JSON; charset=utf-8"),
        Some("application/ndjson"),
    ] {
        assert!(check_content_type(ok).is_ok(), "{ok:?}");
    }
    let kv = MemoryKv::new();
    let r = Request {
        content_type: Some("text/csv"),
        ..req("POST", "/v1/projection", PROFILE.as_bytes())
    };
    let p = assert_problem(&run(&kv, &r), 415);
    assert!(p["detail"].as_str().unwrap().contains("text/csv"));
}

#[test]
fn ingest_read_and_delete() {
    let kv = MemoryKv::new();
    let body = format!("{PROFILE}\nnot json\n\n{PROFILE}\n");
    let r = Request {
        content_type: Some("application/x-ndjson"),
        ..req("POST", "/v1/projection", body.as_bytes())
    };
    let reply = run(&kv, &r);
    assert_eq!(reply.status, 200);
    assert_eq!(header(&reply, "content-type"), Some("application/json"));
    let report = json(&reply);
    assert_eq!(report["accepted"], 2);
    assert_eq!(report["rejected"][0]["line"], 2);
    assert!(
        report["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .contains("JSON")
    );

    let path = "/v1/profiles/crmid/c%2F42%20x";
    let reply = run(&kv, &req("GET", path, b""));
    assert_eq!(reply.status, 200);
    let profile = json(&reply);
    assert_eq!(profile["attributes"]["loyalty"]["tier"], "gold");
    assert_eq!(profile["identities"][0]["id"], "c/42 x");

    let reply = run(&kv, &req("DELETE", path, b""));
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_empty());
    assert_problem(&run(&kv, &req("GET", path, b"")), 404);
    // Deleting again is fine; a bad identity is the caller's mistake.
    assert_eq!(run(&kv, &req("DELETE", path, b"")).status, 204);
    assert_problem(
        &run(&kv, &req("GET", "/v1/profiles/ECID/not-digits", b"")),
        400,
    );
}

#[test]
fn json_arrays_and_limits() {
    let kv = MemoryKv::new();
    let body = format!("[{PROFILE}, 7]");
    let report = json(&run(&kv, &req("POST", "/v1/projection", body.as_bytes())));
    assert_eq!(report["accepted"], 1);
    assert_eq!(report["rejected"][0]["line"], 2);

    let p = assert_problem(&run(&kv, &req("POST", "/v1/projection", b"[{},")), 400);
    assert!(p["detail"].as_str().unwrap().contains("array"));

    let big = vec![b' '; vantage_ingest::Limits::default().max_body_bytes + 1];
    assert_problem(&run(&kv, &req("POST", "/v1/projection", &big)), 413);

    let many = "{}\n".repeat(vantage_ingest::Limits::default().max_records + 1);
    assert_problem(
        &run(&kv, &req("POST", "/v1/projection", many.as_bytes())),
        400,
    );
}

#[test]
fn activities_are_validated() {
    let kv = MemoryKv::new();
    let good = r##"{"type":"activity","id":"hero-test","name":"Homepage hero","timestamp":"2026-12-01T09:00:00Z","activityType":"ab","priority":10,"scopes":["__view__"],"audience":null,"bucketing":{"scheme":"adobe-target","client":"acme","salt":"0","version":1},"experiences":[{"id":"0","name":"A","allocation":50,"offers":[{"id":"hero-a","schema":"https://ns.adobe.com/personalization/dom-action","data":{"type":"setHtml","selector":"#hero","content":"<h1>Welcome</h1>"}}]},{"id":"1","name":"B","allocation":50,"offers":[{"id":"hero-b","schema":"https://ns.adobe.com/personalization/dom-action","data":{"type":"setHtml","selector":"#hero","content":"<h1>Welcome back</h1>"}}]}]}"##;
    let bad = good.replace(
        r#""allocation":50,"offers":[{"id":"hero-b""#,
        r#""allocation":70,"offers":[{"id":"hero-b""#,
    );
    // Segments compile at publish: PQL that does not parse is rejected with its position.
    let bad_segment = r#"{"type":"segment","id":"cart-abandoner","expression":"whatever PQL","timestamp":"2026-12-01T09:00:00Z"}"#;
    let segment = r#"{"type":"segment","id":"gold","expression":"loyalty.tier = \"gold\"","timestamp":"2026-12-01T09:00:00Z"}"#;
    let body = format!("{good}\n{bad}\n{bad_segment}\n{segment}\n");
    let report = json(&run(&kv, &req("POST", "/v1/projection", body.as_bytes())));
    assert_eq!(report["accepted"], 2, "{report}");
    assert_eq!(report["rejected"][0]["line"], 2);
    let error = report["rejected"][0]["error"].as_str().unwrap();
    assert!(error.contains("invalid activity"), "{error}");
    assert_eq!(report["rejected"][1]["line"], 3);
    let error = report["rejected"][1]["error"].as_str().unwrap();
    assert!(error.contains("line 1, column 10"), "{error}");
    // The accepted activity is compiled and indexed: requests read it without JSON.
    let store = vantage_decisioning::Activities::open(&kv).unwrap();
    assert!(store.is_compiled());
    let catalog = store.for_scopes(&kv, &["__view__".to_owned()]).unwrap();
    assert_eq!(
        catalog.get("hero-test").map(|p| p.activity.name.as_str()),
        Some("Homepage hero")
    );
}

#[test]
fn store_failures_are_500() {
    let r = req("GET", "/v1/profiles/ECID/1", b"");
    let reply = handle(
        &r,
        Some(TOKEN),
        || -> Result<&MemoryKv, _> { Err(vantage_kv::Error::NoSuchStore) },
        NOW,
    );
    let p = assert_problem(&reply, 500);
    assert!(p["detail"].as_str().unwrap().contains("no such store"));
}
