//! Lowercase hexadecimal encoding and strict decoding, as W3C Trace Context requires; the one
//! hex alphabet every telescope crate writes with.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The lowercase hex digit of the low four bits of `nibble`.
///
/// ```
/// assert_eq!(telescope_core::hex::digit(0x3c), b'c');
/// ```
pub fn digit(nibble: u8) -> u8 {
    DIGITS[usize::from(nibble & 0x0f)]
}

/// `bytes` as lowercase hex.
///
/// ```
/// assert_eq!(telescope_core::hex::encode(&[0x00, 0xab]), "00ab");
/// ```
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(digit(byte >> 4)));
        out.push(char::from(digit(*byte)));
    }
    out
}

/// Writes `bytes` as lowercase hex into `out`, which must be exactly twice as long.
pub(crate) fn encode_into(bytes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), bytes.len() * 2);
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = digit(byte >> 4);
        pair[1] = digit(*byte);
    }
}

/// The value of one lowercase hex digit, or `None` for anything else (uppercase included).
fn lower_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes exactly `N` bytes from `2 * N` lowercase hex digits.
pub(crate) fn decode_lower<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *slot = (lower_digit(pair[0])? << 4) | lower_digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_lowercase() {
        let mut out = [0u8; 6];
        encode_into(&[0x00, 0xab, 0xff], &mut out);
        assert_eq!(&out, b"00abff");
    }

    #[test]
    fn rejects_uppercase_wrong_length_and_non_hex() {
        assert_eq!(decode_lower::<2>(b"abcd"), Some([0xab, 0xcd]));
        assert_eq!(decode_lower::<2>(b"ABCD"), None);
        assert_eq!(decode_lower::<2>(b"abc"), None);
        assert_eq!(decode_lower::<2>(b"abcg"), None);
    }
}
