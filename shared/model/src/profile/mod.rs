//! The edge profile: one value per profile holding everything the edge knows about a person,
//! and the pure operations on it (merge, split, retention, the size cap). Storage and identity
//! resolution are in [`crate::graph`].

pub mod affinity;
pub mod attributes;
pub mod caps;
pub mod consent;
pub mod events;
pub mod membership;
pub mod sticky;
mod view;

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

use crate::identity::Identity;
use crate::keys::ProfileId;
use crate::policy::Policy;

pub use affinity::Affinity;
pub use attributes::Attributes;
pub use caps::Caps;
pub use consent::Consent;
pub use events::{Event, Events};
pub use membership::{Membership, Memberships};
pub use sticky::Sticky;

/// An identity of a profile and when it joined.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub struct LinkedIdentity {
    /// The identity.
    pub identity: Identity,
    /// The timestamp of the record that linked it, ms.
    pub linked_at: i64,
}

/// The edge profile.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Profile {
    /// Its name; also its key.
    pub id: ProfileId,
    /// Its identities, sorted. The identity records (`ident/…`) are the source of truth; this
    /// list is what deletes and views walk.
    pub identities: Vec<LinkedIdentity>,
    /// Attributes, last writer wins per field.
    pub attributes: Attributes,
    /// Segment memberships.
    pub memberships: Memberships,
    /// Recent events.
    pub events: Events,
    /// Named counters (page views, purchases, …).
    pub counters: BTreeMap<String, i64>,
    /// Category affinity.
    pub affinity: Affinity,
    /// Frequency-cap counters.
    pub caps: Caps,
    /// Sticky experience assignments by activity.
    pub sticky: Sticky,
    /// Consent by purpose.
    pub consent: Consent,
    /// Profiles merged into this one (their slots forward here); makes a merge apply once and
    /// tells a delete which forwards to remove.
    pub absorbed: Vec<ProfileId>,
    /// When it was created, ms.
    pub created_at: i64,
    /// When it last changed, ms.
    pub updated_at: i64,
    /// When it expires unless written again, ms.
    pub expires_at: i64,
}

/// Why a profile could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Still too big after dropping every event and affinity score.
    #[error("profile would be {size} bytes encoded, over the {limit}-byte cap")]
    TooLarge {
        /// Encoded size after trimming.
        size: usize,
        /// The cap.
        limit: usize,
    },
}

impl Profile {
    /// An empty profile for `identity`, linked at `ts`, expiring a TTL after `now`.
    pub fn new(id: ProfileId, identity: Identity, ts: i64, now: i64, policy: &Policy) -> Self {
        Self {
            id,
            identities: vec![LinkedIdentity {
                identity,
                linked_at: ts,
            }],
            attributes: Attributes::default(),
            memberships: Memberships::new(),
            events: Events::default(),
            counters: BTreeMap::new(),
            affinity: Affinity::default(),
            caps: Caps::new(),
            sticky: Sticky::new(),
            consent: Consent::new(),
            absorbed: Vec::new(),
            created_at: now,
            updated_at: now,
            expires_at: now.saturating_add(policy.ttl_ms),
        }
    }

