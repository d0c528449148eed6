//! Arbitrary field names and values always give valid JSON that parses back to the values.

use proptest::prelude::*;
use serde_json::{json, Value};
use telescope_log::{JsonLayer, Redaction};

use crate::support::{capture, dynamic_event};

#[derive(Debug, Clone)]
enum Input {
    Text(String),
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    Flag(bool),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        any::<String>().prop_map(Input::Text),
        "[\\x00-\\x1f\"\\\\\\x7f]{0,20}".prop_map(Input::Text),
        any::<i64>().prop_map(Input::Signed),
        any::<u64>().prop_map(Input::Unsigned),
        any::<f64>().prop_map(Input::Float),
        any::<bool>().prop_map(Input::Flag),
    ]
}

/// What the layer is expected to write for `input`: text and card-sized integers pass through
/// the policy's value scanner.
fn expected(input: &Input, redaction: &Redaction) -> Value {
    let card = |magnitude: u128, text: String| {
        (1_000_000_000_000..10_000_000_000_000_000).contains(&magnitude)
            && redaction.scrub(&text) != text
    };
    match input {
        Input::Text(s) => json!(redaction.scrub(s)),
        Input::Signed(n) if card(u128::from(n.unsigned_abs()), n.to_string()) => {
            json!("[REDACTED]")
        }
        Input::Unsigned(n) if card(u128::from(*n), n.to_string()) => json!("[REDACTED]"),
        Input::Signed(n) => json!(n),
        Input::Unsigned(n) => json!(n),
        Input::Float(f) if f.is_nan() => json!("NaN"),
        Input::Float(f) if f.is_infinite() => {
            json!(if *f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Input::Float(f) => json!(f),
        Input::Flag(b) => json!(b),
    }
}

const RESERVED: [&str; 8] = [
    "timestamp",
    "level",
    "message",
    "target",
    "trace_id",
    "span_id",
    "span",
    "spans",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_fields_parse_back_to_their_values(
        fields in proptest::collection::btree_map(
            any::<String>().prop_filter("not a reserved key", |n| !RESERVED.contains(&n.as_str()) && !n.starts_with("fields.")),
            input(),
            0..8,
        )
    ) {
        let names: Vec<String> = fields.keys().cloned().collect();
        let inputs: Vec<Input> = fields.values().cloned().collect();
        let out = capture(JsonLayer::builder(), || {
            let values: Vec<Box<dyn tracing::Value>> = inputs
                .iter()
                .map(|input| -> Box<dyn tracing::Value> {
                    match input.clone() {
                        Input::Text(s) => Box::new(s),
                        Input::Signed(n) => Box::new(n),
                        Input::Unsigned(n) => Box::new(n),
                        Input::Float(f) => Box::new(f),
                        Input::Flag(b) => Box::new(b),
                    }
                })
                .collect();
            let refs: Vec<&dyn tracing::Value> = values.iter().map(|v| &**v).collect();
            dynamic_event(&names, &refs);
        });
        let lines = out.objects();
        prop_assert_eq!(lines.len(), 1);
        let redaction = Redaction::default();
        for (name, input) in &fields {
            let want = if redaction.matches(name) { json!("[REDACTED]") } else { expected(input, &redaction) };
            prop_assert_eq!(lines[0].get(name), Some(&want), "field {:?}", name);
        }
    }

    #[test]
    fn arbitrary_messages_and_span_fields_stay_valid(message in any::<String>(), value in any::<String>()) {
        let out = capture(JsonLayer::builder(), || {
            let span = tracing::info_span!("span", value = value.as_str());
            let _entered = span.enter();
            tracing::info!("{message}");
        });
        let line = &out.objects()[0];
        prop_assert_eq!(line.get("message"), Some(&json!(message)));
        prop_assert_eq!(line.get("span"), Some(&json!({"name": "span", "value": value})));
    }
}
