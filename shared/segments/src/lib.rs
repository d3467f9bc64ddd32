//! Edge segmentation glue between the data model ([`vantage_model`]) and the PQL engine
//! ([`vantage_pql`]): publishing compiled segment definitions into the store in a layout a
//! request can read cheaply, and evaluating them for a profile. Pure Rust over
//! [`vantage_kv::Kv`]: no WASI or HTTP, so it builds natively and for `wasm32-wasip2`.
//!
//! 1. Publish: [`compile_hook`] (for `vantage_ingest::Options::compile_segment`) then [`sync`],
//!    or [`publish`] for one definition. The catalog lives in the model (`catalog/segments`);
//!    [`sync`] derives the request-time layout of [`keys`] from it: the
//!    [`CatalogIndex`](vantage_pql::CatalogIndex) under one key and each plan under its own.
//! 2. Evaluate: [`evaluate`] (identity map → profile → memberships, one CAS write) or
//!    [`Segments::evaluate`] on a profile the caller holds.
//! 3. Read: [`memberships`] of a profile.

#![deny(unsafe_code)]
#![deny(missing_docs)]

mod evaluate;
pub mod input;
pub mod keys;
mod publish;

#[cfg(test)]
mod tests;

pub use evaluate::{
    Evaluation, Input, SegmentStatus, Segments, StoredMembership, evaluate, memberships,
};
pub use input::{CurrentEvent, InputError};
pub use publish::{
    Definition, Excluded, FORMAT, PublishError, Published, StoredIndex, SyncReport, compile_hook,
    decode_index, decode_plan, encode_index, encode_plan, publish, read_index, sync,
};

/// What can go wrong reading or writing segments in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] vantage_kv::Error),
    /// The model failed (a profile or catalog that does not decode, a lost CAS race).
    #[error(transparent)]
    Model(#[from] vantage_model::Error),
    /// A value could not be encoded.
    #[error("encoding: {0}")]
    Encode(String),
    /// No identity to evaluate for.
    #[error("no identity given")]
    NoIdentity,
}
