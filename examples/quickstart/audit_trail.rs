//! The quickstart's audit trail: keyed (HMAC-SHA256) and signed (Ed25519 checkpoints), with
//! fresh keys written beside it, so that the printed `verify` command checks everything.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use telescope::logs::audit::{public_key_hex, AuditLog};

/// The open trail and where its pieces are.
pub(crate) struct Trail {
    pub(crate) log: AuditLog,
    pub(crate) path: PathBuf,
    key_file: PathBuf,
    public_key_file: PathBuf,
    checkpoints: PathBuf,
}

/// 32 bytes from the operating system's random source.
fn random_key() -> std::io::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

/// Writes `bytes` to a new file only its owner can read.
fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

/// Creates `dir` with fresh keys and opens `dir/audit.jsonl` with them.
pub(crate) fn open(dir: &Path) -> Result<Trail, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let key_file = dir.join("audit.key");
    let signing_key_file = dir.join("audit-signing.key");
    let public_key_file = dir.join("audit.pub");
    write_secret(&key_file, &random_key()?)?;
    write_secret(&signing_key_file, &random_key()?)?;
    std::fs::write(&public_key_file, public_key_hex(&signing_key_file)?)?;
    let path = dir.join("audit.jsonl");
    let log = AuditLog::builder(&path)
        .service("quickstart")
        .key_file(&key_file)?
        .signing_key_file(&signing_key_file)?
        .open()?;
    Ok(Trail {
        log,
        checkpoints: dir.join("audit.jsonl.checkpoints"),
        path,
        key_file,
        public_key_file,
    })
}

impl Trail {
    /// The command that verifies everything: chain with the key, signatures with the public
    /// key, and the checkpoints kept in the sidecar.
    pub(crate) fn verify_command(&self) -> String {
        format!(
            "cargo run -p telescope-log --bin telescope-audit -- verify --key-file {} --public-key {} --checkpoints {} {}",
            self.key_file.display(),
            self.public_key_file.display(),
            self.checkpoints.display(),
            self.path.display()
        )
    }
}
