//! Segment memberships: `segment → realized|exited` with the time it took that status and who
//! decided it. Last writer wins on that time, so out-of-order and replayed updates converge.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

/// Whether the profile is in the segment. The hub's `existing` is read as [`Realized`](Self::Realized).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Status {
    /// A member.
    Realized,
    /// Not a member any more.
    Exited,
}

impl Status {
    /// Parses the wire name; `existing` (deprecated in the reference platform) means realized.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "realized" | "existing" => Some(Self::Realized),
            "exited" => Some(Self::Exited),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Realized => "realized",
            Self::Exited => "exited",
        }
    }
}

/// Who decided a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Source {
    /// Evaluated at the edge on a request.
    Edge,
    /// The hub's streaming evaluation.
    Streaming,
    /// The hub's batch evaluation.
    Batch,
    /// An external audience uploaded to the hub.
    External,
}

impl Source {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "edge" => Some(Self::Edge),
            "streaming" => Some(Self::Streaming),
            "batch" => Some(Self::Batch),
            "external" => Some(Self::External),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edge => "edge",
            Self::Streaming => "streaming",
            Self::Batch => "batch",
            Self::External => "external",
        }
    }
}

/// One membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub struct Membership {
    /// When the profile took this status (the hub's `lastQualificationTime`), ms. Decides
    /// between conflicting updates.
    pub since: i64,
    /// In or out.
    pub status: Status,
    /// Who decided.
    pub source: Source,
}

/// Memberships by segment id.
pub type Memberships = BTreeMap<String, Membership>;

/// Applies an update if it is newer than what is stored (ties: `exited` beats `realized`, then
/// the later source in [`Source`] order, so every replica agrees). Returns whether it changed.
pub fn apply(memberships: &mut Memberships, segment: &str, update: Membership) -> bool {
    match memberships.get_mut(segment) {
        Some(current) if *current >= update => false,
        Some(current) => {
            *current = update;
            true
        }
        None => {
            memberships.insert(segment.to_owned(), update);
            true
        }
    }
}

/// An evaluation result from the edge engine: records a change of status at `now`, and leaves an
/// unchanged status alone so `since` keeps the time the profile first qualified.
pub fn transition(
    memberships: &mut Memberships,
    segment: &str,
    status: Status,
    now: i64,
    source: Source,
) -> bool {
    if memberships.get(segment).is_some_and(|m| m.status == status) {
        return false;
    }
    apply(
        memberships,
        segment,
        Membership {
            since: now,
            status,
            source,
        },
    )
}

/// Whether the profile is currently a member of `segment`.
pub fn is_member(memberships: &Memberships, segment: &str) -> bool {
    memberships
        .get(segment)
        .is_some_and(|m| m.status == Status::Realized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(since: i64, status: Status) -> Membership {
        Membership {
            since,
            status,
            source: Source::Batch,
        }
    }

    #[test]
    fn newest_update_wins_in_any_order() {
        let updates = [
            m(10, Status::Realized),
            m(30, Status::Exited),
            m(20, Status::Realized),
        ];
        let mut a = Memberships::new();
        let mut b = Memberships::new();
        for u in updates {
            apply(&mut a, "s", u);
        }
        for u in updates.iter().rev() {
            apply(&mut b, "s", *u);
        }
        assert_eq!(a, b);
        assert_eq!(a["s"], m(30, Status::Exited));
        assert!(!is_member(&a, "s"));
        assert!(!apply(&mut a, "s", m(30, Status::Exited)));
        assert!(!apply(&mut a, "s", m(30, Status::Realized)));
    }

    #[test]
    fn transitions_keep_since_while_status_holds() {
        let mut ms = Memberships::new();
        assert!(transition(&mut ms, "s", Status::Realized, 5, Source::Edge));
        assert!(!transition(&mut ms, "s", Status::Realized, 9, Source::Edge));
        assert_eq!(ms["s"].since, 5);
        assert!(transition(&mut ms, "s", Status::Exited, 12, Source::Edge));
        assert_eq!(Status::parse("existing"), Some(Status::Realized));
        assert_eq!(Source::parse("nope"), None);
    }
}
