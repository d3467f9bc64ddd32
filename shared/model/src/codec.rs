//! The versioned codec of every stored value: one version byte, then bincode 2 (standard
//! configuration, varint integers). A value written by an older version decodes through the
//! type's [`Stored::migrate`]; an unknown version is an error, never garbage.

use bincode::{Decode, Encode};

/// The version byte this build writes.
pub const VERSION: u8 = 1;

/// Largest body the decoder will allocate for: a corrupt length prefix fails instead of
/// reserving gigabytes.
pub const DECODE_LIMIT: usize = 16 << 20;

/// Why a stored value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The value is empty: not even a version byte.
    #[error("stored value is empty")]
    Empty,
    /// The version byte is one this build does not know (written by a newer build, or not ours).
    #[error("stored value has unknown codec version {0}")]
    UnknownVersion(u8),
    /// The body does not decode as the expected type.
    #[error("stored value does not decode: {0}")]
    Decode(String),
    /// The body decoded but bytes were left over.
    #[error("stored value has {0} trailing bytes")]
    Trailing(usize),
    /// Encoding failed (cannot happen for in-memory values; kept typed rather than panicking).
    #[error("value does not encode: {0}")]
    Encode(String),
}

/// A type stored under the versioned codec.
pub trait Stored: Encode + Decode<()> + Sized {
    /// Decodes a body written under an older `version` (1 ≤ version < [`VERSION`]). Types add an
    /// arm here when their layout changes; the default knows no older version.
    fn migrate(version: u8, _body: &[u8]) -> Result<Self, CodecError> {
        Err(CodecError::UnknownVersion(version))
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// `[VERSION] ++ bincode(value)`.
pub fn encode<T: Encode + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![VERSION];
    bincode::encode_into_std_write(value, &mut out, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes what [`encode`] wrote, under this version or an older one.
pub fn decode<T: Stored>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    match version {
        VERSION => decode_body(body),
        v if v > 0 && v < VERSION => T::migrate(v, body),
        v => Err(CodecError::UnknownVersion(v)),
    }
}

/// Decodes a bincode body with no version byte; for [`Stored::migrate`] implementations that
/// read an old layout.
pub fn decode_body<T: Decode<()>>(body: &[u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::decode_from_slice(body, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::Trailing(body.len() - used));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Encode, Decode)]
    struct Sample {
        name: String,
        n: i64,
    }
    impl Stored for Sample {}

    #[test]
    fn round_trips_with_a_version_byte() {
        let s = Sample {
            name: "x".into(),
            n: -3,
        };
        let bytes = encode(&s).unwrap();
        assert_eq!(bytes, [VERSION, 1, b'x', 5]);
        assert_eq!(decode::<Sample>(&bytes), Ok(s));
    }

    #[test]
    fn unknown_versions_and_garbage_are_errors() {
        assert_eq!(decode::<Sample>(&[]), Err(CodecError::Empty));
        assert_eq!(
            decode::<Sample>(&[0, 1, b'x', 5]),
            Err(CodecError::UnknownVersion(0))
        );
        assert_eq!(
            decode::<Sample>(&[2, 1, b'x', 5]),
            Err(CodecError::UnknownVersion(2))
        );
        assert_eq!(
            decode::<Sample>(&[255]),
            Err(CodecError::UnknownVersion(255))
        );
        assert_eq!(
            decode::<Sample>(&[1, 1, b'x', 5, 0]),
            Err(CodecError::Trailing(1))
        );
        assert!(matches!(
            decode::<Sample>(&[1, 200]),
            Err(CodecError::Decode(_))
        ));
        // A length prefix claiming 2^40 bytes fails on the limit instead of allocating.
        let huge = [1, 253, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(matches!(
            decode::<Sample>(&huge),
            Err(CodecError::Decode(_))
        ));
    }
}
