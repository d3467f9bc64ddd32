//! End-to-end tests of ingest over the in-memory store.

use serde_json::{Value, json};
use vantage_kv::{Kv, MemoryKv};
use vantage_model::profile::Event;
use vantage_model::{Graph, Identity, Policy, catalog};

use super::*;

const NOW: i64 = 1_796_119_200_000; // 2026-12-01T10:00:00Z

fn ts(offset_s: i64) -> String {
    vantage_model::time::format_rfc3339(NOW - 86_400_000 + offset_s * 1000)
}

fn ecid(i: usize) -> String {
    format!("{i:038}")
}

fn run(kv: &MemoryKv, body: &str) -> Report {
    ingest(kv, body.as_bytes(), &Limits::default(), NOW).unwrap()
}

fn dump(kv: &MemoryKv) -> Vec<(String, Vec<u8>)> {
    let mut keys = kv.keys_with_prefix("").unwrap();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let v = kv.get(&k).unwrap().unwrap();
            (k, v)
        })
        .collect()
}

/// A realistic stream: anonymous and known profiles, memberships, links, a delete, definitions.
fn stream(people: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..people {
        let t = i as i64 * 10;
        lines.push(
            json!({"type":"profile","identity":{"namespace":"CRMID","id":format!("c-{i}")},
            "timestamp":ts(t),"attributes":{"person":{"name":{"firstName":format!("P{i}")}},
            "loyalty":{"tier":"gold","points":i * 100}}})
            .to_string(),
        );
        lines.push(json!({"type":"membership","identity":{"namespace":"ECID","id":ecid(i)},
            "segmentId":"high-value","status":"realized","timestamp":ts(t + 1),"source":"streaming"}).to_string());
        lines.push(json!({"type":"identity-link","timestamp":ts(t + 2),
            "identities":[{"namespace":"ECID","id":ecid(i)},{"namespace":"CRMID","id":format!("c-{i}")}]}).to_string());
        lines.push(json!({"type":"profile","identity":{"namespace":"ECID","id":ecid(i)},
            "timestamp":ts(t + 3),"attributes":{"loyalty":{"points":i * 100 + 1}},"consent":{"collect":"y"}}).to_string());
        if i % 5 == 4 {
            lines.push(json!({"type":"profile-delete","identity":{"namespace":"CRMID","id":format!("c-{i}")},
                "timestamp":ts(t + 4)}).to_string());
        }
        if i % 7 == 3 {
            lines.push(
                json!({"type":"membership","identity":{"namespace":"CRMID","id":format!("c-{i}")},
                "segmentId":"high-value","status":"exited","timestamp":ts(t + 5)})
                .to_string(),
            );
        }
    }
    lines.push(
        json!({"type":"segment","id":"high-value","name":"High value",
        "expression":"loyalty.points > 1000","timestamp":ts(0)})
        .to_string(),
    );
    lines.push(
        json!({"type":"activity","id":"hero-test","timestamp":ts(0),"activityType":"ab",
        "scopes":["__view__"],"experiences":[]})
        .to_string(),
    );
    lines
}

fn views(kv: &MemoryKv, people: usize) -> Vec<Option<Value>> {
    (0..people)
        .flat_map(|i| {
            [
                profile_view(kv, "CRMID", &format!("c-{i}"), NOW).unwrap(),
                profile_view(kv, "ECID", &ecid(i), NOW).unwrap(),
            ]
        })
        .collect()
}

