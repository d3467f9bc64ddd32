//! Published definitions: segment and activity catalogs, one value per kind, compiled at
//! publish time into what a request needs so it decodes them in one step (a component lives for
//! one request and reads them on every request).
//!
//! Each definition carries its publish timestamp; a newer one replaces it and an older one is
//! ignored, so replays and out-of-order publishes converge. Retiring keeps a small entry (the
//! retirement time) so an older active record cannot bring a definition back. The catalog's
//! `etag` changes exactly when its content does.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use vantage_kv::Kv;

use crate::codec::{self, Stored};
use crate::keys;
use crate::policy::Policy;
use crate::{Error, Result};

/// Whether a definition is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub enum DefinitionStatus {
    /// Published and in use.
    Active,
    /// Withdrawn (greatest, so a retirement wins a timestamp tie).
    Retired,
}

impl DefinitionStatus {
    /// Parses `active` / `retired`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }
}

/// A segment definition.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SegmentDefinition {
    /// Its id; conditions elsewhere refer to it.
    pub id: String,
    /// A display name.
    pub name: String,
    /// The PQL source, kept so it can be compiled later without a re-publish.
    pub expression: String,
    /// The publish timestamp, ms.
    pub timestamp: i64,
    /// Active or retired.
    pub status: DefinitionStatus,
    /// The compiled plan, opaque here; `None` until the PQL engine compiles it.
    pub plan: Option<Vec<u8>>,
}

/// An activity definition: the JSON as published, plus what the catalog indexes.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ActivityDefinition {
    /// Its id.
    pub id: String,
    /// The publish timestamp, ms.
    pub timestamp: i64,
    /// Active or retired.
    pub status: DefinitionStatus,
    /// The record as given, as JSON text (empty once retired).
    pub json: String,
    /// The decision scopes it applies to (`scopes` in the record), for the index.
    pub scopes: Vec<String>,
}

/// Every segment definition, sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct SegmentCatalog {
    /// Bumped on every content change; lets a caller tell two reads apart cheaply.
    pub etag: u64,
    /// The definitions, sorted by id (retired ones included).
    pub segments: Vec<SegmentDefinition>,
}
impl Stored for SegmentCatalog {}

/// Every activity definition, sorted by id, with an index by scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct ActivityCatalog {
    /// Bumped on every content change.
    pub etag: u64,
    /// The definitions, sorted by id (retired ones included).
    pub activities: Vec<ActivityDefinition>,
    /// Scope → positions in `activities` of the active definitions for it, so a request
    /// decodes only the JSON of the activities that concern it.
    pub by_scope: BTreeMap<String, Vec<u32>>,
}
impl Stored for ActivityCatalog {}

impl SegmentCatalog {
    /// The definition with this id, active or retired.
    pub fn get(&self, id: &str) -> Option<&SegmentDefinition> {
        self.segments
            .binary_search_by(|s| s.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.segments[i])
    }

    /// The active definitions.
    pub fn active(&self) -> impl Iterator<Item = &SegmentDefinition> {
        self.segments
            .iter()
            .filter(|s| s.status == DefinitionStatus::Active)
    }
}

impl ActivityCatalog {
    /// The definition with this id, active or retired.
    pub fn get(&self, id: &str) -> Option<&ActivityDefinition> {
        self.activities
            .binary_search_by(|a| a.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.activities[i])
    }

    /// The active definitions.
    pub fn active(&self) -> impl Iterator<Item = &ActivityDefinition> {
        self.activities
            .iter()
            .filter(|a| a.status == DefinitionStatus::Active)
    }

    /// The active definitions for `scope`.
    pub fn for_scope<'s>(&'s self, scope: &str) -> impl Iterator<Item = &'s ActivityDefinition> {
        self.by_scope
            .get(scope)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.activities.get(i as usize))
    }

    fn reindex(&mut self) {
        self.by_scope.clear();
        for (i, a) in self.activities.iter().enumerate() {
            if a.status != DefinitionStatus::Active {
                continue;
            }
            for scope in &a.scopes {
                let Ok(i) = u32::try_from(i) else { continue };
                self.by_scope.entry(scope.clone()).or_default().push(i);
            }
        }
    }
}

