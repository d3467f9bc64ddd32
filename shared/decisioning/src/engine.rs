//! The decisioning engine: from a prepared [`Catalog`], the visitor's profile and the request,
//! the propositions to return and the profile changes to write.
//!
//! Order, per activity (highest priority first, ties by id): status and live window, mutual
//! exclusion (the first activity of a group that the visitor enters, held out or not, takes the
//! group for the request), entry audience, holdout, allocation (sticky assignment, else the bucketing scheme;
//! `xt` picks the first experience whose audience matches), then per scope the experience's
//! eligible, uncapped offers (ranked in a `recommendation`), else the scope's fallback. One
//! proposition per scope per activity.
//!
//! The entry audience is checked before the holdout, unlike a literal reading of "holdouts,
//! audiences": the holdout is the control group for lift, so it must hold the same kind of
//! visitors as the experiences do. Held-out visitors get a `default-content-item` proposition
//! under the experience id `holdout` (alloy renders nothing but reports the display), so
//! reports count them in a `holdout` row.

use vantage_bucketing::{self as bucketing, Inputs};
use vantage_model::Profile;

use crate::catalog::{Catalog, Prepared};
use crate::changes::{ProfileChanges, StickyWrite};
use crate::condition::{self, ConditionEvaluator, DecisionContext, Verdict};
use crate::context::Environment;
use crate::frequency;
use crate::item::PropositionItem;
use crate::model::{
    Activity, ActivityType, Audience, DEFAULT_MAX_ITEMS, Experience, HOLDOUT_EXPERIENCE_ID, Offer,
    OfferSchema, Status,
};
use crate::proposition::Proposition;
use crate::recommend::{self, Interests};
use crate::trace::{
    ActivityTrace, AllocationTrace, ConditionTrace, ExperienceTrace, OfferDecision, OfferTrace,
    Outcome, SkipReason, StickyUse,
};

/// One decision request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The id visitors are bucketed by: the ECID, else the primary identity. Empty means
    /// unknown: such a visitor only gets what needs no bucketing.
    pub visitor_id: &'a str,
    /// Requested scopes: `__view__`, page surfaces `web://host/path`, named scopes. Matched
    /// exactly against activity scopes.
    pub scopes: &'a [String],
    /// The visitor's edge profile (a fresh one for a new visitor).
    pub profile: &'a Profile,
    /// Page, referrer, device, local time.
    pub environment: &'a Environment,
    /// The request time, ms since the epoch.
    pub now_ms: i64,
}

/// The engine's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Propositions in decision order (activity priority, then requested scope order).
    pub propositions: Vec<Proposition>,
    /// Profile changes to write (new sticky assignments).
    pub changes: ProfileChanges,
}

/// Decides every requested scope.
pub fn decide(
    catalog: &Catalog,
    request: &Request<'_>,
    evaluator: &dyn ConditionEvaluator,
) -> Decision {
    let mut run = Run::new(catalog, *request, evaluator, false);
    run.run();
    run.decision
}

/// [`decide`], also returning a trace per activity considered.
pub fn decide_traced(
    catalog: &Catalog,
    request: &Request<'_>,
    evaluator: &dyn ConditionEvaluator,
) -> (Decision, Vec<ActivityTrace>) {
    let mut run = Run::new(catalog, *request, evaluator, true);
    run.run();
    (run.decision, run.traces)
}

/// What the visitor gets in an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// The experience at this index.
    Experience(usize),
    /// Held out: default content under the `holdout` experience.
    HeldOut,
}

/// Collects a trace only when asked to, building its strings lazily.
struct Tracer(Option<ActivityTrace>);

impl Tracer {
    fn new(enabled: bool, a: &Activity) -> Tracer {
        Tracer(enabled.then(|| ActivityTrace {
            activity_id: a.id.clone(),
            priority: a.priority,
            activity_type: a.activity_type,
            outcome: Outcome::Skipped {
                reason: SkipReason::NoExperienceMatched,
            },
            conditions: Vec::new(),
            allocation: None,
            experiences: Vec::new(),
            offers: Vec::new(),
        }))
    }