#[test]
fn the_contract_example_round_trips() {
    let kv = MemoryKv::new();
    let body = r#"{"type":"profile","identity":{"namespace":"CRMID","id":"c-42"},"timestamp":"2026-12-01T10:00:00Z","attributes":{"person":{"name":{"firstName":"Ada"}},"loyalty":{"tier":"gold","points":5200}}}
{"type":"identity-link","timestamp":"2026-12-01T10:00:01Z","identities":[{"namespace":"ECID","id":"12345678901234567890123456789012345678"},{"namespace":"CRMID","id":"c-42"}]}
{"type":"membership","identity":{"namespace":"ECID","id":"12345678901234567890123456789012345678"},"segmentId":"high-value","status":"realized","timestamp":"2026-12-01T10:00:02Z","source":"batch"}
{"type":"segment","id":"cart-abandoner","name":"Cart abandoner","expression":"select e from xEvent where e.eventType = \"commerce.productListAdds\"","timestamp":"2026-12-01T10:00:00Z"}
{"type":"activity","id":"hero-test","name":"Homepage hero","timestamp":"2026-12-01T10:00:00Z","activityType":"ab","priority":10,"scopes":["__view__"],"audience":null,"experiences":[]}
"#;
    let report = run(&kv, body);
    assert_eq!(
        report,
        Report {
            accepted: 5,
            rejected: vec![]
        }
    );
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        json!({"accepted":5,"rejected":[]})
    );
    let view = profile_view(&kv, "ecid", "12345678901234567890123456789012345678", NOW)
        .unwrap()
        .unwrap();
    assert_eq!(view["attributes"]["loyalty"]["points"], 5200);
    assert_eq!(
        view["segmentMembership"]["high-value"]["status"],
        "realized"
    );
    assert_eq!(
        view["segmentMembership"]["high-value"]["lastQualificationTime"],
        "2026-12-01T10:00:02.000Z"
    );
    assert_eq!(view["identities"].as_array().unwrap().len(), 2);
    assert_eq!(view["identityMap"]["CRMID"][0]["id"], "c-42");
    let segments = catalog::segments(&kv).unwrap();
    assert!(segments.get("cart-abandoner").unwrap().plan.is_none());
    let activities = catalog::activities(&kv).unwrap();
    let hero = activities.for_scope("__view__").next().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&hero.json).unwrap()["name"],
        "Homepage hero"
    );
    // A JSON array body is the same.
    let kv2 = MemoryKv::new();
    let array = format!("[{}]", body.trim().replace('\n', ","));
    assert_eq!(run(&kv2, &array).accepted, 5);
    assert_eq!(dump(&kv), dump(&kv2));
}

#[test]
fn bad_records_are_rejected_alone_with_their_line() {
    let kv = MemoryKv::new();
    let body = format!(
        "{}\nnot json\n\n{{\"type\":\"profile\"}}\n{}\n{{\"type\":\"membership\",\"identity\":{{\"namespace\":\"ECID\",\"id\":\"abc\"}},\"segmentId\":\"s\",\"status\":\"realized\",\"timestamp\":\"2026-12-01T10:00:00Z\"}}\n",
        json!({"type":"profile","identity":{"namespace":"CRMID","id":"a"},"timestamp":ts(0),"attributes":{"x":1}}),
        json!({"type":"profile","identity":{"namespace":"CRMID","id":"b"},"timestamp":ts(0),"attributes":{"x":2}}),
    );
    let report = run(&kv, &body);
    assert_eq!(report.accepted, 2);
    let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 4, 6]);
    assert!(report.rejected[0].error.contains("not valid JSON"));
    assert!(report.rejected[1].error.contains("missing field"));
    assert!(report.rejected[2].error.contains("ECID"));
    let bad_utf8 = run_bytes(&kv, b"\xff\xfe\n");
    assert_eq!(bad_utf8.rejected[0].error, "record is not UTF-8");
}

fn run_bytes(kv: &MemoryKv, body: &[u8]) -> Report {
    ingest(kv, body, &Limits::default(), NOW).unwrap()
}

#[test]
fn limits_have_their_own_errors() {
    let kv = MemoryKv::new();
    let limits = Limits {
        max_body_bytes: 4096,
        max_records: 3,
        max_record_bytes: 200,
        max_depth: 8,
    };
    let big = vec![b' '; 4097];
    assert!(matches!(
        ingest(&kv, &big, &limits, NOW),
        Err(IngestError::BodyTooLarge {
            size: 4097,
            limit: 4096
        })
    ));
    assert!(matches!(
        ingest(&kv, b"{}\n{}\n{}\n{}", &limits, NOW),
        Err(IngestError::TooManyRecords { limit: 3, .. })
    ));
    let long = json!({"type":"profile","identity":{"namespace":"CRMID","id":"a"},"timestamp":ts(0),
        "attributes":{"blob":"x".repeat(300)}});
    let deep = format!(
        "{{\"type\":\"profile\",\"attributes\":{}{}}}",
        "[".repeat(10),
        "]".repeat(10)
    );
    let report = ingest(&kv, format!("{long}\n{deep}").as_bytes(), &limits, NOW).unwrap();
    assert_eq!(report.accepted, 0);
    assert!(report.rejected[0].error.contains("over the limit of 200"));
    assert!(report.rejected[1].error.contains("deeper than 8"));
    assert!(kv.keys_with_prefix("").unwrap().is_empty());
}