/// Whether `new` replaces `old`: a newer timestamp wins; at a tie, retired beats active, then
/// the larger content, so every replica picks the same one.
fn newer<T: Ord>(new: (i64, DefinitionStatus, T), old: (i64, DefinitionStatus, T)) -> bool {
    new > old
}

/// Reads the segment catalog (empty when nothing was published).
pub fn segments<K: Kv + ?Sized>(kv: &K) -> Result<SegmentCatalog> {
    read(kv, keys::SEGMENT_CATALOG)
}

/// Reads the activity catalog (empty when nothing was published).
pub fn activities<K: Kv + ?Sized>(kv: &K) -> Result<ActivityCatalog> {
    read(kv, keys::ACTIVITY_CATALOG)
}

/// Publishes (or retires) a segment definition. A definition equal to the stored one changes
/// nothing, except that a stored definition without a plan takes the plan offered. Returns
/// whether the catalog changed.
pub fn publish_segment<K: Kv + ?Sized>(
    kv: &K,
    def: &SegmentDefinition,
    policy: &Policy,
) -> Result<bool> {
    modify(
        kv,
        keys::SEGMENT_CATALOG,
        policy,
        |cat: &mut SegmentCatalog| {
            let key = |d: &SegmentDefinition| {
                (
                    d.timestamp,
                    d.status,
                    (d.expression.clone(), d.name.clone()),
                )
            };
            match cat.segments.binary_search_by(|s| s.id.cmp(&def.id)) {
                Ok(i) => {
                    let old = &mut cat.segments[i];
                    if newer(key(def), key(old)) {
                        *old = def.clone();
                        true
                    } else if key(def) == key(old) && old.plan.is_none() && def.plan.is_some() {
                        old.plan.clone_from(&def.plan);
                        true
                    } else {
                        false
                    }
                }
                Err(i) => {
                    cat.segments.insert(i, def.clone());
                    true
                }
            }
        },
    )
}

/// Stores a compiled plan for segment `id` as published at `timestamp` (a later publish has
/// its own plan). Returns whether the catalog changed.
pub fn set_segment_plan<K: Kv + ?Sized>(
    kv: &K,
    id: &str,
    timestamp: i64,
    plan: Vec<u8>,
    policy: &Policy,
) -> Result<bool> {
    modify(
        kv,
        keys::SEGMENT_CATALOG,
        policy,
        |cat: &mut SegmentCatalog| match cat
            .segments
            .iter_mut()
            .find(|s| s.id == id && s.timestamp == timestamp)
        {
            Some(s) if s.plan.as_ref() != Some(&plan) => {
                s.plan = Some(plan.clone());
                true
            }
            _ => false,
        },
    )
}

/// Publishes (or retires) an activity definition. Returns whether the catalog changed.
pub fn publish_activity<K: Kv + ?Sized>(
    kv: &K,
    def: &ActivityDefinition,
    policy: &Policy,
) -> Result<bool> {
    modify(
        kv,
        keys::ACTIVITY_CATALOG,
        policy,
        |cat: &mut ActivityCatalog| {
            let key = |d: &ActivityDefinition| (d.timestamp, d.status, d.json.clone());
            let changed = match cat.activities.binary_search_by(|a| a.id.cmp(&def.id)) {
                Ok(i) if newer(key(def), key(&cat.activities[i])) => {
                    cat.activities[i] = def.clone();
                    true
                }
                Ok(_) => false,
                Err(i) => {
                    cat.activities.insert(i, def.clone());
                    true
                }
            };
            if changed {
                cat.reindex();
            }
            changed
        },
    )
}

fn read<K: Kv + ?Sized, T: Stored + Default>(kv: &K, key: &str) -> Result<T> {
    match kv.get(key)? {
        None => Ok(T::default()),
        Some(bytes) => codec::decode(&bytes).map_err(|source| Error::Codec {
            key: key.to_owned(),
            source,
        }),
    }
}

/// CAS read-modify-write of a catalog; `f` says whether it changed it. The etag is bumped on
/// change.
fn modify<K, T, F>(kv: &K, key: &str, policy: &Policy, mut f: F) -> Result<bool>
where
    K: Kv + ?Sized,
    T: Stored + Default + Etagged,
    F: FnMut(&mut T) -> bool,
{
    let codec_err = |source| Error::Codec {
        key: key.to_owned(),
        source,
    };
    let written = vantage_kv::update(kv, key, policy.cas_retries, |cur| {
        let mut cat: T = match cur {
            None => T::default(),
            Some(bytes) => codec::decode(bytes).map_err(codec_err)?,
        };
        if !f(&mut cat) {
            return Ok(None);
        }
        cat.bump();
        codec::encode(&cat).map(Some).map_err(codec_err)
    })?;
    Ok(written.is_some())
}

