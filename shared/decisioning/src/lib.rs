//! Offer decisioning: the activity model ([`model`]) and its validation ([`validate`]), offers
//! as Web SDK items ([`item`]), RFC 3339 time ([`time`]), environment attributes
//! ([`context`], geography from CDN headers in [`geo`]), and the engine that turns a prepared
//! [`Catalog`] and a visitor's profile into propositions ([`engine`]), with explanations
//! ([`explain`]), previews ([`preview`]), notification accounting ([`notify`],
//! [`report_keys`]) and report math ([`stats`]).
//!
//! Activities are compiled at publish time ([`compiled`]: validated, stored as bincode instead
//! of JSON, with a scope index built by [`publish::sync`]); a request reads only the index and
//! the activities it concerns ([`store::Activities`]).
//!
//! The engine is pure: it reads the profile and returns [`ProfileChanges`] and counter
//! increments for the glue to write (one CAS profile write, atomic counter increments). Inline
//! PQL goes through a [`ConditionEvaluator`] the glue provides.

mod base64;
pub mod catalog;
pub mod changes;
pub mod compiled;
pub mod condition;
pub mod context;
pub mod engine;
pub mod explain;
#[cfg(test)]
mod fixtures;
pub mod frequency;
pub mod geo;
pub mod item;
pub mod model;
pub mod notify;
pub mod preview;
pub mod proposition;
pub mod publish;
pub mod recommend;
pub mod report_keys;
pub mod stats;
pub mod store;
pub mod time;
pub mod token;
pub mod trace;
pub mod validate;

pub use catalog::{Catalog, LoadProblem, Prepared};
pub use changes::{CapHit, ProfileChanges, StickyWrite};
pub use compiled::compile_hook;
pub use condition::{ConditionEvaluator, DecisionContext, NoConditions, Verdict};
pub use engine::{Decision, Request, decide, decide_traced};
pub use explain::{Explanation, explain};
pub use item::PropositionItem;
pub use model::{
    Activity, ActivityType, Audience, Bucketing, Cap, CapPeriod, Experience, Offer, OfferSchema,
    Status,
};
pub use notify::{Effects, Notification, effects};
pub use preview::{Forced, PreviewError, preview};
pub use proposition::Proposition;
pub use publish::{SyncReport, sync};
pub use store::Activities;
pub use token::EventToken;
pub use validate::{
    ActivityRecord, InvalidActivity, Problem, parse_activity, parse_activity_record,
    parse_activity_value, validate,
};
