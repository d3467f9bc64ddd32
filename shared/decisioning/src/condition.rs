//! Audience and eligibility conditions. A segment id is looked up in the profile's memberships;
//! inline PQL goes to a [`ConditionEvaluator`] the glue provides (the PQL engine lives in
//! another crate). Anything that cannot be evaluated fails closed: it does not match, and the
//! [`Verdict`] says why so explanations can show it.

use serde::Serialize;
use vantage_model::Profile;
use vantage_model::profile::membership;

use crate::context::Environment;
use crate::model::Audience;

/// What a condition can read about the request.
#[derive(Debug, Clone, Copy)]
pub struct DecisionContext<'a> {
    /// The visitor's edge profile (attributes, memberships, events, counters…).
    pub profile: &'a Profile,
    /// Page, referrer, device and local time.
    pub environment: &'a Environment,
    /// The id the visitor is bucketed by (ECID, else the primary identity).
    pub visitor_id: &'a str,
    /// The request time, ms since the epoch.
    pub now_ms: i64,
}

/// Evaluates inline PQL. `Err` carries a message for explanations; the engine treats it as
/// "does not match".
pub trait ConditionEvaluator {
    /// Whether `pql` holds for this request.
    fn eval(&self, pql: &str, ctx: &DecisionContext<'_>) -> Result<bool, String>;
}

impl<F> ConditionEvaluator for F
where
    F: Fn(&str, &DecisionContext<'_>) -> Result<bool, String>,
{
    fn eval(&self, pql: &str, ctx: &DecisionContext<'_>) -> Result<bool, String> {
        self(pql, ctx)
    }
}

/// An evaluator for deployments without PQL: every inline condition is an error, so activities
/// that need one stay closed while segment audiences keep working.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConditions;

impl ConditionEvaluator for NoConditions {
    fn eval(&self, _pql: &str, _ctx: &DecisionContext<'_>) -> Result<bool, String> {
        Err("no PQL evaluator is configured".into())
    }
}

/// The outcome of one condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Verdict {
    /// It holds.
    Matched,
    /// It does not hold.
    NotMatched,
    /// It could not be evaluated; treated as not matching.
    Error {
        /// Why.
        message: String,
    },
}

impl Verdict {
    /// Whether the condition lets the visitor through.
    pub fn matched(&self) -> bool {
        *self == Verdict::Matched
    }

    fn from_result(result: Result<bool, String>) -> Verdict {
        match result {
            Ok(true) => Verdict::Matched,
            Ok(false) => Verdict::NotMatched,
            Err(message) => Verdict::Error { message },
        }
    }
}

/// Evaluates an audience: segment membership (realized) from the profile, or PQL.
pub fn audience(
    audience: &Audience,
    ctx: &DecisionContext<'_>,
    evaluator: &dyn ConditionEvaluator,
) -> Verdict {
    match audience {
        Audience::Segment(id) if membership::is_member(&ctx.profile.memberships, id) => {
            Verdict::Matched
        }
        Audience::Segment(_) => Verdict::NotMatched,
        Audience::Pql(text) => pql(text, ctx, evaluator),
    }
}

/// Evaluates an inline PQL condition (an offer's `eligibility`).
pub fn pql(text: &str, ctx: &DecisionContext<'_>, evaluator: &dyn ConditionEvaluator) -> Verdict {
    Verdict::from_result(evaluator.eval(text, ctx))
}
