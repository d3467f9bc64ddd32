//! One visitor's personalization over a profile the caller holds: inline PQL conditions for
//! the decisioning engine ([`conditions`]) and a visit's notifications, conversions and
//! decision ([`visit`]). Pure Rust over [`vantage_kv::Kv`], shared by the
//! `decisions` and `collect` components so both decide the same way.

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod conditions;
pub mod visit;

pub use conditions::{Conditions, Inputs};
pub use visit::{Outcome, Visit, visit};
