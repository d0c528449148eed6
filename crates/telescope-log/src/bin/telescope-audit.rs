//! `telescope-audit verify [--key-file F] [--public-key P] [--checkpoints C]
//! [--allow-missing-head] FILES...`
//!
//! Verifies audit files written by telescope. Exit status:
//! - 0: every line is exactly as written, the chain holds with the key, every checkpoint is
//!   signed and matches, a witness (`--checkpoints`) was given, and every record is covered
//!   by a verified checkpoint;
//! - 1: damage: the first bad sequence number and its kind (modified, deleted, inserted,
//!   reordered, truncated, bad signature);
//! - 2: a usage or I/O error;
//! - 3: no damage found, but not everything could be verified: each gap is printed (no key,
//!   no public key, no witness, records after the last checkpoint, a missing head).
//!
//! `telescope-audit public-key SIGNING_KEY_FILE` prints the public key for a signing key.

use std::path::PathBuf;
use std::process::ExitCode;

use telescope_log::audit::{public_key_hex, verify_files, PublicKey, VerifyError, VerifyOptions};

const USAGE: &str = "usage: telescope-audit verify [--key-file F] [--public-key P] [--checkpoints C] [--allow-missing-head] FILES...
       telescope-audit public-key SIGNING_KEY_FILE

verify: checks audit files (oldest first) written by telescope.
  --key-file F          the HMAC key the log was written with
  --public-key P        the Ed25519 public key (hex) its checkpoints are signed with
  --checkpoints C       checkpoints kept elsewhere (a witness); may be repeated
  --allow-missing-head  accept files that start after sequence 1 (older files removed)
exit status: 0 fully verified, 1 damaged, 2 usage or I/O error, 3 not everything verified";

fn fail(message: &str) -> ExitCode {
    eprintln!("telescope-audit: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("verify") if args[1..].iter().any(|a| a == "--help" || a == "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("verify") => verify(&args[1..]),
        Some("public-key") => match args.get(1) {
            Some(path) => match public_key_hex(path.as_ref()) {
                Ok(hex) => {
                    println!("{hex}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error.to_string()),
            },
            None => fail(USAGE),
        },
        _ => fail(USAGE),
    }
}

fn verify(args: &[String]) -> ExitCode {
    let mut options = VerifyOptions::default();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |flag: &str| rest.next().ok_or_else(|| format!("{flag} needs a value"));
        let step = match arg.as_str() {
            "--key-file" => value(arg)
                .and_then(|path| {
                    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
                })
                .map(|key| options.key = Some(key)),
            "--public-key" => value(arg)
                .and_then(|path| PublicKey::read(path.as_ref()).map_err(|e| e.to_string()))
                .map(|key| options.public_key = Some(key)),
            "--checkpoints" => {
                value(arg).map(|path| options.checkpoint_files.push(PathBuf::from(path)))
            }
            "--allow-missing-head" => {
                options.allow_missing_head = true;
                Ok(())
            }
            flag if flag.starts_with("--") => Err(format!("unknown option {flag}\n{USAGE}")),
            file => {
                files.push(PathBuf::from(file));
                Ok(())
            }
        };
        if let Err(message) = step {
            return fail(&message);
        }
    }
    if files.is_empty() {
        return fail(USAGE);
    }
    match verify_files(&files, &options) {
        Ok(report) if report.fully_verified() => {
            println!(
                "ok: {} records and {} checkpoints verified (last sequence {})",
                report.records, report.checkpoints, report.last_seq
            );
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!(
                "NOT FULLY VERIFIED: no damage found in {} records and {} checkpoints (last sequence {}), but:",
                report.records, report.checkpoints, report.last_seq
            );
            for gap in &report.not_verified {
                println!("  - {gap}");
            }
            ExitCode::from(3)
        }
        Err(VerifyError::Damaged(damage)) => {
            println!("DAMAGED: {} at sequence {}", damage.kind(), damage.seq());
            ExitCode::FAILURE
        }
        Err(error @ VerifyError::KeyNeeded { .. }) => {
            println!("NOT VERIFIED: {error}");
            ExitCode::from(3)
        }
        Err(error) => fail(&error.to_string()),
    }
}
