//! Batched application of `profile` and `membership` records: the bulk of a hub projection.
//!
//! Applied one at a time, a record costs about seven store calls (tombstone, identity and slot
//! reads, then a CAS read and write of the identity claim and of the profile), each a host call
//! and every write a round trip to the host's store writer. Here a run of such records is
//! applied together:
//!
//! 1. **One `get_many`** reads the tombstone and identity record of every identity in the run.
//! 2. Records are **grouped by the profile** their identity points at (or, for an identity with
//!    no profile, by the profile it would create under its primary name), keeping their order.
//! 3. Each group is applied **in memory**, record by record exactly as the one-at-a-time path
//!    does (touch and size cap after every change, so trims and rejections are the same), and
//!    **written once**.
//!
//! # Why every write stays safe
//!
//! Nothing is written blind: each write is a CAS against a value read in the same step, so a
//! concurrent writer (another ingester of the same stream, an edge request, a merge) either
//! happened before our read and is included, or makes our CAS fail.
//!
//! * **An existing profile** (`ident → P`, slot `P` live, unexpired, listing every identity of
//!   the group): CAS-read the slot, apply, CAS-write it. One write per profile per run instead
//!   of one per record.
//! * **A new profile** (no identity record, or one without a profile; slot `primary(identity)`
//!   absent): CAS-read the slot (absent), CAS-read the identity record (it must still be what
//!   step 1 saw), CAS-write the claim `ident → P`, then CAS-write the new profile. This is the
//!   one-at-a-time order (claim, then create), and a failure after the claim leaves the state
//!   that order leaves between its two writes: a claim whose profile is not written yet, which
//!   every reader already resolves by creating it there.
//!
//! `set_many` is not used: a blind write of a shared record could overwrite a concurrent link's
//! claim or another ingester's newer fields, and there is no write here that is safe without
//! the check.
//!
//! Whenever the fast path meets anything else (a tombstone or record that does not decode, a
//! forward left by a merge, an expired profile, an identity the profile does not list, a
//! primary name already taken, a size-cap failure, a store error, a lost CAS race) the group
//! falls back, before writing anything of its own, to the one-at-a-time path
//! ([`crate::apply::apply`]), which handles all of those and reports per record. A group
//! therefore either lands whole through one CAS or goes record by record; no record is applied
//! twice and none is lost.
//!
//! Records of different profiles touch disjoint keys, so applying groups one after the other
//! is the same as applying the run in its original order. Records that touch several
//! profiles (links, unlinks, deletes) end a run ([`crate::ingest_with`]).

use std::collections::HashMap;

use vantage_kv::Kv;
use vantage_model::codec;
use vantage_model::graph::{IdentityRecord, ProfileSlot, Tombstone, encode_live_slot};
use vantage_model::{Identity, Outcome, Profile, ProfileId, keys};

use crate::Options;
use crate::apply;
use crate::record::{Record, RecordError};

/// A record waiting in a run: its number, the record, and its text.
pub struct Pending<'a> {
    /// 1-based line or position.
    pub line: usize,
    /// A `profile` or `membership` record.
    pub record: Record,
    /// Its JSON text.
    pub text: &'a str,
}

/// What the fast path plans for one identity of the run.
#[derive(Clone)]
enum Plan {
    /// Its record points at this profile.
    Existing(ProfileId),
    /// It has no profile: create one under its primary name. Holds the identity record's bytes
    /// as read (absent, or a record without a profile) for the claim's check.
    New(ProfileId, Option<Vec<u8>>),
    /// Anything unusual: one record at a time.
    Slow,
}

impl Plan {
    fn profile(&self) -> Option<&ProfileId> {
        match self {
            Self::Existing(p) | Self::New(p, _) => Some(p),
            Self::Slow => None,
        }
    }
}

/// One identity of the run and what step 1 learnt about it.
struct Who<'r> {
    identity: &'r Identity,
    /// A live tombstone's delete time: records at or before it are superseded.
    deleted_at: Option<i64>,
    plan: Plan,
}

/// Records of one profile (or of one slow identity), in run order.
struct Group {
    /// Indices into the run.
    records: Vec<usize>,
    /// Indices into the identities.
    who: Vec<usize>,
    /// Whether the fast path may take it.
    fast: bool,
}

