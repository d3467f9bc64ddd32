//! Published definitions: segment and activity catalogs, one value per kind, compiled at
//! publish time into what a request needs so it decodes them in one step (a component lives for
//! one request and reads them on every request).
//!
//! Each definition carries its publish timestamp; a newer one replaces it and an older one is
//! ignored, so replays and out-of-order publishes converge. Retiring keeps a small entry (the
//! retirement time) so an older active record cannot bring a definition back. The catalog's
//! `etag` changes exactly when its content does.
//!
//! Activities also have a request-time layout, derived from the catalog (which keeps every
//! definition's JSON source) so a request reads only what concerns it and decodes no JSON:
//!
//! | key | value |
//! |---|---|
//! | `catalog/activity-index` | [`ActivityIndex`]: the active activities (id, source fingerprint) and their positions by scope, with the catalog `etag` it was built from |
//! | `catalog/activity/{id}` | [`CompiledActivity`]: one activity in the decisioning engine's compiled form (opaque here), or a retired marker |
//!
//! Both are written with CAS and never replaced by a value derived from an older catalog (a
//! lower `etag`), so concurrent and out-of-order publishers converge on the newest catalog.
//! The compiler lives with the engine (`vantage-decisioning`: its compile hook fills
//! [`publish_activity_compiled`] at ingest, and its `sync` derives the index); a reader that
//! finds a compiled value it cannot use (another format, stale, missing) compiles that
//! activity from the catalog's source instead.

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

/// The key of an activity's compiled form: `catalog/activity/{id}` (the id is everything after
/// the second `/`).
pub fn compiled_activity_key(id: &str) -> String {
    format!("{COMPILED_ACTIVITY_PREFIX}{id}")
}

/// Prefix of the compiled activities.
pub const COMPILED_ACTIVITY_PREFIX: &str = "catalog/activity/";
/// The request-time activity index.
pub const ACTIVITY_INDEX: &str = "catalog/activity-index";

