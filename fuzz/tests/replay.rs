//! Replays every committed corpus file through its target.

use std::path::PathBuf;

#[test]
fn replay_corpora() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, target) in megolm_backup_fuzz::TARGETS {
        let dir = root.join(name);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            target(&std::fs::read(&path).unwrap());
            count += 1;
        }
        assert!(count > 0, "empty corpus for {name}");
        eprintln!("{name}: replayed {count} inputs");
    }
}