#[test]
fn replaying_a_stream_leaves_the_same_state() {
    let kv = MemoryKv::new();
    let body = stream(20).join("\n");
    let first = run(&kv, &body);
    assert!(first.rejected.is_empty(), "{:?}", first.rejected);
    let state = dump(&kv);
    let again = run(&kv, &body);
    assert_eq!(again.accepted, first.accepted);
    assert_eq!(dump(&kv), state);
}

#[test]
fn out_of_order_records_converge() {
    // Without deletes (a delete is a hard forget, so it does not commute with newer data), any
    // order of the same records gives the same profiles.
    let lines: Vec<String> = stream(12)
        .into_iter()
        .filter(|l| !l.contains("profile-delete"))
        .collect();
    let kv = MemoryKv::new();
    run(&kv, &lines.join("\n"));
    let expected = views(&kv, 12);
    let mut reversed = lines.clone();
    reversed.reverse();
    let kv2 = MemoryKv::new();
    run(&kv2, &reversed.join("\n"));
    let mut interleaved: Vec<String> = lines.iter().step_by(2).cloned().collect();
    interleaved.extend(lines.iter().skip(1).step_by(2).cloned());
    let kv3 = MemoryKv::new();
    run(&kv3, &interleaved.join("\n"));
    for got in [views(&kv2, 12), views(&kv3, 12)] {
        for (a, b) in got.iter().zip(&expected) {
            let strip = |v: &Option<Value>| {
                v.as_ref().map(|v| {
                    let mut v = v.clone();
                    // Which profile name survives, and when each identity was first linked,
                    // depend on arrival order; the content does not.
                    v["profileId"] = Value::Null;
                    for i in v["identities"].as_array_mut().unwrap() {
                        i["linkedAt"] = Value::Null;
                    }
                    v
                })
            };
            assert_eq!(strip(a), strip(b));
        }
    }
    // A spot check of what "timestamps decide" means here.
    let v = profile_view(&kv2, "CRMID", "c-3", NOW).unwrap().unwrap();
    assert_eq!(v["attributes"]["loyalty"]["points"], 301);
    assert_eq!(v["segmentMembership"]["high-value"]["status"], "exited");
}

#[test]
fn deletes_remove_every_key_and_stay_deleted() {
    let kv = MemoryKv::new();
    let lines = stream(2);
    run(&kv, &lines.join("\n"));
    let before = kv.keys_with_prefix("").unwrap();
    assert!(before.iter().any(|k| k.contains("c-1")));
    let outcome = delete_profile(&kv, "ECID", &ecid(1), NOW).unwrap();
    assert_eq!(outcome, vantage_model::Outcome::Changed);
    let mut after = kv.keys_with_prefix("").unwrap();
    after.sort();
    let ecid1 = ecid(1);
    // Only tombstones mention the deleted person.
    for k in &after {
        if k.contains("c-1") || k.contains(&ecid1) {
            assert!(k.starts_with("tomb/"), "{k}");
        }
    }
    assert!(after.contains(&"tomb/CRMID/c-1".to_owned()));
    assert!(profile_view(&kv, "CRMID", "c-1", NOW).unwrap().is_none());
    // Person 0 is untouched.
    assert!(profile_view(&kv, "CRMID", "c-0", NOW).unwrap().is_some());
    // Replaying the whole (older) stream does not bring person 1 back.
    run(&kv, &lines.join("\n"));
    assert!(profile_view(&kv, "ECID", &ecid(1), NOW).unwrap().is_none());
    // A delete followed by an older profile record: the tombstone wins.
    let body = format!(
        "{}\n{}",
        json!({"type":"profile-delete","identity":{"namespace":"CRMID","id":"z"},"timestamp":ts(100)}),
        json!({"type":"profile","identity":{"namespace":"CRMID","id":"z"},"timestamp":ts(50),"attributes":{"a":1}})
    );
    assert_eq!(run(&kv, &body).accepted, 2);
    assert!(profile_view(&kv, "CRMID", "z", NOW).unwrap().is_none());
}

