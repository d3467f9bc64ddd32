//! Request ids: alloy sends a UUID v4 as `?requestId=`; Adobe answers with
//! `"<requestId>-<16 hex of entropy>"` (alloy does not check it). Only a sane client id is
//! echoed, so the body never reflects arbitrary text; otherwise a fresh UUID stands in.

use crate::random::{self, RandomSource};

/// Longest client request id echoed.
pub const MAX_CLIENT_REQUEST_ID_LEN: usize = 64;

/// A UUID v4 string from 16 random bytes.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = bytes[6] & 0x0f | 0x40;
    bytes[8] = bytes[8] & 0x3f | 0x80;
    let hex = hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The `requestId` of an answer: `<client id>-<16 hex>`, the client id replaced by a fresh
/// UUID when absent or not 1–64 characters of `A–Z a–z 0–9 -`.
pub fn response_request_id(client: Option<&str>, rng: &mut dyn RandomSource) -> String {
    let entropy: [u8; 8] = random::bytes(rng);
    let base = match client {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_CLIENT_REQUEST_ID_LEN
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            id.to_owned()
        }
        _ => uuid_v4(random::bytes(rng)),
    };
    format!("{base}-{}", hex(&entropy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_echoes() {
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(uuid_v4([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let mut ones = |buf: &mut [u8]| buf.fill(0x11);
        assert_eq!(
            response_request_id(Some("33f0be0b-1111"), &mut ones),
            "33f0be0b-1111-1111111111111111"
        );
        let odd = response_request_id(Some("<script>"), &mut ones);
        assert_eq!(odd, "11111111-1111-4111-9111-111111111111-1111111111111111");
        assert_eq!(response_request_id(None, &mut ones).len(), 36 + 17);
    }
}
