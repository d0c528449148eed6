//! Verifying audit files: the exact bytes of every line, the chain (through rotation links),
//! the sequence, checkpoints and their signatures, and what could not be verified.

mod lines;
mod ordered;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::chain::{ChainValue, Chainer, GENESIS};
use super::checkpoint::Checkpoint;
use lines::{parse_line, Entry};

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
    /// No key was given and the chain does not verify as plain SHA-256 from its first value
    /// on: the log was written with an HMAC key (or that first line was modified).
    #[error("the chain does not verify without a key from sequence {seq} on: the log is keyed (give the key) or that record was modified")]
    KeyNeeded {
        /// Where the first check failed.
        seq: u64,
    },
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

/// A check the verifier could not make, or records it could not cover. A verification that
/// found no damage but has any of these is not a plain "ok": the command-line verifier exits
/// with status 3 and prints each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotVerified {
    /// No HMAC key given: the chain was checked as plain SHA-256, which anyone who can write
    /// the files can recompute. Integrity against accidents only.
    UnkeyedChain,
    /// The checkpoints are signed, but no public key was given to check the signatures.
    SignaturesNotChecked,
    /// No public key given and the checkpoints are unsigned: anyone can write them.
    UnsignedCheckpoints,
    /// No checkpoints kept elsewhere were given (`--checkpoints`): cutting the tail of the
    /// log together with its in-file checkpoints would not show.
    NoWitness,
    /// These records come after the last checkpoint that was verified: cutting them would not
    /// show.
    TailNotCovered {
        /// The first record not covered.
        from: u64,
        /// The last record.
        to: u64,
    },
    /// The files start after sequence 1 (older files removed, allowed with
    /// [`VerifyOptions::allow_missing_head`]): the records before `first` were not verified.
    MissingHead {
        /// The first sequence number in the files.
        first: u64,
    },
    /// Checkpoints kept elsewhere refer to records older than the files given.
    CheckpointsBeforeFiles {
        /// How many.
        count: u64,
    },
}

impl fmt::Display for NotVerified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotVerified::UnkeyedChain => f.write_str(
                "no HMAC key: the chain is plain SHA-256, integrity against accidents only (anyone who can write the files can recompute it)",
            ),
            NotVerified::SignaturesNotChecked => {
                f.write_str("checkpoint signatures not checked: no public key given")
            }
            NotVerified::UnsignedCheckpoints => f.write_str(
                "checkpoints are unsigned and no public key was given: anyone can write them",
            ),
            NotVerified::NoWitness => f.write_str(
                "no checkpoints kept elsewhere given (--checkpoints): a tail cut together with the in-file checkpoints would not show",
            ),
            NotVerified::TailNotCovered { from, to } => write!(
                f,
                "records {from} to {to} come after the last verified checkpoint: cutting them would not show"
            ),
            NotVerified::MissingHead { first } => write!(
                f,
                "the files start at sequence {first}: records before it were not verified"
            ),
            NotVerified::CheckpointsBeforeFiles { count } => write!(
                f,
                "{count} checkpoints refer to records older than the files given"
            ),
        }
    }
}

/// What a verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records whose chain values verified.
    pub records: u64,
    /// Distinct checkpoints that matched the chain (and their signature, with a public key).
    pub checkpoints: u64,
    /// The last sequence number (0 for an empty log).
    pub last_seq: u64,
    /// What could not be verified; empty when everything was.
    pub not_verified: Vec<NotVerified>,
    pub(crate) last_chain: ChainValue,
}

impl VerifyReport {
    /// Whether every check was made and every record is covered by a verified checkpoint.
    pub fn fully_verified(&self) -> bool {
        self.not_verified.is_empty()
    }
}

/// What to verify against.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The HMAC key the log was written with (none: plain SHA-256 chain).
    pub key: Option<Vec<u8>>,
    /// With a public key, every checkpoint must carry a valid signature.
    pub public_key: Option<super::PublicKey>,
    /// Checkpoints kept elsewhere (the second sink, a witness), one JSON line each.
    pub checkpoint_files: Vec<PathBuf>,
    /// Accept files that start after sequence 1 (older files removed by retention): reported
    /// as [`NotVerified::MissingHead`]. Without it such a set is [`Damage::Deleted`] at 1.
    pub allow_missing_head: bool,
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

/// Where the chain stands while the entries are walked.
struct Walk<'o> {
    chainer: Chainer,
    options: &'o VerifyOptions,
    /// The chain value after the last verified entry; `None` before the first.
    previous: Option<ChainValue>,
    /// The last sequence number verified (0 before any).
    last_seq: u64,
    first_seq: Option<u64>,
    records: u64,
    /// Chain values after each sequence number: the record's, and a link's after it.
    heads: HashMap<u64, Vec<ChainValue>>,
    not_verified: Vec<NotVerified>,
    /// Whether a chain value has been checked yet (an unkeyed check failing on the very first
    /// one may mean the log is keyed).
    checked_any: bool,
}

