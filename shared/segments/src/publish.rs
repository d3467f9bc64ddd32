//! Publish time: compiling definitions into plans, rejecting definitions that do not compile or
//! that close a reference cycle, and deriving the request-time layout (see [`crate::keys`]) from
//! the model's segment catalog.
//!
//! Two ways in:
//! * [`compile_hook`] plugs into `vantage_ingest::Options::compile_segment` (projection's
//!   `segment` records): a definition that does not compile is rejected with the positioned
//!   error and never reaches the catalog. Then [`sync`] (after the ingest) rebuilds the index
//!   and plan keys when the catalog changed; cycles a projected record introduced are caught
//!   there (the hook only sees the expression): the newest definition of the cycle is left
//!   out of the index and reported.
//! * [`publish`] does all of it for one definition (compile, cycle check against the published
//!   set, catalog write, [`sync`]) and refuses a cycle before anything is written.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use vantage_kv::Kv;
use vantage_model::Policy;
use vantage_model::catalog::{self, DefinitionStatus, SegmentDefinition};
use vantage_model::keys::SEGMENT_CATALOG;
use vantage_pql::{Catalog, CatalogIndex, Compiled, CycleError, Eligibility, Errors, find_cycle};

use crate::{Error, keys};

/// Format byte of stored plans and of the stored index; a value in another format is rebuilt
/// (plans are recompiled from their source) rather than misread.
pub const FORMAT: u8 = 1;

/// The request-time index as stored under [`keys::INDEX`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredIndex {
    /// The model catalog etag this was built from.
    pub etag: u64,
    /// The dependency index of the edge-eligible segments (positions = dependency order).
    pub index: CatalogIndex,
    /// Fingerprint of each position's plan (its key is `keys::plan(fingerprint, id)`).
    pub fingerprints: Vec<u64>,
    /// Active definitions left out of the index, with why (cycle, does not compile).
    pub excluded: Vec<Excluded>,
}

/// An active definition that is not evaluated at the edge because it is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excluded {
    /// The segment id.
    pub id: String,
    /// Why.
    pub reason: String,
}

impl StoredIndex {
    /// The key of the plan at `position`.
    pub fn plan_key(&self, position: u32) -> Option<String> {
        let id = self.index.id(position)?;
        let fp = self.fingerprints.get(position as usize)?;
        Some(keys::plan(*fp, id))
    }

    fn plan_keys(&self) -> HashSet<String> {
        (0..self.index.len() as u32)
            .filter_map(|p| self.plan_key(p))
            .collect()
    }
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 64 << 20 }>()
}

fn encode_versioned<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = vec![FORMAT];
    bincode::serde::encode_into_std_write(value, &mut out, bincode_config())
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn decode_versioned<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&FORMAT, body)) => {
            let (value, used) = bincode::serde::decode_from_slice(body, bincode_config())
                .map_err(|e| e.to_string())?;
            if used != body.len() {
                return Err(format!("{} trailing bytes", body.len() - used));
            }
            Ok(value)
        }
        Some((v, _)) => Err(format!("unknown format {v}")),
        None => Err("empty value".into()),
    }
}

/// Encodes a compiled plan as stored (in the model catalog and under its plan key).
pub fn encode_plan(plan: &Compiled) -> Result<Vec<u8>, String> {
    encode_versioned(plan)
}

/// Decodes a stored plan.
pub fn decode_plan(bytes: &[u8]) -> Result<Compiled, String> {
    decode_versioned(bytes)
}

/// Encodes the request-time index.
pub fn encode_index(index: &StoredIndex) -> Result<Vec<u8>, String> {
    encode_versioned(index)
}

/// Decodes the request-time index.
pub fn decode_index(bytes: &[u8]) -> Result<StoredIndex, String> {
    decode_versioned(bytes)
}

/// The hook for `vantage_ingest::Options::compile_segment`: compiles a PQL definition into the
/// plan stored with it, or returns the positioned error (`line 1, column 5: …`) that rejects
/// the record.
pub fn compile_hook(expression: &str) -> Result<Vec<u8>, String> {
    let compiled = vantage_pql::compile(expression).map_err(|e| e.to_string())?;
    encode_plan(&compiled).map_err(|e| format!("encoding the compiled plan: {e}"))
}

