//! The GrowthBook hashing and range functions, matching the JavaScript reference SDK
//! (`packages/sdk-js/src/util.ts`) and its conformance cases (`cases.json` v0.7.1).
//!
//! Strings are hashed as UTF-16 code units (JavaScript `charCodeAt`), and positions are `f64`:
//! the official Rust SDK hashes UTF-8 bytes and returns `f32`, which disagrees with JavaScript
//! for non-ASCII ids and at exact range boundaries.

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a 32 over UTF-16 code units.
fn fnv1a32_units(units: impl IntoIterator<Item = u16>) -> u32 {
    units.into_iter().fold(FNV_OFFSET, |h, u| {
        (h ^ u32::from(u)).wrapping_mul(FNV_PRIME)
    })
}

/// FNV-1a 32 of a string's UTF-16 code units, as GrowthBook's `hashFnv32a`.
pub fn fnv1a32(s: &str) -> u32 {
    fnv1a32_units(s.encode_utf16())
}

/// The decimal digits of `n` as UTF-16 units (JavaScript's `n + ""` for a `u32`).
fn decimal_units(n: u32) -> impl Iterator<Item = u16> {
    let mut digits = [0u16; 10];
    let mut len = 0;
    let mut rest = n;
    loop {
        // `rest % 10` is below 10, so the narrowing is exact.
        digits[len] = u16::from(b'0') + (rest % 10) as u16;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    digits.into_iter().take(len).rev()
}

/// GrowthBook's `hash(seed, value, version)`: a position in `[0, 1)`, or `None` for an unknown
/// version.
///
/// Version 2 is `fnv(str(fnv(seed + value))) mod 10000 / 10000`; version 1 (biased, legacy) is
/// `fnv(value + seed) mod 1000 / 1000`.
pub fn hash(seed: &str, value: &str, version: u32) -> Option<f64> {
    match version {
        2 => {
            let first = fnv1a32_units(seed.encode_utf16().chain(value.encode_utf16()));
            let second = fnv1a32_units(decimal_units(first));
            Some(f64::from(second % 10_000) / 10_000.0)
        }
        1 => {
            let h = fnv1a32_units(value.encode_utf16().chain(seed.encode_utf16()));
            Some(f64::from(h % 1_000) / 1_000.0)
        }
        _ => None,
    }
}

/// `n` equal weights summing to 1 (none for `n == 0`).
pub fn equal_weights(n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    // Exact for any realistic number of variations.
    let w = 1.0 / n as f64;
    vec![w; n]
}

/// A half-open range `[start, end)` of hash positions.
pub type Range = (f64, f64);

/// GrowthBook's `getBucketRanges`: one range per variation, `[cum, cum + coverage * w)`.
///
/// Coverage (default 1) is clamped to `[0, 1]`. Weights fall back to equal weights when missing,
/// of the wrong length, or summing outside `[0.99, 1.01]`. The gaps between ranges are the
/// traffic left out by coverage, so raising coverage never moves an enrolled visitor.
pub fn bucket_ranges(
    num_variations: usize,
    coverage: Option<f64>,
    weights: Option<&[f64]>,
) -> Vec<Range> {
    let coverage = match coverage {
        Some(c) if c.is_nan() => 0.0,
        Some(c) => c.clamp(0.0, 1.0),
        None => 1.0,
    };
    let equal;
    let weights = match weights {
        Some(w) if w.len() == num_variations && (0.99..=1.01).contains(&w.iter().sum::<f64>()) => w,
        _ => {
            equal = equal_weights(num_variations);
            &equal
        }
    };
    let mut cumulative = 0.0;
    weights
        .iter()
        .map(|&w| {
            let start = cumulative;
            cumulative += w;
            (start, start + coverage * w)
        })
        .collect()
}

/// Whether `n` is in `[start, end)`.
pub fn in_range(n: f64, range: Range) -> bool {
    n >= range.0 && n < range.1
}

/// GrowthBook's `chooseVariation`: the first range containing `n`, or `None` (not enrolled).
pub fn choose_variation(n: f64, ranges: &[Range]) -> Option<usize> {
    ranges.iter().position(|&r| in_range(n, r))
}

/// GrowthBook's legacy namespaces (mutual exclusion): `hash("__" + id, value, 1)` in `[start, end)`.
pub fn in_namespace(hash_value: &str, namespace_id: &str, start: f64, end: f64) -> bool {
    let seed = format!("__{namespace_id}");
    hash(&seed, hash_value, 1).is_some_and(|n| in_range(n, (start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_units_match_to_string() {
        for n in [0u32, 7, 10, 4_294_967_295, 123_456] {
            let got: String = char::decode_utf16(decimal_units(n))
                .map(|c| c.unwrap_or('?'))
                .collect();
            assert_eq!(got, n.to_string());
        }
    }

    #[test]
    fn doc_vectors() {
        assert_eq!(hash("seed", "a", 2), Some(0.0505));
        assert_eq!(hash("", "a", 1), Some(0.22));
        assert_eq!(hash("abc", "def", 99), None);
        assert_eq!(
            bucket_ranges(3, Some(1.0), Some(&[0.2, 0.3, 0.5])),
            vec![(0.0, 0.2), (0.2, 0.5), (0.5, 1.0)]
        );
        assert!(!in_namespace("1", "namespace1", 0.0, 0.4));
        assert!(in_namespace("1", "namespace1", 0.4, 1.0));
    }

    #[test]
    fn nan_coverage_enrols_nobody() {
        let ranges = bucket_ranges(2, Some(f64::NAN), None);
        assert_eq!(choose_variation(0.0, &ranges), None);
    }
}
