//! Publishing compiled activities and reading them back, including every fallback to the
//! JSON source.

use serde_json::{Value, json};
use vantage_kv::{Kv, MemoryKv};
use vantage_model::Policy;
use vantage_model::catalog::{
    ACTIVITY_INDEX, ActivityDefinition, CompiledActivity, DefinitionStatus, compiled_activity_key,
    publish_activity, publish_activity_compiled, source_fingerprint,
};
use vantage_model::codec;

use super::*;
use crate::compiled::compile_hook;
use crate::publish::{SyncReport, sync};

fn record(id: &str, priority: i64, scopes: &[&str], ts: i64) -> Value {
    json!({"type": "activity", "id": id, "timestamp": vantage_model::time::format_rfc3339(ts),
        "activityType": "ab", "priority": priority, "scopes": scopes,
        "experiences": [{"id": "0", "allocation": 100, "offers": [
            {"id": format!("{id}-o"), "schema": "https://ns.adobe.com/personalization/dom-action",
             "data": {"type": "setHtml", "selector": "#x", "content": format!("<p>{priority}</p>")}}]}]})
}

fn definition(v: &Value, status: DefinitionStatus) -> ActivityDefinition {
    ActivityDefinition {
        id: v["id"].as_str().unwrap_or_default().to_owned(),
        timestamp: v["timestamp"]
            .as_str()
            .and_then(|t| vantage_model::time::parse_rfc3339(t).ok())
            .unwrap_or_default(),
        status,
        json: if status == DefinitionStatus::Active {
            v.to_string()
        } else {
            String::new()
        },
        scopes: v["scopes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// What ingest does with the compile hook.
fn publish(kv: &MemoryKv, v: &Value) {
    let compiled = compile_hook(v).ok();
    publish_activity_compiled(
        kv,
        &definition(v, DefinitionStatus::Active),
        compiled,
        &Policy::default(),
    )
    .unwrap();
}

fn ids(c: &Catalog) -> Vec<String> {
    c.iter().map(|p| p.activity.id.clone()).collect()
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn three(kv: &MemoryKv) {
    publish(kv, &record("a", 1, &["s1"], 1000));
    publish(kv, &record("b", 2, &["s2"], 1000));
    publish(kv, &record("c", 3, &["s1", "s2"], 1000));
}

#[test]
fn compiled_at_ingest_then_indexed_by_sync() {
    let kv = MemoryKv::new();
    three(&kv);
    let report = sync(&kv, &Policy::default()).unwrap();
    assert!(report.rebuilt);
    assert_eq!((report.indexed, report.compiled), (3, 0));
    assert!(report.excluded.is_empty());
    // Nothing changed: the second sync only compares etags.
    assert_eq!(
        sync(&kv, &Policy::default()).unwrap(),
        SyncReport::default()
    );

    let store = Activities::open(&kv).unwrap();
    assert!(store.is_compiled());
    assert_eq!(
        ids(&store.for_scopes(&kv, &scopes(&["s1"])).unwrap()),
        ["c", "a"]
    );
    assert_eq!(
        ids(&store
            .for_scopes(&kv, &scopes(&["s1", "s2", "nope"]))
            .unwrap()),
        ["c", "b", "a"]
    );
    assert_eq!(
        ids(&store.for_ids(&kv, ["b", "a", "b", "zz"]).unwrap()),
        ["b", "a"]
    );
    assert!(
        store
            .for_scopes(&kv, &scopes(&["nope"]))
            .unwrap()
            .is_empty()
    );

    // The same activities as decoding the JSON sources.
    let json = Catalog::all(&vantage_model::catalog::activities(&kv).unwrap());
    let compiled = store.for_scopes(&kv, &scopes(&["s1", "s2"])).unwrap();
    let acts = |c: &Catalog| c.iter().map(|p| p.activity.clone()).collect::<Vec<_>>();
    assert_eq!(acts(&compiled), acts(&json));
}

#[test]
fn without_an_index_requests_read_the_sources() {
    let kv = MemoryKv::new();
    three(&kv);
    let store = Activities::open(&kv).unwrap();
    assert!(!store.is_compiled());
    assert_eq!(
        ids(&store.for_scopes(&kv, &scopes(&["s1"])).unwrap()),
        ["c", "a"]
    );
    assert_eq!(ids(&store.for_ids(&kv, ["b"]).unwrap()), ["b"]);

    // An index in another codec version is ignored the same way.
    sync(&kv, &Policy::default()).unwrap();
    kv.set(ACTIVITY_INDEX, &[99, 1, 2, 3]).unwrap();
    let store = Activities::open(&kv).unwrap();
    assert!(!store.is_compiled());
    assert_eq!(
        ids(&store.for_scopes(&kv, &scopes(&["s2"])).unwrap()),
        ["c", "b"]
    );
    // And the next sync replaces it.
    assert!(sync(&kv, &Policy::default()).unwrap().rebuilt);
    assert!(Activities::open(&kv).unwrap().is_compiled());
}

#[test]
fn sync_compiles_what_ingest_did_not() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    for v in [record("a", 1, &["s1"], 1000), record("b", 2, &["s1"], 1000)] {
        publish_activity(&kv, &definition(&v, DefinitionStatus::Active), &policy).unwrap();
    }
    // A definition stored without validation that does not compile is left out and reported.
    let mut bad = record("x", 9, &["s1"], 1000);
    bad["bucketing"] = json!({"scheme": "nope"});
    publish_activity(&kv, &definition(&bad, DefinitionStatus::Active), &policy).unwrap();
    let report = sync(&kv, &policy).unwrap();
    assert_eq!((report.indexed, report.compiled), (2, 2));
    assert_eq!(report.excluded.len(), 1);
    assert_eq!(report.excluded[0].id, "x");
    let store = Activities::open(&kv).unwrap();
    assert_eq!(
        ids(&store.for_scopes(&kv, &scopes(&["s1"])).unwrap()),
        ["b", "a"]
    );
    let stored = vantage_model::catalog::compiled_activities(&kv, &["a"]).unwrap();
    assert!(matches!(&stored[0], Some(Ok(r)) if r.format == crate::compiled::FORMAT));
}

#[test]
fn unusable_compiled_forms_fall_back_to_the_source() {
    let kv = MemoryKv::new();
    three(&kv);
    sync(&kv, &Policy::default()).unwrap();
    // Another format (a newer build's), written as of a newer catalog: not decoded.
    let other = CompiledActivity {
        id: "a".into(),
        etag: 1_000,
        source: 1,
        status: DefinitionStatus::Active,
        format: crate::compiled::FORMAT + 1,
        plan: vec![0xde, 0xad],
    };
    kv.set(&compiled_activity_key("a"), &codec::encode(&other).unwrap())
        .unwrap();
    // Garbage.
    kv.set(&compiled_activity_key("b"), b"\x01\xff\xff")
        .unwrap();
    // Missing.
    kv.delete(&compiled_activity_key("c")).unwrap();
    let store = Activities::open(&kv).unwrap();
    let c = store.for_scopes(&kv, &scopes(&["s1", "s2"])).unwrap();
    assert_eq!(ids(&c), ["c", "b", "a"]);
    assert!(c.problems().is_empty());
    assert_eq!(c.get("a").unwrap().activity.priority, 1);
}

#[test]
fn stale_and_newer_compiled_forms() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    three(&kv);
    sync(&kv, &policy).unwrap();
    // A newer version of "a" lands (compiled at ingest) before the index is rebuilt: requests
    // already see it.
    publish(&kv, &record("a", 7, &["s1"], 2000));
    let store = Activities::open(&kv).unwrap();
    let c = store.for_ids(&kv, ["a"]).unwrap();
    assert_eq!(c.get("a").unwrap().activity.priority, 7);
    // A stale value (older catalog, other source) is not trusted: the source is read instead.
    let v1 = record("a", 1, &["s1"], 1000);
    let stale = CompiledActivity {
        id: "a".into(),
        etag: 0,
        source: source_fingerprint("something else"),
        status: DefinitionStatus::Active,
        format: crate::compiled::FORMAT,
        plan: crate::compiled::compile(&v1).unwrap(),
    };
    sync(&kv, &policy).unwrap();
    kv.set(&compiled_activity_key("a"), &codec::encode(&stale).unwrap())
        .unwrap();
    let store = Activities::open(&kv).unwrap();
    let c = store.for_ids(&kv, ["a"]).unwrap();
    assert_eq!(c.get("a").unwrap().activity.priority, 7);
}

#[test]
fn retired_activities_disappear_and_replays_change_nothing() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    three(&kv);
    sync(&kv, &policy).unwrap();
    // A retirement compiled at ingest is visible before the next sync.
    let retire = json!({"type": "activity", "id": "c", "status": "retired",
        "timestamp": vantage_model::time::format_rfc3339(5000)});
    publish_activity_compiled(
        &kv,
        &definition(&retire, DefinitionStatus::Retired),
        None,
        &policy,
    )
    .unwrap();
    let store = Activities::open(&kv).unwrap();
    assert_eq!(
        ids(&store.for_scopes(&kv, &scopes(&["s1"])).unwrap()),
        ["a"]
    );
    let report = sync(&kv, &policy).unwrap();
    assert_eq!(report.indexed, 2);
    let store = Activities::open(&kv).unwrap();
    assert_eq!(
        ids(&store.for_scopes(&kv, &scopes(&["s2"])).unwrap()),
        ["b"]
    );
    assert!(store.for_ids(&kv, ["c"]).unwrap().is_empty());
    // An older active record of "c" cannot bring it back, and replays change nothing.
    publish(&kv, &record("c", 3, &["s1", "s2"], 1000));
    three(&kv);
    assert_eq!(sync(&kv, &policy).unwrap(), SyncReport::default());
    let store = Activities::open(&kv).unwrap();
    assert!(store.for_ids(&kv, ["c"]).unwrap().is_empty());
}
