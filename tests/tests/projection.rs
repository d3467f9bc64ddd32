//! The `projection` component through the real host over HTTP: admin auth, stitching, replay
//! idempotency, out-of-order records, deletes, malformed lines, body limits, concurrent
//! ingesters, definitions, and `vantage push` fanning out to two hosts.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vantage_tests::{Client, Resp, Setup, TempDir, TestApp, components, rfc3339};

const TOKEN: &str = "test-admin-token";
const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token");
const NDJSON: (&str, &str) = ("content-type", "application/x-ndjson");

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "projection-tests"

[variables]
admin_token = { default = "" }

[[trigger.http]]
route = "/v1/projection"
component = "projection"
[[trigger.http]]
route = "/v1/profiles/..."
component = "projection"

[component.projection]
source = "{{component:projection}}"
key_value_stores = ["default"]
[component.projection.variables]
admin_token = "{{ admin_token }}"
"#;

fn start() -> TestApp {
    Setup::new(APP)
        .variable("admin_token", TOKEN)
        .start()
        .unwrap()
}

/// A fixed recent instant plus `offset_ms`, as RFC 3339: records must be fresh, since profiles
/// live 14 days from their last activity.
fn ts(offset_ms: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // A fixed point an hour ago (rounded to the hour) so a test's records stay ordered.
    let base = (now - 3_600_000) / 3_600_000 * 3_600_000;
    rfc3339(base + offset_ms)
}

fn ecid(i: usize) -> String {
    format!("{:038}", 1_000_000 + i)
}

