//! Deterministic traffic allocation with named bucketing schemes, so an activity migrated from
//! Adobe Target, GrowthBook or Unleash keeps putting each visitor in the same experience.
//!
//! Pick a [`Scheme`] by name (`adobe-target`, `growthbook-v2`, `growthbook-v1`, `unleash`), give
//! it the [`Inputs`] of one visitor and one activity, and ask for the [`bucket`], the experience
//! ([`choose`] / [`assign`]) or whether the visitor is held out ([`in_holdout`]).
//!
//! How each scheme reads [`Inputs::salt`]:
//! - `adobe-target`: literally, as the last part of `client.activityId.visitorId.salt` (Target's
//!   default is `"0"`).
//! - `growthbook-v2` / `growthbook-v1`: as the experiment `seed`; empty means the activity id
//!   (GrowthBook's `seed || key`).
//! - `unleash`: as the `groupId`; empty means the activity id (Unleash's feature name).
//!
//! Reference: `shared/reference/bucketing.md`. The per-vendor functions live in [`adobe`],
//! [`growthbook`] and [`unleash`]; everything here is built on them.

pub mod adobe;
pub mod growthbook;
pub mod murmur3;
pub mod unleash;

use std::fmt;
use std::str::FromStr;

/// A named bucketing scheme, chosen per activity (`bucketing.scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scheme {
    /// Adobe Target: MurmurHash3 over UTF-16 units of `client.activityId.visitorId.salt`.
    #[default]
    AdobeTarget,
    /// GrowthBook hash version 2 (unbiased double FNV-1a), ranges with coverage gaps.
    GrowthBookV2,
    /// GrowthBook hash version 1 (legacy, biased), only for experiments that never moved to
    /// v2: nearby seeds give correlated buckets.
    GrowthBookV1,
    /// Unleash (Yggdrasil): gradual rollout gate, then weighted variants.
    Unleash,
}

/// A scheme name that is not one of [`Scheme::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown bucketing scheme {0:?} (expected one of: adobe-target, growthbook-v2, growthbook-v1, unleash)"
)]
pub struct UnknownScheme(pub String);

impl Scheme {
    /// Every scheme, in the order of [`Scheme::NAMES`].
    pub const ALL: [Scheme; 4] = [
        Scheme::AdobeTarget,
        Scheme::GrowthBookV2,
        Scheme::GrowthBookV1,
        Scheme::Unleash,
    ];

    /// The accepted names, as written in activity definitions.
    pub const NAMES: [&'static str; 4] =
        ["adobe-target", "growthbook-v2", "growthbook-v1", "unleash"];

    /// Parses a scheme name (exact, lower case).
    pub fn from_name(name: &str) -> Result<Self, UnknownScheme> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| UnknownScheme(name.to_owned()))
    }

    /// The scheme's name as written in activity definitions.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::AdobeTarget => "adobe-target",
            Scheme::GrowthBookV2 => "growthbook-v2",
            Scheme::GrowthBookV1 => "growthbook-v1",
            Scheme::Unleash => "unleash",
        }
    }
}

impl FromStr for Scheme {
    type Err = UnknownScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Scheme {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Scheme {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Scheme::from_name(&name).map_err(serde::de::Error::custom)
    }
}

/// What a scheme hashes for one visitor in one activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs<'a> {
    /// Adobe client code (only `adobe-target` uses it).
    pub client: &'a str,
    /// The activity id.
    pub activity_id: &'a str,
    /// The visitor's stable id (the ECID, else the primary identity). Empty means "no id": such
    /// a visitor is never allocated.
    pub visitor_id: &'a str,
    /// Per-activity salt; see the crate docs for how each scheme reads it.
    pub salt: &'a str,
}

impl Inputs<'_> {
    /// The GrowthBook seed / Unleash group: the salt, else the activity id.
    fn seed(&self) -> &str {
        if self.salt.is_empty() {
            self.activity_id
        } else {
            self.salt
        }
    }
}

/// A visitor's position in a scheme's traffic: `value` in `0..modulus`.
///
/// The resolution is the scheme's own: 10000 for `adobe-target` and `growthbook-v2`, 1000 for
/// `growthbook-v1`, 100 for the `unleash` rollout gate (whose 1-based position `p` is `value + 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bucket {
    /// The position, `0..modulus`.
    pub value: u32,
    /// How many positions the scheme has.
    pub modulus: u32,
}

impl Bucket {
    /// The position as a percentage of traffic (`value / modulus × 100`), e.g. for explanations.
    pub fn percent(self) -> f64 {
        if self.modulus == 0 {
            return 0.0;
        }
        f64::from(self.value) * 100.0 / f64::from(self.modulus)
    }

    /// Whether the position falls in the first `percent` of traffic (`value < percent% of modulus`).
    pub fn is_below_percent(self, percent: f64) -> bool {
        percent.is_finite() && f64::from(self.value) * 100.0 < percent * f64::from(self.modulus)
    }
}

/// The outcome of allocation: where the visitor landed and which experience that selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    /// The visitor's position (for `unleash`, the rollout gate's).
    pub bucket: Bucket,
    /// The chosen experience index, or `None` when the visitor falls in unallocated traffic.
    pub experience: Option<usize>,
}

