//! JSON string escaping straight into a byte buffer, so that any input yields valid JSON.
//!
//! Control characters (ANSI escapes included) and DEL are written as `\u00XX`, so a log line
//! can never move a terminal's cursor or colour it.

use std::fmt;

/// For each byte: 0 if it is written as is, `u` for `\u00XX`, or the letter after `\`.
static ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x7f] = b'u';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the 8 bytes in `chunk` needs escaping: below 0x20, `"`, `\\` or DEL.
/// (Bit tricks from "Bit Twiddling Hacks": a byte below n, a byte equal to b.)
fn chunk_needs_escape(chunk: u64) -> bool {
    let below_space = chunk.wrapping_sub(ONES * 0x20) & !chunk;
    let has = |byte: u8| {
        let x = chunk ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x
    };
    (below_space | has(b'"') | has(b'\\') | has(0x7f)) & HIGHS != 0
}

/// Appends `text` escaped for use inside a JSON string (without the quotes).
pub(crate) fn escape_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        // Skip 8 clean bytes at a time; most text has nothing to escape.
        if let Some(chunk) = bytes.get(index..index + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !chunk_needs_escape(u64::from_le_bytes(word)) {
                index += 8;
                continue;
            }
        }
        let byte = bytes[index];
        let escape = ESCAPES[usize::from(byte)];
        if escape != 0 {
            out.extend_from_slice(&bytes[start..index]);
            if escape == b'u' {
                out.extend_from_slice(b"\\u00");
                out.push(telescope_core::hex::digit(byte >> 4));
                out.push(telescope_core::hex::digit(byte));
            } else {
                out.push(b'\\');
                out.push(escape);
            }
            start = index + 1;
        }
        index += 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends the text that [`escape_into`] escaped as `escaped` back to `out`: the inverse of
/// `escape_into` (which writes only `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f` and
/// `\u00XX`). Anything else after a backslash is kept as it is.
pub(crate) fn unescape_into(bytes: &mut Vec<u8>, escaped: &[u8]) {
    let mut rest = escaped;
    // Runs without a backslash are copied whole.
    while let Some(slash) = rest.iter().position(|&byte| byte == b'\\') {
        bytes.extend_from_slice(&rest[..slash]);
        let Some(&letter) = rest.get(slash + 1) else {
            bytes.push(b'\\');
            return;
        };
        let mut after = slash + 2;
        let plain = match letter {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'u' => {
                let code = rest
                    .get(after..after + 4)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match code {
                    Some(code) => {
                        after += 4;
                        code
                    }
                    None => b'u',
                }
            }
            other => other,
        };
        bytes.push(plain);
        rest = &rest[after..];
    }
    bytes.extend_from_slice(rest);
}

/// Appends `text` as a quoted JSON string.
pub(crate) fn quoted_into(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    escape_into(out, text);
    out.push(b'"');
}

/// Returns `text` as a quoted JSON string.
pub(crate) fn quoted(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    quoted_into(&mut out, text);
    out
}

/// A `fmt::Write` that escapes as it appends, so `Debug` and `Display` output goes into the
/// line without an intermediate `String`.
pub(crate) struct EscapingWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for EscapingWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escape_into(self.0, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        String::from_utf8(quoted(text)).expect("escaping keeps UTF-8")
    }

    #[test]
    fn escapes_what_json_requires_and_terminal_controls() {
        assert_eq!(escaped("plain"), r#""plain""#);
        assert_eq!(escaped("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(escaped("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(escaped("\u{1b}[31mred\u{7f}"), r#""\u001b[31mred\u007f""#);
        assert_eq!(escaped("é ✓ 🦀"), "\"é ✓ 🦀\"");
    }

    #[test]
    fn the_word_scan_agrees_with_the_byte_table() {
        for byte in 0..=255u8 {
            for position in 0..8 {
                let mut word = [b'a'; 8];
                word[position] = byte;
                let expected = ESCAPES[usize::from(byte)] != 0;
                assert_eq!(
                    chunk_needs_escape(u64::from_le_bytes(word)),
                    expected,
                    "byte {byte:#x} at {position}"
                );
            }
        }
        // Every 8-byte mix of high bytes (UTF-8 continuation) and plain ASCII is clean.
        assert!(!chunk_needs_escape(u64::from_le_bytes(
            *b"\xc3\xa9 ok \xe2\x9c"
        )));
    }

    #[test]
    fn escapes_at_every_offset_of_long_text() {
        for offset in 0..20 {
            let mut text = "x".repeat(offset);
            text.push('"');
            text.push_str(&"y".repeat(20 - offset));
            let parsed: String = serde_json::from_str(&escaped(&text)).expect("valid JSON");
            assert_eq!(parsed, text);
        }
    }

    #[test]
    fn every_char_round_trips_through_a_json_parser() {
        let all: String = (0..0x800u32).filter_map(char::from_u32).collect();
        let parsed: String = serde_json::from_str(&escaped(&all)).expect("valid JSON");
        assert_eq!(parsed, all);
    }

    fn unescaped(escaped: &[u8]) -> String {
        let mut plain = Vec::new();
        unescape_into(&mut plain, escaped);
        String::from_utf8(plain).expect("unescaping escaped UTF-8 gives UTF-8")
    }

    #[test]
    fn unescaping_reads_back_every_escape_written() {
        let all: String = (0..0x800u32).filter_map(char::from_u32).collect();
        let mut out = Vec::new();
        escape_into(&mut out, &all);
        assert_eq!(unescaped(&out), all);
        // What escaping never writes is kept: a trailing backslash, an unknown escape, a short
        // or non-hex `\u`.
        assert_eq!(unescaped(br"a\"), "a\\");
        assert_eq!(unescaped(br"\q\u12\uzzzz"), "qu12uzzzz");
    }

    proptest::proptest! {
        #[test]
        fn any_text_round_trips_through_escape_and_unescape(text in "\\PC*|[\\x00-\\x7f]*") {
            let mut out = Vec::new();
            escape_into(&mut out, &text);
            proptest::prop_assert_eq!(unescaped(&out), text);
        }
    }
}
