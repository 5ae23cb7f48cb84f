//! Datetimes as regstack 0.9.3 stores them on SQLite: TEXT `YYYY-MM-DD HH:MM:SS.ffffff`, UTC,
//! no offset.

use chrono::{DateTime, NaiveDateTime, Utc};

const STORED: &str = "%Y-%m-%d %H:%M:%S%.6f";
const NAIVE: &str = "%Y-%m-%d %H:%M:%S%.f";
const WITH_OFFSET: &str = "%Y-%m-%d %H:%M:%S%.f%#z";

/// Render an instant the way 0.9.3 does (always six fractional digits; sub-microsecond
/// precision is truncated).
pub(crate) fn format(t: DateTime<Utc>) -> String {
    t.format(STORED).to_string()
}

/// Render an optional instant.
pub(crate) fn format_opt(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(format)
}

/// Parse a stored datetime tolerantly: `T` or space between date and time, any number of
/// fractional digits or none, and an optional `Z` or numeric offset (converted to UTC). A
/// value without offset is UTC.
pub(crate) fn parse(s: &str) -> Option<DateTime<Utc>> {
    // Every read of a user row parses up to four of these: the stored form, as [`format`]
    // writes it, is read without the format-string machinery.
    if let Some(t) = parse_stored(s) {
        return Some(t);
    }
    parse_tolerant(s)
}

/// Exactly `YYYY-MM-DD HH:MM:SS.ffffff`, or `None` (then [`parse_tolerant`] decides).
fn parse_stored(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != 26
        || [b[4], b[7], b[10], b[13], b[16], b[19]] != [b'-', b'-', b' ', b':', b':', b'.']
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)?).ok()?, num(5, 7)?, num(8, 10)?)?;
    let time = chrono::NaiveTime::from_hms_micro_opt(
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
        num(20, 26)?,
    )?;
    Some(date.and_time(time).and_utc())
}

fn parse_tolerant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let mut owned = s.to_owned();
    if owned.as_bytes().get(10) == Some(&b'T') {
        owned.replace_range(10..11, " ");
    }
    let body = owned
        .strip_suffix('Z')
        .or_else(|| owned.strip_suffix('z'))
        .unwrap_or(&owned);
    let has_offset = body.get(19..).is_some_and(|tail| tail.contains(['+', '-']));
    if has_offset {
        DateTime::parse_from_str(body, WITH_OFFSET)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    } else {
        NaiveDateTime::parse_from_str(body, NAIVE)
            .ok()
            .map(|t| t.and_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike as _, TimeZone as _};

    fn at(micros: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 10, 20, 30).unwrap()
            + chrono::Duration::microseconds(i64::from(micros))
    }

    #[test]
    fn the_fast_path_reads_what_the_tolerant_parser_reads() {
        let start = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
        let mut t = start;
        // About 20 000 instants from 1970 to 2100, odd steps so every field varies.
        while t.year() < 2100 {
            let text = format(t);
            assert_eq!(parse_stored(&text), parse_tolerant(&text), "{text}");
            assert_eq!(parse(&text), Some(t), "{text}");
            t += chrono::Duration::seconds(203_977) + chrono::Duration::microseconds(7_919);
        }
        for odd in [
            "2026-05-01 10:20:30.12345",
            "2026-05-01T10:20:30.123456",
            "2026-05-01 10:20:30.123456Z",
            "2026-13-01 10:20:30.123456",
            "2026-02-30 10:20:30.123456",
            "2026-05-01 24:20:30.123456",
            "2026-05-01 10:20:30.12345x",
            "2026-05-01 10:20:30,123456",
            "+026-05-01 10:20:30.123456",
            "２026-05-01 10:20:30.12345",
        ] {
            assert_eq!(parse_stored(odd), None, "{odd}");
        }
    }

    #[test]
    fn format_is_093s() {
        assert_eq!(format(at(123_456)), "2026-05-01 10:20:30.123456");
        assert_eq!(format(at(0)), "2026-05-01 10:20:30.000000");
        assert_eq!(format(at(1)), "2026-05-01 10:20:30.000001");
        let nanos = at(1) + chrono::Duration::nanoseconds(999);
        assert_eq!(format(nanos), "2026-05-01 10:20:30.000001");
    }

    #[test]
    fn parse_is_tolerant() {
        for (s, want) in [
            ("2026-05-01 10:20:30.123456", at(123_456)),
            ("2026-05-01 10:20:30", at(0)),
            ("2026-05-01T10:20:30.123456", at(123_456)),
            ("2026-05-01T10:20:30Z", at(0)),
            ("2026-05-01 10:20:30.123456+00:00", at(123_456)),
            ("2026-05-01T10:20:30.5+00:00", at(500_000)),
            ("2026-05-01T12:20:30.123456+02:00", at(123_456)),
            ("2026-05-01 08:20:30-0200", at(0)),
            ("2026-05-01 10:20:30.1", at(100_000)),
        ] {
            assert_eq!(parse(s), Some(want), "{s}");
        }
        for bad in ["", "yesterday", "2026-05-01", "2026-13-01 00:00:00"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trip() {
        for micros in [0, 1, 999_999, 123_456] {
            assert_eq!(parse(&format(at(micros))), Some(at(micros)));
        }
    }
}
