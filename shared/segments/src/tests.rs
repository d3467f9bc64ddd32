//! End-to-end tests over [`MemoryKv`]: publishing (hook + sync, and [`publish`]), evaluating
//! with and without a current event, dry runs, concurrent evaluations and the memberships read.

use std::cell::Cell;

use serde_json::json;
use vantage_kv::{Kv, MemoryKv};
use vantage_model::catalog::DefinitionStatus;
use vantage_model::profile::events::Event as StoredEvent;
use vantage_model::profile::membership::{self, Membership, Source, Status};
use vantage_model::{Graph, Identity, Policy};
use vantage_pql::MembershipState;

use super::*;

const NOW: i64 = 1_796_119_200_000; // 2026-12-01T10:00:00Z
const HOUR: i64 = 3_600_000;

const BUYER: &str = "chain(xEvent, timestamp, [A: WHAT(eventType = \"commerce.purchases\") WHEN(< 24 hours before now)])";
const VIEWER: &str = "chain(xEvent, timestamp, [A: WHAT(eventType = \"web.webpagedetails.pageViews\") WHEN(< 24 hours before now)])";
const US: &str = "homeAddress.countryCode = \"US\"";

fn policy() -> Policy {
    Policy::default()
}

fn who(ns: &str, id: &str) -> Identity {
    match Identity::new(ns, id) {
        Ok(i) => i,
        Err(e) => panic!("{ns}/{id}: {e}"),
    }
}

fn def(id: &str, expression: &str, ts: i64) -> Definition {
    Definition {
        id: id.into(),
        name: id.into(),
        expression: expression.into(),
        timestamp: ts,
        status: DefinitionStatus::Active,
    }
}

fn publish_ok(kv: &MemoryKv, id: &str, expression: &str) {
    if let Err(e) = publish(kv, &def(id, expression, 1), &policy()) {
        panic!("publishing {id}: {e}");
    }
}

fn current(event_type: &str, ts: i64) -> CurrentEvent {
    match input::event(
        &json!({"eventType": event_type, "timestamp": vantage_model::time::format_rfc3339(ts)}),
        ts,
    ) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    }
}

fn run(
    kv: &MemoryKv,
    ids: &[Identity],
    event: Option<&CurrentEvent>,
    now: i64,
    dry_run: bool,
) -> Evaluation {
    let input = Input {
        event,
        changed_attributes: &[],
        full: event.is_none(),
        record_event: true,
        now_ms: now,
    };
    match evaluate(kv, ids, &input, dry_run, &policy()) {
        Ok(e) => e,
        Err(e) => panic!("evaluate: {e}"),
    }
}

fn statuses(e: &Evaluation) -> Vec<(&str, &str)> {
    e.segments
        .iter()
        .map(|s| (s.id.as_str(), s.status.as_str()))
        .collect()
}

fn set_attributes(kv: &MemoryKv, identity: &Identity, attrs: serde_json::Value, ts: i64) {
    let p = policy();
    let r = Graph::new(kv, &p).update(identity, ts, ts, |prof| {
        Ok(prof.attributes.merge_json(&attrs, ts))
    });
    assert!(r.is_ok(), "{r:?}");
}

