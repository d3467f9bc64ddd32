//! The identity graph and profile storage over a [`Kv`]: resolving an identity to its live
//! profile, updating it, linking (merging) and unlinking (splitting) profiles, deleting and
//! expiring them. Every write of a shared record is a CAS read-modify-write
//! ([`vantage_kv::update`]), so concurrent requests and ingesters never lose an update.
//!
//! # How merges stay safe without transactions
//!
//! Linking two identities whose profiles differ merges the larger-named profile `l` into the
//! smaller-named `s`, in three CAS steps: `l`'s slot becomes a *forward* to `s` that still
//! carries `l`'s data; that data is folded into `s`, which records `l` in
//! [`Profile::absorbed`] so the fold happens once; the forward drops its data. A writer that
//! meets a forward follows it (finishing a fold left half-done), so an update racing a merge
//! lands in the survivor instead of being lost. Identity records are then repointed; until
//! they are, resolution follows the forward. Forwards live as long as their survivor.
//!
//! # Timestamps decide
//!
//! * A delete leaves a tombstone per identity; records with a timestamp at or before it are
//!   ignored while it lives ([`Policy::tombstone_ttl_ms`]). A delete is a hard forget: it removes
//!   the whole profile, including anything newer that arrived before it.
//! * An unlink of an identity at `t` detaches it from every link made at or before `t`: older
//!   link records that arrive later leave it out.

use bincode::{Decode, Encode};
use vantage_kv::Kv;

use crate::codec::{self, Stored};
use crate::identity::Identity;
use crate::keys::{self, ProfileId};
use crate::policy::Policy;
use crate::profile::{Profile, SizeError};
use crate::{Error, Result};

/// How often an operation starts over after losing a race to a merge, split or expiry.
const ATTEMPTS: usize = 8;

/// What an identity points at (`ident/{namespace}/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct IdentityRecord {
    /// Its profile, if it has one.
    pub profile: Option<ProfileId>,
    /// When it was last unlinked, ms: link records at or before this leave it out.
    pub unlinked_at: Option<i64>,
}
impl Stored for IdentityRecord {}

/// A deleted identity (`tomb/{namespace}/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Tombstone {
    /// The delete's timestamp, ms: records at or before it are ignored.
    pub deleted_at: i64,
    /// When the tombstone stops counting, ms.
    pub expires_at: i64,
}
impl Stored for Tombstone {}

/// What a profile key holds (`profile/{id}`).
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[allow(
    clippy::large_enum_variant,
    reason = "only fires on 64-bit targets; a slot is decoded, matched and dropped at once; boxing the common live case would cost an allocation per read"
)]
pub enum ProfileSlot {
    /// A profile.
    Live(Profile),
    /// A profile merged into `into`; `pending` holds its data until the fold is done.
    Forward {
        /// The survivor.
        into: ProfileId,
        /// Data not yet folded into the survivor.
        pending: Option<Box<Profile>>,
    },
}
impl Stored for ProfileSlot {}

/// The borrowed twin of [`ProfileSlot::Live`] for encoding without a copy; bincode writes it
/// byte for byte like the owned form (tested).
#[derive(Encode)]
enum SlotRef<'a> {
    Live(&'a Profile),
}

/// What an operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The store changed.
    Changed,
    /// Nothing to do: the store already said so (a replay).
    Unchanged,
    /// Ignored: a newer delete or unlink covers it.
    Superseded,
}

/// How a step inside a CAS closure wants the operation to continue.
enum Flow {
    Fail(Error),
    /// State moved under us (a merge, a split, an expiry): start over from the identity.
    Restart,
    /// The slot is a forward: go there.
    Redirect(ProfileId),
}

impl From<vantage_kv::Error> for Flow {
    fn from(e: vantage_kv::Error) -> Self {
        Self::Fail(Error::Store(e))
    }
}
impl From<Error> for Flow {
    fn from(e: Error) -> Self {
        Self::Fail(e)
    }
}
impl From<SizeError> for Flow {
    fn from(e: SizeError) -> Self {
        Self::Fail(Error::Size(e))
    }
}

