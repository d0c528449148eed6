//! Verifying audit files: the chain, the sequence, checkpoints and their signatures.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use super::chain::{from_hex, ChainValue, Chainer, GENESIS};
use super::checkpoint::Checkpoint;

/// The kind of damage the verifier found, with the first bad sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// A record's content (or a checkpointed head) does not match its chain value.
    Modified {
        /// The first bad sequence number.
        seq: u64,
    },
    /// Records are missing: the sequence jumps and the missing number appears nowhere.
    Deleted {
        /// The first missing sequence number.
        seq: u64,
    },
    /// A record with an already-used sequence number appears again.
    Inserted {
        /// Its sequence number.
        seq: u64,
    },
    /// Records are out of order.
    Reordered {
        /// The first sequence number found out of place.
        seq: u64,
    },
    /// The log ends before a checkpoint says it should (or its last line is cut).
    Truncated {
        /// The first missing sequence number.
        seq: u64,
    },
    /// A checkpoint's signature is missing or does not verify with the public key.
    BadSignature {
        /// The checkpoint's sequence number.
        seq: u64,
    },
}

impl Damage {
    /// The first bad sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Damage::Modified { seq }
            | Damage::Deleted { seq }
            | Damage::Inserted { seq }
            | Damage::Reordered { seq }
            | Damage::Truncated { seq }
            | Damage::BadSignature { seq } => *seq,
        }
    }

    /// `modified`, `deleted`, `inserted`, `reordered`, `truncated` or `bad signature`.
    pub fn kind(&self) -> &'static str {
        match self {
            Damage::Modified { .. } => "modified",
            Damage::Deleted { .. } => "deleted",
            Damage::Inserted { .. } => "inserted",
            Damage::Reordered { .. } => "reordered",
            Damage::Truncated { .. } => "truncated",
            Damage::BadSignature { .. } => "bad signature",
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at sequence {}", self.kind(), self.seq())
    }
}

/// Why verification could not finish, or what it found.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The log is damaged.
    #[error("audit log damaged: {0}")]
    Damaged(Damage),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records whose chain values verified.
    pub records: u64,
    /// Checkpoints that matched the chain (and their signature, with a public key).
    pub checkpoints: u64,
    /// The last sequence number (0 for an empty log).
    pub last_seq: u64,
    pub(crate) last_chain: ChainValue,
}

/// What to verify against.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The HMAC key the log was written with (none: plain SHA-256 chain).
    pub key: Option<Vec<u8>>,
    /// With a public key, every checkpoint must carry a valid signature.
    pub public_key: Option<VerifyingKey>,
    /// Checkpoints kept elsewhere (the second sink), one JSON line each.
    pub checkpoint_files: Vec<PathBuf>,
}

/// One line of an audit file.
enum Entry {
    Record {
        seq: u64,
        body: Vec<u8>,
        chain: ChainValue,
    },
    Checkpoint(Checkpoint),
    Link {
        seq: u64,
        head: ChainValue,
    },
    /// Not a valid line; `torn` when it is the last one and has no newline.
    Bad {
        torn: bool,
    },
}

fn parse_line(line: &[u8]) -> Entry {
    let bad = Entry::Bad { torn: false };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
        return bad;
    };
    if let Some(checkpoint) = value.get("checkpoint") {
        return Checkpoint::from_json(checkpoint).map_or(bad, Entry::Checkpoint);
    }
    if let Some(link) = value.get("link") {
        let parsed = (|| {
            Some((
                link.get("seq")?.as_u64()?,
                from_hex(link.get("head")?.as_str()?)?,
            ))
        })();
        return parsed.map_or(bad, |(seq, head)| Entry::Link { seq, head });
    }
    // A record: its body is the line up to the chain member, which comes last.
    let marker = b",\"chain\":\"";
    let (Some(seq), Some(position)) = (
        value.get("seq").and_then(serde_json::Value::as_u64),
        line.windows(marker.len()).rposition(|w| w == marker),
    ) else {
        return bad;
    };
    let Some(chain) = value
        .get("chain")
        .and_then(|c| c.as_str())
        .and_then(from_hex)
    else {
        return bad;
    };
    Entry::Record {
        seq,
        body: line[..position].to_vec(),
        chain,
    }
}

