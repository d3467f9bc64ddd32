//! Tests of the identity graph over the in-memory store.

use serde_json::json;
use vantage_kv::{Kv, MemoryKv};

use super::*;
use crate::profile::{Event, membership};

const NOW: i64 = 1_800_000_000_000;

fn who(ns: &str, id: &str) -> Identity {
    Identity::new(ns, id).unwrap()
}

fn keys_of(kv: &MemoryKv) -> Vec<String> {
    let mut k = kv.keys_with_prefix("").unwrap();
    k.sort();
    k
}

fn set_attr(g: &Graph<'_, MemoryKv>, id: &Identity, v: serde_json::Value, ts: i64) -> Outcome {
    g.update(id, ts, NOW, |p| Ok(p.attributes.merge_json(&v, ts)))
        .unwrap()
}

#[test]
fn update_creates_and_replays_are_no_ops() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    let g = Graph::new(&kv, &policy);
    let crm = who("CRMID", "c-42");
    assert_eq!(
        set_attr(&g, &crm, json!({"tier":"gold"}), 10),
        Outcome::Changed
    );
    assert_eq!(
        set_attr(&g, &crm, json!({"tier":"gold"}), 10),
        Outcome::Unchanged
    );
    let p = g.lookup(&crm, NOW).unwrap().unwrap();
    assert_eq!(p.id.as_str(), "CRMID/c-42");
    assert_eq!(p.attributes.to_json(), json!({"tier":"gold"}));
    assert_eq!(keys_of(&kv), ["ident/CRMID/c-42", "profile/CRMID/c-42"]);
    assert!(g.lookup(&who("CRMID", "other"), NOW).unwrap().is_none());
}

#[test]
fn stitching_anonymous_to_known_keeps_memberships_and_events() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    let g = Graph::new(&kv, &policy);
    let ecid = who("ECID", "12345678901234567890123456789012345678");
    let crm = who("CRMID", "c-42");
    g.update(&ecid, NOW - 100, NOW, |p| {
        membership::transition(
            &mut p.memberships,
            "cart-abandoner",
            membership::Status::Realized,
            NOW - 100,
            membership::Source::Edge,
        );
        p.push_event(
            Event {
                ts: NOW - 100,
                id: "ev-1".into(),
                kind: "commerce.productListAdds".into(),
                xdm: "{\"commerce\":{}}".into(),
            },
            NOW,
            &policy,
        );
        p.add_counter("pageViews", 3);
        Ok(true)
    })
    .unwrap();
    set_attr(&g, &crm, json!({"loyalty":{"tier":"gold"}}), NOW - 50);

    assert_eq!(
        g.link(&[ecid.clone(), crm.clone()], NOW - 10, NOW).unwrap(),
        Outcome::Changed
    );

    let via_ecid = g.lookup(&ecid, NOW).unwrap().unwrap();
    let via_crm = g.lookup(&crm, NOW).unwrap().unwrap();
    assert_eq!(via_ecid, via_crm);
    // "CRMID/…" sorts before "ECID/…": the CRM profile survives.
    assert_eq!(via_crm.id.as_str(), "CRMID/c-42");
    assert!(membership::is_member(
        &via_crm.memberships,
        "cart-abandoner"
    ));
    assert_eq!(via_crm.events.len(), 1);
    assert_eq!(via_crm.counters["pageViews"], 3);
    assert_eq!(
        via_crm.attributes.to_json(),
        json!({"loyalty":{"tier":"gold"}})
    );
    assert!(via_crm.has_identity(&ecid) && via_crm.has_identity(&crm));
    // Both identities point at the survivor; the loser's slot is a bare forward.
    assert_eq!(
        g.identity_record(&ecid).unwrap().unwrap().profile,
        Some(via_crm.id.clone())
    );
    let slot: ProfileSlot = codec::decode(
        &kv.get(&keys::profile(&ProfileId::primary(&ecid)))
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(matches!(slot, ProfileSlot::Forward { pending: None, .. }));

    // Replaying the link, or linking the other way round, changes nothing.
    let before = keys_of(&kv);
    assert_eq!(
        g.link(&[ecid.clone(), crm.clone()], NOW - 10, NOW).unwrap(),
        Outcome::Unchanged
    );
    assert_eq!(
        g.link(&[crm.clone(), ecid.clone()], NOW - 10, NOW).unwrap(),
        Outcome::Unchanged
    );
    assert_eq!(keys_of(&kv), before);
    assert_eq!(g.lookup(&ecid, NOW).unwrap().unwrap(), via_crm);

    // A write through the anonymous id lands in the merged profile.
    set_attr(&g, &ecid, json!({"seen":true}), NOW - 5);
    assert_eq!(
        g.lookup(&crm, NOW).unwrap().unwrap().attributes.to_json(),
        json!({"loyalty":{"tier":"gold"},"seen":true})
    );
}