fn fail(flow: Flow) -> Error {
    match flow {
        Flow::Fail(e) => e,
        Flow::Restart | Flow::Redirect(_) => Error::Unsettled,
    }
}

/// Where following a profile id ended.
enum Target {
    Live { id: ProfileId, expired: bool },
    Missing(ProfileId),
}

/// Profiles and identities over one bucket.
pub struct Graph<'a, K: Kv + ?Sized> {
    kv: &'a K,
    policy: &'a Policy,
}

impl<'a, K: Kv + ?Sized> Graph<'a, K> {
    /// Operates on `kv` under `policy`.
    pub fn new(kv: &'a K, policy: &'a Policy) -> Self {
        Self { kv, policy }
    }

    // ---- reads ------------------------------------------------------------------------------

    /// The live profile of `identity`, or `None` (no profile, or expired: an expired profile
    /// reads as absent). Read-only.
    pub fn lookup(&self, identity: &Identity, now: i64) -> Result<Option<Profile>> {
        let Some(IdentityRecord {
            profile: Some(mut id),
            ..
        }) = self.read::<IdentityRecord>(&keys::identity(identity))?
        else {
            return Ok(None);
        };
        for _ in 0..=self.policy.max_forward_hops {
            match self.read::<ProfileSlot>(&keys::profile(&id))? {
                None => return Ok(None),
                Some(ProfileSlot::Live(p)) => return Ok((!p.is_expired(now)).then_some(p)),
                Some(ProfileSlot::Forward { into, .. }) => id = into,
            }
        }
        Err(Error::Unsettled)
    }

    /// The identity record of `identity`.
    pub fn identity_record(&self, identity: &Identity) -> Result<Option<IdentityRecord>> {
        self.read(&keys::identity(identity))
    }

    /// Whether a live tombstone at or after `ts` covers `identity`.
    pub fn is_deleted(&self, identity: &Identity, ts: i64, now: i64) -> Result<bool> {
        Ok(self
            .read::<Tombstone>(&keys::tombstone(identity))?
            .is_some_and(|t| t.expires_at > now && t.deleted_at >= ts))
    }

    // ---- profile writes ---------------------------------------------------------------------

    /// Read-modify-write of `identity`'s profile, creating it if needed. `f` returns whether
    /// it changed anything; nothing is written when it did not (and the profile existed). `ts`
    /// is the timestamp of what is being applied: a newer delete makes this a no-op. `f` may run
    /// several times (once per CAS attempt) and must not have side effects.
    pub fn update<F>(&self, identity: &Identity, ts: i64, now: i64, mut f: F) -> Result<Outcome>
    where
        F: FnMut(&mut Profile) -> Result<bool>,
    {
        if self.is_deleted(identity, ts, now)? {
            return Ok(Outcome::Superseded);
        }
        self.with_profile(identity, ts, now, false, &mut f)
            .map(|(_, changed)| changed)
    }

