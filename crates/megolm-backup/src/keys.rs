//! Turning what a user typed or saved into a backup key.

use backup_cipher::{BackupDecryptionKey, BackupVersion};
use recovery_key::RecoveryKey;

use crate::Fatal;

/// Reads a backup key given as a recovery key (any whitespace) or as base64 of 32 bytes.
pub(crate) fn backup_key_from_text(text: &str) -> Result<BackupDecryptionKey, Fatal> {
    let trimmed = text.trim();
    match RecoveryKey::from_base58(trimmed) {
        Ok(k) => Ok(BackupDecryptionKey::from_recovery_key(&k)),
        Err(rk_err) => {
            // 43/44 base64 characters of 32 bytes is the other accepted form.
            if let Ok(k) = BackupDecryptionKey::from_base64(trimmed) {
                return Ok(k);
            }
            Err(Fatal::new(format!(
                "the key file holds neither a recovery key nor base64 of a 32-byte key: {rk_err}"
            )))
        }
    }
}

/// Reads a backup version (`GET /room_keys/version` body) from a file.
pub(crate) fn read_backup_info(path: &std::path::Path) -> Result<BackupVersion, Fatal> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fatal::new(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Fatal::new(format!(
            "{} is not a backup version (the body of GET /room_keys/version): {e}",
            path.display()
        ))
    })
}
