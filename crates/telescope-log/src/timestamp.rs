//! Fast UTC timestamps: RFC 3339 with a per-thread cache of the date and time of day, or
//! integers since the Unix epoch.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the event time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimestampFormat {
    /// `"2026-11-22T00:04:39.123456789Z"`: RFC 3339, UTC, nanoseconds (the default).
    #[default]
    Rfc3339Nanos,
    /// `"2026-11-22T00:04:39.123456Z"`: RFC 3339, UTC, microseconds.
    Rfc3339Micros,
    /// `"2026-11-22T00:04:39.123Z"`: RFC 3339, UTC, milliseconds.
    Rfc3339Millis,
    /// `1795305879123`: an integer, milliseconds since the Unix epoch.
    UnixMillis,
    /// `1795305879123456789`: an integer, nanoseconds since the Unix epoch.
    UnixNanos,
}

/// The latest second formatted on this thread, as `YYYY-MM-DDTHH:MM:SS`.
#[derive(Clone, Copy)]
struct CachedSecond {
    second: u64,
    text: [u8; 19],
}

thread_local! {
    static CACHE: Cell<Option<CachedSecond>> = const { Cell::new(None) };
}

/// The latest representable second: 9999-12-31T23:59:59Z.
const MAX_SECOND: u64 = 253_402_300_799;

/// Appends the time in `format`; RFC 3339 forms are quoted. Times before the epoch are
/// written as the epoch; times after year 9999 as its last second.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, time: SystemTime, format: TimestampFormat) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let digits = match format {
        TimestampFormat::UnixMillis => {
            out.extend_from_slice(
                itoa::Buffer::new()
                    .format(since_epoch.as_millis())
                    .as_bytes(),
            );
            return;
        }
        TimestampFormat::UnixNanos => {
            out.extend_from_slice(
                itoa::Buffer::new()
                    .format(since_epoch.as_nanos())
                    .as_bytes(),
            );
            return;
        }
        TimestampFormat::Rfc3339Nanos => 9,
        TimestampFormat::Rfc3339Micros => 6,
        TimestampFormat::Rfc3339Millis => 3,
    };
    let (second, nanos) = if since_epoch.as_secs() > MAX_SECOND {
        (MAX_SECOND, 999_999_999)
    } else {
        (since_epoch.as_secs(), since_epoch.subsec_nanos())
    };
    out.push(b'"');
    out.extend_from_slice(&date_time_text(second));
    out.push(b'.');
    let mut fraction = [b'0'; 9];
    let mut rest = nanos;
    for slot in fraction.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&fraction[..digits]);
    out.extend_from_slice(b"Z\"");
}

fn date_time_text(second: u64) -> [u8; 19] {
    CACHE.with(|cache| match cache.get() {
        Some(cached) if cached.second == second => cached.text,
        _ => {
            let text = format_date_time(second);
            cache.set(Some(CachedSecond { second, text }));
            text
        }
    })
}

/// `YYYY-MM-DDTHH:MM:SS` for a second since the epoch (at most [`MAX_SECOND`]).
fn format_date_time(second: u64) -> [u8; 19] {
    let days = second / 86_400;
    let of_day = second % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut text = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for index in (at..at + width).rev() {
            text[index] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3600);
    put(14, 2, of_day / 60 % 60);
    put(17, 2, of_day % 60);
    text
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(time: SystemTime, format: TimestampFormat) -> String {
        let mut out = Vec::new();
        write_timestamp(&mut out, time, format);
        String::from_utf8(out).expect("ascii")
    }

    fn at(second: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(second, nanos)
    }

    #[test]
    fn known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (951_868_799, "2000-02-29T23:59:59"),
            (1_709_251_199, "2024-02-29T23:59:59"),
            (4_107_542_400, "2100-03-01T00:00:00"),
            (1_795_305_879, "2026-11-22T00:04:39"),
            (MAX_SECOND, "9999-12-31T23:59:59"),
        ];
        for (second, expected) in cases {
            assert_eq!(
                written(at(second, 5), TimestampFormat::Rfc3339Nanos),
                format!("\"{expected}.000000005Z\"")
            );
        }
    }

    #[test]
    fn precisions_and_integers() {
        let time = at(1_795_305_879, 123_456_789);
        assert_eq!(
            written(time, TimestampFormat::Rfc3339Micros),
            "\"2026-11-22T00:04:39.123456Z\""
        );
        assert_eq!(
            written(time, TimestampFormat::Rfc3339Millis),
            "\"2026-11-22T00:04:39.123Z\""
        );
        assert_eq!(written(time, TimestampFormat::UnixMillis), "1795305879123");
        assert_eq!(
            written(time, TimestampFormat::UnixNanos),
            "1795305879123456789"
        );
    }

    #[test]
    fn out_of_range_times_are_clamped() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(
            written(before, TimestampFormat::Rfc3339Millis),
            "\"1970-01-01T00:00:00.000Z\""
        );
        let after = at(MAX_SECOND + 1000, 0);
        assert_eq!(
            written(after, TimestampFormat::Rfc3339Millis),
            "\"9999-12-31T23:59:59.999Z\""
        );
    }

    #[test]
    fn agrees_with_day_by_day_counting() {
        // Walk every day from 1970 to 2200 and compare with a naive calendar.
        let (mut year, mut month, mut day) = (1970u64, 1u64, 1u64);
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        for days in 0..84_000u64 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let length = match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > length {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }
}
