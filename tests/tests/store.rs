//! `wasi:keyvalue` through the host on every backend: each operation, CAS and counters under
//! concurrent writers, batches, listing, access control and sharing between components.
//! SQLite always; Redis too when `VANTAGE_TEST_REDIS_URL` is set.

use vantage_tests::{Setup, TestApp, unique};

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "store-tests"

[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = "/b/..."
component = "b"
[[trigger.http]]
route = "/none/..."
component = "none"

[component.a]
source = "{{component:test-kv-probe}}"
key_value_stores = ["default"]
[component.b]
source = "{{component:test-kv-probe}}"
key_value_stores = ["default"]
[component.none]
source = "{{component:test-kv-probe}}"
"#;

/// How to start a host on one backend.
type Start = Box<dyn Fn() -> TestApp>;

/// Each backend to test: a name and how to start a host on it.
fn backends() -> Vec<(&'static str, Start)> {
    let mut out: Vec<(&'static str, Start)> =
        vec![("sqlite", Box::new(|| Setup::new(APP).start().unwrap()))];
    match vantage_tests::redis_url() {
        Some(url) => out.push((
            "redis",
            Box::new(move || {
                Setup::new(APP)
                    .runtime_config(&format!(
                        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n"
                    ))
                    .start()
                    .unwrap()
            }),
        )),
        None => eprintln!("VANTAGE_TEST_REDIS_URL is not set: Redis store tests skipped"),
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation() {
    for (name, start) in backends() {
        let host = start();
        let c = host.client();
        let k = unique("op");
        assert_eq!(
            c.get(&format!("/a/kv/default/{k}")).await.status,
            404,
            "{name}"
        );
        assert_eq!(
            c.get(&format!("/a/exists/default/{k}")).await.text(),
            "false"
        );
        assert_eq!(c.put(&format!("/a/kv/default/{k}"), "v1").await.status, 204);
        assert_eq!(
            c.get(&format!("/a/kv/default/{k}")).await.text(),
            "v1",
            "{name}"
        );
        assert_eq!(
            c.get(&format!("/a/exists/default/{k}")).await.text(),
            "true"
        );
        // Binary values survive as bytes.
        let bin: Vec<u8> = (0..=255).collect();
        c.put(&format!("/a/kv/default/{k}"), bin.clone()).await;
        assert_eq!(
            c.get(&format!("/a/kv/default/{k}")).await.body.as_ref(),
            bin.as_slice()
        );
        assert_eq!(c.delete(&format!("/a/kv/default/{k}")).await.status, 204);
        assert_eq!(
            c.get(&format!("/a/kv/default/{k}")).await.status,
            404,
            "{name}"
        );
        // Deleting a missing key is fine.
        assert_eq!(c.delete(&format!("/a/kv/default/{k}")).await.status, 204);

        // Counters: 8-byte little-endian i64, as Spin stores them.
        let n = unique("counter");
        assert_eq!(
            c.post(&format!("/a/incr/default/{n}?by=5"), "")
                .await
                .text(),
            "5",
            "{name}"
        );
        assert_eq!(
            c.post(&format!("/a/incr/default/{n}?by=-7"), "")
                .await
                .text(),
            "-2"
        );
        let raw = c.get(&format!("/a/kv/default/{n}")).await;
        assert_eq!(
            raw.body.as_ref(),
            (-2i64).to_le_bytes().as_slice(),
            "{name}"
        );
        let big = unique("big");
        c.post(&format!("/a/incr/default/{big}?by={}", i64::MAX - 1), "")
            .await;
        assert_eq!(
            c.post(&format!("/a/incr/default/{big}?by=1"), "")
                .await
                .text(),
            i64::MAX.to_string()
        );
        let overflow = c.post(&format!("/a/incr/default/{big}?by=1"), "").await;
        assert_eq!(overflow.status, 500, "{name}: {}", overflow.text());
        assert!(
            overflow.text().contains("overflow"),
            "{name}: {}",
            overflow.text()
        );
        // A value that is not a counter is an error, not a crash.
        c.put(&format!("/a/kv/default/{k}"), "text").await;
        let r = c.post(&format!("/a/incr/default/{k}"), "").await;
        assert_eq!(r.status, 500, "{name}");
        assert!(r.text().contains("not a counter"), "{name}: {}", r.text());
        assert_eq!(c.get(&format!("/a/kv/default/{k}")).await.text(), "text");

        // CAS notices a write between read and swap.
        let r = c.post(&format!("/a/cas-conflict/default/{k}"), "").await;
        assert_eq!(r.text(), "conflict-detected", "{name}");
        assert_eq!(
            c.get(&format!("/a/kv/default/{k}")).await.text(),
            "intervening"
        );
        // CAS on an absent key succeeds once it is still absent.
        let fresh = unique("fresh");
        let r = c.post(&format!("/a/update/default/{fresh}"), "").await;
        assert_eq!(r.json()["value"], "1", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_and_listing() {
    for (name, start) in backends() {
        let host = start();
        let c = host.client();
        let p = unique("batch");
        let set: serde_json::Map<String, serde_json::Value> = (0..1200)
            .map(|i| (format!("{p}/{i:05}"), format!("v{i}").into()))
            .collect();
        let body = serde_json::json!({"set": set, "get": [format!("{p}/00000"), format!("{p}/missing"), format!("{p}/01199")]});
        let r = c.post("/a/batch/default", body.to_string()).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        assert_eq!(r.json(), serde_json::json!(["v0", null, "v1199"]), "{name}");

        let keys = c.get(&format!("/a/keys/default?prefix={p}/")).await.json();
        assert_eq!(keys.as_array().unwrap().len(), 1200, "{name}");

        let del: Vec<String> = (0..600).map(|i| format!("{p}/{i:05}")).collect();
        let r = c
            .post("/a/batch/default", serde_json::json!({"delete": del, "get": [format!("{p}/00000"), format!("{p}/00600")]}).to_string())
            .await;
        assert_eq!(r.json(), serde_json::json!([null, "v600"]), "{name}");
        let keys = c.get(&format!("/a/keys/default?prefix={p}/")).await.json();
        assert_eq!(keys.as_array().unwrap().len(), 600, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_pages_past_one_page() {
    // More keys than one list-keys page (10,000) on SQLite, where the host pages by key.
    let host = Setup::new(APP).start().unwrap();
    let c = host.client();
    let p = unique("many");
    for chunk in 0..3 {
        let set: serde_json::Map<String, serde_json::Value> = (0..3500)
            .map(|i| (format!("{p}/{chunk}-{i:05}"), "x".into()))
            .collect();
        assert_eq!(
            c.post(
                "/a/batch/default",
                serde_json::json!({"set": set}).to_string()
            )
            .await
            .status,
            200
        );
    }
    let keys = c.get(&format!("/a/keys/default?prefix={p}/")).await.json();
    assert_eq!(keys.as_array().unwrap().len(), 10_500);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_is_limited_to_listed_stores() {
    for (name, start) in backends() {
        let host = start();
        let c = host.client();
        assert_eq!(c.get("/a/open/default").await.status, 200, "{name}");
        let r = c.get("/none/open/default").await;
        assert_eq!(r.status, 403, "{name}");
        assert!(r.text().contains("AccessDenied"));
        let r = c.get("/a/open/elsewhere").await;
        assert_eq!(
            r.status, 403,
            "{name}: a store not listed is denied, even if absent"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_components_share_one_store() {
    for (name, start) in backends() {
        let host = start();
        let c = host.client();
        let k = unique("shared");
        c.put(&format!("/a/kv/default/{k}"), "from-a").await;
        assert_eq!(
            c.get(&format!("/b/kv/default/{k}")).await.text(),
            "from-a",
            "{name}"
        );
        c.post(&format!("/b/incr/default/{k}-n"), "").await;
        assert_eq!(
            c.post(&format!("/a/incr/default/{k}-n"), "").await.text(),
            "2",
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_lost_updates_under_concurrent_writers() {
    for (name, start) in backends() {
        let host = start();
        let c = host.client();
        let counter = unique("incr");
        let doc = unique("cas");
        let clients = 16;
        let per_client = 125;
        let tasks: Vec<_> = (0..clients)
            .map(|i| {
                let c = c.clone();
                let (counter, doc) = (counter.clone(), doc.clone());
                tokio::spawn(async move {
                    let mut ok = 0u64;
                    let mut contended = 0u64;
                    for _ in 0..per_client {
                        let r = c
                            .post(
                                &format!(
                                    "/{}/incr/default/{counter}",
                                    if i % 2 == 0 { "a" } else { "b" }
                                ),
                                "",
                            )
                            .await;
                        assert_eq!(r.status, 200, "{}", r.text());
                        let r = c.post(&format!("/a/update/default/{doc}"), "").await;
                        match r.status {
                            200 => ok += 1,
                            409 => contended += 1,
                            s => panic!("update: {s} {}", r.text()),
                        }
                    }
                    (ok, contended)
                })
            })
            .collect();
        let mut updated = 0;
        let mut gave_up = 0;
        for t in tasks {
            let (ok, contended) = t.await.unwrap();
            updated += ok;
            gave_up += contended;
        }
        let total = clients * per_client;
        assert_eq!(
            c.post(&format!("/a/incr/default/{counter}?by=0"), "")
                .await
                .text(),
            total.to_string(),
            "{name}: increments lost"
        );
        // Every CAS update that reported success is in the value; none was silently lost.
        let value = c.get(&format!("/a/kv/default/{doc}")).await.text();
        assert_eq!(value, updated.to_string(), "{name}: CAS updates lost");
        assert_eq!(updated + gave_up, total as u64);
        assert!(
            updated > total as u64 * 9 / 10,
            "{name}: too many CAS give-ups: {gave_up}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_survives_a_restart_in_spins_layout() {
    let dir = vantage_tests::TempDir::new("restart");
    let host = Setup::new(APP).state_dir(dir.path()).start().unwrap();
    let c = host.client();
    c.put("/a/kv/default/kept", "across restarts").await;
    c.post("/a/incr/default/hits?by=3", "").await;
    host.stop();
    let db = rusqlite::Connection::open(dir.path().join("sqlite_key_value.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM spin_key_value WHERE store = 'default'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2);
    drop(db);
    let host = Setup::new(APP).state_dir(dir.path()).start().unwrap();
    let c = host.client();
    assert_eq!(c.get("/a/kv/default/kept").await.text(), "across restarts");
    assert_eq!(c.post("/a/incr/default/hits", "").await.text(), "4");
}