#[test]
fn stitching_keeps_edge_memberships_and_events() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    let anon = Identity::new("ECID", &ecid(9)).unwrap();
    // The edge saw the anonymous visitor first.
    Graph::new(&kv, &policy)
        .update(&anon, NOW - 5000, NOW - 5000, |p| {
            p.push_event(
                Event {
                    ts: NOW - 5000,
                    id: "ev-1".into(),
                    kind: "commerce.productListAdds".into(),
                    xdm: r#"{"commerce":{"productListAdds":{"value":1}}}"#.into(),
                },
                NOW - 5000,
                &policy,
            );
            vantage_model::profile::membership::transition(
                &mut p.memberships,
                "cart-abandoner",
                vantage_model::profile::membership::Status::Realized,
                NOW - 5000,
                vantage_model::profile::membership::Source::Edge,
            );
            Ok(true)
        })
        .unwrap();
    let body = format!(
        "{}\n{}",
        json!({"type":"profile","identity":{"namespace":"CRMID","id":"known"},"timestamp":ts(0),"attributes":{"tier":"gold"}}),
        json!({"type":"identity-link","timestamp":ts(1),"identities":[{"namespace":"ECID","id":ecid(9)},{"namespace":"CRMID","id":"known"}]})
    );
    assert_eq!(run(&kv, &body).accepted, 2);
    let v = profile_view(&kv, "CRMID", "known", NOW).unwrap().unwrap();
    assert_eq!(v["attributes"]["tier"], "gold");
    assert_eq!(v["segmentMembership"]["cart-abandoner"]["source"], "edge");
    assert_eq!(v["events"][0]["id"], "ev-1");
    assert_eq!(
        v["events"][0]["xdm"]["commerce"]["productListAdds"]["value"],
        1
    );
    assert_eq!(
        v,
        profile_view(&kv, "ECID", &ecid(9), NOW).unwrap().unwrap()
    );
}

#[test]
fn concurrent_ingest_of_one_stream_ends_in_one_state() {
    let people = 15;
    let body = stream(people).join("\n");
    let sequential = MemoryKv::new();
    run(&sequential, &body);
    let shared = MemoryKv::new();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let report = run(&shared, &body);
                assert!(report.rejected.is_empty(), "{:?}", report.rejected);
            });
        }
    });
    assert_eq!(views(&shared, people), views(&sequential, people));
    assert_eq!(
        catalog::segments(&shared).unwrap().segments,
        catalog::segments(&sequential).unwrap().segments
    );
    assert_eq!(dump(&shared).len(), dump(&sequential).len());
}

#[test]
fn hooks_compile_segments_and_activities() {
    let kv = MemoryKv::new();
    let compile = |src: &str| {
        if src.contains("???") {
            Err("unexpected token at 0".to_owned())
        } else {
            Ok(src.len().to_le_bytes().to_vec())
        }
    };
    let compile_activity = |v: &Value| {
        if v.get("experiences").is_some() {
            Ok((7, b"compiled".to_vec()))
        } else {
            Err("activity needs experiences".to_owned())
        }
    };
    let options = Options {
        compile_segment: Some(&compile),
        compile_activity: Some(&compile_activity),
        ..Options::default()
    };
    let body = [
        json!({"type":"segment","id":"ok","expression":"a = 1","timestamp":ts(0)}),
        json!({"type":"segment","id":"bad","expression":"???","timestamp":ts(0)}),
        json!({"type":"activity","id":"a1","timestamp":ts(0),"experiences":[]}),
        json!({"type":"activity","id":"a2","timestamp":ts(0)}),
    ]
    .map(|v| v.to_string())
    .join("\n");
    let report = ingest_with(&kv, body.as_bytes(), &options, NOW).unwrap();
    assert_eq!(report.accepted, 2);
    assert_eq!(report.rejected[0].error, "unexpected token at 0");
    assert_eq!(report.rejected[1].line, 4);
    let cat = catalog::segments(&kv).unwrap();
    assert_eq!(
        cat.get("ok").unwrap().plan,
        Some(5usize.to_le_bytes().to_vec())
    );
    assert!(cat.get("bad").is_none());
    // The compiled activity is stored next to its definition.
    let compiled = catalog::compiled_activities(&kv, &["a1", "a2"]).unwrap();
    assert!(matches!(&compiled[0], Some(Ok(c)) if c.format == 7 && c.plan == b"compiled"));
    assert!(compiled[1].is_none());
}

