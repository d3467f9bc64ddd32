//! Sticky assignments: the experience a profile was bucketed into per activity, so it keeps
//! seeing the same one even after allocations change.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

/// One assignment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub struct Assignment {
    /// When it was made, ms (first, so the derived order prefers the earliest).
    pub assigned_at: i64,
    /// The experience id.
    pub experience: String,
    /// The bucketing version it was made under; a newer minimum version voids it.
    pub bucket_version: u32,
}

/// Assignments by activity id.
pub type Sticky = BTreeMap<String, Assignment>;

/// Keeps the earliest assignment per activity (ties by experience, then version), so a merge
/// or a race picks the same one everywhere. Returns whether it changed.
pub fn assign(sticky: &mut Sticky, activity: &str, assignment: Assignment) -> bool {
    match sticky.get_mut(activity) {
        Some(current) if *current <= assignment => false,
        Some(current) => {
            *current = assignment;
            true
        }
        None => {
            sticky.insert(activity.to_owned(), assignment);
            true
        }
    }
}

/// Replaces the assignment whatever it was (a re-bucketing after a version bump).
pub fn reassign(sticky: &mut Sticky, activity: &str, assignment: Assignment) {
    sticky.insert(activity.to_owned(), assignment);
}

/// Folds `other` in by [`assign`].
pub fn merge(sticky: &mut Sticky, other: &Sticky) {
    for (activity, a) in other {
        assign(sticky, activity, a.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_wins() {
        let a = |t, e: &str| Assignment {
            assigned_at: t,
            experience: e.into(),
            bucket_version: 1,
        };
        let mut s = Sticky::new();
        assert!(assign(&mut s, "hero", a(5, "1")));
        assert!(!assign(&mut s, "hero", a(7, "0")));
        let mut other = Sticky::new();
        assign(&mut other, "hero", a(3, "0"));
        merge(&mut s, &other);
        assert_eq!(s["hero"].experience, "0");
    }
}
