//! The activity catalog prepared for deciding: activities decoded once per request, with what
//! every decision needs precomputed (scheme, salt, live window, allocations) and an index by
//! scope, in the engine's order (priority descending, then id) so deciding is one ordered walk.
//!
//! Requests load it from the compiled activities through [`crate::store::Activities`]; the
//! constructors here that take the model's [`ActivityCatalog`] decode its JSON sources (what a
//! store without compiled activities offers).

use std::collections::HashMap;

use vantage_bucketing::Scheme;
use vantage_model::catalog::{ActivityCatalog, ActivityDefinition};

use crate::model::{Activity, ActivityType};

/// One activity ready to decide.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The definition.
    pub activity: Activity,
    /// Its bucketing scheme, parsed.
    pub scheme: Scheme,
    /// The salt to hash with (the scheme's default when none is given).
    pub salt: String,
    /// Live window `(start, end)` in ms; `None` is open.
    pub window: (Option<i64>, Option<i64>),
    /// Traffic split between experiences in percent (ab and recommendation).
    pub allocations: Vec<f64>,
}

/// Why an activity could not be prepared (it is then left out; never fatal for the request).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("activity {id:?}: {message}")]
pub struct LoadProblem {
    /// The activity id.
    pub id: String,
    /// What went wrong.
    pub message: String,
}

impl Prepared {
    /// Prepares an activity; fails on what would make deciding it meaningless.
    pub fn new(activity: Activity) -> Result<Prepared, LoadProblem> {
        let problem = |message: String| LoadProblem {
            id: activity.id.clone(),
            message,
        };
        let scheme = activity
            .bucketing
            .scheme()
            .map_err(|e| problem(e.to_string()))?;
        let window = activity.window_ms().map_err(|e| problem(e.to_string()))?;
        let salt = activity.bucketing.effective_salt(scheme).to_owned();
        let allocations = allocations(&activity);
        Ok(Prepared {
            activity,
            scheme,
            salt,
            window,
            allocations,
        })
    }
}

/// The split between experiences: as given in ab; in a recommendation an equal split when no
/// experience states one (a single pool of offers needs no allocation); unused in xt.
fn allocations(activity: &Activity) -> Vec<f64> {
    let n = activity.experiences.len();
    if activity.activity_type == ActivityType::Recommendation
        && activity.experiences.iter().all(|e| e.allocation.is_none())
        && n > 0
    {
        return vec![100.0 / n as f64; n];
    }
    activity.allocations()
}

/// The sorted, deduplicated union of scope index entries.
fn union<'a>(lists: impl Iterator<Item = &'a Vec<u32>>) -> Vec<u32> {
    let mut positions: Vec<u32> = lists.flatten().copied().collect();
    positions.sort_unstable();
    positions.dedup();
    positions
}

/// Activities ready to decide, in decision order, indexed by scope and id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    activities: Vec<Prepared>,
    by_scope: HashMap<String, Vec<u32>>,
    by_id: HashMap<String, u32>,
    problems: Vec<LoadProblem>,
}

impl Catalog {
    /// Prepares activities (those that cannot be prepared, and later duplicates of an id, are
    /// left out and listed in [`Catalog::problems`]).
    pub fn new(activities: impl IntoIterator<Item = Activity>) -> Catalog {
        let mut problems = Vec::new();
        let mut prepared = Vec::new();
        for activity in activities {
            match Prepared::new(activity) {
                Ok(p) => prepared.push(p),
                Err(e) => problems.push(e),
            }
        }
        Self::index(prepared, problems)
    }

    /// The activities of the stored catalog that answer any of `scopes`, decoded from their
    /// JSON (only those, so a request pays for what concerns it).
    pub fn for_scopes(store: &ActivityCatalog, scopes: &[String]) -> Catalog {
        let positions = union(scopes.iter().filter_map(|s| store.by_scope.get(s)));
        Self::decode(
            positions
                .iter()
                .filter_map(|&i| store.activities.get(i as usize)),
        )
    }

