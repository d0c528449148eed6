//! UTC calendar formatting shared by the crates that write timestamps (logs, health reports).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The instant `timeout` from now, for any timeout a caller may give (`Duration::MAX`
/// included, where `Instant::now() + timeout` would panic): beyond what the clock can hold,
/// a year from now, which no wait in telescope reaches.
///
/// ```
/// use std::time::{Duration, Instant};
/// let deadline = telescope_core::time::deadline_after(Duration::MAX);
/// assert!(deadline > Instant::now() + Duration::from_secs(3600));
/// ```
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// The latest second that [`date_time`] formats: 9999-12-31T23:59:59Z.
pub const MAX_SECOND: u64 = 253_402_300_799;

/// `YYYY-MM-DDTHH:MM:SS` for a second since the Unix epoch (clamped to [`MAX_SECOND`]).
///
/// ```
/// assert_eq!(&telescope_core::time::date_time(951_782_400), b"2000-02-29T00:00:00");
/// ```
pub fn date_time(unix_second: u64) -> [u8; 19] {
    let second = unix_second.min(MAX_SECOND);
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

/// `time` as RFC 3339 in UTC with nanoseconds, e.g. `2026-11-22T00:04:39.123456789Z`.
/// Times before the epoch are written as the epoch.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let time = UNIX_EPOCH + Duration::new(951_782_400, 5);
/// assert_eq!(telescope_core::time::rfc3339(time), "2000-02-29T00:00:00.000000005Z");
/// ```
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let date_time = date_time(since.as_secs());
    format!(
        "{}.{:09}Z",
        String::from_utf8_lossy(&date_time),
        since.subsec_nanos()
    )
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
            (MAX_SECOND + 1000, "9999-12-31T23:59:59"),
        ];
        for (second, expected) in cases {
            assert_eq!(
                String::from_utf8_lossy(&date_time(second)),
                expected,
                "{second}"
            );
        }
    }

    #[test]
    fn agrees_with_day_by_day_counting() {
        // Walk every day from 1970 to about 2200 and compare with a naive calendar.
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
