//! The `collect` component through the real host over HTTP, speaking the Web SDK protocol as
//! alloy.js does (`shared/reference/adobe-edge-protocol.md`), with segments, activities and
//! profiles published through `projection`: first and returning visits (cookie in the body
//! and in the header), first login with a projected profile, same-page personalization,
//! consent, notifications updating caps and reports, the outbox, concurrent interacts, and
//! bad input.

use serde_json::{Value, json};
use vantage_tests::{Client, Resp, Setup, TestApp};

const ORG: &str = "ABCDEF0123456789ABCDEF01@AdobeOrg";
const ID_COOKIE: &str = "kndctr_ABCDEF0123456789ABCDEF01_AdobeOrg_identity";
const CONSENT_COOKIE: &str = "kndctr_ABCDEF0123456789ABCDEF01_AdobeOrg_consent";
const ADMIN: (&str, &str) = ("authorization", "Bearer test-admin-token");
const ORIGIN: (&str, &str) = ("origin", "http://shop.localhost:8080");
const UA: (&str, &str) = (
    "user-agent",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36",
);
const DOM: &str = "https://ns.adobe.com/personalization/dom-action";
const INTERACT: &str =
    "/ee/v1/interact?configId=ds-1&requestId=6f1d8f2e-8a59-4c3b-9d2e-2c7d5f0b1a11";

fn app(default_consent: &str, outbox_max: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "collect-tests"

[variables]
admin_token = {{ default = "" }}
api_token = {{ default = "" }}
org_id = {{ default = "{ORG}" }}
default_consent = {{ default = "{default_consent}" }}
outbox_max_events = {{ default = "{outbox_max}" }}
geo_headers = {{ default = "" }}

[[trigger.http]]
route = "/v1/projection"
component = "projection"
[[trigger.http]]
route = "/v1/profiles/..."
component = "projection"
[[trigger.http]]
route = "/v1/reports/..."
component = "decisions"
[[trigger.http]]
route = "/ee/..."
component = "collect"
[[trigger.http]]
route = "/v1/outbox/..."
component = "collect"

[component.projection]
source = "{{{{component:projection}}}}"
key_value_stores = ["default"]
[component.projection.variables]
admin_token = "{{{{ admin_token }}}}"

[component.decisions]
source = "{{{{component:decisions}}}}"
key_value_stores = ["default"]
[component.decisions.variables]
api_token = "{{{{ api_token }}}}"
admin_token = "{{{{ admin_token }}}}"

[component.collect]
source = "{{{{component:collect}}}}"
key_value_stores = ["default"]
[component.collect.variables]
org_id = "{{{{ org_id }}}}"
admin_token = "{{{{ admin_token }}}}"
default_consent = "{{{{ default_consent }}}}"
outbox_max_events = "{{{{ outbox_max_events }}}}"
geo_headers = "{{{{ geo_headers }}}}"
"#
    )
}

fn start_with(default_consent: &str, outbox_max: &str) -> TestApp {
    Setup::new(&app(default_consent, outbox_max))
        .variable("admin_token", "test-admin-token")
        .variable("api_token", "test-api-token")
        .start()
        .unwrap()
}

