//! Base64 (RFC 4648) for the opaque ids and tokens in propositions: standard alphabet with
//! padding for Target-style proposition ids, URL-safe without padding for event tokens.

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode_with(out: &mut String, bytes: &[u8], alphabet: &[u8; 64], pad: bool) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for i in 0..4 {
            if i < symbols {
                out.push(char::from(alphabet[(n >> (18 - 6 * i) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
}

/// Standard alphabet, padded (what Target's `AT:` proposition ids use).
#[cfg(test)]
pub fn encode_standard(bytes: &[u8]) -> String {
    let mut out = String::new();
    encode_standard_into(&mut out, bytes);
    out
}

/// Standard alphabet, padded (what Target's `AT:` proposition ids use), appended to `out`.
pub fn encode_standard_into(out: &mut String, bytes: &[u8]) {
    encode_with(out, bytes, STANDARD, true);
}

/// URL-safe alphabet, unpadded (safe in JSON, URLs and cookies without escaping).
#[cfg(test)]
pub fn encode_url(bytes: &[u8]) -> String {
    let mut out = String::new();
    encode_url_into(&mut out, bytes);
    out
}

/// URL-safe alphabet, unpadded (safe in JSON, URLs and cookies without escaping), appended
/// to `out`.
pub fn encode_url_into(out: &mut String, bytes: &[u8]) {
    encode_with(out, bytes, URL_SAFE, false);
}

/// Decodes URL-safe unpadded base64; `None` on any other symbol or an impossible length.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| URL_SAFE.iter().position(|&a| a == c).map(|v| v as u32);
    let bytes = text.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        // Each symbol after the first carries one more byte; the casts keep the low 8 bits.
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, padded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_standard(plain.as_bytes()), padded);
            let unpadded = padded.trim_end_matches('=');
            assert_eq!(encode_url(plain.as_bytes()), unpadded);
            assert_eq!(decode_url(unpadded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn target_proposition_id() {
        // The id in the protocol doc's example proposition.
        assert_eq!(
            encode_standard(br#"{"activityId":"100001","experienceId":"0"}"#),
            "eyJhY3Rpdml0eUlkIjoiMTAwMDAxIiwiZXhwZXJpZW5jZUlkIjoiMCJ9"
        );
    }

    #[test]
    fn url_alphabet_and_garbage() {
        let bytes = [0xfb, 0xff, 0xfe];
        assert_eq!(encode_standard(&bytes), "+//+");
        assert_eq!(encode_url(&bytes), "-__-");
        assert_eq!(decode_url("-__-").as_deref(), Some(&bytes[..]));
        for bad in ["A", "+//+", "ab=c", "é"] {
            assert_eq!(decode_url(bad), None, "{bad}");
        }
    }
}