/// Applies a run of `profile`/`membership` records; returns each one's result, in run order.
pub fn apply_run<K: Kv + ?Sized>(
    kv: &K,
    run: &[Pending<'_>],
    options: &Options<'_>,
    now: i64,
) -> Vec<Result<Outcome, RecordError>> {
    let mut results: Vec<Option<Result<Outcome, RecordError>>> = Vec::new();
    results.resize_with(run.len(), || None);
    // Distinct identities, in order of first appearance.
    let mut index: HashMap<&Identity, usize> = HashMap::new();
    let mut of_record: Vec<usize> = Vec::with_capacity(run.len());
    let mut who: Vec<Who<'_>> = Vec::new();
    for p in run {
        let Some((identity, _)) = apply::profile_target(&p.record) else {
            // Not a profile record: cannot happen (the caller sorts), but stay total.
            of_record.push(usize::MAX);
            continue;
        };
        let i = *index.entry(identity).or_insert_with(|| {
            who.push(Who {
                identity,
                deleted_at: None,
                plan: Plan::Slow,
            });
            who.len() - 1
        });
        of_record.push(i);
    }
    read_identities(kv, &mut who, now);

    // Group by target profile; slow identities alone.
    let mut groups: Vec<Group> = Vec::new();
    let mut by_profile: HashMap<ProfileId, usize> = HashMap::new();
    let mut by_slow: HashMap<usize, usize> = HashMap::new();
    for (r, &w) in of_record.iter().enumerate() {
        let Some(person) = who.get(w) else {
            results[r] = Some(apply::apply(kv, &run[r].record, run[r].text, options, now));
            continue;
        };
        let (_, ts) = apply::profile_target(&run[r].record).unwrap_or((person.identity, 0));
        if person.deleted_at.is_some_and(|d| d >= ts) {
            results[r] = Some(Ok(Outcome::Superseded));
            continue;
        }
        let g = match person.plan.profile() {
            Some(p) => *by_profile.entry(p.clone()).or_insert_with(|| {
                groups.push(Group {
                    records: Vec::new(),
                    who: Vec::new(),
                    fast: true,
                });
                groups.len() - 1
            }),
            None => *by_slow.entry(w).or_insert_with(|| {
                groups.push(Group {
                    records: Vec::new(),
                    who: Vec::new(),
                    fast: false,
                });
                groups.len() - 1
            }),
        };
        let group = &mut groups[g];
        group.records.push(r);
        if !group.who.contains(&w) {
            group.who.push(w);
        }
    }

    for group in &groups {
        let fast = if group.fast {
            apply_group(kv, run, &who, group, options, now)
        } else {
            None
        };
        match fast {
            Some(outcomes) => {
                for (&r, o) in group.records.iter().zip(outcomes) {
                    results[r] = Some(Ok(o));
                }
            }
            None => {
                for &r in &group.records {
                    results[r] = Some(apply::apply(kv, &run[r].record, run[r].text, options, now));
                }
            }
        }
    }
    let results: Vec<_> = results
        .into_iter()
        .zip(run)
        .map(|(r, p)| r.unwrap_or_else(|| apply::apply(kv, &p.record, p.text, options, now)))
        .collect();
    redo_racing_deletes(kv, run, &of_record, &who, options, now);
    results
}

/// A delete ingested concurrently may have written its tombstone after this run read it and
/// removed the profile before this run wrote it back. Re-reading the tombstones after writing
/// closes that window: a tombstone seen now is applied again (deletes are idempotent); one
/// written after this read is followed by its own removal, which sees what this run wrote.
fn redo_racing_deletes<K: Kv + ?Sized>(
    kv: &K,
    run: &[Pending<'_>],
    of_record: &[usize],
    who: &[Who<'_>],
    options: &Options<'_>,
    now: i64,
) {
    let mut newest: Vec<Option<i64>> = vec![None; who.len()];
    for (p, &w) in run.iter().zip(of_record) {
        if let (Some(slot), Some((_, ts))) = (newest.get_mut(w), apply::profile_target(&p.record)) {
            *slot = Some(slot.map_or(ts, |t: i64| t.max(ts)));
        }
    }
    let names: Vec<String> = who.iter().map(|w| keys::tombstone(w.identity)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let Ok(tombs) = kv.get_many(&refs) else {
        return;
    };
    let graph = vantage_model::Graph::new(kv, &options.policy);
    for ((w, tomb), ts) in who.iter().zip(tombs).zip(newest) {
        let Some(Ok(t)) = tomb.as_deref().map(codec::decode::<Tombstone>) else {
            continue;
        };
        if t.expires_at > now
            && ts.is_some_and(|ts| t.deleted_at >= ts)
            && w.deleted_at != Some(t.deleted_at)
        {
            let _ = graph.delete(w.identity, t.deleted_at, now);
        }
    }
}

/// Step 1: one `get_many` for every identity's tombstone and record, turned into plans. Any
/// failure leaves the identity on the slow path, which reports it.
fn read_identities<K: Kv + ?Sized>(kv: &K, who: &mut [Who<'_>], now: i64) {
    let mut names: Vec<String> = Vec::with_capacity(who.len() * 2);
    names.extend(who.iter().map(|w| keys::tombstone(w.identity)));
    names.extend(who.iter().map(|w| keys::identity(w.identity)));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let Ok(values) = kv.get_many(&refs) else {
        return;
    };
    if values.len() != names.len() {
        return;
    }
    let (tombs, records) = values.split_at(who.len());
    for ((w, tomb), record) in who.iter_mut().zip(tombs).zip(records) {
        let deleted_at = match tomb.as_deref().map(codec::decode::<Tombstone>) {
            None => None,
            Some(Ok(t)) => (t.expires_at > now).then_some(t.deleted_at),
            Some(Err(_)) => continue,
        };
        w.deleted_at = deleted_at;
        w.plan = match record.as_deref().map(codec::decode::<IdentityRecord>) {
            None => Plan::New(ProfileId::primary(w.identity), None),
            Some(Ok(IdentityRecord { profile: None, .. })) => {
                Plan::New(ProfileId::primary(w.identity), record.clone())
            }
            Some(Ok(IdentityRecord {
                profile: Some(p), ..
            })) => Plan::Existing(p),
            Some(Err(_)) => Plan::Slow,
        };
    }
}

/// Steps 2 and 3 for one profile: `None` sends the group down the slow path (nothing of it has
/// been written then, except possibly a claim, which that path completes).
fn apply_group<K: Kv + ?Sized>(
    kv: &K,
    run: &[Pending<'_>],
    who: &[Who<'_>],
    group: &Group,
    options: &Options<'_>,
    now: i64,
) -> Option<Vec<Outcome>> {
    let policy = &options.policy;
    let first = who.get(*group.who.first()?)?;
    let slot_key = keys::profile(first.plan.profile()?);
    match &first.plan {
        Plan::Existing(id) => {
            // Every identity of the group must point at the same existing profile.
            if group
                .who
                .iter()
                .any(|&w| !matches!(&who[w].plan, Plan::Existing(p) if p == id))
            {
                return None;
            }
            let (cas, current) = kv.cas_read(&slot_key).ok()?;
            let Ok(ProfileSlot::Live(mut p)) = codec::decode::<ProfileSlot>(current.as_deref()?)
            else {
                return None;
            };
            if p.is_expired(now) || group.who.iter().any(|&w| !p.has_identity(who[w].identity)) {
                return None;
            }
            let (outcomes, bytes) =
                apply_records(&mut p, run, &group.records, false, options, now)?;
            if let Some(bytes) = bytes {
                kv.cas_write(cas, &bytes).ok()?.then_some(())?;
            }
            Some(outcomes)
        }
        Plan::New(id, seen) => {
            if group.who.len() != 1 {
                return None;
            }
            let (slot_cas, current) = kv.cas_read(&slot_key).ok()?;
            if current.is_some() {
                return None;
            }
            let (_, ts) = apply::profile_target(&run[*group.records.first()?].record)?;
            let mut p = Profile::new(id.clone(), first.identity.clone(), ts, now, policy);
            let (outcomes, bytes) = apply_records(&mut p, run, &group.records, true, options, now)?;
            let bytes = bytes?;
            // The claim: the identity record must still be what step 1 read.
            let ident_key = keys::identity(first.identity);
            let (ident_cas, record) = kv.cas_read(&ident_key).ok()?;
            if record != *seen {
                return None;
            }
            let claim = IdentityRecord {
                profile: Some(id.clone()),
                unlinked_at: match record.as_deref().map(codec::decode::<IdentityRecord>) {
                    None => None,
                    Some(Ok(r)) if r.profile.is_none() => r.unlinked_at,
                    Some(_) => return None,
                },
            };
            let claim = codec::encode(&claim).ok()?;
            kv.cas_write(ident_cas, &claim).ok()?.then_some(())?;
            kv.cas_write(slot_cas, &bytes).ok()?.then_some(())?;
            Some(outcomes)
        }
        Plan::Slow => None,
    }
}

/// Applies the group's records to `p` in order, as the one-at-a-time path would: after each
/// change the profile is touched and size-capped. Returns each record's outcome and the bytes
/// to write (`None` when nothing changed), or `None` when a record fails (the slow path then
/// reports it, record by record).
fn apply_records(
    p: &mut Profile,
    run: &[Pending<'_>],
    records: &[usize],
    created: bool,
    options: &Options<'_>,
    now: i64,
) -> Option<(Vec<Outcome>, Option<Vec<u8>>)> {
    let policy = &options.policy;
    let mut outcomes = Vec::with_capacity(records.len());
    let mut bytes = None;
    for (k, &r) in records.iter().enumerate() {
        let changed = apply::change(&run[r].record, p) || (created && k == 0);
        if changed {
            p.touch(now, policy);
            bytes = Some(p.fit(policy, encode).ok()?);
            outcomes.push(Outcome::Changed);
        } else {
            outcomes.push(Outcome::Unchanged);
        }
    }
    Some((outcomes, bytes))
}

/// The fast path's encoding or size cap failed; it only ever sends the group the slow way.
struct Refused;

impl From<vantage_model::profile::SizeError> for Refused {
    fn from(_: vantage_model::profile::SizeError) -> Self {
        Self
    }
}

fn encode(p: &Profile) -> Result<Vec<u8>, Refused> {
    encode_live_slot(p).map_err(|_| Refused)
}