trait Etagged {
    fn bump(&mut self);
}
impl Etagged for SegmentCatalog {
    fn bump(&mut self) {
        self.etag = self.etag.wrapping_add(1);
    }
}
impl Etagged for ActivityCatalog {
    fn bump(&mut self) {
        self.etag = self.etag.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use vantage_kv::MemoryKv;

    use super::*;

    fn seg(id: &str, ts: i64, expr: &str, status: DefinitionStatus) -> SegmentDefinition {
        SegmentDefinition {
            id: id.into(),
            name: id.into(),
            expression: expr.into(),
            timestamp: ts,
            status,
            plan: None,
        }
    }

    #[test]
    fn newest_publish_wins_and_replays_keep_the_etag() {
        let kv = MemoryKv::new();
        let p = Policy::default();
        use DefinitionStatus::*;
        assert!(publish_segment(&kv, &seg("b", 10, "x = 1", Active), &p).unwrap());
        assert!(publish_segment(&kv, &seg("a", 10, "y = 1", Active), &p).unwrap());
        assert!(publish_segment(&kv, &seg("b", 20, "x = 2", Active), &p).unwrap());
        assert!(!publish_segment(&kv, &seg("b", 15, "x = 3", Active), &p).unwrap());
        let etag = segments(&kv).unwrap().etag;
        assert!(!publish_segment(&kv, &seg("b", 20, "x = 2", Active), &p).unwrap());
        let cat = segments(&kv).unwrap();
        assert_eq!(cat.etag, etag);
        assert_eq!(cat.get("b").unwrap().expression, "x = 2");
        assert_eq!(cat.segments[0].id, "a");
        // Retire; an older active record cannot bring it back.
        assert!(publish_segment(&kv, &seg("b", 30, "", Retired), &p).unwrap());
        assert!(!publish_segment(&kv, &seg("b", 25, "x = 9", Active), &p).unwrap());
        let ids: Vec<_> = segments(&kv)
            .unwrap()
            .active()
            .map(|s| s.id.clone())
            .collect();
        assert_eq!(ids, ["a"]);
    }

    #[test]
    fn plans_fill_in_later_without_a_republish() {
        let kv = MemoryKv::new();
        let p = Policy::default();
        publish_segment(&kv, &seg("s", 10, "x = 1", DefinitionStatus::Active), &p).unwrap();
        assert!(set_segment_plan(&kv, "s", 10, vec![1, 2, 3], &p).unwrap());
        assert!(!set_segment_plan(&kv, "s", 9, vec![9], &p).unwrap());
        assert_eq!(
            segments(&kv).unwrap().get("s").unwrap().plan,
            Some(vec![1, 2, 3])
        );
        // Republishing the same definition keeps the plan.
        assert!(
            !publish_segment(&kv, &seg("s", 10, "x = 1", DefinitionStatus::Active), &p).unwrap()
        );
        assert!(segments(&kv).unwrap().get("s").unwrap().plan.is_some());
    }

    #[test]
    fn activities_are_indexed_by_scope() {
        let kv = MemoryKv::new();
        let p = Policy::default();
        let act = |id: &str, ts, status, scopes: &[&str]| ActivityDefinition {
            id: id.into(),
            timestamp: ts,
            status,
            json: format!("{{\"id\":\"{id}\"}}"),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        publish_activity(
            &kv,
            &act("hero", 1, DefinitionStatus::Active, &["__view__"]),
            &p,
        )
        .unwrap();
        publish_activity(
            &kv,
            &act("cart", 1, DefinitionStatus::Active, &["cart", "__view__"]),
            &p,
        )
        .unwrap();
        let cat = activities(&kv).unwrap();
        let ids: Vec<_> = cat.for_scope("__view__").map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["cart", "hero"]);
        publish_activity(&kv, &act("cart", 2, DefinitionStatus::Retired, &[]), &p).unwrap();
        let cat = activities(&kv).unwrap();
        assert_eq!(cat.for_scope("cart").count(), 0);
        assert_eq!(cat.active().count(), 1);
    }
}
