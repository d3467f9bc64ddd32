//! Realization: turns a fresh qualification result and the previous membership into the
//! membership to store and report (`realized` on entry, `existing` while it lasts, `exited`
//! on leaving), with the time of the last transition.

use crate::context::MembershipState;
use serde::{Deserialize, Serialize};

/// A stored membership: status and when it last changed (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Realized, existing or exited.
    pub status: MembershipState,
    /// When the profile last entered or exited (the platform's `lastQualificationTime`).
    pub since_ms: i64,
}

/// The outcome of realizing one segment for one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The segment.
    pub segment_id: String,
    /// The new membership.
    pub membership: Membership,
    /// Whether membership changed (entered or exited) in this evaluation.
    pub changed: bool,
}

/// The membership after an evaluation. `None` when the profile neither is nor was a member
/// (nothing to store).
pub fn realize(previous: Option<Membership>, qualifies: bool, now_ms: i64) -> Option<Membership> {
    let was_member = previous.is_some_and(|p| p.status.is_member());
    match (qualifies, was_member, previous) {
        (true, false, _) => Some(Membership {
            status: MembershipState::Realized,
            since_ms: now_ms,
        }),
        (true, true, Some(p)) => Some(Membership {
            status: MembershipState::Existing,
            since_ms: p.since_ms,
        }),
        (false, true, _) => Some(Membership {
            status: MembershipState::Exited,
            since_ms: now_ms,
        }),
        (false, false, prev) => prev,
        (true, true, None) => None,
    }
}

/// Realizes many results. `previous(id)` reads the stored membership (edge or projected).
pub fn realize_all<'a>(
    results: impl IntoIterator<Item = (&'a str, bool)>,
    previous: &dyn Fn(&str) -> Option<Membership>,
    now_ms: i64,
) -> Vec<Transition> {
    results
        .into_iter()
        .filter_map(|(id, q)| {
            let prev = previous(id);
            let was = prev.is_some_and(|p| p.status.is_member());
            realize(prev, q, now_ms).map(|m| Transition {
                segment_id: id.to_string(),
                membership: m,
                changed: was != q,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use MembershipState::*;

    fn m(status: MembershipState, since_ms: i64) -> Option<Membership> {
        Some(Membership { status, since_ms })
    }

    #[test]
    fn transitions() {
        assert_eq!(realize(None, true, 10), m(Realized, 10));
        assert_eq!(realize(m(Realized, 5), true, 10), m(Existing, 5));
        assert_eq!(realize(m(Existing, 5), true, 10), m(Existing, 5));
        assert_eq!(realize(m(Existing, 5), false, 10), m(Exited, 10));
        assert_eq!(realize(m(Exited, 5), false, 10), m(Exited, 5));
        assert_eq!(realize(m(Exited, 5), true, 10), m(Realized, 10));
        assert_eq!(realize(None, false, 10), None);
        let prev = |id: &str| if id == "a" { m(Realized, 1) } else { None };
        let t = realize_all([("a", false), ("b", true), ("c", false)], &prev, 9);
        assert_eq!(t.len(), 2);
        assert!(t.iter().all(|t| t.changed));
        assert_eq!(
            t[0].membership,
            Membership {
                status: Exited,
                since_ms: 9
            }
        );
    }
}