    /// Whether the profile has expired at `now`: it then reads as absent.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at <= now
    }

    /// Marks activity at `now`: refreshes the TTL.
    pub fn touch(&mut self, now: i64, policy: &Policy) {
        self.updated_at = self.updated_at.max(now);
        self.expires_at = self.expires_at.max(now.saturating_add(policy.ttl_ms));
    }

    /// Whether `identity` is one of this profile's.
    pub fn has_identity(&self, identity: &Identity) -> bool {
        self.identities.iter().any(|l| l.identity == *identity)
    }

    /// Adds `identity` (keeping the earliest link time). Returns whether it changed.
    pub fn add_identity(&mut self, identity: &Identity, linked_at: i64) -> bool {
        match self
            .identities
            .binary_search_by(|l| l.identity.cmp(identity))
        {
            Ok(i) if self.identities[i].linked_at <= linked_at => false,
            Ok(i) => {
                self.identities[i].linked_at = linked_at;
                true
            }
            Err(i) => {
                self.identities.insert(
                    i,
                    LinkedIdentity {
                        identity: identity.clone(),
                        linked_at,
                    },
                );
                true
            }
        }
    }

    /// Adds `delta` to a named counter (saturating).
    pub fn add_counter(&mut self, name: &str, delta: i64) {
        let c = self.counters.entry(name.to_owned()).or_insert(0);
        *c = c.saturating_add(delta);
    }

    /// Records an event, applying the ring bounds.
    pub fn push_event(&mut self, event: Event, now: i64, policy: &Policy) -> bool {
        self.events
            .push(event, policy.max_events, policy.event_window_ms, now)
    }

    /// Folds `other` (a profile being merged into this one) in: attributes by per-field
    /// timestamp, memberships by the latest update, events by a union on id (ring bounds
    /// applied), counters and caps summed, affinity summed per category, sticky assignments by
    /// the earliest, consent by the latest per purpose, identities united. Applying the same
    /// `other` twice is prevented by [`absorbed`](Self::absorbed), not here.
    pub fn absorb(&mut self, other: &Profile, now: i64, policy: &Policy) {
        for l in &other.identities {
            self.add_identity(&l.identity, l.linked_at);
        }
        self.attributes.merge(&other.attributes);
        for (segment, m) in &other.memberships {
            membership::apply(&mut self.memberships, segment, *m);
        }
        self.events.merge(
            &other.events,
            policy.max_events,
            policy.event_window_ms,
            now,
        );
        for (name, v) in &other.counters {
            self.add_counter(name, *v);
        }
        self.affinity.merge(&other.affinity);
        caps::merge(&mut self.caps, &other.caps);
        sticky::merge(&mut self.sticky, &other.sticky);
        consent::merge(&mut self.consent, &other.consent);
        for id in std::iter::once(&other.id).chain(&other.absorbed) {
            if let Err(i) = self.absorbed.binary_search(id) {
                self.absorbed.insert(i, id.clone());
            }
        }
        self.created_at = self.created_at.min(other.created_at);
        self.updated_at = self.updated_at.max(other.updated_at).max(now);
        self.expires_at = self.expires_at.max(other.expires_at);
    }

    /// Splits `identity` off into a new profile named `id` (an unlink). What the edge knows
    /// cannot be attributed to one identity of a merged profile, so this profile keeps all of
    /// it (attributes, memberships, events, counters, affinity, caps); the new profile starts
    /// empty except for a copy of the consent (a refusal must not be lost by a split) and of the
    /// sticky assignments (the person keeps seeing the experiences they were shown).
    pub fn detach(
        &mut self,
        identity: &Identity,
        id: ProfileId,
        ts: i64,
        now: i64,
        policy: &Policy,
    ) -> Profile {
        self.identities.retain(|l| l.identity != *identity);
        self.touch(now, policy);
        let mut split = Profile::new(id, identity.clone(), ts, now, policy);
        split.consent = self.consent.clone();
        split.sticky = self.sticky.clone();
        split
    }

    /// Applies the size cap and encodes. Over `policy.max_profile_bytes`, the oldest events are
    /// dropped first, then the stalest affinity scores; if the profile is still too big the
    /// write is refused with [`SizeError::TooLarge`] (attributes, memberships and identities
    /// are never dropped silently). `encode` turns the profile into the stored bytes.
    pub fn fit<E>(
        &mut self,
        policy: &Policy,
        mut encode: impl FnMut(&Profile) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E>
    where
        E: From<SizeError>,
    {
        let limit = policy.max_profile_bytes;
        loop {
            let bytes = encode(self)?;
            if bytes.len() <= limit {
                return Ok(bytes);
            }
            // Drop roughly enough events to cover the excess before measuring again.
            let mut excess = bytes.len() - limit;
            let mut dropped = false;
            while excess > 0 {
                let Some(size) = self.events.iter().next().map(approx_size) else {
                    break;
                };
                self.events.drop_oldest();
                excess = excess.saturating_sub(size);
                dropped = true;
            }
            if !dropped && !self.affinity.drop_oldest() {
                return Err(SizeError::TooLarge {
                    size: bytes.len(),
                    limit,
                }
                .into());
            }
        }
    }
}