fn read_entries(path: &Path) -> Result<Vec<Entry>, VerifyError> {
    let bytes = std::fs::read(path).map_err(|source| VerifyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let ends_cleanly = bytes.is_empty() || bytes.ends_with(b"\n");
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if ends_cleanly {
        lines.pop();
    }
    let count = lines.len();
    Ok(lines
        .into_iter()
        .enumerate()
        .map(|(index, line)| match parse_line(line) {
            Entry::Bad { .. } => Entry::Bad {
                torn: !ends_cleanly && index + 1 == count,
            },
            entry => entry,
        })
        .collect())
}

/// Verifies `files` (oldest first; the chain continues across them) and reports the first
/// damage found.
///
/// # Errors
/// [`VerifyError::Damaged`] with the kind and the first bad sequence number, or
/// [`VerifyError::Read`].
pub fn verify_files(
    files: &[PathBuf],
    options: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let chainer = Chainer::new(options.key.clone());
    let mut entries = Vec::new();
    for file in files {
        entries.extend(read_entries(file)?);
    }
    let mut checkpoints: Vec<Checkpoint> = entries
        .iter()
        .filter_map(|e| {
            if let Entry::Checkpoint(c) = e {
                Some(c.clone())
            } else {
                None
            }
        })
        .collect();
    for file in &options.checkpoint_files {
        for entry in read_entries(file)? {
            if let Entry::Checkpoint(checkpoint) = entry {
                checkpoints.push(checkpoint);
            }
        }
    }
    let wanted: HashSet<u64> = checkpoints.iter().map(|c| c.seq).collect();
    let damaged = |damage| Err(VerifyError::Damaged(damage));

    let records: Vec<(u64, usize)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            if let Entry::Record { seq, .. } = e {
                Some((*seq, i))
            } else {
                None
            }
        })
        .collect();
    let mut previous = GENESIS;
    let mut expected: Option<u64> = None;
    let mut verified = 0u64;
    let mut first_verified: Option<u64> = None;
    let mut heads: HashMap<u64, ChainValue> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        match entry {
            Entry::Checkpoint(_) => {}
            Entry::Link { seq, head } => match expected {
                // A later file: its link must continue the chain just verified.
                Some(next) if next != seq + 1 => {
                    return damaged(if seq + 1 > next {
                        Damage::Deleted { seq: next }
                    } else {
                        Damage::Inserted { seq: seq + 1 }
                    })
                }
                Some(_) if *head != previous => return damaged(Damage::Modified { seq: seq + 1 }),
                Some(_) => {}
                None => {
                    previous = *head;
                    expected = Some(seq + 1);
                }
            },
            Entry::Bad { torn } => {
                let seq = expected.unwrap_or(1);
                return damaged(if *torn {
                    Damage::Truncated { seq }
                } else {
                    Damage::Modified { seq }
                });
            }
            Entry::Record { seq, body, chain } => {
                let next = expected.unwrap_or(1);
                if *seq < next {
                    return damaged(Damage::Inserted { seq: *seq });
                }
                if *seq > next {
                    let comes_later = records.iter().any(|(s, i)| *s == next && *i > index);
                    return damaged(if comes_later {
                        Damage::Reordered { seq: next }
                    } else {
                        Damage::Deleted { seq: next }
                    });
                }
                let computed = chainer.next(&previous, body);
                if computed != *chain {
                    return damaged(Damage::Modified { seq: *seq });
                }
                previous = computed;
                expected = Some(next + 1);
                verified += 1;
                first_verified.get_or_insert(*seq);
                if wanted.contains(seq) {
                    heads.insert(*seq, computed);
                }
            }
        }
    }
    let last_seq = expected.map_or(0, |next| next - 1);
    let mut matched = 0u64;
    checkpoints.sort_by_key(|c| c.seq);
    for checkpoint in &checkpoints {
        if checkpoint.seq > last_seq {
            return damaged(Damage::Truncated { seq: last_seq + 1 });
        }
        if let Some(public_key) = &options.public_key {
            if !checkpoint.signed_by(public_key) {
                return damaged(Damage::BadSignature {
                    seq: checkpoint.seq,
                });
            }
        }
        match heads.get(&checkpoint.seq) {
            Some(head) if *head != checkpoint.head => {
                return damaged(Damage::Modified {
                    seq: checkpoint.seq,
                })
            }
            Some(_) => matched += 1,
            // Older than the files given: nothing to compare with.
            None => {}
        }
    }
    Ok(VerifyReport {
        records: verified,
        checkpoints: matched,
        last_seq,
        last_chain: previous,
    })
}
