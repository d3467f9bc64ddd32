//! Tests of the collect component's request logic over an in-memory store: configuration,
//! routing, the outbox routes, and the edge endpoints' answers.

use serde_json::{Value, json};
use vantage_kv::{Kv, MemoryKv};

use super::*;

const ORG: &str = "ABCDEF0123456789ABCDEF01@AdobeOrg";

fn config(extra: &[(&str, &str)]) -> Config {
    let vars: Vec<(String, String)> = [("org_id", ORG), ("admin_token", "admin")]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_variables(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

struct Served {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Served {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn serve(
    kv: &MemoryKv,
    config: &Config,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Served {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let req = Request {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let mut counter = 0u8;
    let mut rng = |buf: &mut [u8]| {
        for b in buf {
            counter = counter.wrapping_add(37);
            *b = counter;
        }
    };
    let clock = || 1_796_000_000_000;
    let reply = handle(
        &req,
        config,
        Env {
            open_store: || Ok(kv),
            rng: &mut rng,
            clock: &clock,
        },
    );
    Served {
        status: reply.status,
        headers: reply.headers,
        body: reply.body,
    }
}

fn page_view() -> String {
    json!({"events": [{"xdm": {"eventType": "web.webpagedetails.pageViews",
                                "web": {"webPageDetails": {"URL": "https://shop.example/"}}}}]})
    .to_string()
}

#[test]
fn configuration_defaults_and_refusals() {
    let c = config(&[]);
    assert_eq!(c.default_consent, DefaultConsent::In);
    assert_eq!(c.allowed_origins, AllowedOrigins::Any);
    assert_eq!(c.outbox_max, DEFAULT_OUTBOX_MAX);
    assert_eq!(
        c.cookies.identity(),
        "kndctr_ABCDEF0123456789ABCDEF01_AdobeOrg_identity"
    );
    let c = config(&[
        ("default_consent", "pending"),
        ("allowed_origins", "https://a.example/, https://b.example"),
        ("outbox_max_events", "10"),
    ]);
    assert_eq!(c.default_consent, DefaultConsent::Pending);
    assert_eq!(
        c.allowed_origins,
        AllowedOrigins::List(vec!["https://a.example".into(), "https://b.example".into()])
    );
    assert_eq!(c.outbox_max, 10);
    let bad = |name: &'static str, value: &str| {
        let e = Config::from_variables(|n| match n {
            "org_id" => Some(ORG.to_owned()),
            n if n == name => Some(value.to_owned()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(e.name, name);
    };
    bad("default_consent", "maybe");
    bad("outbox_max_events", "-1");
    assert_eq!(Config::from_variables(|_| None).unwrap_err().name, "org_id");
}

#[test]
fn outbox_query_parameters() {
    assert_eq!(read_params(""), Ok((0, DEFAULT_READ_LIMIT)));
    assert_eq!(read_params("after=5&limit=2"), Ok((5, 2)));
    assert!(read_params("after=x").is_err());
    assert!(read_params("limit=0").is_err());
    assert!(read_params("limit=10001").is_err());
    assert!(read_params("since=1").is_err());
}

#[test]
fn consent_cookie_overrides_the_default() {
    use vantage_edge_protocol::General;
    assert_eq!(
        effective_consent(None, DefaultConsent::Pending),
        DefaultConsent::Pending
    );
    assert_eq!(
        effective_consent(Some(General::In), DefaultConsent::Out),
        DefaultConsent::In
    );
    assert_eq!(
        effective_consent(Some(General::Out), DefaultConsent::In),
        DefaultConsent::Out
    );
}

#[test]
fn interact_issues_an_ecid_and_queues_the_event() {
    let kv = MemoryKv::new();
    let c = config(&[]);
    let r = serve(
        &kv,
        &c,
        "POST",
        "/ee/v1/interact?configId=d",
        &[("origin", "https://shop.example")],
        &page_view(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    let body = r.json();
    let handles: Vec<&str> = body["handle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["type"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["identity:result", "state:store"]);
    let ecid = body["handle"][0]["payload"][0]["id"].as_str().unwrap();
    assert_eq!(ecid.len(), 38);
    assert!(kv.get(&outbox::entry_key(1)).unwrap().is_some());

    let r = serve(
        &kv,
        &c,
        "GET",
        "/v1/outbox",
        &[("authorization", "Bearer admin")],
        "",
    );
    assert_eq!(r.status, 200);
    let line: Value =
        serde_json::from_slice(r.body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["seq"], 1);
    assert_eq!(line["ecid"], ecid);
    assert_eq!(line["xdm"]["eventType"], "web.webpagedetails.pageViews");
}

#[test]
fn an_allow_list_withholds_cors_from_other_origins() {
    let kv = MemoryKv::new();
    let c = config(&[("allowed_origins", "https://shop.example")]);
    let r = serve(
        &kv,
        &c,
        "POST",
        "/ee/v1/interact?configId=d",
        &[("origin", "https://evil.example")],
        &page_view(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = serve(
        &kv,
        &c,
        "POST",
        "/ee/v1/interact?configId=d",
        &[("origin", "https://shop.example")],
        &page_view(),
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
}

#[test]
fn failures_never_touch_the_store() {
    let kv = MemoryKv::new();
    let c = config(&[]);
    for (method, target, body, status) in [
        ("POST", "/ee/v1/interact", page_view(), 400),
        (
            "POST",
            "/ee/v1/interact?configId=d",
            "{oops".to_owned(),
            400,
        ),
        (
            "POST",
            "/ee/v1/interact?configId=d",
            "{\"events\": []}".to_owned(),
            422,
        ),
        ("PUT", "/ee/v1/interact?configId=d", page_view(), 405),
        ("POST", "/ee/v9/interact?configId=d", page_view(), 404),
    ] {
        let r = serve(&kv, &c, method, target, &[], &body);
        assert_eq!(
            r.status,
            status,
            "{method} {target}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/problem+json")
        );
    }
    let r = serve(
        &kv,
        &c,
        "GET",
        "/v1/outbox/nope",
        &[("authorization", "Bearer admin")],
        "",
    );
    assert_eq!(r.status, 404);
    let r = serve(&kv, &c, "GET", "/v1/outbox", &[], "");
    assert_eq!(r.status, 401);
    let r = serve(
        &kv,
        &config(&[("admin_token", "")]),
        "GET",
        "/v1/outbox",
        &[("authorization", "Bearer admin")],
        "",
    );
    assert_eq!(r.status, 503);
    assert!(kv.keys_with_prefix("").unwrap().is_empty());
}
