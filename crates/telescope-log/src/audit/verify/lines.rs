//! Reading audit lines strictly: a line counts only if it is byte for byte what the writer
//! produces for what it says. Any other member, a repeated or reordered one, different
//! whitespace, escaping or number format, or a byte after the closing brace makes it bad.

use super::super::chain::{from_hex, ChainValue};
use super::super::checkpoint::Checkpoint;
use super::super::record::{canonical_body, link_body, AuditRecord, Context, FieldValue, Outcome};
use super::ordered::{parse_object, Ordered};

/// One line of an audit file.
#[derive(Debug)]
pub(super) enum Entry {
    /// A record: its sequence number, the bytes its chain value covers, the chain value.
    Record {
        seq: u64,
        body: Vec<u8>,
        chain: ChainValue,
    },
    /// The first line of a file started by rotation, chained like a record.
    Link {
        seq: u64,
        head: ChainValue,
        body: Vec<u8>,
        chain: ChainValue,
    },
    Checkpoint(Checkpoint),
    /// Not a valid line; `torn` when it is the last one and has no newline.
    Bad {
        torn: bool,
    },
}

const CHAIN_MARKER: &[u8] = b",\"chain\":\"";

/// Splits a chained line, `<body>,"chain":"<64 lowercase hex>"}`, into its body and chain value.
fn chained(line: &[u8]) -> Option<(&[u8], ChainValue)> {
    let rest = line.strip_suffix(b"\"}")?;
    let (front, hex) = rest.split_at(rest.len().checked_sub(64)?);
    let body = front.strip_suffix(CHAIN_MARKER)?;
    if !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some((body, from_hex(std::str::from_utf8(hex).ok()?)?))
}

/// Reads one line (without its newline); `Bad` unless it is exactly as the writer writes.
pub(super) fn parse_line(line: &[u8]) -> Entry {
    let bad = Entry::Bad { torn: false };
    if line.starts_with(b"{\"checkpoint\":") {
        return checkpoint(line).map_or(bad, Entry::Checkpoint);
    }
    let Some((body, chain)) = chained(line) else {
        return bad;
    };
    let mut object = body.to_vec();
    object.push(b'}');
    let Some(members) = parse_object(&object) else {
        return bad;
    };
    let entry = if body.starts_with(b"{\"link\":") {
        link(&members, body).map(|(seq, head)| Entry::Link {
            seq,
            head,
            body: body.to_vec(),
            chain,
        })
    } else {
        record(members, body).map(|seq| Entry::Record {
            seq,
            body: body.to_vec(),
            chain,
        })
    };
    entry.unwrap_or(bad)
}

fn checkpoint(line: &[u8]) -> Option<Checkpoint> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let checkpoint = Checkpoint::from_json(value.get("checkpoint")?)?;
    let canonical = checkpoint.line();
    (canonical.as_bytes().strip_suffix(b"\n")? == line).then_some(checkpoint)
}

/// A link's sequence number and head, if `body` is exactly the link they make.
fn link(members: &[(String, Ordered)], body: &[u8]) -> Option<(u64, ChainValue)> {
    let [(name, Ordered::Object(link))] = members else {
        return None;
    };
    let [(previous_name, Ordered::Text(previous)), (seq_name, seq), (head_name, Ordered::Text(head))] =
        link.as_slice()
    else {
        return None;
    };
    if name != "link" || previous_name != "previous" || seq_name != "seq" || head_name != "head" {
        return None;
    }
    let seq = seq.as_u64()?;
    (link_body(previous, seq, head) == body).then_some(())?;
    Some((seq, from_hex(head)?))
}

/// A record's sequence number, if `body` is exactly the record its members make.
fn record(members: Vec<(String, Ordered)>, body: &[u8]) -> Option<u64> {
    let mut record = AuditRecord::empty();
    let (mut seq, mut time, mut service, mut host) = (None, None, None, None);
    let (mut trace_id, mut span_id) = (None, None);
    let mut seen: Vec<String> = Vec::with_capacity(members.len());
    for (name, value) in members {
        if seen.contains(&name) {
            return None;
        }
        let text = || value.as_str().map(str::to_owned);
        match name.as_str() {
            "seq" => seq = value.as_u64(),
            "time" => time = text(),
            "type" => record.event_type = Some(text()?),
            "action" => record.action = Some(text()?),
            "outcome" => record.outcome = Some(Outcome::parse(value.as_str()?)?),
            "actor" => record.actor = Some(text()?),
            "resource" => record.resource = Some(text()?),
            "source" => record.source = Some(text()?),
            "service" => service = text(),
            "host" => host = text(),
            "trace_id" => trace_id = text(),
            "span_id" => span_id = text(),
            // Derived from what is missing; the byte comparison below checks it.
            "incomplete" => {}
            "fields" => record.fields = fields(value)?,
            _ => return None,
        }
        seen.push(name);
    }
    record.trace = match (trace_id, span_id) {
        (Some(trace), Some(span)) => Some((trace, span)),
        (None, None) => None,
        _ => return None,
    };
    let (seq, time) = (seq?, time?);
    let context = Context {
        service: service?,
        host: host?,
    };
    // Sensitive values are stored hashed: written back as the text they are.
    let canonical = canonical_body(&record, seq, &time, &context, &|hashed| hashed.to_owned());
    (canonical == body).then_some(seq)
}

/// The extra fields, as written (a name may repeat: the writer keeps what it was given).
fn fields(value: Ordered) -> Option<Vec<(String, FieldValue)>> {
    let Ordered::Object(members) = value else {
        return None;
    };
    members
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                Ordered::Text(text) => FieldValue::Text(text),
                Ordered::Integer(n) => FieldValue::Integer(n),
                Ordered::Float(f) => FieldValue::Float(f),
                Ordered::Bool(b) => FieldValue::Bool(b),
                Ordered::Null | Ordered::Unsigned(_) | Ordered::Array(_) | Ordered::Object(_) => {
                    return None
                }
            };
            Some((name, value))
        })
        .collect()
}
