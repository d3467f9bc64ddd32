//! MurmurHash3 x86_32, the hash behind the Adobe Target and Unleash schemes.
//!
//! It reads its input as a byte stream so callers can feed UTF-8 bytes (Unleash) or UTF-16LE code
//! units (Adobe Target, which hashes Java `char`s) without building an intermediate buffer.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// Mixes one 4-byte block (or the zero-padded tail) into a value ready to xor into the state.
fn scramble(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

/// MurmurHash3 x86_32 of `bytes` with `seed`; blocks are read little-endian, as the reference does.
pub fn murmur3_x86_32(bytes: impl IntoIterator<Item = u8>, seed: u32) -> u32 {
    let mut h = seed;
    let mut block = [0u8; 4];
    let mut filled = 0usize;
    let mut len: u32 = 0;
    for b in bytes {
        block[filled] = b;
        filled += 1;
        len = len.wrapping_add(1);
        if filled == 4 {
            h ^= scramble(u32::from_le_bytes(block));
            h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
            filled = 0;
        }
    }
    if filled > 0 {
        let mut tail = [0u8; 4];
        tail[..filled].copy_from_slice(&block[..filled]);
        h ^= scramble(u32::from_le_bytes(tail));
    }
    h ^= len;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// MurmurHash3 x86_32 over the UTF-16LE code units of `s`: Guava's `hashUnencodedChars` and the
/// Target on-device SDKs, where a character outside the BMP counts as its two surrogates.
pub fn murmur3_utf16(s: &str, seed: u32) -> u32 {
    murmur3_x86_32(s.encode_utf16().flat_map(u16::to_le_bytes), seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from the reference C implementation (as exposed by Python's `mmh3`).
    #[test]
    fn reference_vectors() {
        let cases: [(&str, u32, u32); 6] = [
            ("", 0, 0),
            ("", 1, 1_364_076_727),
            ("a", 0, 1_009_084_850),
            ("abcd", 0, 1_139_631_978),
            ("hello, world", 0, 345_750_399),
            (
                "The quick brown fox jumps over the lazy dog",
                0x9747_b28c,
                799_549_133,
            ),
        ];
        for (input, seed, want) in cases {
            assert_eq!(
                murmur3_x86_32(input.bytes(), seed),
                want,
                "{input:?} seed {seed}"
            );
        }
    }

    #[test]
    fn utf16_reads_surrogates_as_two_units() {
        // "😀" is U+1F600: the surrogates D83D DE00 are hashed, not the code point or UTF-8.
        let units = [0x3du8, 0xd8, 0x00, 0xde];
        assert_eq!(murmur3_utf16("😀", 0), murmur3_x86_32(units, 0));
        assert_ne!(murmur3_utf16("😀", 0), murmur3_x86_32("😀".bytes(), 0));
    }
}
