//! A series' label set in one small allocation: what identifies the series, compared
//! against a `metrics::Key` without allocating, and rendered (sanitized, escaped) at scrape
//! time.
//!
//! Layout: `name 0xFF value 0xFF name 0xFF value 0xFF …`. Names and values are UTF-8, where
//! the byte `0xFF` never occurs, so the separator is unambiguous, and byte order sorts by the
//! first name, then its value, and so on.

use metrics::Label;

use crate::names::{escape_label_value, push_label_name};

const SEPARATOR: u8 = 0xFF;

/// The labels of one series, packed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PackedLabels(Box<[u8]>);

impl PackedLabels {
    /// Packs `labels` in their order.
    pub(crate) fn pack<'a>(labels: impl Iterator<Item = &'a Label> + Clone) -> Self {
        let size = labels
            .clone()
            .map(|label| label.key().len() + label.value().len() + 2)
            .sum();
        let mut packed = Vec::with_capacity(size);
        for label in labels {
            packed.extend_from_slice(label.key().as_bytes());
            packed.push(SEPARATOR);
            packed.extend_from_slice(label.value().as_bytes());
            packed.push(SEPARATOR);
        }
        Self(packed.into_boxed_slice())
    }

    /// Whether these are exactly `labels`, in the same order.
    pub(crate) fn matches<'a>(&self, labels: impl Iterator<Item = &'a Label>) -> bool {
        let mut rest: &[u8] = &self.0;
        for label in labels {
            for part in [label.key(), label.value()] {
                let Some(after) = rest.strip_prefix(part.as_bytes()) else {
                    return false;
                };
                let Some((&SEPARATOR, after)) = after.split_first() else {
                    return false;
                };
                rest = after;
            }
        }
        rest.is_empty()
    }

    /// The `(name, value)` pairs, in order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut parts = self
            .0
            .split(|byte| *byte == SEPARATOR)
            // Each part was a whole `str` when packed, so this never fails.
            .map(|part| std::str::from_utf8(part).unwrap_or_default());
        std::iter::from_fn(move || {
            let name = parts.next()?;
            let value = parts.next()?;
            Some((name, value))
        })
    }

    /// Appends `a="x",b="y"`: names made valid, values escaped, the first of two labels that
    /// end up with the same name kept.
    pub(crate) fn render(&self, out: &mut String) {
        let start = out.len();
        let mut names: Vec<std::ops::Range<usize>> = Vec::new();
        for (name, value) in self.pairs() {
            let separator = if out.len() > start { 1 } else { 0 };
            let name_start = out.len() + separator;
            let before = out.len();
            if separator == 1 {
                out.push(',');
            }
            push_label_name(out, name);
            let rendered = name_start..out.len();
            let repeated = names
                .iter()
                .any(|seen| out[seen.clone()] == out[rendered.clone()]);
            if repeated {
                out.truncate(before);
                continue;
            }
            names.push(rendered);
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
    }
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs
            .iter()
            .map(|(k, v)| Label::new(k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_valid_names_escaped_values_and_keeps_the_first_of_a_repeated_name() {
        let packed = PackedLabels::pack(
            labels(&[("a.b", "x\"y"), ("c", "line\nbreak"), ("a_b", "second")]).iter(),
        );
        let mut out = String::new();
        packed.render(&mut out);
        assert_eq!(out, r#"a_b="x\"y",c="line\nbreak""#);
        let mut empty = String::new();
        PackedLabels::pack([].iter()).render(&mut empty);
        assert_eq!(empty, "");
    }

    #[test]
    fn a_separator_never_makes_two_label_sets_equal() {
        let one = labels(&[("ab", "c")]);
        let other = labels(&[("a", "bc")]);
        assert!(!PackedLabels::pack(one.iter()).matches(other.iter()));
        let two = labels(&[("a", ""), ("", "")]);
        assert!(!PackedLabels::pack(two.iter()).matches(labels(&[("a", "")]).iter()));
    }

    proptest! {
        #[test]
        fn matches_exactly_the_labels_it_was_packed_from(
            a in proptest::collection::vec(("\\PC{0,6}", "\\PC{0,6}"), 0..4),
            b in proptest::collection::vec(("\\PC{0,6}", "\\PC{0,6}"), 0..4),
        ) {
            let as_labels = |pairs: &Vec<(String, String)>| -> Vec<Label> {
                pairs.iter().map(|(k, v)| Label::new(k.clone(), v.clone())).collect()
            };
            let (la, lb) = (as_labels(&a), as_labels(&b));
            let packed = PackedLabels::pack(la.iter());
            prop_assert!(packed.matches(la.iter()));
            prop_assert_eq!(packed.matches(lb.iter()), a == b);
            let pairs: Vec<(String, String)> = packed
                .pairs()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            prop_assert_eq!(pairs, a);
        }
    }
}
