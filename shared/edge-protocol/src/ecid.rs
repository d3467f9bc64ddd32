//! The Experience Cloud ID: 38 decimal digits, issued at the edge when a visitor brings none.
//!
//! Adobe's ECIDs are two non-negative 63-bit numbers, each written as 19 zero-padded digits and
//! concatenated; we generate them the same way from 16 caller-supplied random bytes, so 126
//! bits of entropy. What we accept is only the *shape* (exactly 38 ASCII digits): that is what
//! every real ECID looks like, and refusing anything else keeps cookie and identityMap values
//! from becoming arbitrary store keys.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::random::{self, RandomSource};

/// Digits in an ECID.
pub const ECID_LEN: usize = 38;

/// The ECID namespace code.
pub const ECID_NAMESPACE: &str = "ECID";

/// A well-formed ECID (exactly [`ECID_LEN`] ASCII digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ecid(String);

/// Why a string is not an ECID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an ECID is exactly {ECID_LEN} ASCII digits")]
pub struct InvalidEcid;

impl Ecid {
    /// Validates the shape of `text`.
    pub fn parse(text: &str) -> Result<Self, InvalidEcid> {
        if is_valid(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidEcid)
        }
    }

    /// Builds an ECID from 16 random bytes: two 63-bit halves, 19 digits each.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        let half = |b: &[u8]| {
            let mut word = [0u8; 8];
            word.copy_from_slice(b);
            u64::from_be_bytes(word) & (u64::MAX >> 1)
        };
        Self(format!(
            "{:019}{:019}",
            half(&bytes[..8]),
            half(&bytes[8..])
        ))
    }

    /// Issues a fresh ECID from `rng`.
    pub fn generate(rng: &mut dyn RandomSource) -> Self {
        Self::from_random(random::bytes(rng))
    }

    /// The 38 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `text` has the shape of an ECID.
pub fn is_valid(text: &str) -> bool {
    text.len() == ECID_LEN && text.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for Ecid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Ecid {
    type Error = InvalidEcid;

    fn try_from(text: String) -> Result<Self, InvalidEcid> {
        if is_valid(&text) {
            Ok(Self(text))
        } else {
            Err(InvalidEcid)
        }
    }
}

impl From<Ecid> for String {
    fn from(ecid: Ecid) -> Self {
        ecid.0
    }
}

impl AsRef<str> for Ecid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ecids_are_38_digits() {
        assert_eq!(
            Ecid::from_random([0; 16]).as_str(),
            "00000000000000000000000000000000000000"
        );
        let max = Ecid::from_random([0xff; 16]);
        assert_eq!(max.as_str(), "92233720368547758079223372036854775807");
        let mut counter = 0u8;
        let mut rng = |buf: &mut [u8]| {
            for b in buf {
                counter = counter.wrapping_add(1);
                *b = counter;
            }
        };
        let a = Ecid::generate(&mut rng);
        let b = Ecid::generate(&mut rng);
        assert_ne!(a, b);
        assert!(is_valid(a.as_str()) && is_valid(b.as_str()));
    }

    #[test]
    fn validates_the_shape() {
        assert!(Ecid::parse("12345678901234567890123456789012345678").is_ok());
        for bad in [
            "",
            "1234567890123456789012345678901234567",
            "123456789012345678901234567890123456789",
            "1234567890123456789012345678901234567a",
            "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨",
        ] {
            assert_eq!(Ecid::parse(bad), Err(InvalidEcid), "{bad}");
        }
        let json: Result<Ecid, _> = serde_json::from_str("\"42\"");
        assert!(json.is_err());
    }
}
