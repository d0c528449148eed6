//! The filters of `/debug/traces`: `?name=` (a span of the trace has a name containing it),
//! `?status=error|ok` and `?min_ms=` (the trace took at least that long).

use std::borrow::Cow;
use std::time::Duration;

use super::query::{encode, Query};
use super::traces::TraceView;

/// Which traces to list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TraceFilter {
    /// Text some span name of the trace contains.
    pub(crate) name: Option<String>,
    /// Failed traces only (`Some(true)`), or only those that did not fail.
    pub(crate) failed: Option<bool>,
    /// The least duration of a listed trace.
    pub(crate) min_duration: Option<Duration>,
}

/// A filter value that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FilterError {
    /// `status` is neither `error` nor `ok`.
    #[error("status must be error or ok")]
    Status,
    /// `min_ms` is not a whole number.
    #[error("min_ms must be a whole number of milliseconds")]
    MinMs,
}

impl TraceFilter {
    /// The filter a query asks for (empty values: no filter).
    pub(crate) fn from_query(query: &Query) -> Result<Self, FilterError> {
        let failed = match query.non_empty("status").map(str::trim) {
            None => None,
            Some(status) if status.eq_ignore_ascii_case("error") => Some(true),
            Some(status) if status.eq_ignore_ascii_case("ok") => Some(false),
            Some(_) => return Err(FilterError::Status),
        };
        let min_duration = query
            .non_empty("min_ms")
            .map(|ms| ms.trim().parse::<u64>().map(Duration::from_millis))
            .transpose()
            .map_err(|_| FilterError::MinMs)?;
        Ok(Self {
            name: query.non_empty("name").map(str::to_owned),
            failed,
            min_duration,
        })
    }

    /// Whether `trace` is listed.
    pub(crate) fn matches(&self, trace: &TraceView) -> bool {
        self.failed.is_none_or(|failed| trace.failed == failed)
            && self
                .min_duration
                .is_none_or(|least| trace.duration >= least)
            && self.name.as_deref().is_none_or(|text| {
                trace
                    .spans
                    .iter()
                    .any(|span| span.name.as_ref().contains(text))
            })
    }

    /// Whether it lets every trace through.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The filter as query pairs, for links that keep it.
    pub(crate) fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::new();
        if let Some(name) = &self.name {
            pairs.push(("name", Cow::Borrowed(name)));
        }
        if let Some(failed) = self.failed {
            pairs.push(("status", Cow::Borrowed(if failed { "error" } else { "ok" })));
        }
        if let Some(least) = self.min_duration {
            pairs.push(("min_ms", Cow::Owned(least.as_millis().to_string())));
        }
        encode(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(query: &str) -> Result<TraceFilter, FilterError> {
        TraceFilter::from_query(&Query::parse(Some(query)))
    }

    #[test]
    fn values_are_read_and_bad_ones_refused() {
        let all = filter("name=GET+%2Fpay&status=ERROR&min_ms=250").expect("valid");
        assert_eq!(all.name.as_deref(), Some("GET /pay"));
        assert_eq!(all.failed, Some(true));
        assert_eq!(all.min_duration, Some(Duration::from_millis(250)));
        assert_eq!(filter("status=ok").expect("valid").failed, Some(false));
        // What an untouched form sends.
        assert!(filter("name=&status=&min_ms=").expect("valid").is_empty());
        assert_eq!(filter("status=maybe"), Err(FilterError::Status));
        assert_eq!(filter("min_ms=soon"), Err(FilterError::MinMs));
        assert_eq!(filter("min_ms=-1"), Err(FilterError::MinMs));
    }

    #[test]
    fn the_query_it_gives_reads_back_the_same() {
        let all = filter("name=a%26b&status=ok&min_ms=7").expect("valid");
        assert_eq!(filter(&all.to_query()).expect("valid"), all);
        assert_eq!(TraceFilter::default().to_query(), "");
    }
}