impl Walk<'_> {
    fn check_chain(
        &mut self,
        previous: &ChainValue,
        body: &[u8],
        chain: &ChainValue,
        seq: u64,
    ) -> Result<(), VerifyError> {
        if self.chainer.next(previous, body) == *chain {
            self.checked_any = true;
            return Ok(());
        }
        if self.options.key.is_none() && !self.checked_any {
            return Err(VerifyError::KeyNeeded { seq });
        }
        Err(VerifyError::Damaged(Damage::Modified { seq }))
    }

    /// Starts the walk at a file set's first chained entry after sequence 1.
    fn missing_head(&mut self, first: u64) -> Result<(), VerifyError> {
        if !self.options.allow_missing_head {
            return Err(VerifyError::Damaged(Damage::Deleted { seq: 1 }));
        }
        self.not_verified.push(NotVerified::MissingHead { first });
        Ok(())
    }

    fn link(
        &mut self,
        seq: u64,
        head: &ChainValue,
        body: &[u8],
        chain: &ChainValue,
    ) -> Result<(), VerifyError> {
        match self.previous {
            None => {
                if seq > 0 {
                    self.missing_head(seq + 1)?;
                } else if *head != GENESIS {
                    return Err(VerifyError::Damaged(Damage::Modified { seq: 1 }));
                }
                self.last_seq = seq;
            }
            Some(previous) => {
                if seq != self.last_seq {
                    return Err(VerifyError::Damaged(if seq > self.last_seq {
                        Damage::Deleted {
                            seq: self.last_seq + 1,
                        }
                    } else {
                        Damage::Inserted { seq: seq + 1 }
                    }));
                }
                if *head != previous {
                    return Err(VerifyError::Damaged(Damage::Modified { seq: seq + 1 }));
                }
            }
        }
        self.check_chain(head, body, chain, seq + 1)?;
        self.previous = Some(*chain);
        // After record `seq` the chain stood at `head` (which the link's own chain value
        // vouches for), then at the link's value: a checkpoint may name either.
        let heads = self.heads.entry(seq).or_default();
        heads.push(*head);
        heads.push(*chain);
        Ok(())
    }

    fn record(
        &mut self,
        seq: u64,
        body: &[u8],
        chain: &ChainValue,
        later: impl Fn(u64) -> bool,
    ) -> Result<(), VerifyError> {
        let previous = match self.previous {
            Some(previous) => previous,
            None if seq == 1 => GENESIS,
            None => {
                // The head is gone and no link says where the chain stood: this record's
                // chain value is taken as given.
                self.missing_head(seq)?;
                self.previous = Some(*chain);
                self.last_seq = seq;
                self.first_seq = Some(seq);
                self.heads.entry(seq).or_default().push(*chain);
                return Ok(());
            }
        };
        let next = self.last_seq + 1;
        if seq < next {
            return Err(VerifyError::Damaged(Damage::Inserted { seq }));
        }
        if seq > next {
            return Err(VerifyError::Damaged(if later(next) {
                Damage::Reordered { seq: next }
            } else {
                Damage::Deleted { seq: next }
            }));
        }
        self.check_chain(&previous, body, chain, seq)?;
        self.previous = Some(*chain);
        self.last_seq = seq;
        self.first_seq.get_or_insert(seq);
        self.records += 1;
        self.heads.entry(seq).or_default().push(*chain);
        Ok(())
    }
}

/// Verifies `files` (oldest first; the chain continues across them through their link lines)
/// and reports the first damage found, or what was verified and what could not be.
///
/// # Errors
/// [`VerifyError::Damaged`] with the kind and the first bad sequence number,
/// [`VerifyError::KeyNeeded`] when the chain does not verify without a key from its first
/// record on, or [`VerifyError::Read`].
pub fn verify_files(
    files: &[PathBuf],
    options: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let mut entries = Vec::new();
    for file in files {
        entries.extend(read_entries(file)?);
    }
    let mut walk = Walk {
        chainer: Chainer::new(options.key.clone()),
        options,
        previous: None,
        last_seq: 0,
        first_seq: None,
        records: 0,
        heads: HashMap::new(),
        not_verified: Vec::new(),
        checked_any: false,
    };
    let record_at: Vec<(u64, usize)> = entries
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| match entry {
            Entry::Record { seq, .. } => Some((*seq, index)),
            _ => None,
        })
        .collect();
    let mut in_file = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match entry {
            Entry::Checkpoint(checkpoint) => {
                // The writer puts a checkpoint right after the records it covers, once.
                let repeated = in_file
                    .last()
                    .is_some_and(|last: &Checkpoint| last.seq >= checkpoint.seq);
                if checkpoint.seq > walk.last_seq {
                    // The records it covers are not all before it.
                    return Err(VerifyError::Damaged(Damage::Deleted {
                        seq: walk.last_seq + 1,
                    }));
                }
                if checkpoint.seq < walk.last_seq || repeated {
                    return Err(VerifyError::Damaged(Damage::Inserted {
                        seq: checkpoint.seq,
                    }));
                }
                in_file.push(checkpoint.clone());
            }
            Entry::Link {
                seq,
                head,
                body,
                chain,
            } => walk.link(*seq, head, body, chain)?,
            Entry::Bad { torn } => {
                let seq = walk.last_seq + 1;
                return Err(VerifyError::Damaged(if *torn {
                    Damage::Truncated { seq }
                } else {
                    Damage::Modified { seq }
                }));
            }
            Entry::Record { seq, body, chain } => {
                let later = |wanted: u64| record_at.iter().any(|(s, i)| *s == wanted && *i > index);
                walk.record(*seq, body, chain, later)?;
            }
        }
    }
    let mut witnessed = Vec::new();
    for file in &options.checkpoint_files {
        for entry in read_entries(file)? {
            match entry {
                Entry::Checkpoint(checkpoint) => witnessed.push(checkpoint),
                // A witness holds checkpoints only; anything else there is not trusted.
                _ => return Err(VerifyError::Damaged(Damage::Modified { seq: 0 })),
            }
        }
    }
    check_checkpoints(&mut walk, in_file, witnessed)
}