/// What [`sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether the index was rebuilt (false: it already matched the catalog).
    pub rebuilt: bool,
    /// Segments in the index (edge-eligible, active, not excluded).
    pub indexed: usize,
    /// Plans written.
    pub plans_written: usize,
    /// Plans deleted (no longer referenced).
    pub plans_deleted: usize,
    /// Active definitions left out because they are broken.
    pub excluded: Vec<Excluded>,
}

/// Reads the request-time index; `None` when there is none, or it is in another format.
pub fn read_index<K: Kv + ?Sized>(kv: &K) -> Result<Option<StoredIndex>, Error> {
    Ok(kv
        .get(keys::INDEX)?
        .and_then(|bytes| decode_index(&bytes).ok()))
}

/// Brings the request-time index and plan keys in line with the model's segment catalog.
/// Cheap when nothing changed (the index and the catalog are read, only their etags are
/// decoded), so it can run after every projection request; otherwise a rebuild
/// that writes only changed plans. Safe to run concurrently: the index is written with CAS
/// and never replaced by one built from an older catalog.
pub fn sync<K: Kv + ?Sized>(kv: &K, policy: &Policy) -> Result<SyncReport, Error> {
    let index_bytes = kv.get(keys::INDEX)?;
    if let Some(etag) = index_bytes.as_deref().and_then(index_etag)
        && let Some(bytes) = kv.get(SEGMENT_CATALOG)?
        && catalog_etag(&bytes) == Some(etag)
    {
        return Ok(SyncReport::default());
    }
    let old = index_bytes.and_then(|b| decode_index(&b).ok());
    let cat = catalog::segments(kv)?;
    if old.as_ref().is_some_and(|o| o.etag == cat.etag) {
        return Ok(SyncReport::default());
    }
    let built = build(cat.etag, cat.active())?;
    let (stored, plans) = built;
    // Plans first, so an index is never visible before its plans.
    let existing = old.as_ref().map(StoredIndex::plan_keys).unwrap_or_default();
    let new_plans: Vec<(String, Vec<u8>)> = plans
        .into_iter()
        .filter(|(k, _)| !existing.contains(k))
        .collect();
    let entries: Vec<(&str, &[u8])> = new_plans
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    if !entries.is_empty() {
        kv.set_many(&entries)?;
    }
    let bytes = encode_index(&stored).map_err(Error::Encode)?;
    let mut replaced: Option<StoredIndex> = None;
    let written = vantage_kv::update(kv, keys::INDEX, policy.cas_retries, |cur| {
        let current = cur.and_then(|b| decode_index(b).ok());
        // Another sync already stored this catalog, or a newer one: keep it.
        if current.as_ref().is_some_and(|c| c.etag >= stored.etag) {
            return Ok::<_, Error>(None);
        }
        replaced = current;
        Ok(Some(bytes.clone()))
    })?;
    let mut deleted = 0;
    if written.is_some() {
        let keep = stored.plan_keys();
        let stale: Vec<String> = replaced
            .as_ref()
            .map(StoredIndex::plan_keys)
            .unwrap_or_default()
            .into_iter()
            .filter(|k| !keep.contains(k))
            .collect();
        if !stale.is_empty() {
            let refs: Vec<&str> = stale.iter().map(String::as_str).collect();
            kv.delete_many(&refs)?;
            deleted = stale.len();
        }
    }
    Ok(SyncReport {
        rebuilt: written.is_some(),
        indexed: stored.index.len(),
        plans_written: if written.is_some() {
            new_plans.len()
        } else {
            0
        },
        plans_deleted: deleted,
        excluded: stored.excluded,
    })
}

/// The etag of an encoded model segment catalog without decoding its definitions (which costs
/// ~40 ms at 15,000 segments): the codec's version byte, then `etag` as the first field. Relies
/// on the model's layout; a layout change bumps the codec version, and then this answers `None`
/// and [`sync`] decodes the whole catalog.
fn catalog_etag(bytes: &[u8]) -> Option<u64> {
    let (&version, body) = bytes.split_first()?;
    if version != vantage_model::codec::VERSION {
        return None;
    }
    bincode::decode_from_slice::<u64, _>(body, bincode::config::standard())
        .ok()
        .map(|(etag, _)| etag)
}

