//! Version-1 bytes of every stored record, frozen: if a layout change slips in without a new
//! codec version and a migration, these stop decoding and the change is caught here.

use serde_json::json;

use crate::catalog::{
    ActivityCatalog, ActivityDefinition, DefinitionStatus, SegmentCatalog, SegmentDefinition,
};
use crate::codec::{self, CodecError};
use crate::graph::{IdentityRecord, ProfileSlot, Tombstone};
use crate::profile::{Event, consent, membership, sticky};
use crate::{Identity, Policy, Profile, ProfileId};

fn sample_profile() -> Profile {
    let policy = Policy::default();
    let ecid = Identity::new("ECID", "1").unwrap();
    let mut p = Profile::new(ProfileId::primary(&ecid), ecid, 1, 2, &policy);
    p.attributes.merge_json(&json!({"tier": "gold"}), 3);
    membership::apply(
        &mut p.memberships,
        "vip",
        membership::Membership {
            since: 4,
            status: membership::Status::Realized,
            source: membership::Source::Batch,
        },
    );
    p.push_event(
        Event {
            ts: 5,
            id: "e".into(),
            kind: "t".into(),
            xdm: "{}".into(),
        },
        6,
        &policy,
    );
    p.add_counter("n", 7);
    p.affinity.view("c", 8);
    crate::profile::caps::record(&mut p.caps, "o", 9);
    sticky::assign(
        &mut p.sticky,
        "a",
        sticky::Assignment {
            assigned_at: 10,
            experience: "x".into(),
            bucket_version: 1,
        },
    );
    consent::set(
        &mut p.consent,
        "collect",
        consent::Entry {
            ts: 11,
            choice: consent::Choice::Yes,
        },
    );
    p.absorbed
        .push(ProfileId::primary(&Identity::new("ECID", "2").unwrap()));
    p
}

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let who = Identity::new("CRMID", "c").unwrap();
    vec![
        (
            "identity",
            codec::encode(&IdentityRecord {
                profile: Some(ProfileId::primary(&who)),
                unlinked_at: Some(12),
            })
            .unwrap(),
        ),
        (
            "tombstone",
            codec::encode(&Tombstone {
                deleted_at: 13,
                expires_at: 14,
            })
            .unwrap(),
        ),
        (
            "profile",
            codec::encode(&ProfileSlot::Live(sample_profile())).unwrap(),
        ),
        (
            "forward",
            codec::encode(&ProfileSlot::Forward {
                into: ProfileId::primary(&who),
                pending: None,
            })
            .unwrap(),
        ),
        (
            "segments",
            codec::encode(&SegmentCatalog {
                etag: 1,
                segments: vec![SegmentDefinition {
                    id: "s".into(),
                    name: "S".into(),
                    expression: "a = 1".into(),
                    timestamp: 15,
                    status: DefinitionStatus::Active,
                    plan: Some(vec![0xAB]),
                }],
            })
            .unwrap(),
        ),
        (
            "activities",
            codec::encode(&ActivityCatalog {
                etag: 2,
                activities: vec![ActivityDefinition {
                    id: "h".into(),
                    timestamp: 16,
                    status: DefinitionStatus::Retired,
                    json: "{}".into(),
                    scopes: vec!["v".into()],
                }],
                by_scope: [("v".to_owned(), vec![0])].into(),
            })
            .unwrap(),
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The frozen version-1 encodings, by name.
const V1: &[(&str, &str)] = &[
    ("identity", "01010743524d49442f630118"),
    ("tombstone", "011a1c"),
    (
        "profile",
        "010006454349442f3101044543494401310201052f74696572060622676f6c64220103766970080002010a01650174027b7d01016e0e01016300000000000024401001016f010112010161140178010107636f6c6c65637416000106454349442f320404fc04103290",
    ),
    ("forward", "01010743524d49442f6300"),
    ("segments", "010101017301530561203d20311e000101ab"),
    ("activities", "01020101682001027b7d0101760101760100"),
];

#[test]
fn version_1_fixtures_still_decode() {
    assert_eq!(V1.len(), samples().len());
    for (name, frozen) in V1 {
        let bytes = unhex(frozen);
        let encoded = samples()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b)
            .unwrap();
        // Today's encoder writes exactly the frozen bytes...
        assert_eq!(hex(&encoded), *frozen, "{name}");
        // ...and the frozen bytes decode to the same values.
        match *name {
            "identity" => drop(codec::decode::<IdentityRecord>(&bytes).unwrap()),
            "tombstone" => drop(codec::decode::<Tombstone>(&bytes).unwrap()),
            "profile" => assert_eq!(
                codec::decode::<ProfileSlot>(&bytes).unwrap(),
                ProfileSlot::Live(sample_profile())
            ),
            "forward" => drop(codec::decode::<ProfileSlot>(&bytes).unwrap()),
            "segments" => drop(codec::decode::<SegmentCatalog>(&bytes).unwrap()),
            "activities" => drop(codec::decode::<ActivityCatalog>(&bytes).unwrap()),
            other => panic!("no decoder for {other}"),
        }
    }
}

#[test]
fn other_versions_of_the_same_bytes_are_errors() {
    for (_, mut bytes) in samples() {
        bytes[0] = 2;
        assert_eq!(
            codec::decode::<ProfileSlot>(&bytes),
            Err(CodecError::UnknownVersion(2))
        );
    }
}