    /// The activities of the stored catalog with these ids (retired ones are skipped), e.g.
    /// those a notification names or the profile has sticky assignments for.
    pub fn for_ids<'s>(store: &ActivityCatalog, ids: impl IntoIterator<Item = &'s str>) -> Catalog {
        let mut ids: Vec<&str> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        Self::decode(ids.into_iter().filter_map(|id| store.get(id)))
    }

    /// Every active definition of the stored catalog.
    pub fn all(store: &ActivityCatalog) -> Catalog {
        Self::decode(store.active())
    }

    fn decode<'d>(defs: impl Iterator<Item = &'d ActivityDefinition>) -> Catalog {
        let mut problems = Vec::new();
        let mut prepared = Vec::new();
        for def in defs {
            if def.status != vantage_model::catalog::DefinitionStatus::Active {
                continue;
            }
            match serde_json::from_str::<Activity>(&def.json) {
                Ok(a) => match Prepared::new(a) {
                    Ok(p) => prepared.push(p),
                    Err(e) => problems.push(e),
                },
                Err(e) => problems.push(LoadProblem {
                    id: def.id.clone(),
                    message: format!("stored definition does not decode: {e}"),
                }),
            }
        }
        Self::index(prepared, problems)
    }

    /// A catalog of already prepared activities (and the problems met preparing others).
    pub(crate) fn from_parts(activities: Vec<Prepared>, problems: Vec<LoadProblem>) -> Catalog {
        Self::index(activities, problems)
    }

    fn index(mut activities: Vec<Prepared>, mut problems: Vec<LoadProblem>) -> Catalog {
        activities.sort_by(|a, b| {
            b.activity
                .priority
                .cmp(&a.activity.priority)
                .then_with(|| a.activity.id.cmp(&b.activity.id))
        });
        let mut by_id = HashMap::new();
        let mut kept = Vec::with_capacity(activities.len());
        for p in activities {
            if by_id.contains_key(&p.activity.id) {
                problems.push(LoadProblem {
                    id: p.activity.id.clone(),
                    message: "duplicate activity id; the first one is kept".into(),
                });
                continue;
            }
            // More than u32::MAX activities cannot be decoded in one request anyway.
            let Ok(i) = u32::try_from(kept.len()) else {
                break;
            };
            by_id.insert(p.activity.id.clone(), i);
            kept.push(p);
        }
        let mut by_scope: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, p) in kept.iter().enumerate() {
            for scope in &p.activity.scopes {
                let list = by_scope.entry(scope.clone()).or_default();
                // Positions are pushed in order, so each list stays sorted and unique.
                if list.last() != Some(&(i as u32)) {
                    list.push(i as u32);
                }
            }
        }
        Catalog {
            activities: kept,
            by_scope,
            by_id,
            problems,
        }
    }

    /// The activity with this id.
    pub fn get(&self, id: &str) -> Option<&Prepared> {
        self.by_id
            .get(id)
            .and_then(|&i| self.activities.get(i as usize))
    }

    /// Every activity, in decision order.
    pub fn iter(&self) -> impl Iterator<Item = &Prepared> {
        self.activities.iter()
    }

    /// How many activities were prepared.
    pub fn len(&self) -> usize {
        self.activities.len()
    }

    /// Whether no activity was prepared.
    pub fn is_empty(&self) -> bool {
        self.activities.is_empty()
    }

    /// Activities that were left out, and why.
    pub fn problems(&self) -> &[LoadProblem] {
        &self.problems
    }

    /// Positions (in decision order) of the activities answering any of `scopes`.
    pub(crate) fn positions_for(&self, scopes: &[&str]) -> Vec<u32> {
        union(scopes.iter().filter_map(|s| self.by_scope.get(*s)))
    }

    /// The activity at a position from [`Catalog::positions_for`].
    pub(crate) fn at(&self, position: u32) -> Option<&Prepared> {
        self.activities.get(position as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vantage_kv::MemoryKv;
    use vantage_model::Policy;

    fn activity(id: &str, priority: i64, scopes: &[&str]) -> Activity {
        serde_json::from_value(json!({
            "id": id, "activityType": "ab", "priority": priority, "scopes": scopes,
            "experiences": [{"id": "0", "allocation": 100, "offers": [
                {"id": "o", "schema": "https://ns.adobe.com/personalization/default-content-item"}]}]
        }))
        .unwrap()
    }

    #[test]
    fn orders_by_priority_then_id_and_indexes_scopes() {
        let c = Catalog::new([
            activity("b", 1, &["s1"]),
            activity("a", 1, &["s2"]),
            activity("z", 9, &["s1", "s2"]),
            activity("a", 5, &["s3"]),
        ]);
        let ids: Vec<_> = c.iter().map(|p| p.activity.id.as_str()).collect();
        assert_eq!(ids, ["z", "a", "b"]);
        assert_eq!(c.get("a").unwrap().activity.priority, 5);
        assert_eq!(c.problems().len(), 1);
        assert_eq!(c.positions_for(&["s1", "s2", "nope"]), [0, 2]);
        assert_eq!(c.positions_for(&["s3"]), [1]);
    }

    #[test]
    fn bad_definitions_are_left_out_not_fatal() {
        let mut bad = activity("x", 0, &["s"]);
        bad.bucketing.scheme = "nope".into();
        let mut dates = activity("y", 0, &["s"]);
        dates.start_date = Some("yesterday".into());
        let c = Catalog::new([bad, dates, activity("ok", 0, &["s"])]);
        assert_eq!(c.len(), 1);
        let ids: Vec<_> = c.problems().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["x", "y"]);
    }

    #[test]
    fn loads_from_the_store_by_scope_and_id() {
        let kv = MemoryKv::new();
        let policy = Policy::default();
        for (i, a) in [
            activity("a", 1, &["s1"]),
            activity("b", 2, &["s2"]),
            activity("c", 3, &["s1", "s2"]),
        ]
        .iter()
        .enumerate()
        {
            let def = ActivityDefinition {
                id: a.id.clone(),
                timestamp: i as i64,
                status: vantage_model::catalog::DefinitionStatus::Active,
                json: serde_json::to_string(a).unwrap(),
                scopes: a.scopes.clone(),
            };
            vantage_model::catalog::publish_activity(&kv, &def, &policy).unwrap();
        }
        let store = vantage_model::catalog::activities(&kv).unwrap();
        let ids = |c: &Catalog| c.iter().map(|p| p.activity.id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(&Catalog::for_scopes(&store, &["s1".into()])),
            ["c", "a"]
        );
        assert_eq!(
            ids(&Catalog::for_ids(&store, ["b", "a", "b", "zz"])),
            ["b", "a"]
        );
        assert_eq!(ids(&Catalog::all(&store)), ["c", "b", "a"]);
    }
}