/// The visitor's position in the scheme's traffic for this activity.
pub fn bucket(scheme: Scheme, inputs: &Inputs<'_>) -> Bucket {
    match scheme {
        Scheme::AdobeTarget => {
            let key = adobe::key(
                inputs.client,
                inputs.activity_id,
                inputs.visitor_id,
                inputs.salt,
            );
            Bucket {
                value: adobe::bucket(&key),
                modulus: adobe::BUCKETS,
            }
        }
        Scheme::GrowthBookV2 | Scheme::GrowthBookV1 => {
            let (version, modulus) = if scheme == Scheme::GrowthBookV2 {
                (2, 10_000)
            } else {
                (1, 1_000)
            };
            let n = growthbook::hash(inputs.seed(), inputs.visitor_id, version).unwrap_or(0.0);
            // n is k / modulus with k < modulus, so this recovers k exactly.
            let value = (n * f64::from(modulus)).round() as u32;
            Bucket { value, modulus }
        }
        Scheme::Unleash => Bucket {
            value: unleash::normalized_hash(
                inputs.seed(),
                inputs.visitor_id,
                100,
                unleash::ROLLOUT_SEED,
            ) - 1,
            modulus: 100,
        },
    }
}

/// Allocation percentages with anything that is not a positive finite number read as zero.
fn clean(allocations: &[f64]) -> impl Iterator<Item = f64> + '_ {
    allocations
        .iter()
        .map(|&a| if a.is_finite() && a > 0.0 { a } else { 0.0 })
}

/// Which experience the visitor gets, given each experience's share of traffic in percent.
///
/// Allocations summing to less than 100 leave the rest of the traffic unallocated (`None`).
/// A visitor without an id is never allocated. See [`assign`] for the position as well.
pub fn choose(scheme: Scheme, inputs: &Inputs<'_>, allocations: &[f64]) -> Option<usize> {
    assign(scheme, inputs, allocations).experience
}

/// [`choose`], also reporting the visitor's [`Bucket`] (what an explanation needs).
///
/// - `adobe-target`: experiences take consecutive bucket ranges in order, Target's rule
///   (see [`adobe::choose`]); unallocated traffic is at the end.
/// - `growthbook-*`: GrowthBook ranges with `coverage = sum / 100` and weights proportional to
///   the allocations, so each experience's range starts where it would at full coverage and the
///   unallocated traffic is the gaps (raising allocations proportionally never moves anyone).
/// - `unleash`: a gradual-rollout gate at `sum` percent, then Unleash's variant walk over
///   per-mille weights proportional to the allocations.
pub fn assign(scheme: Scheme, inputs: &Inputs<'_>, allocations: &[f64]) -> Assignment {
    let bucket = bucket(scheme, inputs);
    let experience = if inputs.visitor_id.is_empty() {
        None
    } else {
        match scheme {
            Scheme::AdobeTarget => adobe::choose(bucket.value, allocations),
            Scheme::GrowthBookV2 | Scheme::GrowthBookV1 => {
                let total: f64 = clean(allocations).sum();
                if total > 0.0 {
                    let weights: Vec<f64> = clean(allocations).map(|a| a / total).collect();
                    let ranges = growthbook::bucket_ranges(
                        weights.len(),
                        Some(total / 100.0),
                        Some(&weights),
                    );
                    // The same division GrowthBook does: `k mod modulus / modulus`.
                    let n = f64::from(bucket.value) / f64::from(bucket.modulus);
                    growthbook::choose_variation(n, &ranges)
                } else {
                    None
                }
            }
            Scheme::Unleash => {
                let total: f64 = clean(allocations).sum();
                if total > 0.0 && bucket.is_below_percent(total.min(100.0)) {
                    let weights: Vec<u32> = clean(allocations)
                        // At most 1000 after the division, so the cast is exact.
                        .map(|a| {
                            (a / total * f64::from(unleash::VARIANT_WEIGHT_TOTAL)).round() as u32
                        })
                        .collect();
                    unleash::choose_variant(inputs.seed(), inputs.visitor_id, &weights)
                } else {
                    None
                }
            }
        }
    };
    Assignment { bucket, experience }
}

/// Whether the visitor is in the activity's holdout (the first `percent` of an independent hash).
///
/// The holdout pass hashes with the salt (or, for GrowthBook and Unleash, the seed it stands
/// for) followed by `.holdout`, so being held out is independent of the experience a visitor
/// would get. A visitor without an id is never held out.
pub fn in_holdout(scheme: Scheme, inputs: &Inputs<'_>, percent: f64) -> bool {
    if inputs.visitor_id.is_empty() || percent.is_nan() || percent <= 0.0 {
        return false;
    }
    let salt = match scheme {
        Scheme::AdobeTarget => format!("{}.holdout", inputs.salt),
        _ => format!("{}.holdout", inputs.seed()),
    };
    let holdout = Inputs {
        salt: &salt,
        ..*inputs
    };
    bucket(scheme, &holdout).is_below_percent(percent)
}

#[cfg(test)]
mod tests;