/// A store where another writer updates a profile right after the batch path's CAS read of
/// one key, once: the batch's CAS write must lose and the record still land (no lost update).
struct Racing<'a> {
    kv: &'a MemoryKv,
    key: &'a str,
    who: Identity,
    fired: std::cell::Cell<bool>,
}

impl Kv for Racing<'_> {
    type Cas = <MemoryKv as Kv>::Cas;
    fn get(&self, key: &str) -> vantage_kv::Result<Option<Vec<u8>>> {
        self.kv.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> vantage_kv::Result<()> {
        self.kv.set(key, value)
    }
    fn delete(&self, key: &str) -> vantage_kv::Result<()> {
        self.kv.delete(key)
    }
    fn exists(&self, key: &str) -> vantage_kv::Result<bool> {
        self.kv.exists(key)
    }
    fn list_keys(&self, cursor: Option<&str>) -> vantage_kv::Result<vantage_kv::KeyPage> {
        self.kv.list_keys(cursor)
    }
    fn increment(&self, key: &str, delta: i64) -> vantage_kv::Result<i64> {
        self.kv.increment(key, delta)
    }
    fn get_many(&self, keys: &[&str]) -> vantage_kv::Result<Vec<Option<Vec<u8>>>> {
        self.kv.get_many(keys)
    }
    fn set_many(&self, entries: &[(&str, &[u8])]) -> vantage_kv::Result<()> {
        self.kv.set_many(entries)
    }
    fn delete_many(&self, keys: &[&str]) -> vantage_kv::Result<()> {
        self.kv.delete_many(keys)
    }
    fn cas_read(&self, key: &str) -> vantage_kv::Result<(Self::Cas, Option<Vec<u8>>)> {
        let read = self.kv.cas_read(key)?;
        if key == self.key && !self.fired.replace(true) {
            // An edge request writes the same profile between our read and our write.
            let policy = Policy::default();
            Graph::new(self.kv, &policy)
                .update(&self.who, NOW - 1, NOW, |p| {
                    Ok(p.attributes
                        .merge_json(&json!({"edge": {"visits": 3}}), NOW - 1))
                })
                .unwrap();
        }
        Ok(read)
    }
    fn cas_write(&self, cas: Self::Cas, value: &[u8]) -> vantage_kv::Result<bool> {
        self.kv.cas_write(cas, value)
    }
}

#[test]
fn a_write_racing_the_batch_path_is_not_lost() {
    let who = Identity::new("CRMID", "r-1").unwrap();
    let record = |attrs: Value, t: i64| {
        json!({"type":"profile","identity":{"namespace":"CRMID","id":"r-1"},"timestamp":ts(t),
            "attributes":attrs})
        .to_string()
    };
    // A new profile (the race creates it first) and an existing one (the race updates it).
    for (existing, key) in [(false, "profile/CRMID/r-1"), (true, "profile/CRMID/r-1")] {
        let kv = MemoryKv::new();
        if existing {
            run(&kv, &record(json!({"tier":"silver"}), 0));
        }
        let racing = Racing {
            kv: &kv,
            key,
            who: who.clone(),
            fired: std::cell::Cell::new(false),
        };
        let body = format!(
            "{}\n{}",
            record(json!({"tier":"gold"}), 5),
            json!({"type":"membership","identity":{"namespace":"CRMID","id":"r-1"},
                "segmentId":"vip","status":"realized","timestamp":ts(6)})
        );
        let report = ingest(&racing, body.as_bytes(), &Limits::default(), NOW).unwrap();
        assert!(racing.fired.get());
        assert_eq!(report.accepted, 2, "{:?}", report.rejected);
        let v = profile_view(&kv, "CRMID", "r-1", NOW).unwrap().unwrap();
        assert_eq!(v["attributes"]["tier"], "gold", "existing: {existing}");
        assert_eq!(v["attributes"]["edge"]["visits"], 3, "existing: {existing}");
        assert_eq!(v["segmentMembership"]["vip"]["status"], "realized");
        assert_eq!(v["identities"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn batched_and_one_at_a_time_ingest_leave_the_same_store() {
    // The same stream, once as one body (runs applied together) and once a record per
    // request (every run has one record): byte-identical stores.
    let lines = stream(20);
    let batched = MemoryKv::new();
    run(&batched, &lines.join("\n"));
    let single = MemoryKv::new();
    for line in &lines {
        let report = run(&single, line);
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    }
    assert_eq!(dump(&batched), dump(&single));
}
