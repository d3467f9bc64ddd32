//! Just enough protobuf for the identity cookie: write field 1 as a string, and read field 1
//! back from a message that may carry any other fields (Adobe's own cookie adds metadata in
//! fields 10, 20 and 30), refusing anything malformed instead of guessing.

const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LEN: u64 = 2;
const WIRE_FIXED32: u64 = 5;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A message holding only `field` as a length-delimited value.
pub fn encode_bytes_field(field: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    put_varint(&mut out, u64::from(field) << 3 | WIRE_LEN);
    put_varint(&mut out, value.len() as u64);
    out.extend_from_slice(value);
    out
}

fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn skip(bytes: &[u8], pos: &mut usize, n: u64) -> Option<()> {
    let end = pos.checked_add(usize::try_from(n).ok()?)?;
    if end > bytes.len() {
        return None;
    }
    *pos = end;
    Some(())
}

/// The last length-delimited value of `field` (protobuf's "last one wins"), skipping other
/// fields. `None` if the message is malformed, uses groups, or `field` has another wire type.
pub fn last_bytes_field(bytes: &[u8], field: u64) -> Option<&[u8]> {
    let mut pos = 0;
    let mut found = None;
    while pos < bytes.len() {
        let key = varint(bytes, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return None;
        }
        match wire {
            WIRE_VARINT => {
                varint(bytes, &mut pos)?;
            }
            WIRE_FIXED64 => skip(bytes, &mut pos, 8)?,
            WIRE_FIXED32 => skip(bytes, &mut pos, 4)?,
            WIRE_LEN => {
                let len = varint(bytes, &mut pos)?;
                let start = pos;
                skip(bytes, &mut pos, len)?;
                if number == field {
                    found = Some(&bytes[start..pos]);
                }
            }
            _ => return None,
        }
        if number == field && wire != WIRE_LEN {
            return None;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_field_one() {
        let msg = encode_bytes_field(1, b"abc");
        assert_eq!(msg, [0x0a, 3, b'a', b'b', b'c']);
        assert_eq!(last_bytes_field(&msg, 1), Some(&b"abc"[..]));
        let long = vec![b'x'; 300];
        let msg = encode_bytes_field(1, &long);
        assert_eq!(&msg[..3], &[0x0a, 0xac, 0x02]);
        assert_eq!(last_bytes_field(&msg, 1), Some(&long[..]));
    }

    #[test]
    fn skips_other_fields_and_keeps_the_last_value() {
        let mut msg = vec![0x50, 0x96, 0x01]; // field 10 varint
        msg.extend(encode_bytes_field(1, b"first"));
        msg.extend([0x51, 1, 2, 3, 4, 5, 6, 7, 8]); // field 10 fixed64
        msg.extend([0xa2, 0x01, 2, b'h', b'i']); // field 20 bytes
        msg.extend([0xf5, 0x01, 1, 2, 3, 4]); // field 30 fixed32
        msg.extend(encode_bytes_field(1, b"second"));
        assert_eq!(last_bytes_field(&msg, 1), Some(&b"second"[..]));
    }

    #[test]
    fn refuses_malformed_messages() {
        assert_eq!(last_bytes_field(&[0x0a, 5, b'a'], 1), None); // truncated
        assert_eq!(last_bytes_field(&[0x08, 1], 1), None); // field 1 as varint
        assert_eq!(last_bytes_field(&[0x0b], 1), None); // group
        assert_eq!(last_bytes_field(&[0x02, 0], 1), None); // field 0
        assert_eq!(
            last_bytes_field(
                &[
                    0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
                ],
                1
            ),
            None
        );
        assert_eq!(last_bytes_field(&[], 1), None);
        assert_eq!(last_bytes_field(&[0x12, 1, b'a'], 1), None); // only field 2
    }
}
