//! Preview: a forced activity and experience for QA (the glue checks the admin-signed preview
//! token). Status, dates, audiences, allocation, eligibility and caps are all bypassed so
//! drafts can be checked before launch; the propositions are marked preview (in the event
//! token and `characteristics.preview`) so their notifications are never counted, and nothing
//! is written to the profile.

use crate::catalog::Catalog;
use crate::engine::{Request, max_items, offer_answers};
use crate::model::{ActivityType, Offer};
use crate::proposition::Proposition;
use crate::recommend::{self, Interests};

/// The forced choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forced<'a> {
    /// The activity.
    pub activity_id: &'a str,
    /// The experience.
    pub experience_id: &'a str,
}

/// Why a preview cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    /// The catalog has no such activity.
    #[error("unknown activity {0:?}")]
    UnknownActivity(String),
    /// The activity has no such experience.
    #[error("activity {activity_id:?} has no experience {experience_id:?}")]
    UnknownExperience {
        /// The activity.
        activity_id: String,
        /// The experience asked for.
        experience_id: String,
    },
}

/// The forced experience's propositions for the requested scopes it answers (all of the
/// activity's scopes when the request names none of them). A recommendation is still ranked for
/// the visitor.
pub fn preview(
    catalog: &Catalog,
    request: &Request<'_>,
    forced: Forced<'_>,
) -> Result<Vec<Proposition>, PreviewError> {
    let p = catalog
        .get(forced.activity_id)
        .ok_or_else(|| PreviewError::UnknownActivity(forced.activity_id.to_owned()))?;
    let a = &p.activity;
    let e = a
        .experience(forced.experience_id)
        .ok_or_else(|| PreviewError::UnknownExperience {
            activity_id: a.id.clone(),
            experience_id: forced.experience_id.to_owned(),
        })?;
    let mut scopes: Vec<&str> = a
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| request.scopes.iter().any(|r| r == s))
        .collect();
    if scopes.is_empty() {
        scopes = a.scopes.iter().map(String::as_str).collect();
    }
    let interests = (a.activity_type == ActivityType::Recommendation)
        .then(|| Interests::from_profile(request.profile));
    let mut propositions = Vec::new();
    for scope in scopes {
        let mut offers: Vec<&Offer> = e
            .offers
            .iter()
            .filter(|o| offer_answers(o, scope))
            .collect();
        if let Some(interests) = &interests {
            offers = recommend::rank(&offers, interests)
                .into_iter()
                .take(max_items(a))
                .map(|(o, _)| o)
                .collect();
        }
        if offers.is_empty() {
            offers.extend(a.fallbacks.get(scope));
        }
        if offers.is_empty() {
            continue;
        }
        let items = offers.iter().map(|o| o.to_item_with_meta(a, e)).collect();
        propositions.push(Proposition::new(&a.id, &e.id, scope, items, true));
    }
    Ok(propositions)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{NOW, activity, dom, env, profile};
    use crate::token::EventToken;

    #[test]
    fn forces_a_draft_experience_and_marks_it() {
        let mut gated = dom("b-1");
        gated["eligibility"] = json!("false");
        let c = Catalog::new([activity(json!({
            "id": "draft", "activityType": "ab", "status": "draft", "scopes": ["__view__", "side"],
            "audience": {"pql": "false"}, "startDate": "2030-01-01T00:00:00Z",
            "experiences": [{"id": "a", "allocation": 50, "offers": [dom("a-1")]},
                            {"id": "b", "allocation": 50, "offers": [gated]}]
        }))]);
        let p = profile();
        let env = env();
        let scopes = vec!["side".to_owned(), "unrelated".to_owned()];
        let req = Request {
            visitor_id: "",
            scopes: &scopes,
            profile: &p,
            environment: &env,
            now_ms: NOW,
        };
        let forced = |e| Forced {
            activity_id: "draft",
            experience_id: e,
        };
        let props = preview(&c, &req, forced("b")).unwrap();
        assert_eq!(props.len(), 1);
        assert_eq!(props[0].scope, "side");
        assert_eq!(props[0].items[0].id, "b-1");
        assert!(props[0].scope_details.characteristics.preview);
        let token =
            EventToken::decode(&props[0].scope_details.characteristics.event_token).unwrap();
        assert!(token.preview);
        let json = serde_json::to_value(&props[0]).unwrap();
        assert_eq!(json["scopeDetails"]["characteristics"]["preview"], true);

        // No requested scope of the activity: all of its scopes.
        let none: Vec<String> = Vec::new();
        let all = preview(
            &c,
            &Request {
                scopes: &none,
                ..req
            },
            forced("a"),
        )
        .unwrap();
        let scopes: Vec<&str> = all.iter().map(|p| p.scope.as_str()).collect();
        assert_eq!(scopes, ["__view__", "side"]);

        assert_eq!(
            preview(&c, &req, forced("zz")),
            Err(PreviewError::UnknownExperience {
                activity_id: "draft".into(),
                experience_id: "zz".into()
            })
        );
        assert_eq!(
            preview(
                &c,
                &req,
                Forced {
                    activity_id: "nope",
                    experience_id: "a"
                }
            ),
            Err(PreviewError::UnknownActivity("nope".into()))
        );
    }
}