#[test]
fn links_and_updates_commute() {
    let a = who("ECID", "1");
    let b = who("CRMID", "b");
    let c = who("Email", "c@example.com");
    let run = |order: &[usize]| {
        let kv = MemoryKv::new();
        let policy = Policy::default();
        let g = Graph::new(&kv, &policy);
        for &step in order {
            match step {
                0 => drop(set_attr(&g, &a, json!({"x":1}), 10)),
                1 => drop(set_attr(&g, &b, json!({"x":2,"y":2}), 20)),
                2 => drop(g.link(&[a.clone(), b.clone()], 30, NOW).unwrap()),
                3 => drop(g.link(&[c.clone(), a.clone()], 40, NOW).unwrap()),
                _ => drop(set_attr(&g, &c, json!({"z":3}), 5)),
            }
        }
        // The surviving name and link times depend on arrival order; the content does not.
        let p = g.lookup(&c, NOW).unwrap().unwrap();
        let identities: Vec<Identity> = p.identities.iter().map(|l| l.identity.clone()).collect();
        for id in [&a, &b] {
            assert_eq!(g.lookup(id, NOW).unwrap().unwrap().id, p.id);
        }
        (identities, p.attributes.to_json())
    };
    let expected = run(&[0, 1, 2, 3, 4]);
    assert_eq!(expected.1, json!({"x":2,"y":2,"z":3}));
    assert_eq!(expected.0.len(), 3);
    for order in [
        [4, 3, 2, 1, 0],
        [2, 3, 0, 1, 4],
        [3, 0, 4, 2, 1],
        [1, 3, 2, 4, 0],
    ] {
        assert_eq!(run(&order), expected, "{order:?}");
    }
}

#[test]
fn delete_removes_every_key_and_older_records_stay_dead() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    let g = Graph::new(&kv, &policy);
    let ecid = who("ECID", "7");
    let crm = who("CRMID", "x");
    let email = who("Email", "x@example.com");
    set_attr(&g, &ecid, json!({"a":1}), 10);
    set_attr(&g, &crm, json!({"b":1}), 10);
    g.link(&[ecid.clone(), crm.clone(), email.clone()], 20, NOW)
        .unwrap();
    // An unrelated profile must survive.
    let other = who("CRMID", "other");
    set_attr(&g, &other, json!({"c":1}), 10);

    assert_eq!(g.delete(&email, 30, NOW).unwrap(), Outcome::Changed);
    assert_eq!(
        keys_of(&kv),
        [
            "ident/CRMID/other",
            "profile/CRMID/other",
            "tomb/CRMID/x",
            "tomb/ECID/7",
            "tomb/Email/x@example.com",
        ]
    );
    assert!(g.lookup(&crm, NOW).unwrap().is_none());
    // Older records (replays) do not resurrect it, through any of its identities.
    assert_eq!(set_attr(&g, &ecid, json!({"a":2}), 25), Outcome::Superseded);
    assert_eq!(
        g.link(&[crm.clone(), email.clone()], 20, NOW).unwrap(),
        Outcome::Superseded
    );
    assert!(g.lookup(&ecid, NOW).unwrap().is_none());
    // A newer record starts afresh.
    assert_eq!(set_attr(&g, &crm, json!({"b":2}), 40), Outcome::Changed);
    assert_eq!(
        g.lookup(&crm, NOW).unwrap().unwrap().attributes.to_json(),
        json!({"b":2})
    );
    // Deleting again is idempotent; tombstones expire.
    g.delete(&crm, 50, NOW).unwrap();
    assert_eq!(g.delete(&crm, 50, NOW).unwrap(), Outcome::Unchanged);
    // By then the unrelated profile has expired too: 3 tombstones and 1 profile go.
    let later = NOW + policy.tombstone_ttl_ms;
    assert_eq!(g.sweep(later, 100).unwrap(), 4);
    assert!(keys_of(&kv).is_empty());
}

