//! Applying one parsed record to the store, through the model's graph and catalog operations.

use vantage_kv::Kv;
use vantage_model::catalog::{self, ActivityDefinition, DefinitionStatus, SegmentDefinition};
use vantage_model::profile::{consent, membership};
use vantage_model::{Graph, Identity, Outcome, Profile};

use crate::Options;
use crate::record::{Record, RecordError};

/// Applies `record` (whose JSON text is `text`) at `now`.
pub fn apply<K: Kv + ?Sized>(
    kv: &K,
    record: &Record,
    text: &str,
    options: &Options<'_>,
    now: i64,
) -> Result<Outcome, RecordError> {
    let policy = &options.policy;
    let graph = Graph::new(kv, policy);
    let outcome = match record {
        Record::Profile { identity, ts, .. } | Record::Membership { identity, ts, .. } => {
            graph.update(identity, *ts, now, |p| Ok(change(record, p)))?
        }
        Record::Link { identities, ts } => graph.link(identities, *ts, now)?,
        Record::Unlink { identity, ts } => graph.unlink(identity, *ts, now)?,
        Record::Delete { identity, ts } => graph.delete(identity, *ts, now)?,
        Record::Segment {
            id,
            name,
            expression,
            ts,
            status,
        } => {
            let plan = match (options.compile_segment, status) {
                (Some(compile), DefinitionStatus::Active) => {
                    Some(compile(expression).map_err(RecordError::Definition)?)
                }
                _ => None,
            };
            let def = SegmentDefinition {
                id: id.clone(),
                name: name.clone(),
                expression: expression.clone(),
                timestamp: *ts,
                status: *status,
                plan,
            };
            changed(catalog::publish_segment(kv, &def, policy)?)
        }
        Record::Activity {
            id,
            ts,
            status,
            scopes,
            json,
        } => {
            let compiled = match (options.compile_activity, status) {
                (Some(compile), DefinitionStatus::Active) => {
                    Some(compile(json).map_err(RecordError::Definition)?)
                }
                _ => None,
            };
            let retired = *status == DefinitionStatus::Retired;
            let def = ActivityDefinition {
                id: id.clone(),
                timestamp: *ts,
                status: *status,
                // Stored as given; a retired one keeps only its id and time.
                json: if retired {
                    String::new()
                } else {
                    text.trim().to_owned()
                },
                scopes: if retired { Vec::new() } else { scopes.clone() },
            };
            changed(catalog::publish_activity_compiled(
                kv, &def, compiled, policy,
            )?)
        }
    };
    Ok(outcome)
}

/// The identity and timestamp of a record that changes one profile (`profile` and
/// `membership` records); `None` for the others.
pub fn profile_target(record: &Record) -> Option<(&Identity, i64)> {
    match record {
        Record::Profile { identity, ts, .. } | Record::Membership { identity, ts, .. } => {
            Some((identity, *ts))
        }
        _ => None,
    }
}

/// Applies a `profile` or `membership` record to `p` in memory; whether it changed anything.
/// Pure and repeatable (it runs once per CAS attempt). Other records change nothing.
pub fn change(record: &Record, p: &mut Profile) -> bool {
    match record {
        Record::Profile {
            ts,
            attributes,
            consent: answers,
            ..
        } => {
            let mut changed = p.attributes.merge_json(attributes, *ts);
            for (purpose, entry) in answers {
                changed |= consent::set(&mut p.consent, purpose, *entry);
            }
            changed
        }
        Record::Membership {
            segment,
            status,
            source,
            ts,
            ..
        } => {
            let update = membership::Membership {
                since: *ts,
                status: *status,
                source: *source,
            };
            membership::apply(&mut p.memberships, segment, update)
        }
        _ => false,
    }
}

fn changed(yes: bool) -> Outcome {
    if yes {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    }
}
