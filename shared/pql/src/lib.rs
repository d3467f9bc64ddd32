//! PQL (Profile Query Language) engine for edge segmentation: parses segment definitions as
//! the reference platform writes them, classifies them (edge / streaming / batch), compiles
//! them once at publish time into serializable plans with dependency indexes, and evaluates
//! them against an edge profile, its recent events and the event being collected.
//!
//! Pure Rust, no I/O: builds natively and for `wasm32-wasip2`.
//!
//! 1. [`compile()`] a definition (positioned [`Errors`] on failure; see `UNSUPPORTED.md`).
//! 2. Store the [`Compiled`] plans in a [`Catalog`] (serde), which indexes them by event type,
//!    attribute path and referenced segment and rejects reference cycles.
//! 3. Per request, build an [`EvalContext`], [`Catalog::select`] the segments a [`Change`] can
//!    affect, [`Catalog::evaluate`] them, and [`realize_all`] the results into memberships.
//!
//! Timestamps are i64 milliseconds since the Unix epoch (UTC).

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod analysis;
pub mod ast;
pub mod catalog;
pub mod compile;
pub mod context;
pub mod error;
mod eval;
pub mod graph;
mod lexer;
pub mod parser;
pub mod printer;
pub mod realize;
pub mod time;
mod value;

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod examples_tests;
#[cfg(test)]
mod prop_tests;

pub use analysis::{Classification, Dependencies, Eligibility, analyze};
pub use ast::Expr;
pub use catalog::{Catalog, CatalogEntry, CatalogIndex, Change, SegmentResult, evaluate_plans};
pub use compile::{Compiled, Validation, compile, validate};
pub use context::{EvalContext, Event, MembershipState};
pub use error::{Diagnostic, ErrorKind, Errors, EvalError};
pub use graph::{CycleError, dependency_order, find_cycle};
pub use parser::{MAX_DEPTH, MAX_SOURCE_LEN, parse};
pub use printer::print;
pub use realize::{Membership, Transition, realize, realize_all};