#[test]
fn expired_profiles_read_as_absent_and_are_cleaned_up() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    let g = Graph::new(&kv, &policy);
    let a = who("ECID", "1");
    let b = who("CRMID", "b");
    set_attr(&g, &a, json!({"old":true}), 10);
    g.link(&[a.clone(), b.clone()], 11, NOW).unwrap();
    let expiry = NOW + policy.ttl_ms;
    assert!(g.lookup(&a, expiry - 1).unwrap().is_some());
    assert!(g.lookup(&a, expiry).unwrap().is_none());
    // Touching it after expiry purges the old profile (and b's pointer) and starts afresh.
    g.update(&a, 12, expiry, |p| {
        Ok(p.attributes.merge_json(&json!({"new":true}), 12))
    })
    .unwrap();
    let fresh = g.lookup(&a, expiry).unwrap().unwrap();
    assert_eq!(fresh.attributes.to_json(), json!({"new":true}));
    assert!(!fresh.has_identity(&b));
    assert!(g.lookup(&b, expiry).unwrap().is_none());
    assert!(g.identity_record(&b).unwrap().is_none());
    // A sweep removes what nobody touched.
    set_attr(&g, &b, json!({"x":1}), 13);
    assert_eq!(g.sweep(expiry + policy.ttl_ms, 100).unwrap(), 2);
    assert!(keys_of(&kv).is_empty());
}

#[test]
fn unlink_splits_and_older_links_stay_split() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    let g = Graph::new(&kv, &policy);
    let ecid = who("ECID", "9");
    let crm = who("CRMID", "k");
    set_attr(&g, &crm, json!({"tier":"gold"}), 10);
    g.update(&ecid, 11, NOW, |p| {
        p.add_counter("visits", 2);
        Ok(true)
    })
    .unwrap();
    g.link(&[ecid.clone(), crm.clone()], 20, NOW).unwrap();

    assert_eq!(g.unlink(&ecid, 30, NOW).unwrap(), Outcome::Changed);
    let known = g.lookup(&crm, NOW).unwrap().unwrap();
    let split = g.lookup(&ecid, NOW).unwrap().unwrap();
    assert_ne!(known.id, split.id);
    assert_eq!(split.id.as_str(), "~30/ECID/9");
    assert!(!known.has_identity(&ecid));
    assert_eq!(known.counters["visits"], 2);
    assert!(split.counters.is_empty() && split.attributes.is_empty());
    // Replays of the unlink and of the older link change nothing.
    assert_eq!(g.unlink(&ecid, 30, NOW).unwrap(), Outcome::Unchanged);
    assert_eq!(
        g.link(&[ecid.clone(), crm.clone()], 20, NOW).unwrap(),
        Outcome::Superseded
    );
    assert_ne!(g.lookup(&ecid, NOW).unwrap().unwrap().id, known.id);
    // A newer link joins them again.
    g.link(&[ecid.clone(), crm.clone()], 40, NOW).unwrap();
    assert_eq!(
        g.lookup(&ecid, NOW).unwrap().unwrap().id,
        g.lookup(&crm, NOW).unwrap().unwrap().id
    );
}