fn approx_size(e: &Event) -> usize {
    e.id.len() + e.kind.len() + e.xdm.len() + 12
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn who(ns: &str, id: &str) -> Identity {
        Identity::new(ns, id).unwrap()
    }

    fn event(id: &str, ts: i64, xdm_len: usize) -> Event {
        Event {
            ts,
            id: id.into(),
            kind: "commerce.productViews".into(),
            xdm: format!("\"{}\"", "x".repeat(xdm_len)),
        }
    }

    fn encode(p: &Profile) -> Result<Vec<u8>, SizeError> {
        Ok(bincode::encode_to_vec(p, bincode::config::standard()).unwrap())
    }

    #[test]
    fn absorb_merges_every_part() {
        let policy = Policy::default();
        let ecid = who("ECID", "1");
        let crm = who("CRMID", "c-42");
        let mut known = Profile::new(ProfileId::primary(&crm), crm.clone(), 100, 1000, &policy);
        known
            .attributes
            .merge_json(&json!({"tier":"gold","name":"Ada"}), 100);
        known.add_counter("visits", 2);
        known.push_event(event("k1", 900, 1), 1000, &policy);
        sticky::assign(
            &mut known.sticky,
            "hero",
            sticky::Assignment {
                assigned_at: 500,
                experience: "1".into(),
                bucket_version: 1,
            },
        );
        let mut anon = Profile::new(ProfileId::primary(&ecid), ecid.clone(), 50, 900, &policy);
        anon.attributes.merge_json(&json!({"tier":"silver"}), 200);
        anon.add_counter("visits", 3);
        anon.push_event(event("a1", 800, 1), 1000, &policy);
        membership::transition(
            &mut anon.memberships,
            "cart-abandoner",
            membership::Status::Realized,
            850,
            membership::Source::Edge,
        );
        sticky::assign(
            &mut anon.sticky,
            "hero",
            sticky::Assignment {
                assigned_at: 400,
                experience: "0".into(),
                bucket_version: 1,
            },
        );
        caps::record(&mut anon.caps, "offer:x", 850);
        known.absorb(&anon, 2000, &policy);

        assert!(known.has_identity(&ecid) && known.has_identity(&crm));
        assert_eq!(
            known.attributes.to_json(),
            json!({"tier":"silver","name":"Ada"})
        );
        assert_eq!(known.counters["visits"], 5);
        assert_eq!(known.events.len(), 2);
        assert!(membership::is_member(&known.memberships, "cart-abandoner"));
        assert_eq!(known.sticky["hero"].experience, "0");
        assert_eq!(known.caps["offer:x"].total, 1);
        assert_eq!(known.absorbed, [ProfileId::primary(&ecid)]);
        assert_eq!(known.created_at, 900);
    }

    #[test]
    fn detach_keeps_data_on_the_remaining_side() {
        let policy = Policy::default();
        let a = who("CRMID", "a");
        let b = who("ECID", "2");
        let mut p = Profile::new(ProfileId::primary(&a), a.clone(), 1, 1, &policy);
        p.add_identity(&b, 2);
        p.add_counter("visits", 1);
        consent::set(
            &mut p.consent,
            "collect",
            consent::Entry {
                ts: 1,
                choice: consent::Choice::No,
            },
        );
        let split = p.detach(&b, ProfileId::secondary(&b, 9), 9, 10, &policy);
        assert!(!p.has_identity(&b));
        assert_eq!(p.counters["visits"], 1);
        assert!(split.has_identity(&b) && split.counters.is_empty());
        assert!(!consent::allows(&split.consent, "collect"));
    }

    #[test]
    fn size_cap_drops_oldest_events_then_affinity_then_refuses() {
        let policy = Policy {
            max_profile_bytes: 2048,
            ..Policy::default()
        };
        let who = who("CRMID", "big");
        let mut p = Profile::new(ProfileId::primary(&who), who, 0, 0, &policy);
        for i in 0..20 {
            p.push_event(event(&format!("e{i:02}"), i, 200), 100, &policy);
        }
        p.affinity.view("shoes", 1);
        let bytes = p.fit(&policy, encode).unwrap();
        assert!(bytes.len() <= 2048);
        assert!(p.events.len() < 20 && !p.events.is_empty());
        // The newest survive.
        assert_eq!(p.events.iter().last().unwrap().id, "e19");
        assert_eq!(p.affinity.top(), Some("shoes"));

        // Attributes alone over the cap: events and affinity go, then the write is refused.
        p.attributes
            .merge_json(&json!({"blob": "y".repeat(4096)}), 1);
        let err = p.fit(&policy, encode).unwrap_err();
        assert!(matches!(err, SizeError::TooLarge { limit: 2048, .. }));
        assert!(p.events.is_empty() && p.affinity.scores().is_empty());
    }

    #[test]
    fn ttl_refreshes_on_activity() {
        let policy = Policy::default();
        let who = who("CRMID", "t");
        let mut p = Profile::new(ProfileId::primary(&who), who, 0, 0, &policy);
        assert!(!p.is_expired(policy.ttl_ms - 1));
        assert!(p.is_expired(policy.ttl_ms));
        p.touch(1000, &policy);
        assert!(!p.is_expired(policy.ttl_ms));
        assert_eq!(p.expires_at, 1000 + policy.ttl_ms);
    }
}
