//! Profile changes the engine asks for instead of writing them: the glue applies them inside
//! its CAS update of the profile (re-applying on a retry is what makes them safe under races).

use serde::Serialize;
use vantage_model::Profile;
use vantage_model::profile::{caps, sticky};

/// A sticky assignment to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StickyWrite {
    /// The activity.
    pub activity_id: String,
    /// The experience (or `holdout`).
    pub experience_id: String,
    /// The activity's bucket version it was made under.
    pub bucket_version: u32,
    /// When, ms.
    pub at: i64,
    /// Replace whatever is stored (a re-bucketing after a version bump or a removed
    /// experience); otherwise the earliest assignment wins, so concurrent requests agree.
    pub replace: bool,
}

/// One display to record in a cap counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapHit {
    /// The cap counter ([`crate::frequency::offer_key`]).
    pub key: String,
    /// When, ms.
    pub at: i64,
}

/// Everything to write to the profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProfileChanges {
    /// Sticky assignments.
    pub sticky: Vec<StickyWrite>,
    /// Cap counter increments.
    pub caps: Vec<CapHit>,
}

impl ProfileChanges {
    /// Whether there is nothing to write (the glue can skip the profile write).
    pub fn is_empty(&self) -> bool {
        self.sticky.is_empty() && self.caps.is_empty()
    }

    /// Applies the changes to a (freshly read) profile.
    pub fn apply(&self, profile: &mut Profile) {
        for w in &self.sticky {
            let assignment = sticky::Assignment {
                assigned_at: w.at,
                experience: w.experience_id.clone(),
                bucket_version: w.bucket_version,
            };
            if w.replace {
                let current = profile.sticky.get(&w.activity_id);
                // A concurrent request may already have re-bucketed to the same place; keeping
                // its (earlier) assignment makes the write idempotent.
                if current.is_none_or(|c| {
                    c.bucket_version != w.bucket_version || c.experience != w.experience_id
                }) {
                    sticky::reassign(&mut profile.sticky, &w.activity_id, assignment);
                }
            } else {
                sticky::assign(&mut profile.sticky, &w.activity_id, assignment);
            }
        }
        for hit in &self.caps {
            caps::record(&mut profile.caps, &hit.key, hit.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::profile;

    fn write(experience: &str, version: u32, at: i64, replace: bool) -> ProfileChanges {
        ProfileChanges {
            sticky: vec![StickyWrite {
                activity_id: "a".into(),
                experience_id: experience.into(),
                bucket_version: version,
                at,
                replace,
            }],
            caps: vec![CapHit {
                key: "offer/a/o".into(),
                at,
            }],
        }
    }

    #[test]
    fn applies_idempotently_under_races() {
        let mut p = profile();
        write("0", 1, 10, false).apply(&mut p);
        // A concurrent first assignment made later loses to the earlier one.
        write("1", 1, 20, false).apply(&mut p);
        assert_eq!(p.sticky["a"].experience, "0");
        // A re-bucketing replaces; a concurrent request's identical one keeps the first.
        write("1", 2, 30, true).apply(&mut p);
        write("1", 2, 40, true).apply(&mut p);
        assert_eq!(
            (p.sticky["a"].experience.as_str(), p.sticky["a"].assigned_at),
            ("1", 30)
        );
        assert_eq!(p.caps["offer/a/o"].total, 4);
        assert!(ProfileChanges::default().is_empty());
    }
}