#[test]
fn a_merge_left_half_done_is_finished_once() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    let g = Graph::new(&kv, &policy);
    let a = who("CRMID", "a");
    let b = who("ECID", "5");
    set_attr(&g, &a, json!({"a":1}), 10);
    g.update(&b, 10, NOW, |p| {
        p.add_counter("n", 1);
        Ok(true)
    })
    .unwrap();
    // Simulate a merger that stopped after forwarding b's profile into a's.
    let b_slot = keys::profile(&ProfileId::primary(&b));
    let ProfileSlot::Live(data) = codec::decode(&kv.get(&b_slot).unwrap().unwrap()).unwrap() else {
        panic!("live")
    };
    let fwd = ProfileSlot::Forward {
        into: ProfileId::primary(&a),
        pending: Some(Box::new(data)),
    };
    kv.set(&b_slot, &codec::encode(&fwd).unwrap()).unwrap();
    // The next writer through b finishes the fold; a second pass does not double the counter.
    g.update(&b, 20, NOW, |p| {
        Ok(p.attributes.merge_json(&json!({"b":1}), 20))
    })
    .unwrap();
    g.link(&[a.clone(), b.clone()], 30, NOW).unwrap();
    let p = g.lookup(&a, NOW).unwrap().unwrap();
    assert_eq!(p.counters["n"], 1);
    assert_eq!(p.attributes.to_json(), json!({"a":1,"b":1}));
    assert_eq!(p.absorbed, [ProfileId::primary(&b)]);
}

#[test]
fn identity_limit_is_enforced() {
    let kv = MemoryKv::new();
    let policy = Policy {
        max_identities: 2,
        ..Policy::default()
    };
    let g = Graph::new(&kv, &policy);
    let ids = [who("ECID", "1"), who("ECID", "2"), who("ECID", "3")];
    assert!(matches!(
        g.link(&ids, 1, NOW),
        Err(Error::TooManyIdentities { count: 3, limit: 2 })
    ));
    g.link(&ids[..2], 1, NOW).unwrap();
    assert!(matches!(
        g.link(&ids[1..], 2, NOW),
        Err(Error::TooManyIdentities { .. })
    ));
}

#[test]
fn the_borrowed_slot_encodes_like_the_owned_one() {
    let policy = Policy::default();
    let a = who("ECID", "1");
    let p = Profile::new(ProfileId::primary(&a), a, 1, 2, &policy);
    assert_eq!(encode_live_slot(&p).unwrap(), encode_live(&p).ok().unwrap());
    assert_eq!(
        encode_live(&p).ok().unwrap(),
        codec::encode(&ProfileSlot::Live(p)).unwrap()
    );
}

#[test]
fn concurrent_writers_never_lose_an_update() {
    let kv = MemoryKv::new();
    let policy = Policy::default();
    let ids: Vec<Identity> = (0..4).map(|i| who("ECID", &i.to_string())).collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (kv, policy, ids) = (&kv, &policy, &ids);
            s.spawn(move || {
                let g = Graph::new(kv, policy);
                for i in 0..50 {
                    let me = &ids[(t + i) % ids.len()];
                    g.update(me, 1, NOW, |p| {
                        p.add_counter("n", 1);
                        Ok(true)
                    })
                    .unwrap();
                    if i % 10 == 0 {
                        g.link(&[ids[t].clone(), ids[(t + 1) % ids.len()].clone()], 1, NOW)
                            .unwrap();
                    }
                }
            });
        }
    });
    let g = Graph::new(&kv, &policy);
    let p = g.lookup(&ids[0], NOW).unwrap().unwrap();
    assert_eq!(p.identities.len(), 4);
    assert_eq!(p.counters["n"], 200);
    for id in &ids {
        assert_eq!(g.lookup(id, NOW).unwrap().unwrap().id, p.id);
    }
}
