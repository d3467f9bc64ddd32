//! The key layout of the shared bucket, in one place. Every key this crate reads or writes is
//! built here; other components keep to their own prefixes (`outbox/…`, …).
//!
//! | key | value |
//! |---|---|
//! | `ident/{namespace}/{id}` | [`IdentityRecord`](crate::graph::IdentityRecord): the profile an identity belongs to |
//! | `tomb/{namespace}/{id}` | [`Tombstone`](crate::graph::Tombstone): a deleted identity, so older records cannot resurrect it |
//! | `profile/{profile id}` | [`ProfileSlot`](crate::graph::ProfileSlot): a live profile, or a forward to the profile it merged into |
//! | `catalog/segments` | [`SegmentCatalog`](crate::catalog::SegmentCatalog): every published segment definition |
//! | `catalog/activities` | [`ActivityCatalog`](crate::catalog::ActivityCatalog): every published activity definition |
//!
//! Namespace codes never contain `/` (see [`identity`](crate::identity)), so the id is
//! everything after the second `/`, whatever it contains.

use bincode::{Decode, Encode};

use crate::identity::Identity;

/// Prefix of identity records.
pub const IDENTITY_PREFIX: &str = "ident/";
/// Prefix of deletion tombstones.
pub const TOMBSTONE_PREFIX: &str = "tomb/";
/// Prefix of profile slots.
pub const PROFILE_PREFIX: &str = "profile/";
/// The segment catalog.
pub const SEGMENT_CATALOG: &str = "catalog/segments";
/// The activity catalog.
pub const ACTIVITY_CATALOG: &str = "catalog/activities";

/// The name of a profile, deterministic so that replays and concurrent ingesters of the same
/// stream pick the same one.
///
/// A profile first created for an identity is named `{namespace}/{id}`. A profile split off by an
/// unlink, or created while that name is taken by a profile the identity has left, is named
/// `~{timestamp ms}/{namespace}/{id}`: `~` cannot start a namespace code, so the two forms never
/// collide. When two profiles merge, the smaller name survives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct ProfileId(String);

impl ProfileId {
    /// The first-choice name of a profile created for `identity`.
    pub fn primary(identity: &Identity) -> Self {
        Self(identity.to_string())
    }

    /// The name of a profile created for `identity` at `ts` when the primary name is taken.
    pub fn secondary(identity: &Identity, ts: i64) -> Self {
        Self(format!("~{ts}/{identity}"))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProfileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `ident/{namespace}/{id}`.
pub fn identity(identity: &Identity) -> String {
    format!("{IDENTITY_PREFIX}{identity}")
}

/// `tomb/{namespace}/{id}`.
pub fn tombstone(identity: &Identity) -> String {
    format!("{TOMBSTONE_PREFIX}{identity}")
}

/// `profile/{profile id}`.
pub fn profile(id: &ProfileId) -> String {
    format!("{PROFILE_PREFIX}{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let who = Identity::new("crmid", "c/42").unwrap();
        assert_eq!(identity(&who), "ident/CRMID/c/42");
        assert_eq!(tombstone(&who), "tomb/CRMID/c/42");
        assert_eq!(profile(&ProfileId::primary(&who)), "profile/CRMID/c/42");
        assert_eq!(
            profile(&ProfileId::secondary(&who, 7)),
            "profile/~7/CRMID/c/42"
        );
        // A secondary name never equals a primary one, whatever the id holds.
        let tricky = Identity::new("CRMID", "~7/CRMID/c/42").unwrap();
        assert_ne!(ProfileId::primary(&tricky), ProfileId::secondary(&who, 7));
    }
}