    /// Resolves `identity` to a live profile (claiming a name if it has none) and runs one CAS
    /// update on it. `attach` lists the identity in the profile if it is missing (a link);
    /// otherwise a profile that does not list it means the state moved, and the operation
    /// restarts (and repairs the listing if it sees the same thing twice).
    fn with_profile(
        &self,
        identity: &Identity,
        ts: i64,
        now: i64,
        attach: bool,
        f: &mut dyn FnMut(&mut Profile) -> Result<bool>,
    ) -> Result<(ProfileId, Outcome)> {
        let mut previous: Option<ProfileId> = None;
        for _ in 0..ATTEMPTS {
            let id = self.ensure(identity, ts, now)?;
            let repair = attach || previous.as_ref() == Some(&id);
            let policy = self.policy;
            let written =
                vantage_kv::update(self.kv, &keys::profile(&id), policy.cas_retries, |cur| {
                    let mut created = false;
                    let mut p = match decode_opt::<ProfileSlot>(&id, cur)? {
                        None => {
                            created = true;
                            Profile::new(id.clone(), identity.clone(), ts, now, policy)
                        }
                        Some(ProfileSlot::Live(p)) if p.is_expired(now) => {
                            return Err(Flow::Restart);
                        }
                        Some(ProfileSlot::Live(p)) => p,
                        Some(ProfileSlot::Forward { .. }) => return Err(Flow::Restart),
                    };
                    let mut changed = created;
                    if !p.has_identity(identity) {
                        if !repair {
                            return Err(Flow::Restart);
                        }
                        check_identities(p.identities.len() + 1, policy)?;
                        changed |= p.add_identity(identity, ts);
                    }
                    changed |= f(&mut p)?;
                    if !changed {
                        return Ok(None);
                    }
                    p.touch(now, policy);
                    Ok(Some(p.fit(policy, encode_live)?))
                });
            match written {
                Ok(w) => {
                    let outcome = if w.is_some() {
                        Outcome::Changed
                    } else {
                        Outcome::Unchanged
                    };
                    return Ok((id, outcome));
                }
                Err(Flow::Restart | Flow::Redirect(_)) => previous = Some(id),
                Err(Flow::Fail(e)) => return Err(e),
            }
        }
        Err(Error::Unsettled)
    }

    /// The live profile id `identity` resolves to, claiming one for it when it has none.
    /// Expired profiles met on the way are purged; forwards are followed (finishing folds).
    fn ensure(&self, identity: &Identity, ts: i64, now: i64) -> Result<ProfileId> {
        let key = keys::identity(identity);
        for _ in 0..ATTEMPTS {
            let record = self.read::<IdentityRecord>(&key)?;
            if let Some(start) = record.as_ref().and_then(|r| r.profile.clone()) {
                match self.follow(start.clone(), now)? {
                    Target::Live { id, expired: false } => {
                        if id != start {
                            self.repoint(identity, &start, &id)?;
                        }
                        return Ok(id);
                    }
                    Target::Live { id, expired: true } => {
                        self.purge(&id, now)?;
                        continue;
                    }
                    // A claim whose profile is not written yet, or was lost: (re)create it there.
                    Target::Missing(id) => return Ok(id),
                }
            }
            let id = self.fresh_id(identity, ts)?;
            let claimed = vantage_kv::update(self.kv, &key, self.policy.cas_retries, |cur| {
                let mut rec = match decode_opt::<IdentityRecord>(&key, cur)? {
                    None => IdentityRecord {
                        profile: None,
                        unlinked_at: None,
                    },
                    Some(r) if r.profile.is_none() => r,
                    Some(_) => return Ok(None),
                };
                rec.profile = Some(id.clone());
                Ok::<_, Flow>(Some(codec_encode(&rec)?))
            })
            .map_err(fail)?;
            if claimed.is_some() {
                return Ok(id);
            }
        }
        Err(Error::Unsettled)
    }

    /// A name for a new profile of `identity`: its primary name unless a profile already
    /// holds it.
    fn fresh_id(&self, identity: &Identity, ts: i64) -> Result<ProfileId> {
        let primary = ProfileId::primary(identity);
        Ok(match self.read::<ProfileSlot>(&keys::profile(&primary))? {
            None => primary,
            Some(ProfileSlot::Live(p)) if p.has_identity(identity) => primary,
            Some(_) => ProfileId::secondary(identity, ts),
        })
    }

    /// Follows forwards from `id` to a live profile, finishing any fold left half-done.
    fn follow(&self, mut id: ProfileId, now: i64) -> Result<Target> {
        for _ in 0..=self.policy.max_forward_hops {
            match self.read::<ProfileSlot>(&keys::profile(&id))? {
                None => return Ok(Target::Missing(id)),
                Some(ProfileSlot::Live(p)) => {
                    return Ok(Target::Live {
                        expired: p.is_expired(now),
                        id,
                    });
                }
                Some(ProfileSlot::Forward { into, pending }) => {
                    if let Some(data) = pending {
                        self.fold(&id, &data, &into, now)?;
                    }
                    id = into;
                }
            }
        }
        Err(Error::Unsettled)
    }