/// The etag of an encoded [`StoredIndex`] (its first field) without decoding the index.
fn index_etag(bytes: &[u8]) -> Option<u64> {
    match bytes.split_first() {
        Some((&FORMAT, body)) => {
            bincode::serde::decode_from_slice::<u64, _>(body, bincode_config())
                .ok()
                .map(|(etag, _)| etag)
        }
        _ => None,
    }
}

/// The plan of a stored definition: its stored plan when it decodes, else compiled afresh.
fn plan_of(def: &SegmentDefinition) -> Result<Compiled, Errors> {
    if let Some(plan) = def.plan.as_deref().and_then(|b| decode_plan(b).ok())
        && plan.source == def.expression
    {
        return Ok(plan);
    }
    vantage_pql::compile(&def.expression)
}

/// Encoded plans under their keys.
type EncodedPlans = Vec<(String, Vec<u8>)>;

/// Builds the index and the encoded plans from the active definitions.
fn build<'d>(
    etag: u64,
    active: impl Iterator<Item = &'d SegmentDefinition>,
) -> Result<(StoredIndex, EncodedPlans), Error> {
    let mut excluded = Vec::new();
    let mut defs: Vec<(&SegmentDefinition, Compiled)> = Vec::new();
    for def in active {
        match plan_of(def) {
            Ok(c) => defs.push((def, c)),
            Err(e) => excluded.push(Excluded {
                id: def.id.clone(),
                reason: e.to_string(),
            }),
        }
    }
    // Break cycles: leave out the newest definition of each cycle found (it is the one whose
    // publish closed it), until none is left.
    while let Some(cycle) = cycle_in(&defs) {
        let Some(newest) = defs
            .iter()
            .enumerate()
            .filter(|(_, (d, _))| cycle.path.contains(&d.id))
            .max_by_key(|(_, (d, _))| (d.timestamp, d.id.clone()))
            .map(|(i, _)| i)
        else {
            break;
        };
        let (def, _) = defs.remove(newest);
        excluded.push(Excluded {
            id: def.id.clone(),
            reason: cycle.to_string(),
        });
    }
    // "Event + inSegment" stays edge-eligible when every referenced audience is profile-only.
    let profile_only: HashMap<&str, bool> = defs
        .iter()
        .map(|(d, c)| (d.id.as_str(), c.classification.profile_only))
        .collect();
    let mut edge = Vec::new();
    for (def, mut compiled) in defs {
        if !compiled.deps.segments.is_empty() {
            compiled.reclassify(&|id| profile_only.get(id).copied().unwrap_or(false));
        }
        if compiled.eligibility() == Eligibility::Edge {
            edge.push((def.id.clone(), compiled));
        }
    }
    let catalog = Catalog::build(edge).map_err(|e| Error::Encode(e.to_string()))?;
    let (index, entries) = catalog.into_parts();
    let mut fingerprints = Vec::with_capacity(entries.len());
    let mut plans = Vec::with_capacity(entries.len());
    for e in entries {
        let bytes = encode_plan(&e.compiled).map_err(Error::Encode)?;
        let fp = keys::fingerprint(&bytes);
        fingerprints.push(fp);
        plans.push((keys::plan(fp, &e.id), bytes));
    }
    let stored = StoredIndex {
        etag,
        index,
        fingerprints,
        excluded,
    };
    Ok((stored, plans))
}

