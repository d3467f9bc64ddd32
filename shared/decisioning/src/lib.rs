//! Offer decisioning. For now: the activity model ([`model`]), its validation ([`validate`]),
//! offers as Web SDK proposition items ([`item`]), RFC 3339 time ([`time`]) and the environment
//! attributes conditions read ([`context`]). The engine comes next; it buckets with
//! `vantage-bucketing` and evaluates audiences with the PQL crate.

pub mod context;
pub mod item;
pub mod model;
pub mod time;
pub mod validate;

pub use item::PropositionItem;
pub use model::{
    Activity, ActivityType, Audience, Bucketing, Cap, CapPeriod, Experience, Offer, OfferSchema,
    Status,
};
pub use validate::{
    ActivityRecord, InvalidActivity, Problem, parse_activity, parse_activity_record,
    parse_activity_value, validate,
};