    /// Points `identity` at `to` if it still points at `from`.
    fn repoint(&self, identity: &Identity, from: &ProfileId, to: &ProfileId) -> Result<()> {
        let key = keys::identity(identity);
        vantage_kv::update(
            self.kv,
            &key,
            self.policy.cas_retries,
            |cur| match decode_opt::<IdentityRecord>(&key, cur)? {
                Some(mut r) if r.profile.as_ref() == Some(from) => {
                    r.profile = Some(to.clone());
                    Ok(Some(codec_encode(&r)?))
                }
                _ => Ok::<_, Flow>(None),
            },
        )
        .map_err(fail)?;
        Ok(())
    }

    // ---- link and merge ---------------------------------------------------------------------

    /// Links `identities` into one profile at `ts`, merging the profiles they had. Identities
    /// unlinked at or after `ts` are left out; a deleted one (tombstone at or after `ts`) makes
    /// the whole link a no-op.
    pub fn link(&self, identities: &[Identity], ts: i64, now: i64) -> Result<Outcome> {
        check_identities(identities.len(), self.policy)?;
        let mut members: Vec<&Identity> = Vec::with_capacity(identities.len());
        for identity in identities {
            if self.is_deleted(identity, ts, now)? {
                return Ok(Outcome::Superseded);
            }
            let unlinked = self
                .identity_record(identity)?
                .and_then(|r| r.unlinked_at)
                .is_some_and(|u| u >= ts);
            if !unlinked && !members.contains(&identity) {
                members.push(identity);
            }
        }
        let Some((anchor, rest)) = members.split_first() else {
            return Ok(Outcome::Superseded);
        };
        if rest.is_empty() {
            return Ok(if identities.len() > 1 {
                Outcome::Superseded
            } else {
                Outcome::Unchanged
            });
        }
        let mut changed = false;
        for other in rest {
            changed |= self.link_pair(anchor, other, ts, now)?;
        }
        Ok(if changed {
            Outcome::Changed
        } else {
            Outcome::Unchanged
        })
    }

    fn link_pair(&self, a: &Identity, b: &Identity, ts: i64, now: i64) -> Result<bool> {
        let mut changed = false;
        for _ in 0..ATTEMPTS {
            let (pa, created) = self.with_profile(a, ts, now, true, &mut |_| Ok(false))?;
            changed |= created == Outcome::Changed;
            let b_key = keys::identity(b);
            let b_start = self.read::<IdentityRecord>(&b_key)?.and_then(|r| r.profile);
            let pb = match b_start {
                None => None,
                Some(start) => match self.follow(start.clone(), now)? {
                    Target::Live { id, expired: false } => Some(id),
                    Target::Live { id, expired: true } => {
                        self.purge(&id, now)?;
                        continue;
                    }
                    Target::Missing(_) => {
                        self.clear_identity(b, &start)?;
                        None
                    }
                },
            };
            match pb {
                Some(pb) if pb == pa => {
                    let (_, o) =
                        self.with_profile(b, ts, now, true, &mut |p| Ok(p.add_identity(b, ts)))?;
                    return Ok(changed | (o == Outcome::Changed));
                }
                Some(pb) => {
                    self.merge(&pa, &pb, now)?;
                    changed = true;
                }
                None => {
                    // Attach b to a's profile: claim b's record for it, then list b there.
                    let claimed =
                        vantage_kv::update(self.kv, &b_key, self.policy.cas_retries, |cur| {
                            let mut rec = match decode_opt::<IdentityRecord>(&b_key, cur)? {
                                None => IdentityRecord {
                                    profile: None,
                                    unlinked_at: None,
                                },
                                Some(r) if r.profile.is_none() => r,
                                Some(_) => return Ok(None),
                            };
                            rec.profile = Some(pa.clone());
                            Ok::<_, Flow>(Some(codec_encode(&rec)?))
                        })
                        .map_err(fail)?;
                    if claimed.is_some() {
                        changed = true;
                    }
                }
            }
        }
        Err(Error::Unsettled)
    }

