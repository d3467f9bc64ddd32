//! RFC 3339 timestamps on the wire, i64 milliseconds since the Unix epoch (UTC) inside: a strict
//! parser and a fixed-width formatter, so the crate needs no date library.

/// The earliest instant RFC 3339 can write: `0000-01-01T00:00:00.000Z`.
pub const MIN_MS: i64 = -62_167_219_200_000;
/// The latest instant RFC 3339 can write: `9999-12-31T23:59:59.999Z`.
pub const MAX_MS: i64 = 253_402_300_799_999;

const MS_PER_DAY: i64 = 86_400_000;

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not the `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` shape.
    #[error("timestamp is not RFC 3339 (expected e.g. 2026-12-01T10:00:00Z): {0}")]
    Syntax(&'static str),
    /// A field is outside its calendar range (month 13, 30 February, 24:00, leap second…).
    #[error("timestamp has an out-of-range {0}")]
    Range(&'static str),
}

/// Parses an RFC 3339 date-time into UTC milliseconds. Fractions beyond milliseconds are
/// truncated; leap seconds (`:60`) are refused because the epoch arithmetic cannot place them.
pub fn parse_rfc3339(s: &str) -> Result<i64, TimeError> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(TimeError::Syntax("too short"));
    }
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    if !matches!(b[10], b'T' | b't') {
        return Err(TimeError::Syntax("date and time must be separated by T"));
    }
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let second = digits(b, 17, 2)?;
    let mut pos = 19;
    let mut millis = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            if pos - start < 3 {
                millis = millis * 10 + i64::from(b[pos] - b'0');
            }
            pos += 1;
        }
        match pos - start {
            0 => return Err(TimeError::Syntax("empty fraction")),
            1 => millis *= 100,
            2 => millis *= 10,
            _ => {}
        }
    }
    let offset_min = match b.get(pos) {
        Some(b'Z' | b'z') => {
            pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let sign = if *sign == b'-' { -1 } else { 1 };
            let oh = digits(b, pos + 1, 2)?;
            expect(b, pos + 3, b':')?;
            let om = digits(b, pos + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(TimeError::Range("offset"));
            }
            pos += 6;
            sign * (oh * 60 + om)
        }
        _ => return Err(TimeError::Syntax("missing Z or ±HH:MM offset")),
    };
    if pos != b.len() {
        return Err(TimeError::Syntax("trailing characters"));
    }
    if !(1..=12).contains(&month) {
        return Err(TimeError::Range("month"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(TimeError::Range("day"));
    }
    if hour > 23 {
        return Err(TimeError::Range("hour"));
    }
    if minute > 59 {
        return Err(TimeError::Range("minute"));
    }
    if second > 59 {
        return Err(TimeError::Range("second"));
    }
    let local = days_from_civil(year, month, day) * MS_PER_DAY
        + ((hour * 60 + minute) * 60 + second) * 1000
        + millis;
    let utc = local - offset_min * 60_000;
    if !(MIN_MS..=MAX_MS).contains(&utc) {
        return Err(TimeError::Range("year after applying the offset"));
    }
    Ok(utc)
}

/// Formats UTC milliseconds as `YYYY-MM-DDTHH:MM:SS.sssZ`: fixed width, so strings sort like
/// the instants they name. Instants outside years 0000–9999 are clamped to that range.
pub fn format_rfc3339(ms: i64) -> String {
    let ms = ms.clamp(MIN_MS, MAX_MS);
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (mi, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<i64, TimeError> {
    let field = b.get(at..at + n).ok_or(TimeError::Syntax("truncated"))?;
    field.iter().try_fold(0_i64, |acc, c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + i64::from(c - b'0'))
        } else {
            Err(TimeError::Syntax("expected a digit"))
        }
    })
}

fn expect(b: &[u8], at: usize, c: u8) -> Result<(), TimeError> {
    if b.get(at) == Some(&c) {
        Ok(())
    } else {
        Err(TimeError::Syntax("misplaced separator"))
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the era-based method: 400-year eras of
/// 146 097 days, years starting in March so the leap day is last).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_examples() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2026-12-01T10:00:00Z"), Ok(1_796_119_200_000));
        assert_eq!(
            parse_rfc3339("2026-12-01T11:00:00+01:00"),
            Ok(1_796_119_200_000)
        );
        assert_eq!(
            parse_rfc3339("2026-12-01t05:30:00.5-04:30"),
            Ok(1_796_119_200_500)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999999Z"), Ok(-1));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), Ok(MIN_MS));
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59.999Z"), Ok(MAX_MS));
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01 10:00:00Z",
            "2026-12-01T10:00:00",
            "2026-12-01T10:00Z",
            "2026-12-01T10:00:00.Z",
            "2026-12-01T10:00:00Zjunk",
            "2026-12-01T10:00:00+0100",
            "+2026-12-01T10:00:00Z",
            "2026-1a-01T10:00:00Z",
            "1700000000000",
            "２026-12-01T10:00:00Z",
        ] {
            assert!(
                matches!(parse_rfc3339(bad), Err(TimeError::Syntax(_))),
                "{bad}"
            );
        }
        for bad in [
            "2026-13-01T10:00:00Z",
            "2026-00-01T10:00:00Z",
            "2025-02-29T10:00:00Z",
            "1900-02-29T10:00:00Z",
            "2026-04-31T10:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T10:60:00Z",
            "2016-12-31T23:59:60Z",
            "2026-12-01T10:00:00+24:00",
            "0000-01-01T00:00:00+00:01",
        ] {
            assert!(
                matches!(parse_rfc3339(bad), Err(TimeError::Range(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_fixed_width_and_round_trips() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            format_rfc3339(1_796_119_200_500),
            "2026-12-01T10:00:00.500Z"
        );
        assert_eq!(format_rfc3339(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_rfc3339(i64::MIN), "0000-01-01T00:00:00.000Z");
        let mut ms = MIN_MS;
        while ms < MAX_MS {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Ok(ms));
            ms += 7_777_777_777_777 / 3;
        }
    }
}
