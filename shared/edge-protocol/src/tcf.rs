//! Just enough of an IAB TCF 2.x TC string to answer alloy's yes/no question: does the core
//! segment grant the purposes and vendor the edge needs? Nothing else of the string is
//! interpreted; the string itself is stored as given.
//!
//! Core segment layout (IAB "TC String" spec, bit offsets): version 0..6, …, purposes consent
//! 152..176, purposes legitimate interest 176..200, purpose-one treatment 200, publisher CC
//! 201..213, then the vendor consent section: max vendor id (16 bits), encoding type (1 bit),
//! then a bit field, or a 12-bit entry count and entries of (is-range, start\[, end\]).

use crate::base64;

/// Adobe Experience Platform's id on the IAB global vendor list.
pub const ADOBE_VENDOR_ID: u16 = 565;
/// Purposes the edge needs consent for: 1 (store and access information on a device) and
/// 10 (develop and improve products), as Adobe documents for its own TCF support.
pub const REQUIRED_PURPOSES: [u8; 2] = [1, 10];

const PURPOSES_CONSENT_AT: usize = 152;
const VENDOR_SECTION_AT: usize = 213;
/// Longest TC string looked at, characters (real ones are a few hundred).
const MAX_LEN: usize = 8192;

struct Bits<'a> {
    bytes: &'a [u8],
}

impl Bits<'_> {
    fn bit(&self, at: usize) -> Option<bool> {
        let byte = self.bytes.get(at / 8)?;
        Some(byte >> (7 - at % 8) & 1 == 1)
    }

    fn int(&self, at: usize, width: usize) -> Option<u32> {
        (0..width).try_fold(0u32, |acc, i| Some(acc << 1 | u32::from(self.bit(at + i)?)))
    }
}

/// The decoded parts of a TC string the edge looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcConsent {
    /// The TC string version (2 for TCF 2.x).
    pub version: u8,
    /// Purpose ids 1..=24 with consent.
    pub purposes: Vec<u8>,
    /// Whether the given vendor has consent.
    pub vendor: bool,
}

/// Decodes the core segment of `tc_string` for `vendor_id`. `None` if it is not a version 2
/// TC string or is cut short.
pub fn decode(tc_string: &str, vendor_id: u16) -> Option<TcConsent> {
    if tc_string.len() > MAX_LEN {
        return None;
    }
    let core = tc_string.split('.').next()?;
    let bytes = base64::decode(core)?;
    let bits = Bits { bytes: &bytes };
    let version = bits.int(0, 6)? as u8;
    if version != 2 {
        return None;
    }
    let purposes = (1..=24u8)
        .filter_map(
            |p| match bits.bit(PURPOSES_CONSENT_AT + usize::from(p) - 1) {
                Some(true) => Some(Some(p)),
                Some(false) => None,
                None => Some(None),
            },
        )
        .collect::<Option<Vec<u8>>>()?;
    let max_vendor = bits.int(VENDOR_SECTION_AT, 16)?;
    let ranged = bits.bit(VENDOR_SECTION_AT + 16)?;
    let vendor_id = u32::from(vendor_id);
    let mut at = VENDOR_SECTION_AT + 17;
    let vendor = if vendor_id == 0 || vendor_id > max_vendor {
        false
    } else if !ranged {
        bits.bit(at + vendor_id as usize - 1)?
    } else {
        let entries = bits.int(at, 12)?;
        at += 12;
        let mut hit = false;
        for _ in 0..entries {
            let is_range = bits.bit(at)?;
            let start = bits.int(at + 1, 16)?;
            at += 17;
            let end = if is_range {
                let end = bits.int(at, 16)?;
                at += 16;
                end
            } else {
                start
            };
            hit |= (start..=end).contains(&vendor_id);
        }
        hit
    };
    Some(TcConsent {
        version,
        purposes,
        vendor,
    })
}

