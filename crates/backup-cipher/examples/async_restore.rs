//! Restoring from async code, without blocking the runtime and without the body in
//! memory.
//!
//! The body arrives in chunks from whatever async HTTP client the application uses (here
//! the shipped demo backup, read with `tokio::fs`, stands in for the download). The restore
//! runs on tokio's blocking pool, reading those chunks as a `std::io::Read`, and its results
//! come back to async code through a bounded channel, so both directions apply
//! back-pressure and memory stays bounded. Dropping the receiving end cancels the restore:
//! the sink then reports `cancelled`.
//!
//! ```sh
//! cargo run -p backup-cipher --example async_restore [RECOVERY_KEY_FILE BACKUP_JSON]
//! ```

use std::{error::Error, io::Read, path::PathBuf};

use backup_cipher::{
    BackupDecryptionKey, Progress, RestoreFailure, RestoreOptions, RestoreSink, RestoredSession,
    restore_reader,
};
use recovery_key::RecoveryKey;
use tokio::{io::AsyncReadExt, sync::mpsc};

/// A `std::io::Read` over chunks sent by async code (read on a blocking thread).
struct ChunkReader {
    chunks: mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            match self.chunks.blocking_recv() {
                Some(chunk) => (self.current, self.pos) = (chunk, 0),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// What the restore reports, as async code receives it.
enum Event {
    Restored(RestoredSession),
    Failed(RestoreFailure),
    Progress(Progress),
}

/// Sends every result to async code; cancels once nobody listens any more.
struct ChannelSink(mpsc::Sender<Event>);

impl RestoreSink for ChannelSink {
    fn restored(&mut self, session: RestoredSession) {
        let _ = self.0.blocking_send(Event::Restored(session));
    }
    fn failed(&mut self, failure: RestoreFailure) {
        let _ = self.0.blocking_send(Event::Failed(failure));
    }
    fn progress(&mut self, progress: Progress) {
        let _ = self.0.blocking_send(Event::Progress(progress));
    }
    fn cancelled(&self) -> bool {
        self.0.is_closed()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../demo");
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let key_file = args.next().unwrap_or(demo.join("recovery-key.txt"));
    let body_file = args.next().unwrap_or(demo.join("backup.json"));

    let typed = tokio::fs::read_to_string(&key_file).await?;
    let key = BackupDecryptionKey::from_recovery_key(&RecoveryKey::from_base58(&typed)?);

    // The "download": chunks of the body, as an async HTTP client yields them.
    let (body_tx, body_rx) = mpsc::channel::<Vec<u8>>(8);
    let download = tokio::spawn(async move {
        let mut file = tokio::fs::File::open(body_file).await?;
        loop {
            let mut chunk = vec![0; 16 * 1024];
            let n = file.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            chunk.truncate(n);
            if body_tx.send(chunk).await.is_err() {
                return Ok(()); // the restore stopped reading
            }
        }
    });

    // The restore, on the blocking pool.
    let (event_tx, mut events) = mpsc::channel(1024);
    let restore = tokio::task::spawn_blocking(move || {
        let reader = ChunkReader {
            chunks: body_rx,
            current: Vec::new(),
            pos: 0,
        };
        restore_reader(
            &key,
            reader,
            &RestoreOptions::default(),
            &mut ChannelSink(event_tx),
        )
    });

    // Async code consumes the results as they come (a client would import them).
    let (mut restored, mut failed, mut batches, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    while let Some(event) = events.recv().await {
        match event {
            Event::Restored(_session) => restored += 1,
            Event::Failed(_failure) => failed += 1,
            Event::Progress(p) => (batches, bytes) = (batches + 1, p.bytes_read),
        }
    }
    let progress = restore.await??;
    download.await??;
    println!(
        "restored {restored} sessions ({failed} failed) from async code, {batches} progress \
         reports, {bytes} bytes read"
    );
    if restored == 0 || restored + failed != progress.done || bytes != progress.bytes_read {
        return Err("the restore did not deliver what it counted".into());
    }
    Ok(())
}
