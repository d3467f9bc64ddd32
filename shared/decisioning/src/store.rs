//! Reading published activities for a request: the activity index (one value), then in one
//! batch the compiled forms of just the activities the request concerns (those answering its
//! scopes, or those it names). No JSON is parsed on this path.
//!
//! Anything unusable falls back to the catalog's JSON source rather than failing or guessing:
//! no index yet (a store published by an older build, until the next projection request
//! syncs it), an index in another codec version, or a compiled form that is missing, stale,
//! corrupt or in another [`FORMAT`](crate::compiled::FORMAT). The catalog is then read once for
//! the request and only the activities concerned are compiled from it.

use std::cell::OnceCell;

use vantage_kv::Kv;
use vantage_model::catalog::{self, ActivityCatalog, ActivityIndex, DefinitionStatus, IndexEntry};
use vantage_model::{Error, Result};

use crate::catalog::{Catalog, LoadProblem, Prepared};
use crate::compiled::{self, FORMAT};
use crate::validate::parse_activity;

/// The published activities as one request sees them.
#[derive(Debug)]
pub struct Activities {
    index: Option<ActivityIndex>,
    /// The catalog with the JSON sources, read at most once and only when needed.
    catalog: OnceCell<ActivityCatalog>,
}

impl Activities {
    /// Reads the activity index (or, without a usable one, prepares to read the catalog).
    pub fn open<K: Kv + ?Sized>(kv: &K) -> Result<Activities> {
        let index = match catalog::activity_index(kv) {
            Ok(index) => index,
            // Another codec version: serve from the source until a sync rewrites it.
            Err(Error::Codec { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Activities {
            index,
            catalog: OnceCell::new(),
        })
    }

    /// Whether requests are served from compiled activities (false: from the JSON sources).
    pub fn is_compiled(&self) -> bool {
        self.index.is_some()
    }

    /// The activities answering any of `scopes`.
    pub fn for_scopes<K: Kv + ?Sized>(&self, kv: &K, scopes: &[String]) -> Result<Catalog> {
        match &self.index {
            Some(index) => self.load(kv, index, index.for_scopes(scopes)),
            None => Ok(Catalog::for_scopes(self.catalog(kv)?, scopes)),
        }
    }

    /// The active activities with these ids (others are skipped), e.g. those a notification
    /// names or the profile has sticky assignments for.
    pub fn for_ids<'s, K: Kv + ?Sized>(
        &self,
        kv: &K,
        ids: impl IntoIterator<Item = &'s str>,
    ) -> Result<Catalog> {
        let mut ids: Vec<&str> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        match &self.index {
            Some(index) => self.load(
                kv,
                index,
                ids.iter().filter_map(|id| index.get(id)).collect(),
            ),
            None => Ok(Catalog::for_ids(self.catalog(kv)?, ids)),
        }
    }

    fn catalog<K: Kv + ?Sized>(&self, kv: &K) -> Result<&ActivityCatalog> {
        if let Some(c) = self.catalog.get() {
            return Ok(c);
        }
        let c = catalog::activities(kv)?;
        Ok(self.catalog.get_or_init(|| c))
    }

    fn load<K: Kv + ?Sized>(
        &self,
        kv: &K,
        index: &ActivityIndex,
        entries: Vec<&IndexEntry>,
    ) -> Result<Catalog> {
        if entries.is_empty() {
            return Ok(Catalog::default());
        }
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let records = catalog::compiled_activities(kv, &ids)?;
        let mut prepared = Vec::with_capacity(entries.len());
        let mut problems = Vec::new();
        let mut from_source = Vec::new();
        for (entry, record) in entries.iter().zip(records) {
            let record = match record {
                Some(Ok(r)) => r,
                _ => {
                    from_source.push(entry.id.as_str());
                    continue;
                }
            };
            // A value newer than the index is the newer truth: use it, or skip a retirement.
            let newer = record.etag > index.etag;
            if newer && record.status == DefinitionStatus::Retired {
                continue;
            }
            let current = record.source == entry.source || newer;
            let decoded =
                (current && record.format == FORMAT && record.status == DefinitionStatus::Active)
                    .then(|| compiled::decode(&record.plan).ok())
                    .flatten();
            match decoded {
                Some(activity) => match Prepared::new(activity) {
                    Ok(p) => prepared.push(p),
                    Err(e) => problems.push(e),
                },
                None => from_source.push(entry.id.as_str()),
            }
        }
        if !from_source.is_empty() {
            let cat = self.catalog(kv)?;
            for id in from_source {
                let Some(def) = cat.get(id).filter(|d| d.status == DefinitionStatus::Active) else {
                    continue;
                };
                match parse_activity(&def.json) {
                    Ok(activity) => match Prepared::new(activity) {
                        Ok(p) => prepared.push(p),
                        Err(e) => problems.push(e),
                    },
                    Err(e) => problems.push(LoadProblem {
                        id: id.to_owned(),
                        message: format!("stored definition does not compile: {e}"),
                    }),
                }
            }
        }
        Ok(Catalog::from_parts(prepared, problems))
    }
}

#[cfg(test)]
mod tests;