    /// Drops `identity`'s pointer to `profile` (a profile that no longer exists).
    fn clear_identity(&self, identity: &Identity, profile: &ProfileId) -> Result<()> {
        let key = keys::identity(identity);
        vantage_kv::update(
            self.kv,
            &key,
            self.policy.cas_retries,
            |cur| match decode_opt::<IdentityRecord>(&key, cur)? {
                Some(mut r) if r.profile.as_ref() == Some(profile) => {
                    r.profile = None;
                    Ok(Some(codec_encode(&r)?))
                }
                _ => Ok::<_, Flow>(None),
            },
        )
        .map_err(fail)?;
        Ok(())
    }

    /// Merges the live profiles `a` and `b`: the larger name forwards into the smaller.
    fn merge(&self, a: &ProfileId, b: &ProfileId, now: i64) -> Result<()> {
        let (survivor, loser) = if a < b { (a, b) } else { (b, a) };
        let Some(ProfileSlot::Live(target)) = self.read::<ProfileSlot>(&keys::profile(survivor))?
        else {
            return Ok(()); // moved meanwhile: the caller resolves again
        };
        let policy = self.policy;
        let mut moved: Option<Profile> = None;
        let loser_key = keys::profile(loser);
        vantage_kv::update(self.kv, &loser_key, policy.cas_retries, |cur| {
            moved = None;
            let Some(ProfileSlot::Live(data)) = decode_opt::<ProfileSlot>(loser, cur)? else {
                return Ok(None);
            };
            // Refuse a merge that cannot fit before anything is written.
            let mut merged = target.clone();
            merged.absorb(&data, now, policy);
            check_identities(merged.identities.len(), policy)?;
            merged.fit(policy, encode_live)?;
            let bytes = codec_encode(&ProfileSlot::Forward {
                into: survivor.clone(),
                pending: Some(Box::new(data.clone())),
            })?;
            moved = Some(data);
            Ok::<_, Flow>(Some(bytes))
        })
        .map_err(fail)?;
        let Some(data) = moved else {
            return Ok(());
        };
        self.fold(loser, &data, survivor, now)?;
        for l in &data.identities {
            self.repoint(&l.identity, loser, survivor)?;
        }
        Ok(())
    }

    /// Folds `data` (the profile once at `from`) into the live profile `into` leads to, once,
    /// then clears the data from `from`'s forward.
    fn fold(&self, from: &ProfileId, data: &Profile, into: &ProfileId, now: i64) -> Result<()> {
        let policy = self.policy;
        let mut target = into.clone();
        let mut hops = 0;
        loop {
            let key = keys::profile(&target);
            let r = vantage_kv::update(self.kv, &key, policy.cas_retries, |cur| {
                match decode_opt::<ProfileSlot>(&target, cur)? {
                    Some(ProfileSlot::Live(mut p)) => {
                        if p.absorbed.binary_search(from).is_ok() {
                            return Ok(None);
                        }
                        p.absorb(data, now, policy);
                        p.touch(now, policy);
                        Ok(Some(p.fit(policy, encode_live)?))
                    }
                    Some(ProfileSlot::Forward { into, .. }) => Err(Flow::Redirect(into)),
                    // The survivor is gone (deleted): nothing to fold into.
                    None => Ok(None),
                }
            });
            match r {
                Ok(_) => break,
                Err(Flow::Redirect(next)) if hops < policy.max_forward_hops => {
                    target = next;
                    hops += 1;
                }
                Err(flow) => return Err(fail(flow)),
            }
        }
        let from_key = keys::profile(from);
        vantage_kv::update(
            self.kv,
            &from_key,
            policy.cas_retries,
            |cur| match decode_opt::<ProfileSlot>(from, cur)? {
                Some(ProfileSlot::Forward {
                    into,
                    pending: Some(_),
                }) => Ok(Some(codec_encode(&ProfileSlot::Forward {
                    into,
                    pending: None,
                })?)),
                _ => Ok::<_, Flow>(None),
            },
        )
        .map_err(fail)?;
        Ok(())
    }

