//! Bearer-token checks: an unset or empty token closes its routes (503) instead of opening
//! them, and tokens are compared in time that depends only on the given token's length.

/// Why a request is not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The route's token is not configured.
    NotConfigured,
    /// No `Authorization: Bearer …`.
    Missing,
    /// A token that is not the expected one.
    Wrong,
}

/// Checks `Authorization` against `expected`.
pub fn authorize(expected: Option<&str>, authorization: Option<&str>) -> Result<(), Refusal> {
    let expected = expected
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::NotConfigured)?;
    let given = authorization.and_then(bearer).ok_or(Refusal::Missing)?;
    if tokens_match(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(Refusal::Wrong)
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Every byte of the given token is compared (against the expected one, cycled), so the time
/// taken depends on the given length only.
fn tokens_match(given: &[u8], expected: &[u8]) -> bool {
    if expected.is_empty() {
        return false;
    }
    let mut acc = u8::from(given.len() != expected.len());
    for (i, g) in given.iter().enumerate() {
        acc |= g ^ expected.get(i % expected.len()).copied().unwrap_or(0);
    }
    std::hint::black_box(acc) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison() {
        assert!(tokens_match(b"abc", b"abc"));
        assert!(!tokens_match(b"abcabc", b"abc"));
        assert!(!tokens_match(b"ab", b"abc"));
        assert!(!tokens_match(b"", b"abc"));
        assert!(!tokens_match(b"", b""));
        assert!(!tokens_match(b"abc", b""));
        assert!(!tokens_match(b"abcd", b"abc"));
    }

    #[test]
    fn outcomes() {
        assert_eq!(
            authorize(None, Some("Bearer x")),
            Err(Refusal::NotConfigured)
        );
        assert_eq!(
            authorize(Some(" "), Some("Bearer x")),
            Err(Refusal::NotConfigured)
        );
        assert_eq!(authorize(Some("tok"), None), Err(Refusal::Missing));
        assert_eq!(
            authorize(Some("tok"), Some("Basic tok")),
            Err(Refusal::Missing)
        );
        assert_eq!(
            authorize(Some("tok"), Some("Bearer ")),
            Err(Refusal::Missing)
        );
        assert_eq!(
            authorize(Some("tok"), Some("Bearer to")),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            authorize(Some("tok"), Some("Bearer toktok")),
            Err(Refusal::Wrong)
        );
        assert_eq!(authorize(Some("tok"), Some("bearer  tok ")), Ok(()));
    }
}
