//! The edge data model every Vantage component shares: identities and the identity graph, the
//! edge profile, published definitions, the key layout and the versioned codec. Pure Rust over
//! the [`vantage_kv::Kv`] trait, so it runs in components and in native tests alike.
//!
//! * [`identity`]: namespaces, ids and their case rules.
//! * [`profile`]: the edge profile record and its pure operations (merge, split, size cap).
//! * [`graph`]: identities → profiles in the store: resolve, update, link, unlink, delete, expire.
//! * [`catalog`]: segment and activity definitions.
//! * [`keys`] and [`codec`]: where things live and how they are encoded.
//! * [`time`]: RFC 3339 ⇄ milliseconds.
//! * [`policy`]: retention and size knobs.

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod catalog;
pub mod codec;
pub mod graph;
pub mod identity;
pub mod keys;
pub mod policy;
pub mod profile;
pub mod time;

#[cfg(test)]
mod fixtures;

pub use graph::{Graph, Outcome};
pub use identity::{Identity, IdentityError};
pub use keys::ProfileId;
pub use policy::Policy;
pub use profile::Profile;

/// What can go wrong reading or writing the model in the store.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The store failed (including a CAS update that lost too many races).
    #[error(transparent)]
    Store(#[from] vantage_kv::Error),
    /// A stored value does not decode (unknown version, corrupt bytes).
    #[error("{key}: {source}")]
    Codec {
        /// The key holding it.
        key: String,
        /// Why it failed.
        source: codec::CodecError,
    },
    /// A profile would exceed its size cap even after trimming.
    #[error(transparent)]
    Size(#[from] profile::SizeError),
    /// A link would give a profile more identities than the policy allows.
    #[error("a profile would hold {count} identities, over the limit of {limit}")]
    TooManyIdentities {
        /// How many it would hold.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The profile kept moving (merges, splits, expiry racing this operation) for longer than
    /// the retry budget; the operation can be retried.
    #[error("the profile changed concurrently too often; retry")]
    Unsettled,
}

/// Result alias for model operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