fn cycle_in(defs: &[(&SegmentDefinition, Compiled)]) -> Option<CycleError> {
    let graph: Vec<(&str, Vec<&str>)> = defs
        .iter()
        .map(|(d, c)| {
            (
                d.id.as_str(),
                c.deps.segments.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    find_cycle(&graph)
}

/// A segment definition to publish (the fields of a projection `segment` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The PQL source (ignored when retiring).
    pub expression: String,
    /// Publish timestamp, ms.
    pub timestamp: i64,
    /// Active or retired.
    pub status: DefinitionStatus,
}

/// Why [`publish`] refused a definition. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The expression does not compile (positioned diagnostics).
    #[error("{0}")]
    Compile(Errors),
    /// Publishing it would close a reference cycle among the published segments.
    #[error(transparent)]
    Cycle(CycleError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Whether the catalog changed (false for a replay or a definition older than the stored).
    pub changed: bool,
    /// Edge / streaming / batch of an active definition (before reclassification against the
    /// published set).
    pub eligibility: Option<Eligibility>,
    /// What the index rebuild did.
    pub sync: SyncReport,
}

/// Publishes or retires one definition: compiles it, refuses it if it does not compile or if
/// it would close a reference cycle with the published set (nothing is written then), writes
/// it with its plan to the model catalog and rebuilds the request-time index.
pub fn publish<K: Kv + ?Sized>(
    kv: &K,
    def: &Definition,
    policy: &Policy,
) -> Result<Published, PublishError> {
    let compiled = match def.status {
        DefinitionStatus::Active => {
            Some(vantage_pql::compile(&def.expression).map_err(PublishError::Compile)?)
        }
        DefinitionStatus::Retired => None,
    };
    if let Some(c) = &compiled
        && !c.deps.segments.is_empty()
    {
        let cat = catalog::segments(kv).map_err(Error::from)?;
        let mut graph_defs: Vec<(String, Vec<String>)> = Vec::new();
        for other in cat.active().filter(|d| d.id != def.id) {
            // A stored definition that no longer compiles references nothing we can follow.
            if let Ok(p) = plan_of(other) {
                graph_defs.push((other.id.clone(), p.deps.segments.into_iter().collect()));
            }
        }
        graph_defs.push((def.id.clone(), c.deps.segments.iter().cloned().collect()));
        let refs: Vec<(&str, Vec<&str>)> = graph_defs
            .iter()
            .map(|(id, deps)| (id.as_str(), deps.iter().map(String::as_str).collect()))
            .collect();
        if let Some(cycle) = find_cycle(&refs) {
            return Err(PublishError::Cycle(cycle));
        }
    }
    let plan = match &compiled {
        Some(c) => Some(encode_plan(c).map_err(Error::Encode)?),
        None => None,
    };
    let stored = SegmentDefinition {
        id: def.id.clone(),
        name: def.name.clone(),
        expression: def.expression.clone(),
        timestamp: def.timestamp,
        status: def.status,
        plan,
    };
    let changed = catalog::publish_segment(kv, &stored, policy).map_err(Error::from)?;
    let sync = sync(kv, policy)?;
    Ok(Published {
        changed,
        eligibility: compiled.map(|c| c.eligibility()),
        sync,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_model::catalog::SegmentCatalog;
    use vantage_model::codec;

    #[test]
    fn reads_the_catalog_etag_without_decoding_it() {
        let cat = SegmentCatalog {
            etag: 300,
            segments: vec![SegmentDefinition {
                id: "a".into(),
                name: "A".into(),
                expression: "x = 1".into(),
                timestamp: 5,
                status: DefinitionStatus::Active,
                plan: None,
            }],
        };
        let bytes = codec::encode(&cat).unwrap_or_default();
        assert_eq!(catalog_etag(&bytes), Some(300));
        assert_eq!(catalog_etag(&[]), None);
        assert_eq!(catalog_etag(&[99, 1]), None);
        let index = StoredIndex {
            etag: 77,
            ..StoredIndex::default()
        };
        let bytes = encode_index(&index).unwrap_or_default();
        assert_eq!(index_etag(&bytes), Some(77));
        assert_eq!(index_etag(&[FORMAT + 1, 77]), None);
    }

    #[test]
    fn plans_and_indexes_round_trip() {
        let plan = vantage_pql::compile("x = 1").ok();
        let bytes = plan.as_ref().and_then(|p| encode_plan(p).ok());
        assert_eq!(bytes.as_deref().and_then(|b| decode_plan(b).ok()), plan);
        assert!(decode_plan(&[]).is_err());
        assert!(decode_plan(&[FORMAT, 0xff]).is_err());
        assert!(decode_index(&[FORMAT + 1]).is_err());
        assert!(compile_hook("a = ").is_err_and(|e| e.contains("column 5")));
    }
}
