//! The little PromQL the rules need: series selectors with escaped label values, and the
//! name rules of Prometheus.

/// How a selector's label matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Regex,
}

/// `metric{label="value",label=~"regex"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    metric: String,
    matchers: Vec<(String, Op, String)>,
}

impl Selector {
    pub(crate) fn new(metric: impl Into<String>) -> Self {
        Self {
            metric: metric.into(),
            matchers: Vec::new(),
        }
    }

    /// Also `label="value"`.
    pub(crate) fn equal(mut self, label: &str, value: &str) -> Self {
        self.matchers
            .push((label.to_owned(), Op::Equal, value.to_owned()));
        self
    }

    /// Also `label=~"regex"`.
    pub(crate) fn matching(mut self, label: &str, regex: &str) -> Self {
        self.matchers
            .push((label.to_owned(), Op::Regex, regex.to_owned()));
        self
    }

    pub(crate) fn metric(&self) -> &str {
        &self.metric
    }

    /// The label values of the equality matchers, as series of a test must carry them.
    pub(crate) fn equalities(&self) -> impl Iterator<Item = (&str, &str)> {
        self.matchers
            .iter()
            .filter(|(_, op, _)| *op == Op::Equal)
            .map(|(label, _, value)| (label.as_str(), value.as_str()))
    }

    /// Whether a series with `labels` is selected; `None` when a regex uses more than `.`
    /// and literal characters (the in-process reader does not evaluate full regexes).
    pub(crate) fn matches(&self, labels: &[(&str, &str)]) -> Option<bool> {
        let value_of = |name: &str| {
            labels
                .iter()
                .find(|(label, _)| *label == name)
                .map_or("", |(_, value)| *value)
        };
        let mut all = true;
        for (label, op, wanted) in &self.matchers {
            let value = value_of(label);
            all &= match op {
                Op::Equal => value == wanted,
                Op::Regex => simple_regex_matches(wanted, value)?,
            };
        }
        Some(all)
    }

    pub(crate) fn promql(&self) -> String {
        let mut out = self.metric.clone();
        if self.matchers.is_empty() {
            return out;
        }
        out.push('{');
        for (index, (label, op, value)) in self.matchers.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str(match op {
                Op::Equal => "=",
                Op::Regex => "=~",
            });
            push_quoted(&mut out, value);
        }
        out.push('}');
        out
    }
}

/// Whether `value` matches the anchored `pattern` made of literals and `.`; `None` for any
/// other regex syntax.
fn simple_regex_matches(pattern: &str, value: &str) -> Option<bool> {
    if pattern
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ' ')))
    {
        return None;
    }
    let (pattern, value): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), value.chars().collect());
    Some(
        pattern.len() == value.len()
            && pattern.iter().zip(&value).all(|(p, v)| *p == '.' || p == v),
    )
}

/// `value` as a PromQL double-quoted string.
pub(crate) fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A duration as Prometheus writes it, in its largest whole unit (`30d`, `90m`).
pub(crate) fn duration(seconds: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// A Prometheus-style duration of one unit (`30d`, `6h`, `5m`, `90s`).
pub(crate) fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(number.checked_mul(seconds)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_label_sets_and_say_when_they_cannot() {
        let errors = Selector::new("x")
            .equal("route", "/a")
            .matching("status", "5..");
        assert_eq!(
            errors.matches(&[("route", "/a"), ("status", "503")]),
            Some(true)
        );
        assert_eq!(
            errors.matches(&[("route", "/a"), ("status", "200")]),
            Some(false)
        );
        assert_eq!(
            errors.matches(&[("route", "/b"), ("status", "500")]),
            Some(false)
        );
        assert_eq!(
            errors.matches(&[("route", "/a"), ("status", "5000")]),
            Some(false)
        );
        assert_eq!(errors.matches(&[("route", "/a")]), Some(false));
        let complex = Selector::new("x").matching("status", "5..|429");
        assert_eq!(complex.matches(&[("status", "500")]), None);
    }

    #[test]
    fn names_and_durations() {
        assert!(is_metric_name("slo:sli_error:ratio_rate5m"));
        assert!(!is_metric_name("5m") && !is_metric_name("a-b") && !is_metric_name(""));
        assert!(is_label_name("_team") && !is_label_name("a:b"));
        assert_eq!(duration(30 * 86_400), "30d");
        assert_eq!(duration(5_400), "90m");
        assert_eq!(duration(7_200), "2h");
        assert_eq!(duration(45), "45s");
        assert_eq!(
            parse_duration("30d"),
            Some(std::time::Duration::from_secs(2_592_000))
        );
        assert_eq!(
            parse_duration(" 5m "),
            Some(std::time::Duration::from_secs(300))
        );
        for bad in ["", "5", "m", "5x", "1h30m", "-5m", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
