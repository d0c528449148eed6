//! Random edits of random logs are all reported: as damage, or as "not fully verified". The
//! one documented exception, a tail cut together with the local sidecar, is reported against
//! a witness the editor could not reach.

use proptest::prelude::*;
use telescope_log::audit::{verify_files, VerifyError};

use crate::support::{lines, options, write_lines, written_log};

#[derive(Debug, Clone)]
enum Edit {
    FlipBit { line: usize, offset: usize, bit: u8 },
    InsertMember { line: usize, after_chain: bool },
    DeleteLine { line: usize },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    CutHead { lines: usize },
    CutTail { lines: usize, with_sidecar: bool },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), 0u8..8).prop_map(|(line, offset, bit)| Edit::FlipBit {
            line,
            offset,
            bit
        }),
        (any::<usize>(), any::<bool>())
            .prop_map(|(line, after_chain)| Edit::InsertMember { line, after_chain }),
        any::<usize>().prop_map(|line| Edit::DeleteLine { line }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
        (1usize..20).prop_map(|lines| Edit::CutHead { lines }),
        (1usize..20, any::<bool>()).prop_map(|(lines, with_sidecar)| Edit::CutTail {
            lines,
            with_sidecar
        }),
    ]
}

/// Applies `edit` to the log's lines (and, for a tail cut with the sidecar, to the sidecar's:
/// the checkpoints past the new end go). Returns whether anything changed.
fn apply(edit: &Edit, log: &mut Vec<String>, sidecar: &mut Vec<String>) -> bool {
    let n = log.len();
    let before = log.clone();
    match *edit {
        Edit::FlipBit { line, offset, bit } => {
            let mut bytes = log[line % n].clone().into_bytes();
            let at = offset % bytes.len();
            bytes[at] ^= 1 << bit;
            // A flip into a newline would split the line: that is a different edit.
            if bytes[at] == b'\n' {
                return false;
            }
            log[line % n] = String::from_utf8_lossy(&bytes).into_owned();
        }
        Edit::InsertMember { line, after_chain } => {
            let text = &log[line % n];
            log[line % n] = if after_chain {
                format!("{},\"x\":1}}", &text[..text.len() - 1])
            } else {
                text.replacen(",\"chain\"", ",\"x\":1,\"chain\"", 1)
                    .replacen("}}", ",\"x\":1}}", usize::from(!text.contains("\"chain\"")))
            };
        }
        Edit::DeleteLine { line } => {
            log.remove(line % n);
        }
        Edit::DuplicateLine { line } => {
            let copy = log[line % n].clone();
            log.insert(line % n, copy);
        }
        Edit::SwapLines { a, b } => log.swap(a % n, b % n),
        Edit::CutHead { lines } => {
            log.drain(..lines.min(n - 1));
        }
        Edit::CutTail {
            lines,
            with_sidecar,
        } => {
            log.truncate(n - lines.min(n - 1));
            if with_sidecar {
                let last = log
                    .iter()
                    .rev()
                    .find_map(|l| {
                        l.strip_prefix("{\"seq\":")
                            .and_then(|rest| rest.split(',').next())
                            .and_then(|seq| seq.parse::<u64>().ok())
                    })
                    .unwrap_or(0);
                sidecar.retain(|line| {
                    line.split("\"seq\":")
                        .nth(1)
                        .and_then(|rest| rest.split(',').next())
                        .and_then(|seq| seq.parse::<u64>().ok())
                        .is_some_and(|seq| seq <= last)
                });
            }
        }
    }
    *log != before
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_edit_is_reported(records in 5u64..45, edit in edit()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = written_log(dir.path(), records);
        let sidecar_path = dir.path().join("checkpoints.jsonl");
        // A copy of every checkpoint, kept where the editor cannot reach.
        let witness = dir.path().join("witness.jsonl");
        std::fs::copy(&sidecar_path, &witness).expect("copy");
        let original = verify_files(std::slice::from_ref(&path), &options(dir.path()))
            .expect("the written log verifies");
        prop_assert!(original.fully_verified(), "{:?}", original.not_verified);

        let mut log = lines(&path);
        let mut sidecar = lines(&sidecar_path);
        prop_assume!(apply(&edit, &mut log, &mut sidecar));
        write_lines(&path, &log);
        write_lines(&sidecar_path, &sidecar);

        let outcome = verify_files(std::slice::from_ref(&path), &options(dir.path()));
        let reported = match &outcome {
            Err(VerifyError::Damaged(_) | VerifyError::KeyNeeded { .. }) => true,
            Ok(report) => !report.fully_verified(),
            Err(other) => panic!("verification failed to run: {other}"),
        };
        if let Edit::CutTail { with_sidecar: true, .. } = edit {
            // Documented: cutting the tail with the local sidecar passes the local check...
            let mut with_witness = options(dir.path());
            with_witness.checkpoint_files.push(witness);
            let against_witness = verify_files(std::slice::from_ref(&path), &with_witness);
            // ...and is caught against the witness (unless the cut only removed lines after the
            // last checkpoint's own line, which changes nothing the witness knows: then the
            // local check already reported it).
            prop_assert!(
                reported || against_witness.is_err(),
                "{edit:?}: {outcome:?} / {against_witness:?}"
            );
        } else {
            prop_assert!(reported, "{edit:?} went unreported: {outcome:?}");
        }
    }
}
