//! `telescope-audit verify [--key-file F] [--public-key P] [--checkpoints C] FILES...`
//!
//! Verifies audit files written by telescope: exits 0 and says how many records and
//! checkpoints it verified, or exits 1 naming the first bad sequence number and the kind of
//! damage (modified, deleted, inserted, reordered, truncated, bad signature). Exit 2 is a
//! usage or I/O error. `telescope-audit public-key SIGNING_KEY_FILE` prints the public key for
//! a signing key.

use std::path::PathBuf;
use std::process::ExitCode;

use telescope_log::audit::{
    public_key_hex, read_public_key, verify_files, VerifyError, VerifyOptions,
};

const USAGE: &str = "usage: telescope-audit verify [--key-file F] [--public-key P] [--checkpoints C] FILES...\n       telescope-audit public-key SIGNING_KEY_FILE";

fn fail(message: &str) -> ExitCode {
    eprintln!("telescope-audit: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
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
                .and_then(|path| read_public_key(path.as_ref()).map_err(|e| e.to_string()))
                .map(|key| options.public_key = Some(key)),
            "--checkpoints" => {
                value(arg).map(|path| options.checkpoint_files.push(PathBuf::from(path)))
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
        Ok(report) => {
            println!(
                "ok: {} records and {} checkpoints verified (last sequence {})",
                report.records, report.checkpoints, report.last_seq
            );
            ExitCode::SUCCESS
        }
        Err(VerifyError::Damaged(damage)) => {
            println!("DAMAGED: {} at sequence {}", damage.kind(), damage.seq());
            ExitCode::FAILURE
        }
        Err(error) => fail(&error.to_string()),
    }
}
