//! `megolm-backup recovery-key …`

use std::process::ExitCode;

use clap::Subcommand;
use recovery_key::{PassphraseInfo, RecoveryKey, decode_base64, encode_base64, passphrase};

use zeroize::Zeroizing;

use crate::{fatal::Fatal, input::secret_from_stdin};

#[derive(Debug, Subcommand)]
pub(crate) enum RecoveryKeyCommand {
    /// Print a fresh random recovery key in groups of four.
    Generate,
    /// Recovery key on stdin → unpadded base64 of its 32 bytes.
    Decode,
    /// Base64 key on stdin → recovery key in groups of four.
    Encode,
    /// Passphrase on stdin → the recovery key it derives (PBKDF2-HMAC-SHA-512).
    FromPassphrase {
        /// The salt, as stored in the account data (used as its UTF-8 bytes).
        #[arg(long)]
        salt: String,
        /// The PBKDF2 iteration count (1..=10,000,000).
        #[arg(long)]
        iterations: u64,
        /// Output size in bits; keys are 256 bits.
        #[arg(long, default_value_t = 256)]
        bits: u64,
    },
}

pub(crate) fn run(cmd: RecoveryKeyCommand) -> Result<ExitCode, Fatal> {
    match cmd {
        RecoveryKeyCommand::Generate => {
            let key = RecoveryKey::generate().map_err(|e| {
                Fatal::new(format!("the system random number generator failed: {e}"))
            })?;
            println!("{}", key.to_base58_grouped().as_str());
        }
        RecoveryKeyCommand::Decode => {
            let text = secret_from_stdin()?;
            let key = RecoveryKey::from_base58(&text).map_err(crate::fatal::decode_error)?;
            println!("{}", Zeroizing::new(encode_base64(key.as_bytes())).as_str());
        }
        RecoveryKeyCommand::Encode => {
            let text = secret_from_stdin()?;
            // A byte-order mark (a file saved by a Windows editor) is not part of the key.
            let bytes = decode_base64(text.trim_start_matches('\u{feff}').trim())
                .map_err(|e| Fatal::new(format!("the key on stdin is {e}")))?;
            let key = RecoveryKey::from_slice(&bytes).map_err(Fatal::new)?;
            println!("{}", key.to_base58_grouped().as_str());
        }
        RecoveryKeyCommand::FromPassphrase {
            salt,
            iterations,
            bits,
        } => {
            let phrase = secret_from_stdin()?;
            let info = PassphraseInfo {
                algorithm: passphrase::PBKDF2_ALGORITHM.to_owned(),
                salt,
                iterations,
                bits: Some(bits),
                extra: Default::default(),
            };
            let key = info.derive_key(&phrase).map_err(Fatal::new)?;
            println!("{}", key.to_base58_grouped().as_str());
        }
    }
    Ok(ExitCode::SUCCESS)
}
