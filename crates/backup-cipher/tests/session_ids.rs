//! `session_ids`: the room and session id of every entry of a keys body, read by the one
//! streaming grammar (a room listed twice, damage and cuts included), without a key.

use backup_cipher::{RestoreError, session_ids};

/// An entry as the specification writes it (its contents are never decrypted here).
const ENTRY: &str = r#"{"first_message_index":0,"forwarded_count":0,"is_verified":false,
    "session_data":{"ephemeral":"AAAA","ciphertext":"BBBB","mac":"CCCC"}}"#;

fn ids(body: &str) -> (Vec<(String, String)>, backup_cipher::BodyCheck) {
    let mut seen = Vec::new();
    let check = session_ids(body.as_bytes(), u64::MAX, |room, sid| {
        seen.push((room.to_owned(), sid.to_owned()))
    })
    .unwrap();
    (seen, check)
}

fn pair(room: &str, sid: &str) -> (String, String) {
    (room.to_owned(), sid.to_owned())
}

#[test]
fn a_room_listed_twice_gives_the_sessions_of_both() {
    let body = format!(
        r#"{{"rooms":{{"!a:x":{{"sessions":{{"s1":{ENTRY}}}}},
                      "!b:x":{{"sessions":{{"s2":{ENTRY}}}}},
                      "!a:x":{{"sessions":{{"s3":{ENTRY},"s4":{ENTRY}}}}}}}}}"#
    );
    let (seen, check) = ids(&body);
    assert_eq!(
        seen,
        [
            pair("!a:x", "s1"),
            pair("!b:x", "s2"),
            pair("!a:x", "s3"),
            pair("!a:x", "s4")
        ]
    );
    assert!(check.complete);
    assert_eq!((check.rooms, check.entries, check.problems), (3, 4, 0));
}

#[test]
fn a_malformed_entry_is_counted_not_visited() {
    let body =
        format!(r#"{{"rooms":{{"!a:x":{{"sessions":{{"bad":{{"x":1}},"good":{ENTRY}}}}}}}}}"#);
    let (seen, check) = ids(&body);
    assert_eq!(seen, [pair("!a:x", "good")]);
    assert_eq!((check.entries, check.malformed), (2, 1));
}

#[test]
fn a_cut_body_gives_what_arrived_and_says_where_it_was_cut() {
    let body = format!(r#"{{"rooms":{{"!a:x":{{"sessions":{{"s1":{ENTRY},"s2":{{"session_da"#);
    let (seen, check) = ids(&body);
    assert_eq!(seen, [pair("!a:x", "s1")]);
    assert!(!check.complete);
    assert!(check.truncated_at.is_some());
}

#[test]
fn not_a_body_and_too_large_are_errors() {
    let refused = session_ids(&b"[1,2]"[..], u64::MAX, |_, _| {});
    assert!(matches!(refused, Err(RestoreError::Body(_))), "{refused:?}");
    let body = format!(r#"{{"rooms":{{"!a:x":{{"sessions":{{"s1":{ENTRY}}}}}}}}}"#);
    let capped = session_ids(body.as_bytes(), 10, |_, _| {});
    assert!(
        matches!(capped, Err(RestoreError::TooLarge(_))),
        "{capped:?}"
    );
}