fn stored_members(kv: &MemoryKv, identity: &Identity, now: i64) -> Vec<(String, &'static str)> {
    match memberships(kv, identity, now, &policy()) {
        Ok(Some(ms)) => ms.into_iter().map(|m| (m.id, m.status)).collect(),
        Ok(None) => Vec::new(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn an_event_realizes_a_segment_in_the_same_evaluation() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "buyer", BUYER);
    publish_ok(&kv, "viewer", VIEWER);
    let ecid = who("ECID", "12345678901234567890123456789012345678");
    let buy = current("commerce.purchases", NOW);
    let e = run(&kv, std::slice::from_ref(&ecid), Some(&buy), NOW, false);
    assert_eq!(statuses(&e), [("buyer", "realized")]);
    assert_eq!(e.evaluated, 1, "only the segment the event type can affect");
    assert!(e.written);
    assert_eq!(e.segments[0].since, "2026-12-01T10:00:00.000Z");
    assert_eq!(e.segments[0].source, "edge");
    assert_eq!(
        stored_members(&kv, &ecid, NOW),
        [("buyer".to_string(), "realized")]
    );
    // The next evaluation sees a member: existing, same since.
    let later = current("commerce.purchases", NOW + 1000);
    let e = run(&kv, &[ecid], Some(&later), NOW + 1000, false);
    assert_eq!(statuses(&e), [("buyer", "existing")]);
    assert_eq!(e.segments[0].since_ms, NOW);
    assert!(!e.changed);
}

#[test]
fn exits_when_the_profile_stops_qualifying() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "us", US);
    let crm = who("CRMID", "c-42");
    set_attributes(
        &kv,
        &crm,
        json!({"homeAddress": {"countryCode": "US"}}),
        NOW,
    );
    let e = run(&kv, std::slice::from_ref(&crm), None, NOW, false);
    assert_eq!(statuses(&e), [("us", "realized")]);
    set_attributes(
        &kv,
        &crm,
        json!({"homeAddress": {"countryCode": "FR"}}),
        NOW + 1,
    );
    let e = run(&kv, std::slice::from_ref(&crm), None, NOW + 2, false);
    assert_eq!(statuses(&e), [("us", "exited")]);
    assert_eq!(e.segments[0].since_ms, NOW + 2);
    assert_eq!(
        stored_members(&kv, &crm, NOW + 2),
        [("us".to_string(), "exited")]
    );
    // An exit is reported once; afterwards the segment is simply absent.
    let e = run(&kv, &[crm], None, NOW + 3, false);
    assert!(e.segments.is_empty());
}

#[test]
fn recorded_events_keep_members_until_their_window_ends() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "buyer", BUYER);
    let ecid = who("ECID", "12345678901234567890123456789012345678");
    run(
        &kv,
        std::slice::from_ref(&ecid),
        Some(&current("commerce.purchases", NOW)),
        NOW,
        false,
    );
    // The purchase was recorded: an hour later, another event re-checks the window and the
    // profile stays in.
    let view = current("web.webpagedetails.pageViews", NOW + HOUR);
    let e = run(
        &kv,
        std::slice::from_ref(&ecid),
        Some(&view),
        NOW + HOUR,
        false,
    );
    assert_eq!(statuses(&e), [("buyer", "existing")]);
    // A day later the window is over.
    let view = current("web.webpagedetails.pageViews", NOW + 25 * HOUR);
    let e = run(&kv, &[ecid], Some(&view), NOW + 25 * HOUR, false);
    assert_eq!(statuses(&e), [("buyer", "exited")]);
}

#[test]
fn dry_run_writes_nothing() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "buyer", BUYER);
    let before = dump(&kv);
    let ecid = who("ECID", "12345678901234567890123456789012345678");
    let buy = current("commerce.purchases", NOW);
    let e = run(&kv, std::slice::from_ref(&ecid), Some(&buy), NOW, true);
    assert_eq!(statuses(&e), [("buyer", "realized")]);
    assert!(!e.written);
    assert_eq!(dump(&kv), before, "no profile or identity was created");

    // Same for an existing profile.
    let crm = who("CRMID", "c-1");
    set_attributes(&kv, &crm, json!({"x": 1}), NOW);
    let before = dump(&kv);
    let e = run(&kv, &[crm], Some(&buy), NOW, true);
    assert_eq!(statuses(&e), [("buyer", "realized")]);
    assert_eq!(dump(&kv), before);
}

#[test]
fn unknown_identities_without_change_create_nothing() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "us", US);
    let before = dump(&kv);
    let e = run(&kv, &[who("CRMID", "nobody")], None, NOW, false);
    assert!(e.segments.is_empty());
    assert_eq!(dump(&kv), before);
}

fn dump(kv: &MemoryKv) -> Vec<(String, Option<Vec<u8>>)> {
    let keys = kv.keys_with_prefix("").unwrap_or_default();
    keys.into_iter()
        .map(|k| {
            let v = kv.get(&k).ok().flatten();
            (k, v)
        })
        .collect()
}

