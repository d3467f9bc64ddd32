//! Publish time: deriving the request-time activity layout (the model's [`ActivityIndex`] and
//! one [`CompiledActivity`] per active activity) from the activity catalog.
//!
//! Projection validates and compiles each `activity` record as it ingests it
//! ([`compile_hook`](crate::compiled::compile_hook) in `vantage_ingest::Options`), which stores
//! the compiled form next to the catalog entry; then [`sync`] (after the ingest) rebuilds the
//! index when the catalog changed, compiling from the catalog's source whatever has no usable
//! compiled form yet (records ingested without the hook, by an older build, or in another
//! format). Definitions that do not compile are left out of the index and reported.

use std::collections::{BTreeSet, HashMap};

use vantage_kv::Kv;
use vantage_model::catalog::{
    self, ACTIVITY_INDEX, ActivityCatalog, ActivityDefinition, ActivityIndex, CompiledActivity,
    DefinitionStatus, etag_of, source_fingerprint,
};
use vantage_model::codec;
use vantage_model::keys::ACTIVITY_CATALOG;
use vantage_model::{Error, Policy};

use crate::catalog::LoadProblem;
use crate::compiled::{self, FORMAT};
use crate::validate::parse_activity;

/// What [`sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether the index was rebuilt (false: it already matched the catalog).
    pub rebuilt: bool,
    /// Activities in the index.
    pub indexed: usize,
    /// Activities compiled here (from the catalog's source) rather than at ingest.
    pub compiled: usize,
    /// Active definitions left out because they do not compile.
    pub excluded: Vec<LoadProblem>,
}

/// Brings the activity index and compiled activities in line with the activity catalog. Cheap
/// when nothing changed (only the two etags are decoded), so it runs after every projection
/// request. Safe to run concurrently: every write keeps the value derived from the newest
/// catalog.
pub fn sync<K: Kv + ?Sized>(kv: &K, policy: &Policy) -> Result<SyncReport, Error> {
    let index_bytes = kv.get(ACTIVITY_INDEX)?;
    let Some(catalog_bytes) = kv.get(ACTIVITY_CATALOG)? else {
        // Nothing was ever published.
        return Ok(SyncReport::default());
    };
    let current = index_bytes.as_deref().and_then(etag_of);
    if current.is_some() && current == etag_of(&catalog_bytes) {
        return Ok(SyncReport::default());
    }
    let cat: ActivityCatalog = codec::decode(&catalog_bytes).map_err(|source| Error::Codec {
        key: ACTIVITY_CATALOG.to_owned(),
        source,
    })?;
    let old: Option<ActivityIndex> = index_bytes.and_then(|b| codec::decode(&b).ok());
    if old.as_ref().is_some_and(|o| o.etag >= cat.etag) {
        return Ok(SyncReport::default());
    }
    let known: HashMap<&str, u64> = old
        .iter()
        .flat_map(|o| &o.entries)
        .map(|e| (e.id.as_str(), e.source))
        .collect();
    let active: Vec<&ActivityDefinition> = cat.active().collect();
    // Those the old index does not list with the same source need a compiled form checked.
    let changed: Vec<&ActivityDefinition> = active
        .iter()
        .copied()
        .filter(|d| known.get(d.id.as_str()) != Some(&source_fingerprint(&d.json)))
        .collect();
    let ids: Vec<&str> = changed.iter().map(|d| d.id.as_str()).collect();
    let stored = catalog::compiled_activities(kv, &ids)?;
    let mut report = SyncReport::default();
    let mut excluded: BTreeSet<&str> = BTreeSet::new();
    for (def, record) in changed.iter().zip(stored) {
        let source = source_fingerprint(&def.json);
        let usable = matches!(&record, Some(Ok(r)) if r.source == source
            && r.format == FORMAT
            && r.status == DefinitionStatus::Active);
        if usable {
            continue;
        }
        match parse_activity(&def.json) {
            Ok(activity) => {
                let record = CompiledActivity {
                    id: def.id.clone(),
                    etag: cat.etag,
                    source,
                    status: DefinitionStatus::Active,
                    format: FORMAT,
                    plan: compiled::encode(&activity),
                };
                catalog::write_compiled_activity(kv, &record, policy)?;
                report.compiled += 1;
            }
            Err(e) => {
                excluded.insert(def.id.as_str());
                report.excluded.push(LoadProblem {
                    id: def.id.clone(),
                    message: format!("stored definition does not compile: {e}"),
                });
            }
        }
    }
    let index = ActivityIndex::build(
        cat.etag,
        active
            .iter()
            .copied()
            .filter(|d| !excluded.contains(d.id.as_str())),
    );
    // Activities gone from the index get a retired marker, so no reader keeps a stale compiled
    // form alive (their catalog entries keep the history).
    for gone in old
        .iter()
        .flat_map(|o| &o.entries)
        .filter(|e| index.get(&e.id).is_none())
    {
        let marker = CompiledActivity {
            id: gone.id.clone(),
            etag: cat.etag,
            source: 0,
            status: DefinitionStatus::Retired,
            format: 0,
            plan: Vec::new(),
        };
        catalog::write_compiled_activity(kv, &marker, policy)?;
    }
    report.indexed = index.entries.len();
    report.rebuilt = catalog::write_activity_index(kv, &index, policy)?;
    Ok(report)
}
