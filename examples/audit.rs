//! An audit trail for a login, an authorization decision and a data access, written through
//! both the typed API and `tracing` events, then verified.
//!
//! ```text
//! cargo run --example audit
//! ```

use std::time::Duration;

use telescope::logs::audit::{
    verify_files, AuditLayer, AuditLog, AuditRecord, CheckpointSink, Outcome, VerifyOptions,
};
use tracing_subscriber::layer::SubscriberExt;

/// Checks a password; the login is audited before the session is granted, and refused if the
/// audit record cannot be written (fail-closed).
fn login(audit: &AuditLog, user: &str, password: &str) -> Result<String, String> {
    let ok = password == "correct horse";
    let record = AuditRecord::new(
        "authentication",
        "login",
        if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        },
    )
    .actor(user)
    .resource("session")
    .source("198.51.100.23")
    .sensitive("password_attempt", password);
    match audit.record(record) {
        Ok(receipt) if ok => Ok(format!("session for {user} (audit #{})", receipt.seq)),
        Ok(_) => Err("wrong password".to_owned()),
        Err(error) => Err(format!("refused: cannot audit ({error})")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("telescope-audit-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("audit.jsonl");
    let checkpoints = dir.join("checkpoints.jsonl");
    let key = b"example key: keep the real one in a secret store".to_vec();
    let signing_secret = [7u8; 32];
    let audit = AuditLog::builder(&path)
        .service("billing")
        .key(key.clone())
        .signing_key(signing_secret)
        .checkpoints(3, Duration::from_secs(60))
        .checkpoint_sink(CheckpointSink::File(checkpoints.clone()))
        .open()?;

    println!("{:?}", login(&audit, "alice", "tr0ub4dor"));
    println!("{:?}", login(&audit, "alice", "correct horse"));

    // Authorization and data access, as tracing events with target "audit".
    let subscriber = tracing_subscriber::registry().with(AuditLayer::new(audit.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "audit", r#type = "authorization", action = "read", outcome = "success",
                       actor = "alice", resource = "/invoices/2026-11", role = "accountant");
        tracing::warn!(target: "audit", r#type = "authorization", action = "delete", outcome = "failure",
                       actor = "alice", resource = "/invoices/2026-11", "accountants cannot delete invoices");
        tracing::info!(target: "audit", r#type = "data_access", action = "export", outcome = "success",
                       actor = "alice", resource = "/invoices/2026-11", rows = 1204);
    });
    audit.shutdown();

    println!("\n{} :", path.display());
    print!("{}", std::fs::read_to_string(&path)?);

    let options = VerifyOptions {
        key: Some(key),
        public_key: Some(telescope::logs::audit::PublicKey::from_secret(
            &signing_secret,
        )),
        checkpoint_files: vec![checkpoints],
        allow_missing_head: false,
    };
    let report = verify_files(&[path], &options)?;
    println!(
        "\nverified: {} records, {} checkpoints, last sequence {}{}",
        report.records,
        report.checkpoints,
        report.last_seq,
        if report.fully_verified() {
            String::new()
        } else {
            format!("; not verified: {:?}", report.not_verified)
        }
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
