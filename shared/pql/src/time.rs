//! Calendar arithmetic for PQL time conditions: civil dates, RFC 3339 parsing, calendar periods
//! (`last month`, `this week`) and unit shifts, all in i64 milliseconds since the Unix epoch,
//! in UTC or a fixed offset. Hand-written so the crate stays dependency-light for wasm.

use crate::ast::Unit;

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.saturating_mul(146_097).saturating_add(doe - 719_468)
}

/// The date (year, month 1–12, day 1–31) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Number of days in a month.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Parses an RFC 3339 / ISO 8601 timestamp (`2026-12-01T10:00:00Z`, fractional seconds,
/// `±hh:mm` offsets, a space instead of `T`) or a bare date (`2026-12-01`, midnight UTC).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let y = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let mo = num(5, 2)? as u32;
    let d = num(8, 2)? as u32;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let day_ms = days_from_civil(y, mo, d) * MS_PER_DAY;
    if b.len() == 10 {
        return Some(day_ms);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let h = num(11, 2)?;
    let mi = num(14, 2)?;
    let mut i = 16;
    let mut sec = 0;
    let mut ms = 0;
    if b.get(i) == Some(&b':') {
        sec = num(17, 2)?;
        i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return None;
            }
            let digits = &b[start..i.min(start + 3)];
            let mut frac = 0i64;
            for (k, c) in digits.iter().enumerate() {
                frac += i64::from(c - b'0') * [100, 10, 1][k];
            }
            ms = frac;
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = if b.get(i + 3) == Some(&b':') {
                num(i + 4, 2)?
            } else {
                num(i + 3, 2)?
            };
            let end = if b.get(i + 3) == Some(&b':') {
                i + 6
            } else {
                i + 5
            };
            if end != b.len() || oh > 23 || om > 59 {
                return None;
            }
            let o = (oh * 60 + om) * 60_000;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    Some(day_ms + ((h * 60 + mi) * 60 + sec) * 1000 + ms - offset)
}

/// Formats milliseconds since the epoch as RFC 3339 UTC with millisecond precision.
pub fn format_timestamp(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Calendar computations in one fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    /// Offset of local time from UTC, in milliseconds.
    pub offset_ms: i64,
}

impl Calendar {
    /// A calendar at `offset_minutes` from UTC (0 = UTC, the reference platform's behaviour).
    pub fn new(offset_minutes: i32) -> Self {
        Calendar {
            offset_ms: i64::from(offset_minutes) * 60_000,
        }
    }

    /// Local (year, month, day) of an instant.
    pub fn ymd(&self, t: i64) -> (i64, u32, u32) {
        civil_from_days(t.saturating_add(self.offset_ms).div_euclid(MS_PER_DAY))
    }

    /// The instant at which a local date starts.
    pub fn date_start(&self, y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d)
            .saturating_mul(MS_PER_DAY)
            .saturating_sub(self.offset_ms)
    }

    /// `[start, end)` of the calendar period of `unit` that contains `t`.
    pub fn period(&self, t: i64, unit: Unit) -> (i64, i64) {
        let local = t.saturating_add(self.offset_ms);
        let floor = |step: i64| {
            local
                .saturating_sub(local.rem_euclid(step))
                .saturating_sub(self.offset_ms)
        };
        let start = match unit {
            Unit::Millisecond => t,
            Unit::Second => floor(1000),
            Unit::Minute => floor(60_000),
            Unit::Hour => floor(3_600_000),
            Unit::Day => floor(MS_PER_DAY),
            Unit::Week => {
                let days = local.div_euclid(MS_PER_DAY);
                // 1970-01-01 was a Thursday; weeks start on Monday (ISO 8601).
                let monday = days - (days + 3).rem_euclid(7);
                monday
                    .saturating_mul(MS_PER_DAY)
                    .saturating_sub(self.offset_ms)
            }
            Unit::Month | Unit::Year | Unit::Decade | Unit::Century | Unit::Millennium => {
                let (y, m, _) = self.ymd(t);
                let span = match unit {
                    Unit::Decade => 10,
                    Unit::Century => 100,
                    Unit::Millennium => 1000,
                    _ => 1,
                };
                let y0 = y - y.rem_euclid(span);
                let m0 = if unit == Unit::Month { m } else { 1 };
                self.date_start(if unit == Unit::Month { y } else { y0 }, m0, 1)
            }
        };
        (start, self.shift(start, unit, 1))
    }

    /// `t` moved by `n` units (negative moves back). Months and longer are calendar moves
    /// that clamp the day (31 Mar − 1 month = 28/29 Feb); shorter units are fixed lengths.
    pub fn shift(&self, t: i64, unit: Unit, n: i64) -> i64 {
        let fixed = match unit {
            Unit::Millisecond => Some(1),
            Unit::Second => Some(1000),
            Unit::Minute => Some(60_000),
            Unit::Hour => Some(3_600_000),
            Unit::Day => Some(MS_PER_DAY),
            Unit::Week => Some(7 * MS_PER_DAY),
            _ => None,
        };
        if let Some(step) = fixed {
            return t.saturating_add(step.saturating_mul(n));
        }
        let months_per = match unit {
            Unit::Month => 1,
            Unit::Year => 12,
            Unit::Decade => 120,
            Unit::Century => 1200,
            _ => 12_000,
        };
        let local = t.saturating_add(self.offset_ms);
        let days = local.div_euclid(MS_PER_DAY);
        let in_day = local.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let total = (y.saturating_mul(12) + i64::from(m) - 1).saturating_add(months_per * n);
        let ny = total.div_euclid(12);
        let nm = (total.rem_euclid(12) + 1) as u32;
        let nd = d.min(days_in_month(ny, nm));
        days_from_civil(ny, nm, nd)
            .saturating_mul(MS_PER_DAY)
            .saturating_add(in_day)
            .saturating_sub(self.offset_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 17_000, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_timestamp("2021-06-17T12:25:12.872039Z"),
            Some(1_623_932_712_872)
        );
        assert_eq!(parse_timestamp("1970-01-02"), Some(MS_PER_DAY));
        assert_eq!(parse_timestamp("1970-02-30"), None);
        assert_eq!(parse_timestamp("nope"), None);
        assert_eq!(parse_timestamp("2026-12-01T10:00:00Zjunk"), None);
        assert_eq!(format_timestamp(1500), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn periods_and_shifts() {
        let cal = Calendar::new(0);
        let t = parse_timestamp("2018-08-28T15:00:00Z").unwrap_or_default();
        let (s, e) = cal.period(t, Unit::Month);
        assert_eq!(format_timestamp(s), "2018-08-01T00:00:00.000Z");
        assert_eq!(format_timestamp(e), "2018-09-01T00:00:00.000Z");
        let (s, _) = cal.period(t, Unit::Week);
        assert_eq!(format_timestamp(s), "2018-08-27T00:00:00.000Z");
        let mar31 = parse_timestamp("2019-03-31T00:00:00Z").unwrap_or_default();
        assert_eq!(
            format_timestamp(cal.shift(mar31, Unit::Month, -1)),
            "2019-02-28T00:00:00.000Z"
        );
        let tokyo = Calendar::new(9 * 60);
        let (s, _) = tokyo.period(
            parse_timestamp("2018-08-28T16:00:00Z").unwrap_or_default(),
            Unit::Day,
        );
        assert_eq!(format_timestamp(s), "2018-08-28T15:00:00.000Z");
    }
}
