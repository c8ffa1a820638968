//! The backup's entries: read from the body's bytes with the backup body's grammar,
//! decrypted with the backup key (all or a sample), and what their failures mean.

use backup_cipher::{BackupDecryptionKey, KeyBackupData, RestoreErrorClass, restore_entry};

use super::{EntryCheck, EntryProgress, EntryReport, Finding, FindingCode};

/// One entry of a keys body: room id, session id, and the entry when it is a
/// `KeyBackupData`.
type BodyEntry = (String, String, Option<KeyBackupData>);

/// The entries of a `GET /room_keys/keys` body, read with the backup body's grammar
/// (every listing of a room listed twice; one malformed entry does not hide the others),
/// in room then session id order; and the records of what the body holds that is no
/// entry (a room that is not an object, damage, a cut; the whole body when it is not a
/// keys body), by class.
fn body_entries(body: &[u8]) -> (Vec<BodyEntry>, Vec<(String, String, RestoreErrorClass)>) {
    let mut all = Vec::new();
    let read = backup_cipher::body_entries(body, u64::MAX, |room, session, entry| {
        all.push((room.to_owned(), session.to_owned(), entry));
    });
    let problems = match read {
        Err(_) => vec![(String::new(), String::new(), RestoreErrorClass::Malformed)],
        Ok(check) => {
            let mut problems: Vec<_> = check
                .sample
                .iter()
                .map(|f| (f.room_id.clone(), f.session_id.clone(), f.error))
                .collect();
            let unsampled = usize::try_from(check.problems)
                .unwrap_or(usize::MAX)
                .saturating_sub(problems.len());
            problems.extend(
                std::iter::repeat_n((String::new(), String::new()), unsampled)
                    .map(|(r, s)| (r, s, RestoreErrorClass::Damaged)),
            );
            problems
        }
    };
    // Stable: the listings of a session listed twice stay in body order.
    all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    (all, problems)
}

pub(super) fn check_entries(
    key: &BackupDecryptionKey,
    stale: Option<&BackupDecryptionKey>,
    body: &[u8],
    check: EntryCheck,
    mut progress: Option<&mut EntryProgress>,
) -> EntryReport {
    let (all, problems) = body_entries(body);
    let limit = match check {
        EntryCheck::Skip => 0,
        EntryCheck::Sample(n) => n.min(all.len()),
        EntryCheck::All => all.len(),
    };
    let mut report = EntryReport {
        total: all.len(),
        ..EntryReport::default()
    };
    // What is no entry is a failure whatever the sample: it may hide entries.
    for (room, session, class) in problems {
        *report.failed.entry(class.as_str()).or_default() += 1;
        if report.sample.len() < 5 {
            report.sample.push((room, session, class));
        }
    }
    for (i, (room, session, entry)) in all.into_iter().take(limit).enumerate() {
        let (room, session) = (room.as_str(), session.as_str());
        let class = match entry {
            None => Some(RestoreErrorClass::Malformed),
            Some(data) => match restore_entry(key, room, session, &data.session_data) {
                Ok(_) => None,
                Err(failure) => {
                    if failure.error == RestoreErrorClass::Mac
                        && let Some(old) = stale
                        && restore_entry(old, room, session, &data.session_data).is_ok()
                    {
                        report.open_with_stored_key += 1;
                    }
                    Some(failure.error)
                }
            },
        };
        report.checked += 1;
        if let Some(class) = class {
            *report.failed.entry(class.as_str()).or_default() += 1;
            if report.sample.len() < 5 {
                report
                    .sample
                    .push((room.to_owned(), session.to_owned(), class));
            }
        }
        if let Some(p) = progress.as_mut()
            && ((i + 1) % 100 == 0 || i + 1 == limit)
        {
            p(i + 1, limit);
        }
    }
    report
}

pub(super) fn entry_findings(report: &EntryReport, findings: &mut Vec<Finding>) {
    use RestoreErrorClass as R;
    let count = |classes: &[R]| -> usize {
        classes
            .iter()
            .map(|c| report.failed.get(c.as_str()).copied().unwrap_or(0))
            .sum()
    };
    let of = if report.checked < report.total {
        format!(
            "of {} entries checked (of {})",
            report.checked, report.total
        )
    } else {
        format!("of {} entries", report.checked)
    };
    let other_key = count(&[R::Mac]);
    if other_key > 0 {
        let stored = if report.open_with_stored_key > 0 {
            format!(
                "; {} of them open with the (stale) backup key in secret storage",
                report.open_with_stored_key
            )
        } else {
            String::new()
        };
        findings.push(Finding::new(
            FindingCode::EntriesForAnotherKey,
            format!("{other_key} {of} are encrypted to another key{stored}"),
        ));
    }
    let padding = count(&[R::Padding]);
    if padding > 0 {
        findings.push(Finding::new(
            FindingCode::EntriesBadPadding,
            format!("{padding} {of} have bad padding"),
        ));
    }
    let malformed = count(&[
        R::Base64,
        R::Key,
        R::Json,
        R::Algorithm,
        R::SessionId,
        R::Malformed,
        R::Internal,
        R::Truncated,
        R::Damaged,
    ]);
    if malformed > 0 {
        findings.push(Finding::new(
            FindingCode::EntriesMalformed,
            format!("{malformed} {of} are malformed"),
        ));
    }
}

