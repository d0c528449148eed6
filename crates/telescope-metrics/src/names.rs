//! Making names valid for Prometheus and escaping text, so any input yields a valid
//! exposition.
//!
//! Rules: a metric name keeps `[a-zA-Z0-9_:]` and must not start with a digit; a label name
//! keeps `[a-zA-Z0-9_]`, must not start with a digit and must not start with `__` (reserved
//! by Prometheus). Any other character becomes `_`; a leading digit gets a `_` in front;
//! a leading `__` in a label name becomes `_`; an empty name becomes `_`.

/// `name` as a valid metric name.
pub(crate) fn metric_name(name: &str) -> String {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name` as a valid label name.
#[cfg(all(test, not(telescope_loom)))]
pub(crate) fn label_name(name: &str) -> String {
    let mut clean = String::with_capacity(name.len() + 1);
    push_label_name(&mut clean, name);
    clean
}

/// Label names that mean something in an exposition: `le` on histogram buckets, `quantile`
/// on summaries, and the label of telescope's overflow series. A user's label of such a name
/// is written `exported_<name>`, as Prometheus renames a target's label that clashes with
/// one of its own.
pub(crate) const RESERVED_LABELS: [&str; 3] = ["le", "quantile", crate::OVERFLOW_LABEL];

/// Whether `name` is a valid label name as it is, and not a reserved one.
pub(crate) fn is_plain_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !RESERVED_LABELS.contains(&name)
        && !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && !name.starts_with("__")
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Appends `name` as a valid label name (what [`label_name`] returns), without allocating;
/// a reserved name ([`RESERVED_LABELS`]) gets the prefix `exported_`.
pub(crate) fn push_label_name(out: &mut String, name: &str) {
    if is_plain_label_name(name) {
        out.push_str(name);
        return;
    }
    let start = out.len();
    push_sanitized_label_name(out, name);
    if RESERVED_LABELS.contains(&&out[start..]) {
        out.insert_str(start, "exported_");
    }
}

/// `name` made valid, without the prefix a reserved name gets.
pub(crate) fn sanitized_label_name(name: &str) -> String {
    let mut clean = String::with_capacity(name.len() + 1);
    push_sanitized_label_name(&mut clean, name);
    clean
}

/// Appends `name` made valid: other characters become `_`, a leading digit gets a `_` in
/// front, a leading run of underscores becomes one.
fn push_sanitized_label_name(out: &mut String, name: &str) {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = name
        .chars()
        .map(|c| if valid(c) { c } else { '_' })
        .peekable();
    match chars.peek() {
        None => {
            out.push('_');
            return;
        }
        Some(c) if c.is_ascii_digit() => out.push('_'),
        Some(_) => {}
    }
    // A leading run of underscores becomes one (`__` is reserved by Prometheus).
    let mut leading = false;
    while chars.peek() == Some(&'_') {
        chars.next();
        leading = true;
    }
    if leading {
        out.push('_');
    }
    out.extend(chars);
}

fn sanitize(name: &str, allowed: impl Fn(char) -> bool) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    if clean.is_empty() || clean.starts_with(|c: char| c.is_ascii_digit()) {
        clean.insert(0, '_');
    }
    clean
}

/// Whether `value` shows differently in a label value: it holds `\\`, `"`, a line feed or
/// another control character (C1 controls start with the byte 0xC2 in UTF-8; other
/// characters that do are looked at one by one).
pub(crate) fn label_value_needs_escaping(value: &str) -> bool {
    value
        .bytes()
        .any(|b| matches!(b, b'\\' | b'"' | 0xC2) || b.is_ascii_control())
}

/// A control character other than line feed, which no parser reads back reliably (a raw
/// carriage return breaks lines in some): shown as U+FFFD.
fn unsafe_control(c: char) -> bool {
    c.is_control() && c != '\n'
}

/// Appends a label value escaped for both formats: `\`, `"` and line feed escaped, other
/// control characters replaced by U+FFFD.
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    if !label_value_needs_escaping(value) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if unsafe_control(c) => out.push('\u{FFFD}'),
            other => out.push(other),
        }
    }
}

/// Appends HELP text escaped: `\` and line feed, `"` too for OpenMetrics, other control
/// characters replaced by U+FFFD.
pub(crate) fn escape_help(out: &mut String, help: &str, quotes: bool) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c if unsafe_control(c) => out.push('\u{FFFD}'),
            other => out.push(other),
        }
    }
}

/// A float as both formats accept it: `NaN`, `+Inf`, `-Inf`, or the shortest round-trip
/// decimal.
pub(crate) fn push_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        out.push_str(ryu::Buffer::new().format_finite(value));
    }
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_valid() {
        assert_eq!(metric_name("http.requests-total"), "http_requests_total");
        assert_eq!(metric_name("9lives"), "_9lives");
        assert_eq!(metric_name("ns:sub_metric"), "ns:sub_metric");
        assert_eq!(metric_name(""), "_");
        assert_eq!(metric_name("é"), "_");
        assert_eq!(label_name("status.code"), "status_code");
        assert_eq!(label_name("__name__"), "_name__");
        assert_eq!(label_name("a:b"), "a_b");
        assert_eq!(label_name(""), "_");
        assert_eq!(label_name("9x"), "_9x");
        assert_eq!(label_name("___"), "_");
        assert_eq!(label_name("_x"), "_x");
        assert_eq!(label_name("é.x"), "_x");
        assert_eq!(label_name("le"), "exported_le");
        assert_eq!(label_name("quantile"), "exported_quantile");
        assert_eq!(
            label_name("otel.metric.overflow"),
            "exported_otel_metric_overflow"
        );
        assert_eq!(label_name("les"), "les");
    }

    #[test]
    fn escaping() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\\b\"c\nd");
        assert_eq!(out, r#"a\\b\"c\nd"#);
        let mut help = String::new();
        escape_help(&mut help, "x\\y\n\"", false);
        assert_eq!(help, "x\\\\y\\n\"");
        let mut controls = String::new();
        escape_label_value(&mut controls, "a\rb\u{0}c\td\u{7f}e\u{85}");
        assert_eq!(controls, "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}");
        let mut c1 = String::new();
        escape_label_value(&mut c1, "next\u{85}line é");
        assert_eq!(c1, "next\u{FFFD}line é");
        let mut help = String::new();
        escape_help(&mut help, "line\rfeed", true);
        assert_eq!(help, "line\u{FFFD}feed");
    }
}