    // ---- unlink -----------------------------------------------------------------------------

    /// Detaches `identity` from its profile at `ts` (see [`Profile::detach`] for what each side
    /// keeps). The identity moves to a new profile named [`ProfileId::secondary`]; link records
    /// at or before `ts` no longer include it.
    pub fn unlink(&self, identity: &Identity, ts: i64, now: i64) -> Result<Outcome> {
        if self.is_deleted(identity, ts, now)? {
            return Ok(Outcome::Superseded);
        }
        let key = keys::identity(identity);
        for _ in 0..ATTEMPTS {
            let record = self.read::<IdentityRecord>(&key)?;
            if record
                .as_ref()
                .and_then(|r| r.unlinked_at)
                .is_some_and(|u| u >= ts)
            {
                return Ok(Outcome::Unchanged);
            }
            let start = record.as_ref().and_then(|r| r.profile.clone());
            let live = match &start {
                Some(s) => match self.follow(s.clone(), now)? {
                    Target::Live { id, expired: false } => match self.read(&keys::profile(&id))? {
                        Some(ProfileSlot::Live(p)) => Some((id, p)),
                        _ => continue,
                    },
                    _ => None,
                },
                None => None,
            };
            let split = match live {
                Some((id, mut p)) if p.identities.len() > 1 => {
                    let q = ProfileId::secondary(identity, ts);
                    let fresh = p.detach(identity, q.clone(), ts, now, self.policy);
                    Some((id, q, fresh))
                }
                _ => None,
            };
            // The new profile exists before the identity points at it.
            if let Some((_, q, fresh)) = &split {
                let q_key = keys::profile(q);
                vantage_kv::update(self.kv, &q_key, self.policy.cas_retries, |cur| {
                    if cur.is_some() {
                        return Ok(None);
                    }
                    Ok::<_, Flow>(Some(encode_live(fresh)?))
                })
                .map_err(fail)?;
            }
            let new_target = split.as_ref().map(|(_, q, _)| q.clone()).or(start.clone());
            let swapped = vantage_kv::update(self.kv, &key, self.policy.cas_retries, |cur| {
                let current = decode_opt::<IdentityRecord>(&key, cur)?;
                if current.as_ref().and_then(|r| r.profile.clone()) != start {
                    return Err(Flow::Restart);
                }
                let rec = IdentityRecord {
                    profile: new_target.clone(),
                    unlinked_at: Some(ts),
                };
                Ok(Some(codec_encode(&rec)?))
            });
            match swapped {
                Ok(_) => {}
                Err(Flow::Restart) => continue,
                Err(flow) => return Err(fail(flow)),
            }
            if let Some((old, _, _)) = split {
                self.drop_listing(&old, identity, now)?;
            }
            return Ok(Outcome::Changed);
        }
        Err(Error::Unsettled)
    }

    /// Removes `identity` from the listing of the profile `id` leads to.
    fn drop_listing(&self, id: &ProfileId, identity: &Identity, now: i64) -> Result<()> {
        let policy = self.policy;
        let mut target = id.clone();
        for _ in 0..=policy.max_forward_hops {
            let key = keys::profile(&target);
            let r =
                vantage_kv::update(self.kv, &key, policy.cas_retries, |cur| {
                    match decode_opt::<ProfileSlot>(&target, cur)? {
                        Some(ProfileSlot::Live(mut p)) if p.has_identity(identity) => {
                            p.identities.retain(|l| l.identity != *identity);
                            p.touch(now, policy);
                            Ok(Some(p.fit(policy, encode_live)?))
                        }
                        Some(ProfileSlot::Forward { into, .. }) => Err(Flow::Redirect(into)),
                        _ => Ok(None),
                    }
                });
            match r {
                Ok(_) => return Ok(()),
                Err(Flow::Redirect(next)) => target = next,
                Err(flow) => return Err(fail(flow)),
            }
        }
        Err(Error::Unsettled)
    }