#[cfg(test)]
pub(in crate::doctor) mod tests {
    use backup_cipher::{BackupDecryptionKey, BackupVersion};
    use serde_json::json;

    use crate::{
        AccountSnapshot, DoctorFlow, DoctorOptions, EntryCheck, FindingCode, Flow, Response,
        diagnose,
    };

    /// The prefix the requests are built with (private to `requests`).
    const API_PREFIX: &str = "/_matrix/client/v3";

    const USER: &str = "@a:x";

    /// The entries are read as the bytes that came, with the backup body's grammar: a room
    /// listed twice, each listing with its own session, is two entries, both checked.
    #[test]
    fn the_entries_of_a_room_listed_twice_are_all_checked() {
        let key = BackupDecryptionKey::generate().unwrap();
        let sessions = backup_cipher::fixtures::synthetic_sessions(2, 5);
        let (body, errors) = backup_cipher::encrypt_sessions(key.public_key(), &sessions);
        assert!(errors.is_empty());
        assert_eq!(body.rooms.len(), 1, "one room, two sessions");
        let twice = backup_cipher::fixtures::listed_apart(&[&body]);
        let mut current = BackupVersion::new(key.public_key());
        current.version = Some("1".into());
        let input = key.to_recovery_key().to_base58_grouped();
        let options = DoctorOptions::default().entries(EntryCheck::All);
        let mut flow = DoctorFlow::new(USER, Some(input.as_str()), options);
        while let Some(request) = flow.next_request() {
            let path = request.path.trim_start_matches(API_PREFIX);
            match path {
                "/room_keys/keys?version=1" => {
                    assert!(request.wants_bytes);
                    flow.receive_bytes(200, twice.as_bytes()).unwrap();
                    continue;
                }
                "/room_keys/version" => {
                    flow.receive(Response::ok(serde_json::to_value(&current).unwrap()))
                }
                "/devices" => flow.receive(Response::ok(json!({"devices": []}))),
                "/keys/query" => flow.receive(Response::ok(json!({}))),
                _ => flow.receive(Response::new(404, json!({"errcode": "M_NOT_FOUND"}))),
            }
            .unwrap();
        }
        let report = flow.finish().unwrap().entries.unwrap();
        assert_eq!((report.total, report.checked), (2, 2));
        assert!(report.failed.is_empty(), "{report:?}");
    }

    /// What in the entries' body is no entry (a cut, a body that is not a keys body) is a
    /// failure of the report and a finding, not a smaller backup.
    #[test]
    fn a_cut_or_foreign_entries_body_is_reported() {
        let key = BackupDecryptionKey::generate().unwrap();
        let sessions = backup_cipher::fixtures::synthetic_sessions(4, 6);
        let (body, _) = backup_cipher::encrypt_sessions(key.public_key(), &sessions);
        let text = serde_json::to_vec(&body).unwrap();
        let mut account = AccountSnapshot::new(USER);
        let mut version = BackupVersion::new(key.public_key());
        version.version = Some("1".into());
        account.version = Some(version);
        let input = key.to_recovery_key().to_base58_grouped();
        let options = DoctorOptions::default().entries(EntryCheck::All);

        // Cut in the middle of the third entry: two whole entries, and the cut.
        let needle = b"\"session_data\"";
        let starts: Vec<usize> = text
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(starts.len(), 4);
        let cut_at = starts[2] + 20;
        account.entries = Some(text[..cut_at].to_vec());
        let d = diagnose(&account, Some(input.as_str()), &options);
        let report = d.entries.as_ref().unwrap();
        assert_eq!(report.failed.get("truncated"), Some(&1), "{report:?}");
        assert!(d.has(FindingCode::EntriesMalformed), "{d:?}");

        account.entries = Some(b"{}".to_vec());
        let d = diagnose(&account, Some(input.as_str()), &options);
        let report = d.entries.as_ref().unwrap();
        assert_eq!(
            (report.total, report.failed.get("malformed")),
            (0, Some(&1))
        );
        assert!(d.has(FindingCode::EntriesMalformed), "{d:?}");
    }
}
