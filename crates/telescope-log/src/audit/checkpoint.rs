//! Checkpoints: the chain's head at a sequence number, optionally signed with Ed25519, written
//! into the log and into a second sink so that a cut tail or a replaced file shows.

use std::time::SystemTime;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use super::chain::{from_hex, to_hex, ChainValue};

/// A checkpoint as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checkpoint {
    pub(crate) seq: u64,
    pub(crate) count: u64,
    pub(crate) head: ChainValue,
    pub(crate) time: String,
    pub(crate) signature: Option<[u8; 64]>,
}

impl Checkpoint {
    pub(crate) fn new(
        seq: u64,
        count: u64,
        head: ChainValue,
        time: SystemTime,
        key: Option<&SigningKey>,
    ) -> Self {
        let mut checkpoint = Self {
            seq,
            count,
            head,
            time: telescope_core::time::rfc3339(time),
            signature: None,
        };
        checkpoint.signature =
            key.map(|key| key.sign(checkpoint.signed_text().as_bytes()).to_bytes());
        checkpoint
    }

    /// What the signature covers.
    fn signed_text(&self) -> String {
        format!(
            "telescope-audit checkpoint v1\nseq {}\ncount {}\nhead {}\ntime {}\n",
            self.seq,
            self.count,
            to_hex(&self.head),
            self.time
        )
    }

    /// Whether the signature is present and valid for `key`.
    pub(crate) fn signed_by(&self, key: &VerifyingKey) -> bool {
        self.signature.is_some_and(|bytes| {
            key.verify(
                self.signed_text().as_bytes(),
                &Signature::from_bytes(&bytes),
            )
            .is_ok()
        })
    }

    /// The JSON line (with its newline).
    pub(crate) fn line(&self) -> String {
        let signature = self
            .signature
            .map(|s| format!(",\"signature\":\"{}\"", to_hex(&s)))
            .unwrap_or_default();
        format!(
            "{{\"checkpoint\":{{\"seq\":{},\"count\":{},\"head\":\"{}\",\"time\":\"{}\"{signature}}}}}\n",
            self.seq,
            self.count,
            to_hex(&self.head),
            self.time
        )
    }

    /// Parses the object under `"checkpoint"`.
    pub(crate) fn from_json(value: &serde_json::Value) -> Option<Self> {
        Some(Self {
            seq: value.get("seq")?.as_u64()?,
            count: value.get("count")?.as_u64()?,
            head: from_hex(value.get("head")?.as_str()?)?,
            time: value.get("time")?.as_str()?.to_owned(),
            signature: match value.get("signature") {
                None => None,
                Some(signature) => Some(from_hex(signature.as_str()?)?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_every_field() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let checkpoint = Checkpoint::new(10, 10, [3; 32], SystemTime::UNIX_EPOCH, Some(&key));
        assert!(checkpoint.signed_by(&key.verifying_key()));
        let parsed: serde_json::Value =
            serde_json::from_str(checkpoint.line().trim()).expect("JSON");
        let reparsed = Checkpoint::from_json(&parsed["checkpoint"]).expect("parses");
        assert_eq!(reparsed, checkpoint);
        let mut forged = checkpoint.clone();
        forged.seq = 11;
        assert!(!forged.signed_by(&key.verifying_key()));
        assert!(!checkpoint.signed_by(&SigningKey::from_bytes(&[8; 32]).verifying_key()));
    }
}
