//! Consent per purpose (`collect`, `personalize`, …), last writer wins per purpose.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

/// A consent answer, as the Adobe consent standard spells it (`y`, `n`, `p`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub enum Choice {
    /// Granted.
    Yes,
    /// Pending: not asked yet.
    Pending,
    /// Refused (greatest, so it wins a tie).
    No,
}

impl Choice {
    /// Parses `y`/`n`/`p` (also `in`/`out`, `true`/`false`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "y" | "in" | "true" => Some(Self::Yes),
            "n" | "out" | "false" => Some(Self::No),
            "p" | "pending" => Some(Self::Pending),
            _ => None,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "y",
            Self::No => "n",
            Self::Pending => "p",
        }
    }
}

/// One purpose's answer and when it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub struct Entry {
    /// When, ms.
    pub ts: i64,
    /// The answer.
    pub choice: Choice,
}

/// Consent by purpose.
pub type Consent = BTreeMap<String, Entry>;

/// Sets `purpose` if the entry is newer (ties: refusal wins). Returns whether it changed.
pub fn set(consent: &mut Consent, purpose: &str, entry: Entry) -> bool {
    match consent.get_mut(purpose) {
        Some(current) if *current >= entry => false,
        Some(current) => {
            *current = entry;
            true
        }
        None => {
            consent.insert(purpose.to_owned(), entry);
            true
        }
    }
}

/// Whether `purpose` may proceed: only an explicit refusal stops it.
pub fn allows(consent: &Consent, purpose: &str) -> bool {
    consent.get(purpose).is_none_or(|e| e.choice != Choice::No)
}

/// Folds `other` in by [`set`].
pub fn merge(consent: &mut Consent, other: &Consent) -> bool {
    other
        .iter()
        .fold(false, |changed, (p, e)| set(consent, p, *e) | changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_answer_per_purpose() {
        let mut c = Consent::new();
        set(
            &mut c,
            "collect",
            Entry {
                ts: 5,
                choice: Choice::No,
            },
        );
        assert!(!allows(&c, "collect"));
        assert!(allows(&c, "personalize"));
        assert!(!set(
            &mut c,
            "collect",
            Entry {
                ts: 4,
                choice: Choice::Yes
            }
        ));
        assert!(!set(
            &mut c,
            "collect",
            Entry {
                ts: 5,
                choice: Choice::Yes
            }
        ));
        let mut other = Consent::new();
        set(
            &mut other,
            "collect",
            Entry {
                ts: 6,
                choice: Choice::Yes,
            },
        );
        assert!(merge(&mut c, &other));
        assert!(allows(&c, "collect"));
    }
}
