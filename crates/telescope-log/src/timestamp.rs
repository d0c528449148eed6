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

use telescope_core::time::MAX_SECOND;

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
            let text = telescope_core::time::date_time(second);
            cache.set(Some(CachedSecond { second, text }));
            text
        }
    })
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

    /// The calendar itself is tested in `telescope_core::time`; here, the fraction, the quotes
    /// and the per-second cache (the same second twice, then another).
    #[test]
    fn known_instants() {
        let cases = [
            (951_782_400, "2000-02-29T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (1_795_305_879, "2026-11-22T00:04:39"),
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
}
