//! The hash chain: each record's chain value covers the previous one and the record's bytes.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A chain value.
pub(crate) type ChainValue = [u8; 32];

/// The value before the first record.
pub(crate) const GENESIS: ChainValue = [0; 32];

/// Computes chain values: HMAC-SHA256 with the key when there is one, plain SHA-256
/// otherwise (which anyone can recompute, so it detects accidents and careless edits but not
/// a forger who rewrites the whole file; checkpoints kept elsewhere close that gap).
#[derive(Clone)]
pub(crate) struct Chainer {
    key: Option<Vec<u8>>,
}

impl std::fmt::Debug for Chainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chainer")
            .field("keyed", &self.key.is_some())
            .finish()
    }
}

impl Chainer {
    pub(crate) fn new(key: Option<Vec<u8>>) -> Self {
        Self { key }
    }

    pub(crate) fn next(&self, previous: &ChainValue, body: &[u8]) -> ChainValue {
        match &self.key {
            Some(key) => {
                // HMAC accepts keys of any length.
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
                mac.update(previous);
                mac.update(body);
                mac.finalize().into_bytes().into()
            }
            None => {
                let mut hash = Sha256::new();
                hash.update(previous);
                hash.update(body);
                hash.finalize().into()
            }
        }
    }

    /// The stored form of a sensitive value: `hmac-sha256:<hex>` (or `sha256:<hex>` without a
    /// key).
    pub(crate) fn hash_value(&self, value: &str) -> String {
        match &self.key {
            Some(key) => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
                mac.update(b"telescope-audit sensitive value\0");
                mac.update(value.as_bytes());
                format!("hmac-sha256:{}", to_hex(&mac.finalize().into_bytes()))
            }
            None => format!("sha256:{}", to_hex(&Sha256::digest(value.as_bytes()))),
        }
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    telescope_core::hex::encode(bytes)
}

pub(crate) fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.trim().as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        *slot = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_plain_chains_differ_and_depend_on_both_inputs() {
        let plain = Chainer::new(None);
        let keyed = Chainer::new(Some(b"k".to_vec()));
        let a = plain.next(&GENESIS, b"record");
        assert_ne!(a, keyed.next(&GENESIS, b"record"));
        assert_ne!(a, plain.next(&a, b"record"));
        assert_ne!(a, plain.next(&GENESIS, b"recorD"));
        assert_eq!(from_hex::<32>(&to_hex(&a)), Some(a));
        assert!(keyed.hash_value("x").starts_with("hmac-sha256:"));
        assert_ne!(
            keyed.hash_value("x"),
            Chainer::new(Some(b"other".to_vec())).hash_value("x")
        );
    }
}
