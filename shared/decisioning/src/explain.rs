//! Explanations for QA: for one visitor and one activity, the bucket, the allocation and why
//! each activity, experience and offer of the request was or was not chosen.

use serde::Serialize;
use vantage_bucketing::{self as bucketing, Bucket};

use crate::catalog::Catalog;
use crate::changes::ProfileChanges;
use crate::condition::ConditionEvaluator;
use crate::engine::{Request, decide_traced, inputs};
use crate::proposition::Proposition;
use crate::trace::{ActivityTrace, AllocationTrace};

/// Everything a QA engineer needs to debug one activity for one visitor.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The visitor id bucketed.
    pub visitor_id: String,
    /// The activity asked about.
    pub activity_id: String,
    /// Whether the catalog has it.
    pub found: bool,
    /// The scopes decided: the request's, then the activity's own.
    pub scopes: Vec<String>,
    /// The visitor's bucket in the activity, whatever happened before allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Bucket>,
    /// The experience that bucket maps to by the current split (ignoring stickiness and
    /// holdout), for comparison with what was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_experience_id: Option<String>,
    /// Allocation as the engine saw it (sticky use, holdout), when it got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation: Option<AllocationTrace>,
    /// The trace of the activity asked about, when it was considered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityTrace>,
    /// Every activity considered for these scopes, in decision order (what was above it).
    pub activities: Vec<ActivityTrace>,
    /// What the visitor would get for these scopes.
    pub propositions: Vec<Proposition>,
    /// What deciding would write to the profile (an explanation writes nothing).
    pub changes: ProfileChanges,
}

/// Explains how `activity_id` is decided for the request's visitor: the request's scopes and
/// the activity's own are decided together, so competitors for them show up too.
pub fn explain(
    catalog: &Catalog,
    request: &Request<'_>,
    evaluator: &dyn ConditionEvaluator,
    activity_id: &str,
) -> Explanation {
    let prepared = catalog.get(activity_id);
    // The activity's own scopes are always decided, so it is considered whatever was asked.
    let mut scopes: Vec<String> = request.scopes.to_vec();
    for scope in prepared.iter().flat_map(|p| &p.activity.scopes) {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    let req = Request {
        scopes: &scopes,
        ..*request
    };
    let (decision, traces) = decide_traced(catalog, &req, evaluator);
    let activity = traces
        .iter()
        .find(|t| t.activity_id == activity_id)
        .cloned();
    let visitor = request.visitor_id;
    let (bucket, bucket_experience_id) = match prepared {
        Some(p) if !visitor.is_empty() => {
            let inputs = inputs(p, visitor);
            let assignment = bucketing::assign(p.scheme, &inputs, &p.allocations);
            let experience = assignment
                .experience
                .and_then(|i| p.activity.experiences.get(i))
                .map(|e| e.id.clone());
            (Some(assignment.bucket), experience)
        }
        _ => (None, None),
    };
    Explanation {
        visitor_id: visitor.to_owned(),
        activity_id: activity_id.to_owned(),
        found: prepared.is_some(),
        scopes,
        bucket,
        bucket_experience_id,
        allocation: activity.as_ref().and_then(|a| a.allocation.clone()),
        activity,
        activities: traces,
        propositions: decision.propositions,
        changes: decision.changes,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::condition::NoConditions;
    use crate::fixtures::{NOW, activity, dom, env, profile};

    #[test]
    fn explains_bucket_allocation_and_reasons() {
        let c = Catalog::new([
            activity(
                json!({"id": "first", "activityType": "ab", "priority": 9, "scopes": ["__view__"],
                "exclusionGroup": "g", "experiences": [{"id": "0", "allocation": 100, "offers": [dom("f")]}]}),
            ),
            activity(
                json!({"id": "1111", "activityType": "ab", "priority": 1, "scopes": ["__view__"],
                "exclusionGroup": "g", "bucketing": {"scheme": "adobe-target", "client": "acmeclient", "salt": "experience"},
                "experiences": [{"id": "0", "allocation": 33.33, "offers": [dom("a")]},
                                {"id": "1", "allocation": 33.33, "offers": [dom("b")]},
                                {"id": "2", "allocation": 33.34, "offers": [dom("c")]}]}),
            ),
        ]);
        let p = profile();
        let env = env();
        let req = Request {
            visitor_id: "702ff4d0-83b1-4e2e-a0a6-22cbe460eb15",
            scopes: &[],
            profile: &p,
            environment: &env,
            now_ms: NOW,
        };
        let x = explain(&c, &req, &NoConditions, "1111");
        assert!(x.found);
        assert_eq!(x.scopes, ["__view__"]);
        // Adobe's worked example (bucketing.md §3): bucket 7116 of 10000, the third of three.
        assert_eq!(
            x.bucket,
            Some(Bucket {
                value: 7116,
                modulus: 10_000
            })
        );
        assert_eq!(x.bucket_experience_id.as_deref(), Some("2"));
        let json = serde_json::to_value(&x).unwrap();
        assert_eq!(
            json["activity"]["outcome"],
            json!({"status": "skipped", "reason": "excluded", "group": "g", "byActivityId": "first"})
        );
        assert_eq!(json["activities"][0]["outcome"]["status"], "chosen");
        assert_eq!(
            json["activities"][0]["allocation"]["sticky"],
            json!({"sticky": "new"})
        );
        assert_eq!(
            json["activities"][0]["offers"][0]["decision"],
            json!({"decision": "shown"})
        );
        assert_eq!(json["propositions"].as_array().unwrap().len(), 1);
        assert_eq!(json["changes"]["sticky"][0]["activityId"], "first");

        // Without the competitor, the activity is chosen and the trace has the allocation.
        let alone = Catalog::new(c.iter().skip(1).map(|p| p.activity.clone()));
        let x = explain(&alone, &req, &NoConditions, "1111");
        let allocation = x.allocation.as_ref().unwrap();
        assert_eq!(allocation.allocations, [33.33, 33.33, 33.34]);
        assert_eq!(allocation.bucket, x.bucket);
        let chosen: Vec<_> = x
            .activity
            .as_ref()
            .unwrap()
            .experiences
            .iter()
            .filter(|e| e.chosen)
            .collect();
        assert_eq!(chosen.len(), 1);
        assert_eq!(
            Some(&chosen[0].experience_id),
            x.bucket_experience_id.as_ref()
        );

        let missing = explain(&c, &req, &NoConditions, "nope");
        assert!(!missing.found && missing.activity.is_none() && missing.bucket.is_none());
    }
}
