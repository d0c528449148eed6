//! A series' label set in one small allocation: what identifies the series, compared
//! against a `metrics::Key` without allocating, and written into a scrape.
//!
//! Two layouts, told apart by the first byte (`0xFF` and `0xFE` never occur in UTF-8):
//! - **rendered**, for the usual labels (at most 255, names valid for Prometheus as they are
//!   and distinct, values with nothing to escape): `0xFE`, the number of labels, then the text
//!   a scrape shows, `a="x",b="y"`, so a scrape copies it;
//! - **raw**, for the others: `name 0xFF value 0xFF name 0xFF value 0xFF …`, made valid and
//!   escaped at each scrape.
//!
//! Byte order sorts series of one layout by the first name, then its value, and so on.

use metrics::Label;

use crate::names::{escape_label_value, is_plain_label_name, push_label_name};
use crate::short_eq::same;

const SEPARATOR: u8 = 0xFF;
const RENDERED: u8 = 0xFE;

/// The labels of one series, packed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PackedLabels(Box<[u8]>);

/// Whether a label value shows as it is in a scrape.
fn is_plain_value(value: &str) -> bool {
    !crate::names::label_value_needs_escaping(value)
}

impl PackedLabels {
    /// Packs `labels` in their order.
    pub(crate) fn pack<'a>(labels: impl Iterator<Item = &'a Label> + Clone) -> Self {
        let count = u8::try_from(labels.clone().count());
        let plain = count.is_ok()
            && labels.clone().enumerate().all(|(index, label)| {
                is_plain_label_name(label.key())
                    && is_plain_value(label.value())
                    && !labels
                        .clone()
                        .take(index)
                        .any(|earlier| earlier.key() == label.key())
            });
        let size: usize = labels
            .clone()
            .map(|label| label.key().len() + label.value().len() + 4)
            .sum();
        let mut packed = Vec::with_capacity(size + 1);
        if let (true, Ok(count)) = (plain, count) {
            packed.push(RENDERED);
            packed.push(count);
            for (index, label) in labels.enumerate() {
                if index > 0 {
                    packed.push(b',');
                }
                packed.extend_from_slice(label.key().as_bytes());
                packed.extend_from_slice(b"=\"");
                packed.extend_from_slice(label.value().as_bytes());
                packed.push(b'"');
            }
        } else {
            for label in labels {
                packed.extend_from_slice(label.key().as_bytes());
                packed.push(SEPARATOR);
                packed.extend_from_slice(label.value().as_bytes());
                packed.push(SEPARATOR);
            }
        }
        Self(packed.into_boxed_slice())
    }

    /// The labels of a name's overflow series: `otel_metric_overflow="true"`, which no user
    /// label renders as (a user's label of that name is `exported_otel_metric_overflow`).
    pub(crate) fn overflow() -> Self {
        let text = format!("{}=\"true\"", crate::OVERFLOW_LABEL);
        let mut packed = vec![RENDERED, 1];
        packed.extend_from_slice(text.as_bytes());
        Self(packed.into_boxed_slice())
    }

    /// The number of labels and their rendered text, if this is the rendered layout.
    fn rendered_with_count(&self) -> Option<(usize, &str)> {
        match &self.0[..] {
            [RENDERED, count, text @ ..] => {
                // SAFETY: `pack` wrote only whole `str`s and ASCII after the two header bytes.
                Some((usize::from(*count), unsafe {
                    std::str::from_utf8_unchecked(text)
                }))
            }
            _ => None,
        }
    }

    /// The rendered text, if this is the rendered layout.
    fn rendered(&self) -> Option<&str> {
        self.rendered_with_count().map(|(_, text)| text)
    }

    /// Whether these are exactly `labels`, in the same order.
    #[inline]
    pub(crate) fn matches<'a>(&self, labels: impl ExactSizeIterator<Item = &'a Label>) -> bool {
        match self.rendered_with_count() {
            // As many labels as stored: then no label can span two stored ones (each label
            // takes at least two of the text's quotes, and there are two per stored label).
            Some((count, text)) => {
                labels.len() == count && matches_rendered(text.as_bytes(), labels)
            }
            None => matches_raw(&self.0, labels),
        }
    }

    /// The `(name, value)` pairs, in order.
    pub(crate) fn pairs(&self) -> Pairs<'_> {
        match self.rendered() {
            Some(text) => Pairs {
                rest: text.as_bytes(),
                rendered: true,
            },
            None => Pairs {
                rest: &self.0,
                rendered: false,
            },
        }
    }

    /// Appends `a="x",b="y"`: names made valid, values escaped, the first of two labels that
    /// end up with the same name kept.
    pub(crate) fn render(&self, out: &mut String) {
        if let Some(text) = self.rendered() {
            out.push_str(text);
            return;
        }
        let start = out.len();
        // Where each rendered name is in `out`: on the stack for the usual few labels.
        let mut names = [(0usize, 0usize); 8];
        let mut more_names: Vec<(usize, usize)> = Vec::new();
        let mut count = 0;
        for (name, value) in self.pairs() {
            let before = out.len();
            if before > start {
                out.push(',');
            }
            let name_start = out.len();
            push_label_name(out, name);
            let rendered = (name_start, out.len());
            let seen = names[..count.min(names.len())]
                .iter()
                .chain(&more_names)
                .any(|&(from, to)| out[from..to] == out[rendered.0..rendered.1]);
            if seen {
                out.truncate(before);
                continue;
            }
            match names.get_mut(count) {
                Some(slot) => *slot = rendered,
                None => more_names.push(rendered),
            }
            count += 1;
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
    }
}