#[test]
fn segment_of_segments_sees_edge_and_projected_memberships() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "buyer", BUYER);
    publish_ok(
        &kv,
        "vip-buyer",
        "inSegment(\"hub-vip\") and inSegment(\"buyer\")",
    );
    let crm = who("CRMID", "c-7");
    let p = policy();
    let projected = Graph::new(&kv, &p).update(&crm, NOW - 10, NOW - 10, |prof| {
        Ok(membership::apply(
            &mut prof.memberships,
            "hub-vip",
            Membership {
                since: NOW - 10,
                status: Status::Realized,
                source: Source::Batch,
            },
        ))
    });
    assert!(projected.is_ok());
    let buy = current("commerce.purchases", NOW);
    let e = run(&kv, std::slice::from_ref(&crm), Some(&buy), NOW, false);
    assert_eq!(
        statuses(&e),
        [
            ("buyer", "realized"),
            ("hub-vip", "existing"),
            ("vip-buyer", "realized")
        ]
    );
    let sources: Vec<&str> = e.segments.iter().map(|s| s.source).collect();
    assert_eq!(sources, ["edge", "batch", "edge"]);
}

#[test]
fn stored_events_count_and_replayed_events_are_recorded_once() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "buyer", BUYER);
    let crm = who("CRMID", "c-9");
    let p = policy();
    let stored = Graph::new(&kv, &p).update(&crm, NOW, NOW, |prof| {
        Ok(prof.push_event(
            StoredEvent {
                ts: NOW - HOUR,
                id: "e-1".into(),
                kind: "commerce.purchases".into(),
                xdm: "{\"eventType\":\"commerce.purchases\"}".into(),
            },
            NOW,
            &p,
        ))
    });
    assert!(stored.is_ok());
    // A full evaluation (no current event) sees the stored purchase.
    let e = run(&kv, std::slice::from_ref(&crm), None, NOW, true);
    assert_eq!(statuses(&e), [("buyer", "realized")]);
    // Replaying an event with the same _id records it once.
    let again = input::event(
        &json!({"eventType": "commerce.purchases", "_id": "e-1", "timestamp": "2026-12-01T09:00:00Z"}),
        NOW,
    )
    .ok();
    run(&kv, std::slice::from_ref(&crm), again.as_ref(), NOW, false);
    run(&kv, std::slice::from_ref(&crm), again.as_ref(), NOW, false);
    let events = Graph::new(&kv, &p)
        .lookup(&crm, NOW)
        .ok()
        .flatten()
        .map(|p| p.events.len());
    assert_eq!(events, Some(1));
}

/// A store that lets another evaluation land between this request's read and its CAS write.
struct Racing<'a> {
    inner: &'a MemoryKv,
    armed: Cell<bool>,
    race: &'a dyn Fn(&MemoryKv),
}

impl Kv for Racing<'_> {
    type Cas = <MemoryKv as Kv>::Cas;
    fn get(&self, key: &str) -> vantage_kv::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> vantage_kv::Result<()> {
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> vantage_kv::Result<()> {
        self.inner.delete(key)
    }
    fn exists(&self, key: &str) -> vantage_kv::Result<bool> {
        self.inner.exists(key)
    }
    fn list_keys(&self, cursor: Option<&str>) -> vantage_kv::Result<vantage_kv::KeyPage> {
        self.inner.list_keys(cursor)
    }
    fn increment(&self, key: &str, delta: i64) -> vantage_kv::Result<i64> {
        self.inner.increment(key, delta)
    }
    fn get_many(&self, keys: &[&str]) -> vantage_kv::Result<Vec<Option<Vec<u8>>>> {
        self.inner.get_many(keys)
    }
    fn set_many(&self, entries: &[(&str, &[u8])]) -> vantage_kv::Result<()> {
        self.inner.set_many(entries)
    }
    fn delete_many(&self, keys: &[&str]) -> vantage_kv::Result<()> {
        self.inner.delete_many(keys)
    }
    fn cas_read(&self, key: &str) -> vantage_kv::Result<(Self::Cas, Option<Vec<u8>>)> {
        self.inner.cas_read(key)
    }
    fn cas_write(&self, cas: Self::Cas, value: &[u8]) -> vantage_kv::Result<bool> {
        if self.armed.replace(false) {
            (self.race)(self.inner);
        }
        self.inner.cas_write(cas, value)
    }
}