/// FNV-1a 64 of a definition's source text: tells two versions of a definition apart (a content
/// fingerprint, not a security boundary: definitions come from the authenticated hub).
pub fn source_fingerprint(source: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in source.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One activity compiled at publish time (`catalog/activity/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct CompiledActivity {
    /// Its id.
    pub id: String,
    /// The `etag` of the catalog this was derived from; a write never replaces a higher one.
    pub etag: u64,
    /// [`source_fingerprint`] of the definition it was compiled from.
    pub source: u64,
    /// Active, or retired (then `plan` is empty).
    pub status: DefinitionStatus,
    /// The compiler's format: a reader decodes only a format it knows, and compiles the
    /// source itself otherwise.
    pub format: u32,
    /// The compiled form (opaque here).
    pub plan: Vec<u8>,
}
impl Stored for CompiledActivity {}

/// One active activity in the [`ActivityIndex`].
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct IndexEntry {
    /// Its id (its compiled form is under [`compiled_activity_key`]).
    pub id: String,
    /// [`source_fingerprint`] of the active definition.
    pub source: u64,
}

/// The request-time activity index (`catalog/activity-index`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct ActivityIndex {
    /// The catalog `etag` it was built from (first field: read without decoding the rest).
    pub etag: u64,
    /// The active activities, sorted by id.
    pub entries: Vec<IndexEntry>,
    /// Scope → positions in `entries` of the activities answering it (sorted).
    pub by_scope: BTreeMap<String, Vec<u32>>,
}
impl Stored for ActivityIndex {}

impl ActivityIndex {
    /// The index of `defs` (the active ones among them) as of catalog `etag`.
    pub fn build<'d>(etag: u64, defs: impl IntoIterator<Item = &'d ActivityDefinition>) -> Self {
        let mut active: Vec<&ActivityDefinition> = defs
            .into_iter()
            .filter(|d| d.status == DefinitionStatus::Active)
            .collect();
        active.sort_by(|a, b| a.id.cmp(&b.id));
        active.dedup_by(|a, b| a.id == b.id);
        let mut index = ActivityIndex {
            etag,
            ..ActivityIndex::default()
        };
        for def in active {
            let Ok(position) = u32::try_from(index.entries.len()) else {
                break;
            };
            for scope in &def.scopes {
                let list = index.by_scope.entry(scope.clone()).or_default();
                if list.last() != Some(&position) {
                    list.push(position);
                }
            }
            index.entries.push(IndexEntry {
                id: def.id.clone(),
                source: source_fingerprint(&def.json),
            });
        }
        index
    }

    /// The entry of `id`, if it is active.
    pub fn get(&self, id: &str) -> Option<&IndexEntry> {
        self.entries
            .binary_search_by(|e| e.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The entries answering any of `scopes`, each once, in id order.
    pub fn for_scopes<'s>(&'s self, scopes: &[String]) -> Vec<&'s IndexEntry> {
        let mut positions: Vec<u32> = scopes
            .iter()
            .filter_map(|s| self.by_scope.get(s))
            .flatten()
            .copied()
            .collect();
        positions.sort_unstable();
        positions.dedup();
        positions
            .into_iter()
            .filter_map(|p| self.entries.get(p as usize))
            .collect()
    }
}

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
    let written = modify(
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
    )?;
    Ok(written.is_some())
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
    let written = modify(
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
    )?;
    Ok(written.is_some())
}

/// Publishes (or retires) an activity definition. Returns whether the catalog changed.
pub fn publish_activity<K: Kv + ?Sized>(
    kv: &K,
    def: &ActivityDefinition,
    policy: &Policy,
) -> Result<bool> {
    Ok(publish_activity_etag(kv, def, policy)?.is_some())
}

/// Publishes (or retires) an activity definition together with its compiled form `(format,
/// plan)`: when the catalog changed, the compiled value (a retired marker for a retirement) is
/// written as of the new catalog `etag`. Returns whether the catalog changed.
pub fn publish_activity_compiled<K: Kv + ?Sized>(
    kv: &K,
    def: &ActivityDefinition,
    compiled: Option<(u32, Vec<u8>)>,
    policy: &Policy,
) -> Result<bool> {
    let Some(etag) = publish_activity_etag(kv, def, policy)? else {
        return Ok(false);
    };
    let record = match (def.status, compiled) {
        (DefinitionStatus::Active, Some((format, plan))) => CompiledActivity {
            id: def.id.clone(),
            etag,
            source: source_fingerprint(&def.json),
            status: DefinitionStatus::Active,
            format,
            plan,
        },
        (DefinitionStatus::Retired, _) => CompiledActivity {
            id: def.id.clone(),
            etag,
            source: 0,
            status: DefinitionStatus::Retired,
            format: 0,
            plan: Vec::new(),
        },
        // Nothing compiled: the index sync compiles it from the catalog.
        (DefinitionStatus::Active, None) => return Ok(true),
    };
    write_compiled_activity(kv, &record, policy)?;
    Ok(true)
}

/// Writes a compiled activity unless the stored one was derived from a catalog at least as new
/// (a value that does not decode is replaced). Returns whether it wrote.
pub fn write_compiled_activity<K: Kv + ?Sized>(
    kv: &K,
    record: &CompiledActivity,
    policy: &Policy,
) -> Result<bool> {
    let key = compiled_activity_key(&record.id);
    let bytes = codec::encode(record).map_err(|source| Error::Codec {
        key: key.clone(),
        source,
    })?;
    let written = vantage_kv::update(kv, &key, policy.cas_retries, |cur| {
        let newer_stored = cur
            .and_then(|b| codec::decode::<CompiledActivity>(b).ok())
            .is_some_and(|c| c.etag >= record.etag);
        Ok::<_, Error>((!newer_stored).then(|| bytes.clone()))
    })?;
    Ok(written.is_some())
}

/// Writes the activity index unless the stored one was built from a catalog at least as new (a
/// value that does not decode is replaced). Returns whether it wrote.
pub fn write_activity_index<K: Kv + ?Sized>(
    kv: &K,
    index: &ActivityIndex,
    policy: &Policy,
) -> Result<bool> {
    let bytes = codec::encode(index).map_err(|source| Error::Codec {
        key: ACTIVITY_INDEX.to_owned(),
        source,
    })?;
    let written = vantage_kv::update(kv, ACTIVITY_INDEX, policy.cas_retries, |cur| {
        let newer_stored = cur.and_then(etag_of).is_some_and(|e| e >= index.etag);
        Ok::<_, Error>((!newer_stored).then(|| bytes.clone()))
    })?;
    Ok(written.is_some())
}

/// Reads the activity index (`None` when none was built). A stored index that does not decode
/// (another codec version) is an error; readers fall back to the catalog then.
pub fn activity_index<K: Kv + ?Sized>(kv: &K) -> Result<Option<ActivityIndex>> {
    match kv.get(ACTIVITY_INDEX)? {
        None => Ok(None),
        Some(bytes) => codec::decode(&bytes)
            .map(Some)
            .map_err(|source| Error::Codec {
                key: ACTIVITY_INDEX.to_owned(),
                source,
            }),
    }
}

/// Reads the compiled forms of `ids` in one batch, in order: `None` where there is none, an
/// error where the stored value does not decode.
pub fn compiled_activities<K: Kv + ?Sized>(
    kv: &K,
    ids: &[&str],
) -> Result<Vec<Option<Result<CompiledActivity, codec::CodecError>>>> {
    let keys: Vec<String> = ids.iter().map(|id| compiled_activity_key(id)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    Ok(kv
        .get_many(&refs)?
        .into_iter()
        .map(|v| v.map(|bytes| codec::decode(&bytes)))
        .collect())
}

/// The `etag` of an encoded segment catalog, activity catalog or activity index (each has it as
/// its first field) without decoding the rest; `None` for another codec version or garbage.
pub fn etag_of(bytes: &[u8]) -> Option<u64> {
    let (&version, body) = bytes.split_first()?;
    if version != codec::VERSION {
        return None;
    }
    bincode::decode_from_slice::<u64, _>(body, bincode::config::standard())
        .ok()
        .map(|(etag, _)| etag)
}

/// [`publish_activity`], returning the new catalog etag when it changed.
fn publish_activity_etag<K: Kv + ?Sized>(
    kv: &K,
    def: &ActivityDefinition,
    policy: &Policy,
) -> Result<Option<u64>> {
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
/// change; returns the etag written, `None` when nothing changed.
fn modify<K, T, F>(kv: &K, key: &str, policy: &Policy, mut f: F) -> Result<Option<u64>>
where
    K: Kv + ?Sized,
    T: Stored + Default + Etagged,
    F: FnMut(&mut T) -> bool,
{
    let codec_err = |source| Error::Codec {
        key: key.to_owned(),
        source,
    };
    let mut etag = 0;
    let written = vantage_kv::update(kv, key, policy.cas_retries, |cur| {
        let mut cat: T = match cur {
            None => T::default(),
            Some(bytes) => codec::decode(bytes).map_err(codec_err)?,
        };
        if !f(&mut cat) {
            return Ok(None);
        }
        etag = cat.bump();
        codec::encode(&cat).map(Some).map_err(codec_err)
    })?;
    Ok(written.map(|_| etag))
}

trait Etagged {
    /// Bumps the etag and returns the new one.
    fn bump(&mut self) -> u64;
}
impl Etagged for SegmentCatalog {
    fn bump(&mut self) -> u64 {
        self.etag = self.etag.wrapping_add(1);
        self.etag
    }
}
impl Etagged for ActivityCatalog {
    fn bump(&mut self) -> u64 {
        self.etag = self.etag.wrapping_add(1);
        self.etag
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

    fn act(id: &str, ts: i64, status: DefinitionStatus, scopes: &[&str]) -> ActivityDefinition {
        ActivityDefinition {
            id: id.into(),
            timestamp: ts,
            status,
            json: format!("{{\"id\":\"{id}\",\"ts\":{ts}}}"),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn compiled_activities_follow_the_newest_catalog() {
        let kv = MemoryKv::new();
        let p = Policy::default();
        use DefinitionStatus::*;
        let v2 = act("a", 20, Active, &["s"]);
        assert!(publish_activity_compiled(&kv, &v2, Some((1, b"v2".to_vec())), &p).unwrap());
        // An older version changes nothing, compiled or not.
        let v1 = act("a", 10, Active, &["s"]);
        assert!(!publish_activity_compiled(&kv, &v1, Some((1, b"v1".to_vec())), &p).unwrap());
        let stored = compiled_activities(&kv, &["a", "b"]).unwrap();
        let Some(Ok(a)) = &stored[0] else {
            panic!("{stored:?}")
        };
        assert_eq!(
            (a.plan.as_slice(), a.source, a.format),
            (&b"v2"[..], source_fingerprint(&v2.json), 1)
        );
        assert!(stored[1].is_none());
        // A value derived from an older catalog never replaces a newer one.
        let stale = CompiledActivity {
            etag: a.etag - 1,
            plan: b"stale".to_vec(),
            ..a.clone()
        };
        assert!(!write_compiled_activity(&kv, &stale, &p).unwrap());
        // Garbage is replaced.
        kv.set(&compiled_activity_key("a"), b"\xff").unwrap();
        assert!(write_compiled_activity(&kv, &stale, &p).unwrap());
        // Retiring writes a marker.
        assert!(publish_activity_compiled(&kv, &act("a", 30, Retired, &[]), None, &p).unwrap());
        let stored = compiled_activities(&kv, &["a"]).unwrap();
        assert!(matches!(&stored[0], Some(Ok(c)) if c.status == Retired && c.plan.is_empty()));
        // Nothing compiled: only the catalog changes.
        assert!(publish_activity_compiled(&kv, &act("b", 1, Active, &["s"]), None, &p).unwrap());
        assert!(compiled_activities(&kv, &["b"]).unwrap()[0].is_none());
    }

    #[test]
    fn the_activity_index_lists_active_activities_by_scope() {
        let kv = MemoryKv::new();
        let p = Policy::default();
        use DefinitionStatus::*;
        for d in [
            act("b", 1, Active, &["s1", "s2"]),
            act("a", 1, Active, &["s1"]),
            act("c", 1, Active, &["s3"]),
            act("c", 2, Retired, &[]),
        ] {
            publish_activity(&kv, &d, &p).unwrap();
        }
        let cat = activities(&kv).unwrap();
        let index = ActivityIndex::build(cat.etag, &cat.activities);
        let ids = |es: Vec<&IndexEntry>| es.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(index.for_scopes(&["s1".into()])), ["a", "b"]);
        assert_eq!(
            ids(index.for_scopes(&["s2".into(), "s1".into()])),
            ["a", "b"]
        );
        assert!(index.for_scopes(&["s3".into()]).is_empty());
        assert!(index.get("c").is_none());
        assert_eq!(
            index.get("a").map(|e| e.source),
            Some(source_fingerprint(&cat.get("a").unwrap().json))
        );
        assert_eq!(activity_index(&kv).unwrap(), None);
        assert!(write_activity_index(&kv, &index, &p).unwrap());
        assert_eq!(activity_index(&kv).unwrap().as_ref(), Some(&index));
        // Never replaced by an older one; a newer one replaces it.
        let older = ActivityIndex {
            etag: index.etag - 1,
            ..ActivityIndex::default()
        };
        assert!(!write_activity_index(&kv, &older, &p).unwrap());
        let newer = ActivityIndex {
            etag: index.etag + 1,
            ..ActivityIndex::default()
        };
        assert!(write_activity_index(&kv, &newer, &p).unwrap());
        // The etag is read without decoding the rest; another version is an error to readers.
        let bytes = kv.get(ACTIVITY_INDEX).unwrap().unwrap();
        assert_eq!(etag_of(&bytes), Some(index.etag + 1));
        assert_eq!(
            etag_of(&kv.get(keys::ACTIVITY_CATALOG).unwrap().unwrap()),
            Some(cat.etag)
        );
        kv.set(ACTIVITY_INDEX, &[codec::VERSION + 1, 0]).unwrap();
        assert_eq!(etag_of(&[codec::VERSION + 1, 0]), None);
        assert!(matches!(activity_index(&kv), Err(Error::Codec { .. })));
    }
}