fn start() -> TestApp {
    start_with("in", "1000000")
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

fn offer(id: &str) -> Value {
    json!({"id": id, "schema": DOM,
           "data": {"type": "setHtml", "selector": "#hero", "content": format!("<p>{id}</p>")}})
}

/// An `xt` activity on `__view__` with one experience per (audience, offer).
fn xt(id: &str, priority: i64, experiences: &[(&str, Value)]) -> Value {
    let experiences: Vec<Value> = experiences
        .iter()
        .enumerate()
        .map(|(i, (audience, offer))| {
            json!({"id": i.to_string(), "name": format!("e{i}"), "audience": audience,
                   "allocation": 100, "offers": [offer]})
        })
        .collect();
    json!({"type": "activity", "id": id, "name": id, "timestamp": "2026-12-01T00:00:00Z",
           "activityType": "xt", "priority": priority, "scopes": ["__view__"],
           "experiences": experiences})
}

/// A page-view event as alloy sends it on page load.
fn page_view(url: &str) -> Value {
    json!({"xdm": {"eventType": "web.webpagedetails.pageViews",
                   "web": {"webPageDetails": {"URL": url}, "webReferrer": {"URL": ""}},
                   "placeContext": {"localTimezoneOffset": -60},
                   "timestamp": vantage_tests::ago(0)},
           "query": {"personalization": {"schemas": [DOM], "decisionScopes": ["__view__"],
                                         "surfaces": ["web://shop.localhost/"]}}})
}

/// A v1 request body: `events`, the identity cookie (if any) in `meta.state.entries`.
fn request(events: &[Value], cookie: Option<&str>) -> Value {
    let mut meta = json!({"state": {"domain": "", "cookiesEnabled": true}});
    if let Some(value) = cookie {
        meta["state"]["entries"] = json!([{"key": ID_COOKIE, "value": value}]);
    }
    json!({"events": events, "query": {"identity": {"fetch": ["ECID"]}}, "meta": meta})
}

async fn post(c: &Client, path: &str, body: &Value, extra: &[(&str, &str)]) -> Resp {
    let mut headers = vec![ORIGIN, UA, ("content-type", "text/plain; charset=UTF-8")];
    headers.extend_from_slice(extra);
    c.send("POST", path, &headers, body.to_string()).await
}

/// Handles of one type, flattened as alloy does.
fn items(r: &Value, kind: &str) -> Vec<Value> {
    r["handle"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["type"] == kind)
        .flat_map(|h| h["payload"].as_array().unwrap().clone())
        .collect()
}

fn ecid_of(r: &Value) -> String {
    let ids = items(r, "identity:result");
    assert_eq!(ids.len(), 1, "{r}");
    assert_eq!(ids[0]["namespace"]["code"], "ECID");
    ids[0]["id"].as_str().unwrap().to_owned()
}

fn cookie_of(r: &Value, key: &str) -> Option<String> {
    items(r, "state:store")
        .iter()
        .find(|e| e["key"] == key)
        .map(|e| e["value"].as_str().unwrap().to_owned())
}

/// The offer ids of the `__view__` propositions.
fn offers(r: &Value) -> Vec<String> {
    items(r, "personalization:decisions")
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().clone())
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn outbox(c: &Client, after: u64) -> Vec<Value> {
    let r = c
        .send("GET", &format!("/v1/outbox?after={after}"), &[ADMIN], "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    r.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn first_and_returning_visits() {
    let host = start();
    let c = host.client();
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], None),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // CORS as alloy needs it: the exact origin, with credentials.
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://shop.localhost:8080")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let first = r.json();
    assert!(
        first["requestId"]
            .as_str()
            .unwrap()
            .starts_with("6f1d8f2e-8a59-4c3b-9d2e-2c7d5f0b1a11-")
    );
    let ecid = ecid_of(&first);
    assert_eq!(ecid.len(), 38);
    assert!(ecid.bytes().all(|b| b.is_ascii_digit()));
    let cookie = cookie_of(&first, ID_COOKIE).expect("the identity cookie is stored");
    let store = items(&first, "state:store");
    assert_eq!(store[0]["maxAge"], 34_128_000);
    assert_eq!(store[0]["attrs"]["SameSite"], "None");

    // Returning: the cookie in meta.state.entries…
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/a")], Some(&cookie)),
        &[],
    )
    .await;
    assert_eq!(ecid_of(&r.json()), ecid);
    // …or only in the Cookie header (a first-party CNAME).
    let header = format!("other=1; {ID_COOKIE}={cookie}");
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/b")], None),
        &[("cookie", &header)],
    )
    .await;
    assert_eq!(ecid_of(&r.json()), ecid);
    // A migration ECID from the request-level identityMap is adopted when there is no cookie.
    let migrated = "12345678901234567890123456789012345678";
    let mut body = request(&[page_view("https://shop.localhost/")], None);
    body["xdm"] = json!({"identityMap": {"ECID": [{"id": migrated}]}});
    assert_eq!(
        ecid_of(&post(&c, INTERACT, &body, &[]).await.json()),
        migrated
    );

    // The three visits of the ECID landed in one profile.
    let r = c
        .send("GET", &format!("/v1/profiles/ECID/{ecid}"), &[ADMIN], "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!(p["counters"]["web.webpagedetails.pageViews"], 3, "{p}");

    // identity/acquire answers the identity without storing anything; no body at all is fine.
    let r = post(&c, "/ee/v1/identity/acquire?configId=ds-1", &json!({"query": {"identity": {"fetch": ["ECID"]}}, "meta": {"state": {"entries": [{"key": ID_COOKIE, "value": cookie}]}}}), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ecid_of(&r.json()), ecid);
    let r = c
        .send(
            "POST",
            "/ee/v1/identity/acquire?configId=ds-1",
            &[ORIGIN],
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_ne!(ecid_of(&r.json()), ecid);

    // A location hint path works the same.
    let r = post(
        &c,
        "/ee/or2/v1/interact?configId=ds-1",
        &request(&[page_view("https://shop.localhost/")], Some(&cookie)),
        &[],
    )
    .await;
    assert_eq!(ecid_of(&r.json()), ecid);

    // collect: 204, no body, still CORS; the event is queued.
    let before = outbox(&c, 0).await.len();
    let mut click = json!({"xdm": {"eventType": "web.webinteraction.linkClicks",
        "web": {"webInteraction": {"name": "buy", "type": "other", "linkClicks": {"value": 1}}}}});
    click["xdm"]["timestamp"] = json!(vantage_tests::ago(0));
    let r = post(
        &c,
        "/ee/v1/collect?configId=ds-1",
        &request(&[click], Some(&cookie)),
        &[],
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    assert!(r.header("access-control-allow-origin").is_some());
    assert_eq!(outbox(&c, 0).await.len(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn first_login_uses_the_projected_profile_and_stitches_the_anonymous_one() {
    let host = start();
    let c = host.client();
    publish(
        &c,
        &[
            json!({"type": "profile", "identity": {"namespace": "CRMID", "id": "c-42"},
                   "timestamp": "2026-12-01T10:00:00Z",
                   "attributes": {"loyalty": {"tier": "gold"}}}),
            xt(
                "loyalty",
                10,
                &[("loyalty.tier = \"gold\"", offer("gold-hero"))],
            ),
        ],
    )
    .await;
    let anonymous = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], None),
        &[],
    )
    .await
    .json();
    assert!(offers(&anonymous).is_empty(), "{anonymous}");
    let ecid = ecid_of(&anonymous);
    let cookie = cookie_of(&anonymous, ID_COOKIE).unwrap();

    // Login: the page sends the CRM id in the event's identityMap.
    let mut login = page_view("https://shop.localhost/account");
    login["xdm"]["identityMap"] =
        json!({"CRMID": [{"id": "c-42", "authenticatedState": "authenticated", "primary": true}]});
    let r = post(&c, INTERACT, &request(&[login], Some(&cookie)), &[])
        .await
        .json();
    assert_eq!(ecid_of(&r), ecid);
    assert_eq!(offers(&r), ["gold-hero"], "{r}");

    // One profile now: the CRM attributes, both identities, and the anonymous page view.
    let p = c
        .send("GET", "/v1/profiles/CRMID/c-42", &[ADMIN], "")
        .await
        .json();
    assert_eq!(p["attributes"]["loyalty"]["tier"], "gold", "{p}");
    assert_eq!(p["counters"]["web.webpagedetails.pageViews"], 2, "{p}");
    let same = c
        .send("GET", &format!("/v1/profiles/ECID/{ecid}"), &[ADMIN], "")
        .await
        .json();
    assert_eq!(same["profileId"], p["profileId"]);
    assert!(p["profileId"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_segment_realized_by_this_event_changes_this_decision() {
    let host = start();
    let c = host.client();
    publish(
        &c,
        &[
            json!({"type": "segment", "id": "shoe-viewer", "name": "Shoe viewers",
                   "timestamp": "2026-12-01T09:00:00Z",
                   "expression": "chain(xEvent, timestamp, [A: WHAT(eventType = \"commerce.productViews\") WHEN(today)])"}),
            xt("shoes", 10, &[("shoe-viewer", offer("shoe-hero")), ("true", offer("default-hero"))]),
        ],
    )
    .await;
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], None),
        &[],
    )
    .await
    .json();
    assert_eq!(offers(&r), ["default-hero"], "{r}");
    let cookie = cookie_of(&r, ID_COOKIE).unwrap();
    let mut view = page_view("https://shop.localhost/p/runner");
    view["xdm"]["eventType"] = json!("commerce.productViews");
    view["xdm"]["productListItems"] =
        json!([{"SKU": "runner-1", "productCategories": [{"categoryID": "shoes"}]}]);
    let r = post(&c, INTERACT, &request(&[view], Some(&cookie)), &[])
        .await
        .json();
    assert_eq!(offers(&r), ["shoe-hero"], "{r}");
    let ecid = ecid_of(&r);
    let p = c
        .send("GET", &format!("/v1/profiles/ECID/{ecid}"), &[ADMIN], "")
        .await
        .json();
    assert_eq!(
        p["segmentMembership"]["shoe-viewer"]["status"], "realized",
        "{p}"
    );
    assert_eq!(p["affinity"][0]["category"], "shoes", "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_in_out_and_pending() {
    let host = start();
    let c = host.client();
    publish(&c, &[xt("all", 1, &[("true", offer("everyone"))])]).await;
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], None),
        &[],
    )
    .await
    .json();
    assert_eq!(offers(&r), ["everyone"]);
    let cookie = cookie_of(&r, ID_COOKIE).unwrap();
    let queued = outbox(&c, 0).await.len();

    // Adobe 1.0 out: the consent cookie says so, the change itself is queued.
    let consent = |value: Value| {
        json!({"consent": [value], "query": {"identity": {"fetch": ["ECID"]}},
               "meta": {"state": {"domain": "", "cookiesEnabled": true,
                                  "entries": [{"key": ID_COOKIE, "value": cookie}]}}})
    };
    let out = consent(json!({"standard": "Adobe", "version": "1.0", "value": {"general": "out"}}));
    let r = post(&c, "/ee/v1/privacy/set-consent?configId=ds-1", &out, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = r.json();
    assert_eq!(
        cookie_of(&r, CONSENT_COOKIE).as_deref(),
        Some("general=out")
    );
    let records = outbox(&c, 0).await;
    assert_eq!(records.len(), queued + 1);
    assert_eq!(records.last().unwrap()["type"], "consent");
    assert_eq!(records.last().unwrap()["general"], "out");

    // With the out cookie: no personalization, nothing queued, a warning.
    let mut body = request(&[page_view("https://shop.localhost/")], Some(&cookie));
    body["meta"]["state"]["entries"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": CONSENT_COOKIE, "value": "general=out"}));
    let r = post(&c, INTERACT, &body, &[]).await;
    assert_eq!(r.status, 200);
    let r = r.json();
    assert!(offers(&r).is_empty());
    assert_eq!(
        r["warnings"][0]["type"], "urn:vantage:errors:VNTG-0102-200",
        "{r}"
    );
    assert_eq!(outbox(&c, 0).await.len(), queued + 1);
    // Without the cookie (a server-side caller), the profile's consent still says out.
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], Some(&cookie)),
        &[],
    )
    .await
    .json();
    assert!(offers(&r).is_empty(), "{r}");
    assert_eq!(outbox(&c, 0).await.len(), queued + 1);

    // Adobe 2.0 in, IAB TCF stored as given.
    let tcf = "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA";
    let mut both = consent(json!({"standard": "Adobe", "version": "2.0",
        "value": {"collect": {"val": "y"}, "personalize": {"content": {"val": "y"}}}}));
    both["consent"]
        .as_array_mut()
        .unwrap()
        .push(json!({"standard": "IAB TCF", "version": "2.0", "value": tcf, "gdprApplies": false}));
    let r = post(&c, "/ee/v1/privacy/set-consent?configId=ds-1", &both, &[])
        .await
        .json();
    assert_eq!(cookie_of(&r, CONSENT_COOKIE).as_deref(), Some("general=in"));
    let last = outbox(&c, 0).await.pop().unwrap();
    assert_eq!(last["consent"][1]["value"], tcf, "{last}");
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], Some(&cookie)),
        &[],
    )
    .await
    .json();
    assert_eq!(offers(&r), ["everyone"], "{r}");

    // Pending by default: nothing collected or personalized until consent arrives.
    let pending = start_with("pending", "1000000");
    let c = pending.client();
    publish(&c, &[xt("all", 1, &[("true", offer("everyone"))])]).await;
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], None),
        &[],
    )
    .await
    .json();
    assert!(offers(&r).is_empty());
    assert!(
        r["warnings"][0]["report"]["cause"]["message"]
            .as_str()
            .unwrap()
            .contains("pending")
    );
    assert!(outbox(&c, 0).await.is_empty());
    let mut body = request(&[page_view("https://shop.localhost/")], None);
    body["meta"]["state"]["entries"] = json!([{"key": CONSENT_COOKIE, "value": "general=in"}]);
    assert_eq!(
        offers(&post(&c, INTERACT, &body, &[]).await.json()),
        ["everyone"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_update_caps_and_reports() {
    let host = start();
    let c = host.client();
    let mut capped = offer("once-a-day");
    capped["caps"] = json!([{"count": 1, "per": "day"}]);
    publish(
        &c,
        &[json!({"type": "activity", "id": "promo", "name": "Promo", "timestamp": "2026-12-01T00:00:00Z",
                 "activityType": "ab", "priority": 5, "scopes": ["__view__"],
                 "experiences": [{"id": "0", "name": "A", "allocation": 100, "offers": [capped]}]})],
    )
    .await;
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], None),
        &[],
    )
    .await
    .json();
    assert_eq!(offers(&r), ["once-a-day"], "{r}");
    let cookie = cookie_of(&r, ID_COOKIE).unwrap();
    // alloy's display notification echoes {id, scope, scopeDetails}.
    let propositions: Vec<Value> = items(&r, "personalization:decisions")
        .iter()
        .map(|p| json!({"id": p["id"], "scope": p["scope"], "scopeDetails": p["scopeDetails"]}))
        .collect();
    let display = json!({"xdm": {"eventType": "decisioning.propositionDisplay",
        "timestamp": vantage_tests::ago(0),
        "_experience": {"decisioning": {"propositions": propositions,
                                        "propositionEventType": {"display": 1}}}}});
    let r = post(&c, INTERACT, &request(&[display], Some(&cookie)), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The cap is spent: the next page view gets nothing from this activity.
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], Some(&cookie)),
        &[],
    )
    .await
    .json();
    assert!(offers(&r).is_empty(), "{r}");
    let report = c
        .send("GET", "/v1/reports/activities/promo", &[ADMIN], "")
        .await;
    assert_eq!(report.status, 200, "{}", report.text());
    assert_eq!(report.json()["totals"]["exposures"], 1, "{}", report.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn outbox_order_ack_bound_and_auth() {
    let host = start_with("in", "3");
    let c = host.client();
    assert_eq!(c.send("GET", "/v1/outbox", &[], "").await.status, 401);
    assert_eq!(
        c.send("GET", "/v1/outbox", &[("authorization", "Bearer nope")], "")
            .await
            .status,
        403
    );
    let mut cookie = None;
    for i in 0..3 {
        let r = post(
            &c,
            INTERACT,
            &request(
                &[page_view(&format!("https://shop.localhost/{i}"))],
                cookie.as_deref(),
            ),
            &[],
        )
        .await
        .json();
        assert!(r.get("warnings").is_none(), "{r}");
        cookie = cookie_of(&r, ID_COOKIE);
    }
    // Full: still personalized and answered, with a warning; counted, not silently dropped.
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/3")], cookie.as_deref()),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = r.json();
    assert_eq!(
        r["warnings"][0]["type"], "urn:vantage:errors:VNTG-0101-200",
        "{r}"
    );
    let stats = c.send("GET", "/v1/outbox/stats", &[ADMIN], "").await.json();
    assert_eq!(
        (stats["pending"].as_u64(), stats["dropped"].as_u64()),
        (Some(3), Some(1))
    );

    let all = outbox(&c, 0).await;
    let seqs: Vec<u64> = all.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    let urls: Vec<&str> = all
        .iter()
        .map(|r| r["xdm"]["web"]["webPageDetails"]["URL"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "https://shop.localhost/0",
            "https://shop.localhost/1",
            "https://shop.localhost/2"
        ]
    );
    assert_eq!(all[0]["type"], "event");
    assert_eq!(all[0]["ecid"].as_str().unwrap().len(), 38);
    let r = c
        .send("GET", "/v1/outbox?after=1&limit=1", &[ADMIN], "")
        .await;
    assert_eq!(r.header("x-outbox-next-after"), Some("2"));
    assert_eq!(r.text().lines().count(), 1);

    let ack = |up_to: u64| {
        let c = c.clone();
        async move {
            c.send(
                "POST",
                "/v1/outbox/ack",
                &[ADMIN],
                json!({"upTo": up_to}).to_string(),
            )
            .await
        }
    };
    let r = ack(2).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["acked"], 2);
    let rest = outbox(&c, 0).await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["seq"], 3);
    // Room again.
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/4")], cookie.as_deref()),
        &[],
    )
    .await
    .json();
    assert!(r.get("warnings").is_none(), "{r}");
    assert_eq!(outbox(&c, 2).await.last().unwrap()["seq"], 4);
    // Bad acknowledgements.
    assert_eq!(ack(99).await.status, 400);
    let r = c
        .send("POST", "/v1/outbox/ack", &[ADMIN], "{\"upTo\": -1}")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(
        c.send("GET", "/v1/outbox?limit=0", &[ADMIN], "")
            .await
            .status,
        400
    );
    assert_eq!(
        c.send("DELETE", "/v1/outbox", &[ADMIN], "").await.status,
        405
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_interacts_on_one_profile_lose_no_event() {
    let host = start();
    let c = host.client();
    let r = post(
        &c,
        INTERACT,
        &request(&[page_view("https://shop.localhost/")], None),
        &[],
    )
    .await
    .json();
    let cookie = cookie_of(&r, ID_COOKIE).unwrap();
    let ecid = ecid_of(&r);
    let n = 24;
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = c.clone();
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let mut ev = page_view(&format!("https://shop.localhost/c/{i}"));
            ev["xdm"]["_id"] = json!(format!("event-{i}"));
            post(&c, INTERACT, &request(&[ev], Some(&cookie)), &[]).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let p = c
        .send("GET", &format!("/v1/profiles/ECID/{ecid}"), &[ADMIN], "")
        .await
        .json();
    assert_eq!(p["counters"]["web.webpagedetails.pageViews"], n + 1, "{p}");
    assert_eq!(outbox(&c, 0).await.len(), n + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_problems() {
    let host = start();
    let c = host.client();
    let problem = |r: &Resp, status: u16| {
        assert_eq!(r.status, status, "{}", r.text());
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/problem+json")),
            "{:?}",
            r.header("content-type")
        );
        assert!(r.header("access-control-allow-origin").is_some());
        r.json()
    };
    let body = request(&[page_view("https://shop.localhost/")], None);
    // No configId.
    let p = problem(&post(&c, "/ee/v1/interact", &body, &[]).await, 400);
    assert_eq!(p["type"], "https://ns.adobe.com/aep/errors/EXEG-0003-400");
    // Not JSON; JSON of the wrong shape (with its path).
    problem(&c.send("POST", INTERACT, &[ORIGIN], "{not json").await, 400);
    let p = problem(
        &post(&c, INTERACT, &json!({"events": [{"xdm": 5}]}), &[]).await,
        422,
    );
    assert!(
        p["report"]["path"]
            .as_str()
            .unwrap()
            .starts_with("events[0]"),
        "{p}"
    );
    // An event without eventType.
    problem(
        &post(
            &c,
            INTERACT,
            &request(&[json!({"xdm": {"web": {}}})], None),
            &[],
        )
        .await,
        422,
    );
    // Over 64 KiB.
    let big = json!({"events": [{"xdm": {"eventType": "x", "pad": "a".repeat(70_000)}}]});
    problem(&post(&c, INTERACT, &big, &[]).await, 413);
    // Unknown endpoint, wrong method.
    problem(
        &post(&c, "/ee/v1/nope?configId=ds-1", &body, &[]).await,
        404,
    );
    let r = c.send("GET", INTERACT, &[ORIGIN], "").await;
    problem(&r, 405);
    // A preflight is answered even though alloy never needs one.
    let r = c
        .send(
            "OPTIONS",
            INTERACT,
            &[ORIGIN, ("access-control-request-method", "POST")],
            "",
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://shop.localhost:8080")
    );
    // A bad consent entry names its path.
    let consent = json!({"consent": [{"standard": "Adobe", "version": "1.0", "value": {"general": "maybe"}}]});
    let p = problem(
        &post(
            &c,
            "/ee/v1/privacy/set-consent?configId=ds-1",
            &consent,
            &[],
        )
        .await,
        422,
    );
    assert_eq!(p["report"]["path"], "consent[0].value.general");
    // Nothing above reached the outbox.
    assert!(outbox(&c, 0).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_known_identity_used_on_more_devices_than_the_graph_holds_keeps_working() {
    let host = start();
    let c = host.client();
    let mut login = page_view("https://shop.localhost/account");
    login["xdm"]["identityMap"] =
        json!({"CRMID": [{"id": "shared-1", "authenticatedState": "authenticated"}]});
    // Each request without a cookie is a new device (a new ECID) of the same customer.
    let mut warned = 0;
    for i in 0..70 {
        login["xdm"]["_id"] = json!(format!("login-{i}"));
        let r = post(
            &c,
            INTERACT,
            &request(std::slice::from_ref(&login), None),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = r.json();
        if let Some(w) = r["warnings"].as_array() {
            assert_eq!(w[0]["type"], "urn:vantage:errors:VNTG-0103-200", "{r}");
            warned += 1;
        }
    }
    assert!(warned > 0, "the identity limit was never reached");
    let p = c
        .send("GET", "/v1/profiles/CRMID/shared-1", &[ADMIN], "")
        .await
        .json();
    assert_eq!(p["counters"]["web.webpagedetails.pageViews"], 70, "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn geography_from_cdn_headers_reaches_decisions_and_segments() {
    let host = start();
    let c = host.client();
    publish(
        &c,
        &[
            json!({"type": "segment", "id": "in-germany", "name": "Visitors in Germany",
                   "timestamp": "2026-12-01T09:00:00Z",
                   "expression": "chain(xEvent, timestamp, [A: WHAT(placeContext.geo.countryCode = \"DE\") WHEN(today)])"}),
            xt("geo", 10, &[("environment.geo.country = \"DE\"", offer("de-hero"))]),
        ],
    )
    .await;
    let body = request(&[page_view("https://shop.localhost/")], None);
    let r = post(&c, INTERACT, &body, &[("cf-ipcountry", "DE")])
        .await
        .json();
    assert_eq!(offers(&r), ["de-hero"], "{r}");
    let ecid = ecid_of(&r);
    let p = c
        .send("GET", &format!("/v1/profiles/ECID/{ecid}"), &[ADMIN], "")
        .await
        .json();
    assert_eq!(
        p["segmentMembership"]["in-germany"]["status"], "realized",
        "{p}"
    );
    assert_eq!(
        p["events"][0]["xdm"]["placeContext"]["geo"]["countryCode"], "DE",
        "{p}"
    );
    let r = post(&c, INTERACT, &body, &[("cf-ipcountry", "FR")])
        .await
        .json();
    assert!(offers(&r).is_empty(), "{r}");
}