    fn with(&mut self, f: impl FnOnce(&mut ActivityTrace)) {
        if let Some(t) = &mut self.0 {
            f(t);
        }
    }

    fn condition(&mut self, at: impl FnOnce() -> String, condition: &str, verdict: &Verdict) {
        self.with(|t| {
            t.conditions.push(ConditionTrace {
                at: at(),
                condition: condition.to_owned(),
                verdict: verdict.clone(),
            })
        });
    }

    fn experience(&mut self, e: &Experience, chosen: bool, why: &'static str) {
        self.with(|t| {
            t.experiences.push(ExperienceTrace {
                experience_id: e.id.clone(),
                chosen,
                why,
            })
        });
    }

    fn offer(&mut self, scope: &str, offer_id: Option<&str>, decision: OfferDecision) {
        self.with(|t| {
            t.offers.push(OfferTrace {
                scope: scope.to_owned(),
                offer_id: offer_id.map(str::to_owned),
                decision,
            })
        });
    }
}

fn audience_text(a: &Audience) -> &str {
    match a {
        Audience::Segment(id) => id,
        Audience::Pql(text) => text,
    }
}

/// The item shown to held-out visitors: default content, so alloy renders nothing but still
/// reports the display.
pub(crate) fn holdout_item() -> PropositionItem {
    PropositionItem {
        id: HOLDOUT_EXPERIENCE_ID.to_owned(),
        schema: OfferSchema::DefaultContent.url().to_owned(),
        meta: Some(serde_json::Map::new()),
        data: None,
    }
}

/// The bucketing inputs of a visitor in an activity.
pub(crate) fn inputs<'p>(p: &'p Prepared, visitor_id: &'p str) -> Inputs<'p> {
    Inputs {
        client: &p.activity.bucketing.client,
        activity_id: &p.activity.id,
        visitor_id,
        salt: &p.salt,
    }
}

/// How many ranked offers a recommendation keeps.
pub(crate) fn max_items(a: &Activity) -> usize {
    a.max_items.unwrap_or(DEFAULT_MAX_ITEMS) as usize
}

/// The scopes of `requested` that an activity answers, in request order.
pub(crate) fn scopes_of<'s>(a: &Activity, requested: &[&'s str]) -> Vec<&'s str> {
    requested
        .iter()
        .copied()
        .filter(|s| a.scopes.iter().any(|x| x == s))
        .collect()
}

struct Run<'r> {
    catalog: &'r Catalog,
    req: Request<'r>,
    ctx: DecisionContext<'r>,
    evaluator: &'r dyn ConditionEvaluator,
    scopes: Vec<&'r str>,
    tracing: bool,
    traces: Vec<ActivityTrace>,
    /// Exclusion groups taken in this request, with the activity that took each.
    groups: Vec<(&'r str, &'r str)>,
    interests: Option<Interests>,
    decision: Decision,
}