#[test]
fn concurrent_evaluations_do_not_lose_memberships() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "buyer", BUYER);
    publish_ok(&kv, "viewer", VIEWER);
    let crm = who("CRMID", "c-race");
    set_attributes(&kv, &crm, json!({"x": 1}), NOW - 5);
    let view = current("web.webpagedetails.pageViews", NOW);
    let racer = |inner: &MemoryKv| {
        let e = run(inner, &[who("CRMID", "c-race")], Some(&view), NOW, false);
        assert_eq!(statuses(&e), [("viewer", "realized")]);
    };
    let racing = Racing {
        inner: &kv,
        armed: Cell::new(false),
        race: &racer,
    };
    let buy = current("commerce.purchases", NOW + 1);
    let input = Input {
        event: Some(&buy),
        changed_attributes: &[],
        full: false,
        record_event: true,
        now_ms: NOW + 1,
    };
    // Arm only now: the racer lands between this evaluation's read and its write.
    racing.armed.set(true);
    let e = evaluate(
        &racing,
        std::slice::from_ref(&crm),
        &input,
        false,
        &policy(),
    );
    let e = match e {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    assert!(!racing.armed.get(), "the race ran");
    assert_eq!(
        statuses(&e),
        [("buyer", "realized"), ("viewer", "existing")]
    );
    assert_eq!(
        stored_members(&kv, &crm, NOW + 1),
        [
            ("buyer".to_string(), "realized"),
            ("viewer".to_string(), "realized")
        ]
    );
}

#[test]
fn concurrent_threads_do_not_lose_memberships() {
    let kv = MemoryKv::new();
    let types: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    for t in &types {
        publish_ok(
            &kv,
            t,
            &format!("chain(xEvent, timestamp, [A: WHAT(eventType = \"{t}\") WHEN(today)])"),
        );
    }
    let crm = who("CRMID", "c-threads");
    set_attributes(&kv, &crm, json!({"x": 1}), NOW - 5);
    std::thread::scope(|s| {
        for t in &types {
            let kv = &kv;
            let crm = crm.clone();
            s.spawn(move || {
                let ev = current(t, NOW);
                run(kv, &[crm], Some(&ev), NOW, false);
            });
        }
    });
    let members: Vec<String> = stored_members(&kv, &crm, NOW)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(members, types);
}

#[test]
fn publish_rejects_bad_definitions_and_keeps_the_catalog() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "us", US);
    publish_ok(&kv, "a", "inSegment(\"b\")");
    let index_before = kv.get(keys::INDEX).ok().flatten();
    let catalog_before = dump(&kv);

    let err = publish(&kv, &def("us", "homeAddress.countryCode = ", 2), &policy());
    match err {
        Err(PublishError::Compile(e)) => {
            assert_eq!(e.first().map(|d| d.offset), Some(26));
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
    let err = publish(&kv, &def("b", "inSegment(\"a\") or x = 1", 2), &policy());
    match err {
        Err(PublishError::Cycle(c)) => {
            assert_eq!(c.path.len(), 3);
            assert_eq!(c.path.first(), c.path.last());
            assert!(c.path.contains(&"a".to_string()) && c.path.contains(&"b".to_string()));
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    assert_eq!(dump(&kv), catalog_before, "nothing was written");
    assert_eq!(kv.get(keys::INDEX).ok().flatten(), index_before);

    // What was published still evaluates.
    let crm = who("CRMID", "c-us");
    set_attributes(
        &kv,
        &crm,
        json!({"homeAddress": {"countryCode": "US"}}),
        NOW,
    );
    let e = run(&kv, &[crm], None, NOW, false);
    assert_eq!(statuses(&e), [("us", "realized")]);
}

#[test]
fn retiring_removes_a_segment_and_its_plan() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "us", US);
    publish_ok(&kv, "buyer", BUYER);
    let plans = |kv: &MemoryKv| kv.keys_with_prefix(keys::PLAN_PREFIX).unwrap_or_default();
    assert_eq!(plans(&kv).len(), 2);
    let retire = Definition {
        status: DefinitionStatus::Retired,
        expression: String::new(),
        ..def("us", "", 5)
    };
    let r = publish(&kv, &retire, &policy());
    let r = match r {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(r.changed && r.sync.rebuilt);
    assert_eq!(r.sync.plans_deleted, 1);
    assert_eq!(r.sync.indexed, 1);
    assert_eq!(plans(&kv).len(), 1);
    let crm = who("CRMID", "c-us");
    set_attributes(
        &kv,
        &crm,
        json!({"homeAddress": {"countryCode": "US"}}),
        NOW,
    );
    assert!(run(&kv, &[crm], None, NOW, false).segments.is_empty());
}

#[test]
fn only_edge_segments_are_indexed_and_profile_only_references_stay_edge() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "us", US);
    // Batch: an event without a time window.
    publish_ok(&kv, "ever", "xEvent.any(eventType = \"x\")");
    // Event + inSegment(profile-only) is edge-eligible once the catalog knows "us".
    publish_ok(&kv, "us-buyer", &format!("inSegment(\"us\") and {BUYER}"));
    let idx = read_index(&kv).ok().flatten().unwrap_or_default();
    let mut ids: Vec<&str> = (0..idx.index.len() as u32)
        .filter_map(|p| idx.index.id(p))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["us", "us-buyer"]);
}