/// Whether `tc_string` lets the edge collect and personalize: version 2, consent for every
/// one of [`REQUIRED_PURPOSES`] and for [`ADOBE_VENDOR_ID`]. An undecodable string is a no.
pub fn grants_edge(tc_string: &str) -> bool {
    decode(tc_string, ADOBE_VENDOR_ID)
        .is_some_and(|tc| tc.vendor && REQUIRED_PURPOSES.iter().all(|p| tc.purposes.contains(p)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a core segment with the given purposes and vendors, bit field or ranges.
    pub(crate) fn build(purposes: &[u8], vendors: &[u16], ranged: bool) -> String {
        let mut bits: Vec<bool> = Vec::new();
        let push = |bits: &mut Vec<bool>, v: u32, w: usize| {
            for i in (0..w).rev() {
                bits.push(
                    u32::try_from(i)
                        .ok()
                        .and_then(|i| v.checked_shr(i))
                        .unwrap_or(0)
                        & 1
                        == 1,
                );
            }
        };
        push(&mut bits, 2, 6);
        push(&mut bits, 0, PURPOSES_CONSENT_AT - 6);
        for p in 1..=24u8 {
            bits.push(purposes.contains(&p));
        }
        push(&mut bits, 0, VENDOR_SECTION_AT - PURPOSES_CONSENT_AT - 24);
        let max = vendors.iter().copied().max().unwrap_or(0);
        push(&mut bits, u32::from(max), 16);
        bits.push(ranged);
        if ranged {
            push(&mut bits, vendors.len() as u32, 12);
            for &v in vendors {
                bits.push(false);
                push(&mut bits, u32::from(v), 16);
            }
        } else {
            for v in 1..=max {
                bits.push(vendors.contains(&v));
            }
        }
        let bytes: Vec<u8> = bits
            .chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, &b)| acc | u8::from(b) << (7 - i))
            })
            .collect();
        base64::encode(&bytes)
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_")
    }

    #[test]
    fn reads_purposes_and_vendor_from_either_encoding() {
        for ranged in [false, true] {
            let yes = build(&[1, 2, 10], &[7, 565], ranged);
            let tc = decode(&yes, ADOBE_VENDOR_ID).unwrap();
            assert_eq!(tc.purposes, [1, 2, 10]);
            assert!(tc.vendor);
            assert!(grants_edge(&yes));
            assert!(grants_edge(&format!("{yes}.YAAAAAAAAAAA")));
            assert!(!grants_edge(&build(&[1], &[565], ranged)));
            assert!(!grants_edge(&build(&[1, 10], &[564], ranged)));
        }
    }

    #[test]
    fn ranged_entries_cover_spans() {
        // One range 500..=600, built by hand.
        let mut s = build(&[1, 10], &[600], true);
        assert!(!grants_edge(&s));
        let mut bytes = base64::decode(&s).unwrap();
        // Flip the single entry's is-range bit and append an end id of 600.
        let at = VENDOR_SECTION_AT + 17 + 12;
        bytes[at / 8] |= 1 << (7 - at % 8);
        let mut bits: Vec<bool> = (0..bytes.len() * 8)
            .map(|i| bytes[i / 8] >> (7 - i % 8) & 1 == 1)
            .collect();
        bits.truncate(at + 17);
        for i in (0..16).rev() {
            bits[at + 1 + (15 - i)] = 500u32 >> i & 1 == 1;
        }
        for i in (0..16).rev() {
            bits.push(600u32 >> i & 1 == 1);
        }
        let packed: Vec<u8> = bits
            .chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |acc, (i, &b)| acc | u8::from(b) << (7 - i))
            })
            .collect();
        s = base64::encode(&packed);
        assert!(grants_edge(&s));
    }

    #[test]
    fn garbage_is_a_no() {
        for bad in ["", "!!!", "AAAA", "CAAAAAAAAAAA", &"C".repeat(MAX_LEN + 1)] {
            assert!(!grants_edge(bad), "{bad}");
        }
    }
}