    // ---- delete and expiry ------------------------------------------------------------------

    /// Deletes the profile of `identity` and every key that belongs to it (its slot, the
    /// forwards of profiles merged into it, the records of its identities), leaving a tombstone
    /// per identity so records at or before `ts` cannot bring it back.
    pub fn delete(&self, identity: &Identity, ts: i64, now: i64) -> Result<Outcome> {
        self.tombstone(identity, ts, now)?;
        let start = self
            .read::<IdentityRecord>(&keys::identity(identity))?
            .and_then(|r| r.profile);
        let mut removed =
            self.remove_profile(start, Some(identity), |who| self.tombstone(who, ts, now))?;
        // The identity's own record goes even when it had no profile.
        let key = keys::identity(identity);
        if self.kv.exists(&key)? {
            self.kv.delete(&key)?;
            removed = true;
        }
        Ok(if removed {
            Outcome::Changed
        } else {
            Outcome::Unchanged
        })
    }

    fn tombstone(&self, identity: &Identity, ts: i64, now: i64) -> Result<()> {
        let key = keys::tombstone(identity);
        let expires_at = now.saturating_add(self.policy.tombstone_ttl_ms);
        vantage_kv::update(self.kv, &key, self.policy.cas_retries, |cur| {
            let next = match decode_opt::<Tombstone>(&key, cur)? {
                Some(t) if t.expires_at > now && t.deleted_at >= ts => return Ok(None),
                _ => Tombstone {
                    deleted_at: ts,
                    expires_at,
                },
            };
            Ok::<_, Flow>(Some(codec_encode(&next)?))
        })
        .map_err(fail)?;
        Ok(())
    }