/// Matches every checkpoint (in the files and kept elsewhere, each counted once) against the
/// chain, and works out what the verification could not cover.
// One function (~90 lines): each checkpoint is matched against the chain once, and the
// cases (in the file, witnessed elsewhere, both, signed or not) are read best side by side.
fn check_checkpoints(
    walk: &mut Walk<'_>,
    in_file: Vec<Checkpoint>,
    witnessed: Vec<Checkpoint>,
) -> Result<VerifyReport, VerifyError> {
    let options = walk.options;
    let damaged = |damage| Err(VerifyError::Damaged(damage));
    let first = walk.first_seq.unwrap_or(walk.last_seq + 1);
    let mut all: Vec<Checkpoint> = in_file.iter().chain(&witnessed).cloned().collect();
    all.sort_by_key(|checkpoint| (checkpoint.seq, checkpoint.head, checkpoint.signature));
    all.dedup();
    let mut matched = 0u64;
    let mut before_files = 0u64;
    let mut covered_until = walk.first_seq.map_or(walk.last_seq, |first| first - 1);
    for checkpoint in &all {
        if let Some(public_key) = &options.public_key {
            if !checkpoint.signed_by(public_key.verifying_key()) {
                return damaged(Damage::BadSignature {
                    seq: checkpoint.seq,
                });
            }
        }
        // The writer counts every record it numbered.
        if checkpoint.count != checkpoint.seq {
            return damaged(Damage::Modified {
                seq: checkpoint.seq,
            });
        }
        if checkpoint.seq > walk.last_seq {
            return damaged(Damage::Truncated {
                seq: walk.last_seq + 1,
            });
        }
        match walk.heads.get(&checkpoint.seq) {
            Some(heads) if heads.contains(&checkpoint.head) => {
                matched += 1;
                covered_until = covered_until.max(checkpoint.seq);
            }
            Some(_) => {
                return damaged(Damage::Modified {
                    seq: checkpoint.seq,
                })
            }
            None if checkpoint.seq < first => before_files += 1,
            None => {
                return damaged(Damage::Deleted {
                    seq: checkpoint.seq,
                })
            }
        }
    }
    // A checkpoint is published elsewhere only once it is in the file: one kept elsewhere for
    // records in the files must be there too (its line was deleted otherwise).
    if let Some(missing) = witnessed.iter().find(|checkpoint| {
        (first..=walk.last_seq).contains(&checkpoint.seq) && !in_file.contains(checkpoint)
    }) {
        return damaged(Damage::Deleted { seq: missing.seq });
    }
    let not_verified = &mut walk.not_verified;
    if options.key.is_none() {
        not_verified.push(NotVerified::UnkeyedChain);
    }
    if options.public_key.is_none() {
        not_verified.push(if all.iter().any(|c| c.signature.is_some()) {
            NotVerified::SignaturesNotChecked
        } else {
            NotVerified::UnsignedCheckpoints
        });
    }
    if options.checkpoint_files.is_empty() {
        not_verified.push(NotVerified::NoWitness);
    }
    if covered_until < walk.last_seq {
        not_verified.push(NotVerified::TailNotCovered {
            from: covered_until + 1,
            to: walk.last_seq,
        });
    }
    if before_files > 0 {
        not_verified.push(NotVerified::CheckpointsBeforeFiles {
            count: before_files,
        });
    }
    Ok(VerifyReport {
        records: walk.records,
        checkpoints: matched,
        last_seq: walk.last_seq,
        not_verified: std::mem::take(not_verified),
        last_chain: walk.previous.unwrap_or(GENESIS),
    })
}
