//! Request ids: taken from the incoming header when it is usable, made up otherwise.

use http::HeaderValue;

/// Longer incoming ids are replaced: they would bloat every log line of the request.
const MAX_LEN: usize = 128;

/// The incoming id if it is 1 to 128 visible ASCII characters, else a new one.
pub(crate) fn request_id(incoming: Option<&HeaderValue>) -> HeaderValue {
    match incoming {
        Some(value) if usable(value.as_bytes()) => value.clone(),
        _ => generate(),
    }
}

fn usable(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// 32 random lowercase hex digits.
fn generate() -> HeaderValue {
    let random = fastrand::u128(..);
    let mut text = [0u8; 32];
    for (index, byte) in text.iter_mut().enumerate() {
        *byte = telescope_core::hex::digit((random >> (index * 4)) as u8);
    }
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_incoming_ids_are_kept() {
        let incoming = HeaderValue::from_static("req-42");
        assert_eq!(request_id(Some(&incoming)), "req-42");
    }

    #[test]
    fn missing_empty_long_or_odd_ids_are_replaced() {
        let long = HeaderValue::from_str(&"x".repeat(MAX_LEN + 1)).expect("valid");
        let spaced = HeaderValue::from_static("a b");
        let empty = HeaderValue::from_static("");
        let latin1 = HeaderValue::from_bytes(b"caf\xe9").expect("opaque bytes are allowed");
        for incoming in [
            None,
            Some(&long),
            Some(&spaced),
            Some(&empty),
            Some(&latin1),
        ] {
            let id = request_id(incoming);
            assert_eq!(id.len(), 32, "{incoming:?}");
            assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit));
        }
        assert_ne!(request_id(None), request_id(None));
    }
}