    /// Removes the profile `start` leads to and its keys; `on_identity` runs for each identity
    /// whose record pointed into it, before the record goes. Returns whether anything was
    /// removed.
    fn remove_profile(
        &self,
        start: Option<ProfileId>,
        also: Option<&Identity>,
        mut on_identity: impl FnMut(&Identity) -> Result<()>,
    ) -> Result<bool> {
        let Some(start) = start else {
            return Ok(false);
        };
        // Walk the forwards to the live profile, remembering every slot on the way.
        let mut chain = vec![start];
        let mut live: Option<Profile> = None;
        for _ in 0..=self.policy.max_forward_hops {
            let Some(id) = chain.last().cloned() else {
                break;
            };
            match self.read::<ProfileSlot>(&keys::profile(&id))? {
                None => break,
                Some(ProfileSlot::Live(p)) => {
                    live = Some(p);
                    break;
                }
                Some(ProfileSlot::Forward { into, .. }) => chain.push(into),
            }
        }
        let mut slots: Vec<ProfileId> = chain;
        let mut identities: Vec<Identity> = also.into_iter().cloned().collect();
        if let Some(p) = &live {
            slots.extend(p.absorbed.iter().cloned());
            identities.extend(p.identities.iter().map(|l| l.identity.clone()));
        }
        slots.sort();
        slots.dedup();
        identities.sort();
        identities.dedup();
        // Only identities that still point into this profile are removed.
        let ident_keys: Vec<String> = identities.iter().map(keys::identity).collect();
        let refs: Vec<&str> = ident_keys.iter().map(String::as_str).collect();
        let records = self.kv.get_many(&refs)?;
        let mut doomed: Vec<String> = Vec::new();
        for ((identity, key), bytes) in identities.iter().zip(&ident_keys).zip(records) {
            let Some(bytes) = bytes else { continue };
            let points_here = decode_at::<IdentityRecord>(key, &bytes)?
                .profile
                .is_some_and(|p| slots.binary_search(&p).is_ok());
            if points_here {
                on_identity(identity)?;
                doomed.push(key.clone());
            }
        }
        let slot_keys: Vec<String> = slots.iter().map(keys::profile).collect();
        let present = self
            .kv
            .get_many(&slot_keys.iter().map(String::as_str).collect::<Vec<_>>())?;
        let any_slot = present.iter().any(Option::is_some);
        doomed.extend(slot_keys);
        self.kv
            .delete_many(&doomed.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(any_slot || doomed.len() > slots.len())
    }

    /// Removes an expired profile and its keys (no tombstones: expiry is not a delete).
    fn purge(&self, id: &ProfileId, now: i64) -> Result<()> {
        match self.read::<ProfileSlot>(&keys::profile(id))? {
            Some(ProfileSlot::Live(p)) if p.is_expired(now) => {
                self.remove_profile(Some(id.clone()), None, |_| Ok(()))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Removes expired profiles and tombstones, looking at up to `budget` keys of each kind.
    /// For a periodic job; requests clean up what they meet on their own. Returns how many
    /// profiles and tombstones went.
    pub fn sweep(&self, now: i64, budget: usize) -> Result<usize> {
        let mut removed = 0;
        for key in self
            .kv
            .keys_with_prefix(keys::PROFILE_PREFIX)?
            .into_iter()
            .take(budget)
        {
            if let Some(ProfileSlot::Live(p)) = self.read::<ProfileSlot>(&key)?
                && p.is_expired(now)
            {
                self.purge(&p.id, now)?;
                removed += 1;
            }
        }
        for key in self
            .kv
            .keys_with_prefix(keys::TOMBSTONE_PREFIX)?
            .into_iter()
            .take(budget)
        {
            if self
                .read::<Tombstone>(&key)?
                .is_some_and(|t| t.expires_at <= now)
            {
                self.kv.delete(&key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    // ---- plumbing ---------------------------------------------------------------------------

    fn read<T: Stored>(&self, key: &str) -> Result<Option<T>> {
        self.kv
            .get(key)?
            .map(|bytes| decode_at(key, &bytes))
            .transpose()
    }
}

fn check_identities(count: usize, policy: &Policy) -> Result<()> {
    if count > policy.max_identities {
        return Err(Error::TooManyIdentities {
            count,
            limit: policy.max_identities,
        });
    }
    Ok(())
}

fn decode_at<T: Stored>(key: &str, bytes: &[u8]) -> Result<T> {
    codec::decode(bytes).map_err(|source| Error::Codec {
        key: key.to_owned(),
        source,
    })
}

fn decode_opt<T: Stored>(
    what: &impl std::fmt::Display,
    bytes: Option<&[u8]>,
) -> Result<Option<T>, Flow> {
    bytes
        .map(|b| decode_at(&what.to_string(), b))
        .transpose()
        .map_err(Flow::Fail)
}

fn codec_encode<T: Stored>(value: &T) -> Result<Vec<u8>, Error> {
    codec::encode(value).map_err(|source| Error::Codec {
        key: String::new(),
        source,
    })
}

/// The stored bytes of `p` as a live profile slot, [`ProfileSlot::Live`] byte for byte without
/// copying the profile: for batch writers that do their own CAS (`vantage-ingest`).
pub fn encode_live_slot(p: &Profile) -> Result<Vec<u8>, codec::CodecError> {
    codec::encode(&SlotRef::Live(p))
}

fn encode_live(p: &Profile) -> Result<Vec<u8>, Flow> {
    encode_live_slot(p).map_err(|source| {
        Flow::Fail(Error::Codec {
            key: keys::profile(&p.id),
            source,
        })
    })
}

#[cfg(test)]
mod tests;
