//! The read and delete side of the admin profile routes: the merged profile as JSON, and a
//! delete that is the same as a `profile-delete` record.

use serde_json::Value;
use vantage_kv::Kv;
use vantage_model::{Graph, Identity, IdentityError, Outcome, Policy};

/// Why a profile read or delete failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The namespace or id is malformed (HTTP 400).
    #[error("identity: {0}")]
    Identity(#[from] IdentityError),
    /// The store failed (HTTP 500).
    #[error(transparent)]
    Model(#[from] vantage_model::Error),
}

/// The live profile of `namespace/id` as JSON (identities, attributes, memberships, events,
/// counters, affinity, caps, sticky assignments, consent, expiry), or `None` when it has none
/// or it expired.
pub fn profile_view<K: Kv + ?Sized>(
    kv: &K,
    namespace: &str,
    id: &str,
    now_ms: i64,
) -> Result<Option<Value>, Error> {
    let identity = Identity::new(namespace, id)?;
    let policy = Policy::default();
    let profile = Graph::new(kv, &policy).lookup(&identity, now_ms)?;
    Ok(profile.map(|p| p.to_json()))
}

/// Deletes the profile of `namespace/id` and every key of it and its identities, as a
/// `profile-delete` record at `ts` would (the tombstones' lifetime counts from `ts`).
pub fn delete_profile<K: Kv + ?Sized>(
    kv: &K,
    namespace: &str,
    id: &str,
    ts: i64,
) -> Result<Outcome, Error> {
    let identity = Identity::new(namespace, id)?;
    let policy = Policy::default();
    Ok(Graph::new(kv, &policy).delete(&identity, ts, ts)?)
}