/// `rest` without `part` at its start, if it starts with it.
fn strip<'a>(rest: &'a [u8], part: &[u8]) -> Option<&'a [u8]> {
    let (head, tail) = rest.split_at_checked(part.len())?;
    same(head, part).then_some(tail)
}

#[inline(never)]
fn matches_raw<'a>(packed: &[u8], labels: impl Iterator<Item = &'a Label>) -> bool {
    let mut rest = packed;
    for label in labels {
        for part in [label.key(), label.value()] {
            let Some(after) = strip(rest, part.as_bytes()) else {
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

#[inline]
fn matches_rendered<'a>(text: &[u8], labels: impl Iterator<Item = &'a Label>) -> bool {
    let mut rest = text;
    for (index, label) in labels.enumerate() {
        if index > 0 {
            match rest.split_first() {
                Some((b',', after)) => rest = after,
                _ => return false,
            }
        }
        // `name="value"`, taken whole after one length check.
        let (name, value) = (label.key().as_bytes(), label.value().as_bytes());
        let Some((pair, after)) = rest.split_at_checked(name.len() + value.len() + 3) else {
            return false;
        };
        let Some((name_part, quoted)) = pair.split_at_checked(name.len()) else {
            return false;
        };
        let [b'=', b'"', value_part @ .., b'"'] = quoted else {
            return false;
        };
        if !same(name_part, name) || !same(value_part, value) {
            return false;
        }
        rest = after;
    }
    rest.is_empty()
}

/// The `(name, value)` pairs of [`PackedLabels`], in order.
pub(crate) struct Pairs<'a> {
    rest: &'a [u8],
    rendered: bool,
}

impl<'a> Pairs<'a> {
    /// The text before the first `delimiter`, and what follows the delimiter and `skip - 1`
    /// more bytes.
    fn cut(&mut self, delimiter: u8, skip: usize) -> Option<&'a str> {
        let end = self.rest.iter().position(|b| *b == delimiter)?;
        let part = &self.rest[..end];
        self.rest = &self.rest[(end + skip).min(self.rest.len())..];
        // SAFETY: `pack` wrote whole `str`s between delimiters that are ASCII (`=`, `"`) or
        // 0xFF (never in UTF-8), and names in the rendered layout hold no `=` and values
        // no `"`; so every part cut at a delimiter is a whole `str`.
        Some(unsafe { std::str::from_utf8_unchecked(part) })
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rendered {
            // name="value"(,name="value")…
            let name = self.cut(b'=', 2)?;
            let value = self.cut(b'"', 1)?;
            self.rest = self.rest.strip_prefix(b",").unwrap_or(self.rest);
            return Some((name, value));
        }
        let name = self.cut(SEPARATOR, 1)?;
        let value = self.cut(SEPARATOR, 1)?;
        Some((name, value))
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
    fn text_that_spans_two_stored_labels_does_not_match_them() {
        let stored = PackedLabels::pack(labels(&[("a", "x"), ("b", "y")]).iter());
        let mut out = String::new();
        stored.render(&mut out);
        assert_eq!(out, r#"a="x",b="y""#, "the rendered layout");
        assert!(stored.matches(labels(&[("a", "x"), ("b", "y")]).iter()));
        assert!(!stored.matches(labels(&[("a=\"x\",b", "y")]).iter()));
        assert!(!stored.matches(labels(&[("a", "x\",b=\"y")]).iter()));
        assert!(!stored.matches(labels(&[("a", "x")]).iter()));
        assert_eq!(stored.pairs().collect::<Vec<_>>(), [("a", "x"), ("b", "y")]);
    }

    #[test]
    fn a_separator_never_makes_two_label_sets_equal() {
        let one = labels(&[("ab", "c")]);
        let other = labels(&[("a", "bc")]);
        assert!(!PackedLabels::pack(one.iter()).matches(other.iter()));
        let two = labels(&[("a", ""), ("", "")]);
        assert!(!PackedLabels::pack(two.iter()).matches(labels(&[("a", "")]).iter()));
    }

    /// `a` packed matches `a` and nothing else, and reads back as `a`.
    fn packs_exactly(
        a: &[(String, String)],
        b: &[(String, String)],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let as_labels = |pairs: &[(String, String)]| -> Vec<Label> {
            pairs
                .iter()
                .map(|(k, v)| Label::new(k.clone(), v.clone()))
                .collect()
        };
        let (la, lb) = (as_labels(a), as_labels(b));
        let packed = PackedLabels::pack(la.iter());
        prop_assert!(packed.matches(la.iter()));
        prop_assert_eq!(packed.matches(lb.iter()), a == b);
        let pairs: Vec<(String, String)> = packed
            .pairs()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        prop_assert_eq!(pairs.as_slice(), a);
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_exactly_the_labels_it_was_packed_from(
            a in proptest::collection::vec(("\\PC{0,6}", "\\PC{0,6}"), 0..4),
            b in proptest::collection::vec(("\\PC{0,6}", "\\PC{0,6}"), 0..4),
        ) {
            packs_exactly(&a, &b)?;
        }

        /// Names and values made of the rendered layout's own punctuation.
        #[test]
        fn punctuation_never_makes_two_label_sets_equal(
            a in proptest::collection::vec(("[ab_=\",]{0,4}", "[ab=\",]{0,4}"), 0..4),
            b in proptest::collection::vec(("[ab_=\",]{0,4}", "[ab=\",]{0,4}"), 0..4),
        ) {
            packs_exactly(&a, &b)?;
        }
    }
}
