//! Propositions in the Web SDK format (`adobe-edge-protocol.md` §4.1): what `personalization:
//! decisions` carries and what alloy echoes back (`{id, scope, scopeDetails}`) in notifications.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::base64;
use crate::item::PropositionItem;
use crate::token;

/// `scopeDetails.decisionProvider`: Target's, so alloy treats clicks the Target way (tracked
/// through `click` dom-actions only, not auto-collected as for AJO).
pub const DECISION_PROVIDER: &str = "TGT";

/// One proposition: one activity's answer for one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposition {
    /// Opaque, unique per activity, experience and scope: `AT:` + base64 of
    /// `{"activityId":…,"experienceId":…,"scope":…}` (Target's shape plus the scope).
    pub id: String,
    /// The decision scope or surface answered.
    pub scope: String,
    /// Who decided what; alloy echoes it back untouched.
    pub scope_details: ScopeDetails,
    /// The content to render; notifications carry none.
    #[serde(default)]
    pub items: Vec<PropositionItem>,
}

/// `scopeDetails` of a proposition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeDetails {
    /// Always [`DECISION_PROVIDER`] (borrowed, as are the strategy names: no allocation per
    /// proposition for constants).
    pub decision_provider: Cow<'static, str>,
    /// The activity.
    pub activity: IdRef,
    /// The experience (or `holdout`).
    pub experience: IdRef,
    /// Target's strategy steps.
    #[serde(default)]
    pub strategies: Vec<Strategy>,
    /// The event token (and a preview mark).
    #[serde(default)]
    pub characteristics: Characteristics,
    /// `activity:experience:0`, as Target writes it.
    #[serde(rename = "correlationID", default)]
    pub correlation_id: String,
}

/// `{"id": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRef {
    /// The id.
    pub id: String,
}

/// One strategy step (`entry`, `display`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    /// The step.
    pub step: Cow<'static, str>,
    /// Target's traffic type; `"0"` as in the protocol doc's example.
    pub traffic_type: Cow<'static, str>,
}

/// `scopeDetails.characteristics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Characteristics {
    /// See [`crate::token`].
    #[serde(default)]
    pub event_token: String,
    /// Set on forced previews (also inside the token), so QA can tell them apart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
}

/// What a proposition id encodes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdFields<'a> {
    activity_id: &'a str,
    experience_id: &'a str,
    scope: &'a str,
}

/// Target's proposition id for an activity, experience and scope.
pub fn proposition_id(activity_id: &str, experience_id: &str, scope: &str) -> String {
    let fields = IdFields {
        activity_id,
        experience_id,
        scope,
    };
    // Serializing borrowed strings cannot fail.
    let json = serde_json::to_vec(&fields).unwrap_or_default();
    let mut id = String::with_capacity(3 + json.len().div_ceil(3) * 4);
    id.push_str("AT:");
    base64::encode_standard_into(&mut id, &json);
    id
}

impl Proposition {
    /// A proposition for `scope` showing `items` of an activity's experience.
    pub fn new(
        activity_id: &str,
        experience_id: &str,
        scope: &str,
        items: Vec<PropositionItem>,
        preview: bool,
    ) -> Proposition {
        let event_token = token::encode(
            activity_id,
            experience_id,
            items.iter().map(|i| i.id.as_str()),
            preview,
        );
        let step = |step: &'static str| Strategy {
            step: Cow::Borrowed(step),
            traffic_type: Cow::Borrowed("0"),
        };
        Proposition {
            id: proposition_id(activity_id, experience_id, scope),
            scope: scope.to_owned(),
            scope_details: ScopeDetails {
                decision_provider: Cow::Borrowed(DECISION_PROVIDER),
                activity: IdRef {
                    id: activity_id.to_owned(),
                },
                experience: IdRef {
                    id: experience_id.to_owned(),
                },
                strategies: vec![step("entry"), step("display")],
                characteristics: Characteristics {
                    event_token,
                    preview,
                },
                correlation_id: format!("{activity_id}:{experience_id}:0"),
            },
            items,
        }
    }
}