impl<'r> Run<'r> {
    fn new(
        catalog: &'r Catalog,
        req: Request<'r>,
        evaluator: &'r dyn ConditionEvaluator,
        tracing: bool,
    ) -> Run<'r> {
        let mut scopes: Vec<&str> = Vec::with_capacity(req.scopes.len());
        for s in req.scopes {
            if !scopes.contains(&s.as_str()) {
                scopes.push(s);
            }
        }
        Run {
            catalog,
            req,
            ctx: DecisionContext {
                profile: req.profile,
                environment: req.environment,
                visitor_id: req.visitor_id,
                now_ms: req.now_ms,
            },
            evaluator,
            scopes,
            tracing,
            traces: Vec::new(),
            groups: Vec::new(),
            interests: None,
            decision: Decision::default(),
        }
    }

    fn run(&mut self) {
        for position in self.catalog.positions_for(&self.scopes) {
            if let Some(p) = self.catalog.at(position) {
                self.consider(p);
            }
        }
    }

    fn consider(&mut self, p: &'r Prepared) {
        let a = &p.activity;
        let mut t = Tracer::new(self.tracing, a);
        match self.enter(p, &mut t) {
            Err(reason) => t.with(|t| t.outcome = Outcome::Skipped { reason }),
            Ok(choice) => {
                if let Some(group) = &a.exclusion_group {
                    self.groups.push((group, &a.id));
                }
                let scopes = scopes_of(a, &self.scopes);
                let before = self.decision.propositions.len();
                for scope in scopes {
                    self.propose(p, choice, scope, &mut t);
                }
                let made = self.decision.propositions.len() - before;
                let experience_id = match choice {
                    Choice::Experience(i) => a.experiences[i].id.clone(),
                    Choice::HeldOut => HOLDOUT_EXPERIENCE_ID.to_owned(),
                };
                t.with(|t| {
                    t.outcome = Outcome::Chosen {
                        experience_id,
                        propositions: made,
                    }
                });
            }
        }
        if let Some(trace) = t.0 {
            self.traces.push(trace);
        }
    }

    /// Whether and how the visitor enters the activity.
    fn enter(&mut self, p: &'r Prepared, t: &mut Tracer) -> Result<Choice, SkipReason> {
        let a = &p.activity;
        if a.status != Status::Active {
            return Err(SkipReason::NotActive { status: a.status });
        }
        let now = self.req.now_ms;
        if let Some(start_ms) = p.window.0.filter(|&s| now < s) {
            return Err(SkipReason::NotStarted { start_ms });
        }
        if let Some(end_ms) = p.window.1.filter(|&e| now >= e) {
            return Err(SkipReason::Ended { end_ms });
        }
        if let Some(group) = &a.exclusion_group
            && let Some((_, by)) = self.groups.iter().find(|(g, _)| g == group)
        {
            return Err(SkipReason::Excluded {
                group: group.clone(),
                by_activity_id: (*by).to_owned(),
            });
        }
        if let Some(audience) = &a.audience {
            let verdict = condition::audience(audience, &self.ctx, self.evaluator);
            t.condition(|| "audience".into(), audience_text(audience), &verdict);
            if !verdict.matched() {
                return Err(SkipReason::AudienceNotMatched);
            }
        }
        match a.activity_type {
            ActivityType::Xt => self.target(p, t),
            ActivityType::Ab | ActivityType::Recommendation => self.allocate(p, t),
        }
    }

    /// `ab` and `recommendation`: the sticky assignment, else holdout and the scheme's split.
    fn allocate(&mut self, p: &'r Prepared, t: &mut Tracer) -> Result<Choice, SkipReason> {
        let a = &p.activity;
        let visitor = self.req.visitor_id;
        let version = a.bucketing.version;
        let stored = self.req.profile.sticky.get(&a.id);
        let (sticky, kept) = match stored {
            None => (StickyUse::New, None),
            Some(s) if s.bucket_version != version => (
                StickyUse::VersionChanged {
                    stored_version: s.bucket_version,
                },
                None,
            ),
            // Held-out visitors stay held out while the activity has a holdout; removing it
            // releases them (they are re-bucketed like a removed experience).
            Some(s) if s.experience == HOLDOUT_EXPERIENCE_ID && a.holdout > 0.0 => {
                (StickyUse::Kept, Some(Choice::HeldOut))
            }
            Some(s) => match a.experiences.iter().position(|e| e.id == s.experience) {
                Some(i) => (StickyUse::Kept, Some(Choice::Experience(i))),
                None => (
                    StickyUse::ExperienceGone {
                        stored_experience_id: s.experience.clone(),
                    },
                    None,
                ),
            },
        };
        let inputs = inputs(p, visitor);
        let choice = match kept {
            Some(choice) => Ok(choice),
            None if visitor.is_empty() => Err(SkipReason::NoVisitorId),
            None if bucketing::in_holdout(p.scheme, &inputs, a.holdout) => Ok(Choice::HeldOut),
            None => bucketing::choose(p.scheme, &inputs, &p.allocations)
                .map(Choice::Experience)
                .ok_or(SkipReason::Unallocated),
        };
        if let (None, Ok(choice)) = (kept, &choice) {
            self.decision.changes.sticky.push(StickyWrite {
                activity_id: a.id.clone(),
                experience_id: match *choice {
                    Choice::Experience(i) => a.experiences[i].id.clone(),
                    Choice::HeldOut => HOLDOUT_EXPERIENCE_ID.to_owned(),
                },
                bucket_version: version,
                at: self.req.now_ms,
                replace: stored.is_some(),
            });
        }
        if self.tracing {
            let why = if kept.is_some() {
                "stored (sticky) assignment"
            } else {
                "allocated by bucket"
            };
            for (i, e) in a.experiences.iter().enumerate() {
                let chosen = choice == Ok(Choice::Experience(i));
                t.experience(e, chosen, if chosen { why } else { "not this visitor's" });
            }
            t.with(|t| {
                t.allocation = Some(AllocationTrace {
                    scheme: p.scheme.name(),
                    bucket_version: version,
                    bucket: (!visitor.is_empty()).then(|| bucketing::bucket(p.scheme, &inputs)),
                    allocations: p.allocations.clone(),
                    holdout: a.holdout,
                    held_out: choice == Ok(Choice::HeldOut),
                    sticky,
                })
            });
        }
        choice
    }

    /// `xt`: the first experience whose audience matches, then holdout and its allocation.
    fn target(&mut self, p: &'r Prepared, t: &mut Tracer) -> Result<Choice, SkipReason> {
        let a = &p.activity;
        let mut matched = None;
        for (i, e) in a.experiences.iter().enumerate() {
            if matched.is_some() {
                t.experience(e, false, "an earlier experience matched first");
                continue;
            }
            let verdict = match &e.audience {
                None => Verdict::Matched,
                Some(audience) => {
                    let v = condition::audience(audience, &self.ctx, self.evaluator);
                    t.condition(
                        || format!("experiences[{i}].audience"),
                        audience_text(audience),
                        &v,
                    );
                    v
                }
            };
            if verdict.matched() {
                matched = Some(i);
            } else {
                t.experience(e, false, "audience did not match");
            }
        }
        let Some(i) = matched else {
            return Err(SkipReason::NoExperienceMatched);
        };
        let e = &a.experiences[i];
        let visitor = self.req.visitor_id;
        let allocation = e.allocation.unwrap_or(100.0);
        let needs_bucket = a.holdout > 0.0 || allocation < 100.0;
        let inputs = inputs(p, visitor);
        let choice = if needs_bucket && visitor.is_empty() {
            Err(SkipReason::NoVisitorId)
        } else if bucketing::in_holdout(p.scheme, &inputs, a.holdout) {
            Ok(Choice::HeldOut)
        } else if allocation < 100.0
            && !bucketing::bucket(p.scheme, &inputs).is_below_percent(allocation)
        {
            Err(SkipReason::Unallocated)
        } else {
            Ok(Choice::Experience(i))
        };
        if self.tracing {
            let why = match choice {
                Ok(Choice::Experience(_)) => "first experience whose audience matched",
                Ok(Choice::HeldOut) => "audience matched; visitor held out",
                Err(_) => "audience matched; visitor outside its allocation",
            };
            // Keep the experiences in authored order.
            t.with(|t| {
                t.experiences.insert(
                    i,
                    ExperienceTrace {
                        experience_id: e.id.clone(),
                        chosen: choice == Ok(Choice::Experience(i)),
                        why,
                    },
                );
                t.allocation = Some(AllocationTrace {
                    scheme: p.scheme.name(),
                    bucket_version: a.bucketing.version,
                    bucket: (!visitor.is_empty()).then(|| bucketing::bucket(p.scheme, &inputs)),
                    allocations: a
                        .experiences
                        .iter()
                        .map(|e| e.allocation.unwrap_or(100.0))
                        .collect(),
                    holdout: a.holdout,
                    held_out: choice == Ok(Choice::HeldOut),
                    sticky: StickyUse::NotApplicable,
                });
            });
        }
        choice
    }

    /// The proposition for one scope, if there is anything to show.
    fn propose(&mut self, p: &'r Prepared, choice: Choice, scope: &str, t: &mut Tracer) {
        let a = &p.activity;
        let (experience_id, items) = match choice {
            Choice::HeldOut => (HOLDOUT_EXPERIENCE_ID, vec![holdout_item()]),
            Choice::Experience(i) => {
                let e = &a.experiences[i];
                (e.id.as_str(), self.items(a, e, scope, t))
            }
        };
        if items.is_empty() {
            return;
        }
        self.decision.propositions.push(Proposition::new(
            &a.id,
            experience_id,
            scope,
            items,
            false,
        ));
    }

    /// The experience's items for a scope: eligible, uncapped offers (ranked and cut in a
    /// recommendation), else the fallback.
    fn items(
        &mut self,
        a: &Activity,
        e: &Experience,
        scope: &str,
        t: &mut Tracer,
    ) -> Vec<PropositionItem> {
        let mut eligible: Vec<&Offer> = Vec::new();
        for offer in e.offers.iter().filter(|o| offer_answers(o, scope)) {
            match self.check_offer(a, offer, t) {
                Ok(()) => eligible.push(offer),
                Err(d) => t.offer(scope, Some(&offer.id), d),
            }
        }
        let shown: Vec<(&Offer, Option<f64>)> = if a.activity_type == ActivityType::Recommendation {
            let interests = self
                .interests
                .get_or_insert_with(|| Interests::from_profile(self.req.profile));
            let mut ranked = recommend::rank(&eligible, interests);
            let keep = max_items(a);
            for (offer, score) in ranked.iter().skip(keep) {
                let decision = OfferDecision::NotInTop {
                    score: *score,
                    max_items: a.max_items.unwrap_or(DEFAULT_MAX_ITEMS),
                };
                t.offer(scope, Some(&offer.id), decision);
            }
            ranked.truncate(keep);
            ranked.into_iter().map(|(o, s)| (o, Some(s))).collect()
        } else {
            eligible.into_iter().map(|o| (o, None)).collect()
        };
        if !shown.is_empty() {
            return shown
                .into_iter()
                .map(|(offer, score)| {
                    t.offer(scope, Some(&offer.id), OfferDecision::Shown { score });
                    offer.to_item_with_meta(a, e)
                })
                .collect();
        }
        if let Some(fallback) = a.fallbacks.get(scope) {
            match self.check_offer(a, fallback, t) {
                Ok(()) => {
                    t.offer(scope, Some(&fallback.id), OfferDecision::Fallback);
                    return vec![fallback.to_item_with_meta(a, e)];
                }
                Err(d) => t.offer(scope, Some(&fallback.id), d),
            }
        }
        t.offer(scope, None, OfferDecision::NothingToShow);
        Vec::new()
    }

    /// Eligibility and caps of one offer.
    fn check_offer(
        &self,
        a: &Activity,
        offer: &Offer,
        t: &mut Tracer,
    ) -> Result<(), OfferDecision> {
        if let Some(rule) = &offer.eligibility {
            let verdict = condition::pql(rule, &self.ctx, self.evaluator);
            t.condition(|| format!("offer {} eligibility", offer.id), rule, &verdict);
            if !verdict.matched() {
                return Err(OfferDecision::Ineligible);
            }
        }
        if !offer.caps.is_empty() {
            let key = frequency::offer_key(&a.id, &offer.id);
            if let Some(cap) =
                frequency::exhausted(&self.req.profile.caps, &key, &offer.caps, self.req.now_ms)
            {
                return Err(OfferDecision::Capped { cap });
            }
        }
        Ok(())
    }
}

/// Whether an offer is meant for a scope (offers without a scope answer all of them).
pub(crate) fn offer_answers(offer: &Offer, scope: &str) -> bool {
    offer.scope.as_deref().is_none_or(|s| s == scope)
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