#[test]
fn the_ingest_hook_then_sync() {
    let kv = MemoryKv::new();
    let options = vantage_ingest::Options {
        compile_segment: Some(&compile_hook),
        ..vantage_ingest::Options::default()
    };
    let body = concat!(
        r#"{"type":"segment","id":"us","name":"US","expression":"homeAddress.countryCode = \"US\"","timestamp":"2026-12-01T09:00:00Z"}"#,
        "\n",
        r#"{"type":"segment","id":"bad","name":"Bad","expression":"a = ","timestamp":"2026-12-01T09:00:00Z"}"#,
        "\n",
        r#"{"type":"segment","id":"x","name":"X","expression":"inSegment(\"y\")","timestamp":"2026-12-01T09:00:00Z"}"#,
        "\n",
        r#"{"type":"segment","id":"y","name":"Y","expression":"inSegment(\"x\")","timestamp":"2026-12-01T09:00:01Z"}"#,
        "\n",
    );
    let report = vantage_ingest::ingest_with(&kv, body.as_bytes(), &options, NOW);
    let report = match report {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(report.accepted, 3);
    assert_eq!(report.rejected.len(), 1);
    assert!(
        report.rejected[0].error.contains("column 5"),
        "{}",
        report.rejected[0].error
    );
    let s = match sync(&kv, &policy()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert!(s.rebuilt);
    // The cycle x -> y -> x: y closed it (published last), so y is left out.
    assert_eq!(s.excluded.len(), 1);
    assert_eq!(s.excluded[0].id, "y");
    assert!(
        s.excluded[0].reason.contains("y -> x -> y")
            || s.excluded[0].reason.contains("x -> y -> x")
    );
    assert_eq!(s.indexed, 2);
    // Nothing changed: no rebuild.
    assert!(sync(&kv, &policy()).is_ok_and(|s| !s.rebuilt));
}

#[test]
fn no_index_means_no_edge_segments() {
    let kv = MemoryKv::new();
    let buy = current("commerce.purchases", NOW);
    let e = run(&kv, &[who("CRMID", "c")], Some(&buy), NOW, false);
    assert!(e.segments.is_empty() && e.evaluated == 0);
}

#[test]
fn a_missing_plan_fails_that_segment_only() {
    let kv = MemoryKv::new();
    publish_ok(&kv, "buyer", BUYER);
    publish_ok(
        &kv,
        "any",
        "xEvent.any(timestamp occurs < 1 hours before now)",
    );
    let plans = kv.keys_with_prefix(keys::PLAN_PREFIX).unwrap_or_default();
    let victim = plans.iter().find(|k| k.ends_with("/any")).cloned();
    assert!(victim.is_some());
    let _ = kv.delete(victim.as_deref().unwrap_or_default());
    let buy = current("commerce.purchases", NOW);
    let e = run(&kv, &[who("CRMID", "c")], Some(&buy), NOW, true);
    assert_eq!(statuses(&e), [("buyer", "realized")]);
    assert_eq!(e.failed.len(), 1);
    assert_eq!(e.failed[0].0, "any");
}

#[test]
fn statuses_serialize_as_the_contract() {
    let s = SegmentStatus {
        id: "a".into(),
        status: MembershipState::Existing,
        since: "2026-12-01T10:00:00.000Z".into(),
        since_ms: 1,
        source: "edge",
    };
    let e = Evaluation {
        segments: vec![s],
        ..Evaluation::default()
    };
    assert_eq!(
        serde_json::to_value(&e).ok(),
        Some(
            json!({"segments": [{"id": "a", "status": "existing", "since": "2026-12-01T10:00:00.000Z", "source": "edge"}]})
        )
    );
}