fn lines(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

async fn ingest(c: &Client, body: impl Into<bytes::Bytes>) -> Value {
    let r = c
        .send("POST", "/v1/projection", &[AUTH, NDJSON], body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

async fn profile(c: &Client, namespace: &str, id: &str) -> Resp {
    c.send(
        "GET",
        &format!("/v1/profiles/{namespace}/{id}"),
        &[AUTH],
        "",
    )
    .await
}

fn assert_problem(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!(p["status"], status, "{p}");
    assert!(p["type"].is_string() && p["title"].is_string(), "{p}");
    p
}

fn profile_record(namespace: &str, id: &str, t: &str, attributes: Value) -> Value {
    json!({"type":"profile","identity":{"namespace":namespace,"id":id},"timestamp":t,"attributes":attributes})
}

fn membership(namespace: &str, id: &str, segment: &str, status: &str, t: &str) -> Value {
    json!({"type":"membership","identity":{"namespace":namespace,"id":id},"segmentId":segment,
           "status":status,"timestamp":t,"source":"streaming"})
}

fn link(a: (&str, &str), b: (&str, &str), t: &str) -> Value {
    json!({"type":"identity-link","timestamp":t,
           "identities":[{"namespace":a.0,"id":a.1},{"namespace":b.0,"id":b.1}]})
}

fn delete(namespace: &str, id: &str, t: &str) -> Value {
    json!({"type":"profile-delete","identity":{"namespace":namespace,"id":id},"timestamp":t})
}

/// A profile's JSON without the fields stamped with the ingesting host's clock.
fn normalized(mut p: Value) -> Value {
    if let Some(o) = p.as_object_mut() {
        for k in ["createdAt", "updatedAt", "expiresAt"] {
            o.remove(k);
        }
    }
    p
}

/// A profile's data without what depends on the order records arrived in: which profile name
/// survived a merge (the first one created) and when each identity joined it. Everything the
/// profile says about the person must still agree.
fn data_only(p: Value) -> Value {
    let mut p = normalized(p);
    if let Some(o) = p.as_object_mut() {
        o.remove("profileId");
        if let Some(Value::Array(ids)) = o.get_mut("identities") {
            for id in ids.iter_mut() {
                if let Some(id) = id.as_object_mut() {
                    id.remove("linkedAt");
                }
            }
            ids.sort_by_key(|i| i.to_string());
        }
    }
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_auth_and_request_errors() {
    let host = start();
    let c = host.client();
    let body = lines(&[profile_record("CRMID", "c-1", &ts(0), json!({"a":1}))]);

    let r = c
        .send("POST", "/v1/projection", &[NDJSON], body.clone())
        .await;
    assert_problem(&r, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    let r = c.send("GET", "/v1/profiles/CRMID/c-1", &[], "").await;
    assert_problem(&r, 401);
    let wrong = ("authorization", "Bearer test-admin-tokeN");
    assert_problem(
        &c.send("POST", "/v1/projection", &[wrong], body.clone())
            .await,
        403,
    );
    assert_problem(
        &c.send("DELETE", "/v1/profiles/CRMID/c-1", &[wrong], "")
            .await,
        403,
    );
    assert_problem(&c.send("GET", "/v1/projection", &[AUTH], "").await, 405);
    let r = c.send("PUT", "/v1/profiles/CRMID/c-1", &[AUTH], "").await;
    assert_problem(&r, 405);
    assert_eq!(r.header("allow"), Some("GET, DELETE"));
    let csv = ("content-type", "text/csv");
    assert_problem(
        &c.send("POST", "/v1/projection", &[AUTH, csv], body.clone())
            .await,
        415,
    );
    // JSON, NDJSON and no content type at all are accepted.
    for ct in [("content-type", "application/json"), NDJSON] {
        let r = c
            .send("POST", "/v1/projection", &[AUTH, ct], body.clone())
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = c
        .send("POST", "/v1/projection", &[AUTH], body.clone())
        .await;
    assert_eq!(r.json()["accepted"], 1);
    assert_problem(&profile(&c, "ECID", "not-digits").await, 400);
    assert_problem(&profile(&c, "CRMID", "nobody").await, 404);
    host.stop();

    // An empty token, or none at all, closes every admin route: never open by default.
    let empty = Setup::new(APP).start().unwrap();
    let c = empty.client();
    for (m, p) in [
        ("POST", "/v1/projection"),
        ("GET", "/v1/profiles/CRMID/c-1"),
        ("DELETE", "/v1/profiles/CRMID/c-1"),
    ] {
        let problem = assert_problem(
            &c.send(m, p, &[("authorization", "Bearer ")], body.clone())
                .await,
            503,
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("not configured"),
            "{problem}"
        );
        assert_problem(&c.send(m, p, &[AUTH], body.clone()).await, 503);
    }
    empty.stop();
    let unset = APP.replace(
        "[component.projection.variables]\nadmin_token = \"{{ admin_token }}\"\n",
        "",
    );
    assert!(!unset.contains("component.projection.variables"));
    let unset = Setup::new(&unset)
        .variable("admin_token", TOKEN)
        .start()
        .unwrap();
    assert_problem(
        &unset
            .client()
            .send("POST", "/v1/projection", &[AUTH], body)
            .await,
        503,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stitching_anonymous_to_known() {
    let host = start();
    let c = host.client();
    let anon = ecid(1);
    // The anonymous visitor qualifies for segments and gets attributes before logging in.
    let report = ingest(
        &c,
        lines(&[
            profile_record("ECID", &anon, &ts(0), json!({"web":{"lastPage":"/cart"},"loyalty":{"tier":"none"}})),
            membership("ECID", &anon, "cart-abandoner", "realized", &ts(1)),
            json!({"type":"profile","identity":{"namespace":"ECID","id":anon},"timestamp":ts(2),"consent":{"collect":"y"}}),
            profile_record("CRMID", "c-42", &ts(3), json!({"person":{"name":{"firstName":"Ada"}},"loyalty":{"tier":"gold"}})),
            membership("CRMID", "c-42", "high-value", "realized", &ts(4)),
        ]),
    )
    .await;
    assert_eq!(report, json!({"accepted":5,"rejected":[]}));
    assert_eq!(
        profile(&c, "CRMID", "c-42").await.json()["identities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let report = ingest(
        &c,
        lines(&[link(("ECID", &anon), ("CRMID", "c-42"), &ts(5))]),
    )
    .await;
    assert_eq!(report["accepted"], 1);

    let by_ecid = profile(&c, "ECID", &anon).await;
    assert_eq!(by_ecid.status, 200);
    assert_eq!(by_ecid.header("content-type"), Some("application/json"));
    let by_crm = profile(&c, "crmid", "c-42").await.json();
    let by_ecid = by_ecid.json();
    assert_eq!(
        by_ecid, by_crm,
        "both identities read the same merged profile"
    );
    let p = by_crm;
    let mut ids: Vec<String> = p["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["namespace"].as_str().unwrap(),
                i["id"].as_str().unwrap()
            )
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["CRMID/c-42".to_owned(), format!("ECID/{anon}")]);
    assert_eq!(p["identityMap"]["ECID"][0]["id"], anon.as_str());
    // The anonymous memberships, attributes and consent survive the link.
    assert_eq!(
        p["segmentMembership"]["cart-abandoner"]["status"], "realized",
        "{p}"
    );
    assert_eq!(p["segmentMembership"]["high-value"]["status"], "realized");
    assert_eq!(p["attributes"]["web"]["lastPage"], "/cart");
    assert_eq!(p["attributes"]["person"]["name"]["firstName"], "Ada");
    // Per-field last writer wins: the known profile's tier is newer.
    assert_eq!(p["attributes"]["loyalty"]["tier"], "gold");
    assert_eq!(p["consent"]["collect"]["val"], "y");

    // Later writes through either identity land in the one profile.
    ingest(
        &c,
        lines(&[membership("ECID", &anon, "returning", "realized", &ts(6))]),
    )
    .await;
    let p = profile(&c, "CRMID", "c-42").await.json();
    assert_eq!(p["segmentMembership"]["returning"]["status"], "realized");
}

/// A stream touching many people: anonymous and known profiles, memberships, links (some
/// merging three profiles), and deletes when `deletes`.
fn stream(people: usize, deletes: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..people {
        let t = i as i64 * 100;
        let crm = format!("c-{i}");
        out.push(profile_record(
            "CRMID",
            &crm,
            &ts(t),
            json!({"person":{"name":{"firstName":format!("P{i}")}},"loyalty":{"points":i}}),
        ));
        out.push(membership(
            "ECID",
            &ecid(i),
            "high-value",
            "realized",
            &ts(t + 1),
        ));
        out.push(profile_record(
            "ECID",
            &ecid(i),
            &ts(t + 2),
            json!({"web":{"visits":i}}),
        ));
        out.push(link(("ECID", &ecid(i)), ("CRMID", &crm), &ts(t + 3)));
        out.push(profile_record(
            "CRMID",
            &crm,
            &ts(t + 4),
            json!({"loyalty":{"points":i * 10}}),
        ));
        if i % 3 == 1 {
            out.push(membership(
                "CRMID",
                &crm,
                "high-value",
                "exited",
                &ts(t + 5),
            ));
        }
        if i % 4 == 2 {
            // Pairs of people sharing a household email: three-way merges.
            out.push(link(
                ("CRMID", &crm),
                ("Email", &format!("house-{}@example.com", i / 8)),
                &ts(t + 6),
            ));
        }
        if deletes && i % 5 == 4 {
            out.push(delete("CRMID", &crm, &ts(t + 7)));
        }
    }
    out
}

/// Every identity of `stream(people)` → its profile (or 404).
async fn snapshot(c: &Client, people: usize) -> Vec<(String, u16, Value)> {
    let mut out = Vec::new();
    for i in 0..people {
        for (ns, id) in [("CRMID", format!("c-{i}")), ("ECID", ecid(i))] {
            let r = profile(c, ns, &id).await;
            let body = if r.status == 200 {
                r.json()
            } else {
                Value::Null
            };
            out.push((format!("{ns}/{id}"), r.status, body));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn replaying_a_stream_changes_nothing() {
    let host = start();
    let c = host.client();
    let records = stream(20, true);
    let body = lines(&records);
    let first = ingest(&c, body.clone()).await;
    assert_eq!(first["accepted"], records.len(), "{first}");
    let before = snapshot(&c, 20).await;
    assert!(
        before.iter().any(|(_, s, _)| *s == 404),
        "deleted people read as absent"
    );
    assert!(before.iter().filter(|(_, s, _)| *s == 200).count() > 20);
    let again = ingest(&c, body.clone()).await;
    assert_eq!(again, first);
    // As a JSON array too.
    let array = serde_json::to_string(&records).unwrap();
    let r = c
        .send(
            "POST",
            "/v1/projection",
            &[AUTH, ("content-type", "application/json")],
            array,
        )
        .await;
    assert_eq!(r.json()["accepted"], records.len());
    let after = snapshot(&c, 20).await;
    assert_eq!(
        before, after,
        "a replay leaves the same profiles, byte for byte"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_order_records_let_timestamps_decide() {
    let host = start();
    let c = host.client();
    // Newest first: every older record that arrives later loses where it conflicts.
    let report = ingest(
        &c,
        lines(&[
            profile_record(
                "CRMID",
                "c-7",
                &ts(5000),
                json!({"loyalty":{"tier":"gold"}}),
            ),
            profile_record(
                "CRMID",
                "c-7",
                &ts(1000),
                json!({"loyalty":{"tier":"silver","points":10}}),
            ),
            membership("CRMID", "c-7", "lapsed", "exited", &ts(6000)),
            membership("CRMID", "c-7", "lapsed", "realized", &ts(2000)),
            delete("CRMID", "gone", &ts(9000)),
            profile_record("CRMID", "gone", &ts(3000), json!({"a":1})),
            link(("ECID", &ecid(9)), ("CRMID", "gone"), &ts(4000)),
        ]),
    )
    .await;
    assert_eq!(report["rejected"], json!([]), "{report}");
    let p = profile(&c, "CRMID", "c-7").await.json();
    assert_eq!(p["attributes"]["loyalty"]["tier"], "gold");
    // A field only the older record set is still taken.
    assert_eq!(p["attributes"]["loyalty"]["points"], 10);
    assert_eq!(p["segmentMembership"]["lapsed"]["status"], "exited");
    // Records older than a delete never bring the person back.
    assert_problem(&profile(&c, "CRMID", "gone").await, 404);

    // The same records in time order give the same profile.
    let ordered = start();
    let c2 = ordered.client();
    ingest(
        &c2,
        lines(&[
            profile_record(
                "CRMID",
                "c-7",
                &ts(1000),
                json!({"loyalty":{"tier":"silver","points":10}}),
            ),
            membership("CRMID", "c-7", "lapsed", "realized", &ts(2000)),
            profile_record(
                "CRMID",
                "c-7",
                &ts(5000),
                json!({"loyalty":{"tier":"gold"}}),
            ),
            membership("CRMID", "c-7", "lapsed", "exited", &ts(6000)),
        ]),
    )
    .await;
    let q = profile(&c2, "CRMID", "c-7").await.json();
    assert_eq!(data_only(p), data_only(q));
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_the_profile_and_its_identities() {
    let dir = TempDir::new("projection-delete");
    let host = Setup::new(APP)
        .variable("admin_token", TOKEN)
        .state_dir(dir.path())
        .start()
        .unwrap();
    let c = host.client();
    let who = ecid(3);
    let email = "a%2Bb%40example.com"; // a+b@example.com, percent-encoded in the path
    ingest(
        &c,
        lines(&[
            profile_record("ECID", &who, &ts(0), json!({"web":{"visits":3}})),
            profile_record("CRMID", "del-1", &ts(1), json!({"name":"Del"})),
            link(("ECID", &who), ("CRMID", "del-1"), &ts(2)),
            link(("CRMID", "del-1"), ("Email", "a+b@example.com"), &ts(3)),
            profile_record("CRMID", "keep-1", &ts(4), json!({"name":"Keep"})),
            profile_record("CRMID", "del-2", &ts(5), json!({"name":"Del2"})),
        ]),
    )
    .await;
    let p = profile(&c, "Email", email).await.json();
    assert_eq!(p["identities"].as_array().unwrap().len(), 3, "{p}");

    // DELETE through one identity forgets the person under every identity.
    let r = c
        .send(
            "DELETE",
            "/v1/profiles/Email/a%2Bb%40example.com",
            &[AUTH],
            "",
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    for (ns, id) in [("ECID", who.as_str()), ("CRMID", "del-1"), ("Email", email)] {
        assert_problem(&profile(&c, ns, id).await, 404);
    }
    // A profile-delete record does the same.
    let report = ingest(&c, lines(&[delete("CRMID", "del-2", &ts(10))])).await;
    assert_eq!(report["accepted"], 1);
    assert_problem(&profile(&c, "CRMID", "del-2").await, 404);
    // Older records replayed afterwards do not resurrect anyone; others are untouched.
    ingest(
        &c,
        lines(&[profile_record(
            "CRMID",
            "del-1",
            &ts(2),
            json!({"name":"again"}),
        )]),
    )
    .await;
    assert_problem(&profile(&c, "CRMID", "del-1").await, 404);
    assert_eq!(profile(&c, "CRMID", "keep-1").await.status, 200);
    host.stop();

    // In the store, only tombstones mention the deleted identities.
    let db = rusqlite::Connection::open(dir.path().join("sqlite_key_value.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT key FROM spin_key_value WHERE store = 'default'")
        .unwrap();
    let keys: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let leftovers: Vec<&String> = keys
        .iter()
        .filter(|k| !k.starts_with("tomb/"))
        .filter(|k| k.contains(&who) || k.contains("del-") || k.contains("a+b@example.com"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?} in {keys:?}");
    assert!(keys.iter().any(|k| k.contains("keep-1")));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_lines_are_rejected_by_number_and_the_rest_accepted() {
    let host = start();
    let c = host.client();
    let good = |i: usize| {
        profile_record("CRMID", &format!("m-{i}"), &ts(i as i64), json!({"i": i})).to_string()
    };
    let body = [
        good(1),
        "{not json".to_owned(),
        String::new(),
        good(2),
        r#"{"type":"profile","identity":{"namespace":"ECID","id":"abc"},"timestamp":"2026-12-01T00:00:00Z","attributes":{}}"#.to_owned(),
        r#"{"type":"teleport"}"#.to_owned(),
        r#"{"type":"profile","identity":{"namespace":"CRMID","id":"x"},"timestamp":"yesterday","attributes":{}}"#.to_owned(),
        "[1,2]".to_owned(),
        good(3),
    ]
    .join("\n");
    let report = ingest(&c, body).await;
    assert_eq!(report["accepted"], 3, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    let numbers: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 5, 6, 7, 8]);
    let errors: Vec<&str> = rejected
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert!(errors[0].contains("not valid JSON"), "{errors:?}");
    assert!(errors[1].contains("ECID"), "{errors:?}");
    assert!(errors[2].contains("teleport"), "{errors:?}");
    assert!(errors[3].contains("timestamp"), "{errors:?}");
    for i in 1..=3 {
        assert_eq!(profile(&c, "CRMID", &format!("m-{i}")).await.status, 200);
    }
    // A body that starts as a JSON array but is not one is refused as a whole.
    let r = c
        .send(
            "POST",
            "/v1/projection",
            &[AUTH],
            "[{\"type\":\"profile\"},",
        )
        .await;
    assert_problem(&r, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_and_records() {
    // The host lets up to 16 MiB through, so the component's own 8 MiB limit answers.
    let mut setup = Setup::new(APP).variable("admin_token", TOKEN);
    setup.limits.max_body_bytes = 16 << 20;
    let host = setup.start().unwrap();
    let c = host.client();
    let record =
        profile_record("CRMID", "big", &ts(0), json!({"pad": "x".repeat(900)})).to_string();
    let mut body = String::new();
    while body.len() <= 8 << 20 {
        body.push_str(&record);
        body.push('\n');
    }
    let p = assert_problem(&c.send("POST", "/v1/projection", &[AUTH], body).await, 413);
    assert!(p["detail"].as_str().unwrap().contains("limit"), "{p}");
    // Too many records is a 400; one oversized record only rejects itself.
    let many = "{}\n".repeat(10_001);
    assert_problem(&c.send("POST", "/v1/projection", &[AUTH], many).await, 400);
    let huge =
        profile_record("CRMID", "huge", &ts(0), json!({"pad": "x".repeat(70_000)})).to_string();
    let report = ingest(&c, format!("{record}\n{huge}\n")).await;
    assert_eq!(report["accepted"], 1);
    assert_eq!(report["rejected"][0]["line"], 2);
    assert!(
        report["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .contains("over the limit")
    );
    host.stop();

    // Past the host's own cap the host answers 413 before the component runs.
    let small = Setup::new(APP)
        .variable("admin_token", TOKEN)
        .start()
        .unwrap();
    let body = format!("{record}\n").repeat(1200);
    let r = small
        .client()
        .send("POST", "/v1/projection", &[AUTH], body)
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
}

/// Ingests `records` on a fresh host from four clients at once, each sending the whole stream
/// in its own batch sizes and `order`, and compares every profile with one in-order ingest.
async fn converges(
    records: &[Value],
    people: usize,
    order: fn(usize, &mut Vec<String>),
    compare: fn(Value) -> Value,
) {
    let reference = start();
    ingest(&reference.client(), lines(records)).await;
    let expected = snapshot(&reference.client(), people).await;
    reference.stop();

    let host = start();
    let c = host.client();
    let mut tasks = Vec::new();
    for client in 0..4usize {
        let c = c.clone();
        let mut batches: Vec<String> = records.chunks(7 + client * 5).map(lines).collect();
        order(client, &mut batches);
        tasks.push(tokio::spawn(async move {
            for b in batches {
                let r = c.send("POST", "/v1/projection", &[AUTH, NDJSON], b).await;
                assert_eq!(r.status, 200, "{}", r.text());
                assert_eq!(r.json()["rejected"], json!([]), "{}", r.text());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = snapshot(&c, people).await;
    let mut differ = Vec::new();
    for ((k, gs, g), (_, es, e)) in got.into_iter().zip(expected) {
        if gs != es || compare(g.clone()) != compare(e.clone()) {
            differ.push(format!("{k}: got {gs} {g}\n  expected {es} {e}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} identities differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_ingesters_of_one_stream_converge() {
    const PEOPLE: usize = 40;
    // Everyone in stream order (batches of different sizes interleave), deletes included.
    converges(&stream(PEOPLE, true), PEOPLE, |_, _| {}, normalized).await;
    // Batches in any order: forward, reversed, odd batches first, rotated. Without deletes,
    // since a delete forgets what its identities hold when it is applied (a hard forget), so a
    // delete applied before the records it should erase is by design a different end state.
    // Which profile name survives a merge and `linkedAt` depend on arrival order; the data
    // must not.
    let any_order = |client: usize, batches: &mut Vec<String>| match client % 4 {
        1 => batches.reverse(),
        2 => {
            let numbered = std::mem::take(batches).into_iter().enumerate();
            let (odd, even): (Vec<_>, Vec<_>) = numbered.partition(|(i, _)| i % 2 == 1);
            batches.extend(odd.into_iter().chain(even).map(|(_, b)| b));
        }
        3 => {
            let half = batches.len() / 2;
            batches.rotate_left(half);
        }
        _ => {}
    };
    converges(&stream(PEOPLE, false), PEOPLE, any_order, data_only).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn segment_and_activity_definitions_are_published() {
    let dir = TempDir::new("projection-defs");
    let host = Setup::new(APP)
        .variable("admin_token", TOKEN)
        .state_dir(dir.path())
        .start()
        .unwrap();
    let c = host.client();
    let activity = json!({"type":"activity","id":"hero-test","name":"Homepage hero","timestamp":ts(0),
        "activityType":"ab","priority":10,"scopes":["__view__"],"audience":null,
        "bucketing":{"scheme":"adobe-target","client":"acme","salt":"0","version":1},
        "experiences":[
          {"id":"0","name":"A","allocation":50,"offers":[{"id":"hero-a","schema":"https://ns.adobe.com/personalization/dom-action",
            "data":{"type":"setHtml","selector":"#hero","content":"<h1>Welcome</h1>"}}]},
          {"id":"1","name":"B","allocation":50,"offers":[{"id":"hero-b","schema":"https://ns.adobe.com/personalization/dom-action",
            "data":{"type":"setHtml","selector":"#hero","content":"<h1>Welcome back</h1>"}}]}]});
    let mut bad = activity.clone();
    bad["id"] = json!("broken");
    bad["experiences"][1]["allocation"] = json!(80);
    let report = ingest(
        &c,
        lines(&[
            json!({"type":"segment","id":"cart-abandoner","name":"Cart abandoners",
                   "expression":"select e from xEvent where e.eventType = \"commerce.productListAdds\"","timestamp":ts(0)}),
            activity.clone(),
            bad,
            json!({"type":"segment","id":"old-segment","status":"retired","timestamp":ts(1)}),
            json!({"type":"segment","id":"no-expression","timestamp":ts(1)}),
        ]),
    )
    .await;
    assert_eq!(report["accepted"], 3, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected[0]["line"], 3);
    let error = rejected[0]["error"].as_str().unwrap();
    assert!(
        error.contains("invalid activity") && error.contains("allocation"),
        "{error}"
    );
    assert_eq!(rejected[1]["line"], 5);
    assert!(
        rejected[1]["error"]
            .as_str()
            .unwrap()
            .contains("expression")
    );
    // Republishing is a no-op; retiring the activity is accepted.
    assert_eq!(ingest(&c, lines(&[activity])).await["accepted"], 1);
    let retire = json!({"type":"activity","id":"hero-test","status":"retired","timestamp":ts(5)});
    assert_eq!(ingest(&c, lines(&[retire])).await["accepted"], 1);
    host.stop();

    let db = rusqlite::Connection::open(dir.path().join("sqlite_key_value.db")).unwrap();
    let segments: Vec<u8> = db
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'catalog/segments'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // The PQL text is kept (uncompiled) so a later compiler needs no re-publish.
    let text = String::from_utf8_lossy(&segments);
    assert!(text.contains("commerce.productListAdds"), "{text}");
    let exists: i64 = db
        .query_row("SELECT COUNT(*) FROM spin_key_value WHERE store = 'default' AND key = 'catalog/activities'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(exists, 1);
}

fn run_push(args: &[&str], token: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(components::VANTAGE_BIN);
    cmd.arg("push").args(args).env_remove("VANTAGE_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.env("VANTAGE_ADMIN_TOKEN", t);
    }
    cmd.output().expect("running vantage push")
}

fn file_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn push_fans_out_to_two_pops_and_maps_rejected_lines() {
    let dir = TempDir::new("push");
    let file = dir.path().join("projection.ndjson");
    let out = tokio::task::spawn_blocking({
        let file = file.clone();
        move || run_push(&["--generate", "600", "--out", file_arg(&file)], None)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 600);
    // One bad line in the middle: line 451 of the file.
    let mut all: Vec<&str> = text.lines().collect();
    all.insert(450, r#"{"type":"profile","identity":{"namespace":"ECID","id":"nope"},"timestamp":"2026-01-01T00:00:00Z","attributes":{}}"#);
    text = all.join("\n") + "\n";
    std::fs::write(&file, &text).unwrap();

    let a = start();
    let b = start();
    let (ua, ub) = (a.url.clone(), b.url.clone());
    let out = tokio::task::spawn_blocking({
        let file = file.clone();
        move || {
            run_push(
                &[
                    file_arg(&file),
                    "--to",
                    &ua,
                    "--to",
                    &ub,
                    "--batch-records",
                    "100",
                    "--concurrency",
                    "3",
                ],
                Some(TOKEN),
            )
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    for url in [&a.url, &b.url] {
        assert!(
            stdout.contains(&format!("{url}: 600 accepted, 1 rejected, 0 failed")),
            "{stdout}"
        );
    }
    assert_eq!(stdout.matches("line 451: identity").count(), 2, "{stdout}");
    assert!(stdout.contains("records/s"), "{stdout}");
    for host in [&a, &b] {
        let p = profile(&host.client(), "CRMID", "crm-000000010").await;
        assert_eq!(p.status, 200, "{}", p.text());
        assert!(p.json()["attributes"]["loyalty"]["tier"].is_string());
    }

    // A clean file exits 0; a wrong token fails without retrying forever.
    let clean: String = text
        .lines()
        .filter(|l| !l.contains("\"nope\""))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, clean).unwrap();
    let ua = a.url.clone();
    let (ok, forbidden) = tokio::task::spawn_blocking({
        let file = file.clone();
        move || {
            let ok = run_push(&[file_arg(&file), "--to", &ua], Some(TOKEN));
            let forbidden = run_push(&[file_arg(&file), "--to", &ua, "--token", "wrong"], None);
            (ok, forbidden)
        }
    })
    .await
    .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert_eq!(forbidden.status.code(), Some(2));
    let text = String::from_utf8_lossy(&forbidden.stdout);
    assert!(
        text.contains("HTTP 403") && text.contains("0 accepted"),
        "{text}"
    );
}
