//! Writes the demo backup shipped in `demo/`: a recovery key, a backup version and a
//! `GET /room_keys/keys` body of 1,000 synthetic sessions encrypted to it.
//!
//! Run: `cargo run -p backup-cipher --example make_demo_backup -- demo [SESSIONS]`
//! (also used to make large files for memory measurements).

use backup_cipher::{BackupDecryptionKey, BackupVersion, fixtures};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "demo".into());
    let n: usize = std::env::args().nth(2).map_or(Ok(1000), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let key = BackupDecryptionKey::generate()?;
    let mut version = BackupVersion::new(key.public_key());
    version.version = Some("1".into());
    version.count = Some(n as u64);
    version.etag = Some("1".into());
    let body = fixtures::synthetic_backup(key.public_key(), n, 2026);
    std::fs::write(
        format!("{dir}/recovery-key.txt"),
        format!("{}\n", key.to_recovery_key().to_base58_grouped().as_str()),
    )?;
    std::fs::write(
        format!("{dir}/backup-info.json"),
        serde_json::to_string_pretty(&version)? + "\n",
    )?;
    std::fs::write(
        format!("{dir}/backup.json"),
        serde_json::to_string(&body)? + "\n",
    )?;
    Ok(())
}
