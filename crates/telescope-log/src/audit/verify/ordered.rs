//! JSON read with objects kept as written: members in their order, repeated names kept, so
//! that the verifier can tell a line from the one the writer would have produced.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose objects keep their members' order and repetitions.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ordered {
    Null,
    Bool(bool),
    /// A number written without fraction or exponent that fits an `i64`.
    Integer(i64),
    /// Any other number (an integer beyond `i64` comes here only if it is written as one).
    Unsigned(u64),
    Float(f64),
    Text(String),
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl Ordered {
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Ordered::Text(text) => Some(text),
            _ => None,
        }
    }

    pub(super) fn as_u64(&self) -> Option<u64> {
        match self {
            Ordered::Integer(n) => u64::try_from(*n).ok(),
            Ordered::Unsigned(n) => Some(*n),
            _ => None,
        }
    }
}

/// Parses `bytes` as one JSON object; `None` for anything else (or trailing bytes).
pub(super) fn parse_object(bytes: &[u8]) -> Option<Vec<(String, Ordered)>> {
    match serde_json::from_slice(bytes).ok()? {
        Ordered::Object(members) => Some(members),
        _ => None,
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Null)
    }

    fn visit_none<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Ordered, E> {
        Ok(Ordered::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Ordered, E> {
        Ok(Ordered::Integer(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Ordered, E> {
        Ok(i64::try_from(value).map_or(Ordered::Unsigned(value), Ordered::Integer))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Ordered, E> {
        Ok(Ordered::Float(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Ordered, E> {
        Ok(Ordered::Text(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Ordered, E> {
        Ok(Ordered::Text(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Ordered::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry()? {
            members.push(member);
        }
        Ok(Ordered::Object(members))
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OrderedVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_order_and_repeated_names() {
        let members =
            parse_object(br#"{"b":1,"a":[true,null],"b":"x","f":1.5,"u":18446744073709551615}"#)
                .expect("an object");
        let names: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["b", "a", "b", "f", "u"]);
        assert_eq!(members[0].1, Ordered::Integer(1));
        assert_eq!(
            members[1].1,
            Ordered::Array(vec![Ordered::Bool(true), Ordered::Null])
        );
        assert_eq!(members[3].1, Ordered::Float(1.5));
        assert_eq!(members[4].1.as_u64(), Some(u64::MAX));
        assert!(parse_object(b"[1]").is_none());
        assert!(parse_object(b"{} x").is_none());
    }
}
