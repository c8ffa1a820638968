//! `KeysBackup::into_chunks`: a body cut into upload-sized bodies, nothing lost or doubled.

use backup_cipher::KeysBackup;

/// A body of `rooms` rooms with `per_room` entries each (the entries' contents are not read).
fn body(rooms: usize, per_room: usize) -> KeysBackup {
    let entry = serde_json::json!({
        "first_message_index": 0, "forwarded_count": 0, "is_verified": false,
        "session_data": {"ephemeral": "e", "ciphertext": "c", "mac": "m"}
    });
    let mut json = serde_json::json!({"rooms": {}});
    for r in 0..rooms {
        let mut sessions = serde_json::Map::new();
        for s in 0..per_room {
            sessions.insert(format!("s{s}"), entry.clone());
        }
        json["rooms"][format!("!r{r}:x")] = serde_json::json!({ "sessions": sessions });
    }
    serde_json::from_value(json).unwrap()
}

#[test]
fn every_session_is_in_exactly_one_chunk_of_at_most_the_size() {
    let whole = body(3, 5);
    let ids: Vec<(String, String)> = whole
        .entries()
        .map(|(r, s, _)| (r.to_owned(), s.to_owned()))
        .collect();
    let chunks = whole.into_chunks(4);
    assert_eq!(chunks.len(), 4, "15 sessions in chunks of 4");
    assert!(chunks.iter().all(|c| (1..=4).contains(&c.session_count())));
    let again: Vec<(String, String)> = chunks
        .iter()
        .flat_map(|c| c.entries().map(|(r, s, _)| (r.to_owned(), s.to_owned())))
        .collect();
    assert_eq!(again, ids, "in order, none lost or doubled");
}

#[test]
fn an_empty_body_gives_no_chunk_and_a_zero_size_means_one() {
    assert!(KeysBackup::default().into_chunks(10).is_empty());
    assert_eq!(body(1, 3).into_chunks(0).len(), 3);
}
