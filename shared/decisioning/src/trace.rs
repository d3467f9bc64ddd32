//! The structured record of a decision, for explanations: per activity, what was checked, the
//! bucket and allocation, and why each activity, experience and offer was or was not chosen.
//! Serializable, so `/v1/decisions/explain` returns it as is.

use serde::Serialize;
use vantage_bucketing::Bucket;

use crate::condition::Verdict;
use crate::frequency::Capped;
use crate::model::{ActivityType, Status};

/// What happened to one activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityTrace {
    /// The activity.
    pub activity_id: String,
    /// Its priority (activities are considered highest first).
    pub priority: i64,
    /// Its type.
    pub activity_type: ActivityType,
    /// Chosen or skipped, and why.
    pub outcome: Outcome,
    /// Every condition evaluated, in order.
    pub conditions: Vec<ConditionTrace>,
    /// Allocation details, when the activity got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation: Option<AllocationTrace>,
    /// Per experience, whether it was chosen and why not.
    pub experiences: Vec<ExperienceTrace>,
    /// Per scope and offer, whether it was shown and why not.
    pub offers: Vec<OfferTrace>,
}

/// The outcome for an activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Outcome {
    /// The visitor is in the activity.
    #[serde(rename_all = "camelCase")]
    Chosen {
        /// The experience (or `holdout`).
        experience_id: String,
        /// How many propositions it produced (scopes with something to show).
        propositions: usize,
    },
    /// The activity was not decided for this visitor.
    Skipped {
        /// Why.
        #[serde(flatten)]
        reason: SkipReason,
    },
}

/// Why an activity was skipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum SkipReason {
    /// Paused, draft or retired.
    NotActive {
        /// Its status.
        status: Status,
    },
    /// Its start date is in the future.
    #[serde(rename_all = "camelCase")]
    NotStarted {
        /// Start, ms.
        start_ms: i64,
    },
    /// Its end date has passed.
    #[serde(rename_all = "camelCase")]
    Ended {
        /// End, ms.
        end_ms: i64,
    },
    /// A higher-priority activity of the same exclusion group was chosen in this request.
    #[serde(rename_all = "camelCase")]
    Excluded {
        /// The group.
        group: String,
        /// The activity that took it.
        by_activity_id: String,
    },
    /// The entry audience did not match (or could not be evaluated; see `conditions`).
    AudienceNotMatched,
    /// Allocation needs a visitor id and there is none.
    NoVisitorId,
    /// The visitor's bucket falls in traffic no experience is allocated.
    Unallocated,
    /// `xt`: no experience's audience matched.
    NoExperienceMatched,
}

/// One evaluated condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionTrace {
    /// Which condition: `audience`, `experiences[1].audience`, `offer hero-a eligibility`.
    pub at: String,
    /// The segment id or PQL text.
    pub condition: String,
    /// The result.
    pub verdict: Verdict,
}

/// Where the visitor landed in the activity's traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationTrace {
    /// The scheme.
    pub scheme: &'static str,
    /// The activity's bucket version.
    pub bucket_version: u32,
    /// The visitor's bucket (absent without a visitor id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Bucket>,
    /// The split in percent, in experience order.
    pub allocations: Vec<f64>,
    /// The holdout percentage.
    pub holdout: f64,
    /// Whether the visitor is held out.
    pub held_out: bool,
    /// How the stored assignment was used.
    pub sticky: StickyUse,
}

/// How a stored (sticky) assignment figured in the allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "sticky", rename_all = "camelCase")]
pub enum StickyUse {
    /// Not used: `xt` activities choose by audience on every request.
    NotApplicable,
    /// None was stored; the visitor was bucketed now.
    New,
    /// The stored assignment was kept.
    Kept,
    /// The stored one was made under another bucket version, so the visitor was re-bucketed.
    #[serde(rename_all = "camelCase")]
    VersionChanged {
        /// The stored version.
        stored_version: u32,
    },
    /// The stored experience no longer exists, so the visitor was re-bucketed.
    #[serde(rename_all = "camelCase")]
    ExperienceGone {
        /// The stored experience.
        stored_experience_id: String,
    },
}

/// One experience of a considered activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceTrace {
    /// The experience.
    pub experience_id: String,
    /// Whether it was chosen.
    pub chosen: bool,
    /// Why it was or was not.
    pub why: &'static str,
}

/// One offer considered for one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferTrace {
    /// The scope.
    pub scope: String,
    /// The offer (absent when nothing was left to show).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<String>,
    /// The fate of the offer.
    pub decision: OfferDecision,
}

/// Why an offer was or was not shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "camelCase")]
pub enum OfferDecision {
    /// Shown (with its rank score in a recommendation).
    Shown {
        /// Rank score.
        #[serde(skip_serializing_if = "Option::is_none")]
        score: Option<f64>,
    },
    /// Shown as the scope's fallback because nothing else was eligible.
    Fallback,
    /// Its eligibility condition failed (see `conditions`).
    Ineligible,
    /// A frequency cap is used up.
    Capped {
        /// The cap.
        #[serde(flatten)]
        cap: Capped,
    },
    /// Ranked below the top `maxItems`.
    #[serde(rename_all = "camelCase")]
    NotInTop {
        /// Rank score.
        score: f64,
        /// How many were kept.
        max_items: u32,
    },
    /// Nothing was eligible for the scope and there is no usable fallback.
    NothingToShow,
}
