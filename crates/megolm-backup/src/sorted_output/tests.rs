//! The sorted writer against a plain stable sort of what was pushed (std's, not ours).

use super::*;

fn run(budget: usize, items: &[(&str, &str)]) -> String {
    let dir = std::env::temp_dir();
    let mut s = SortedJsonArray::new(&dir, budget);
    for (i, (r, id)) in items.iter().enumerate() {
        // Some items pretty-printed and put on one line (as `with_single_line` does).
        let value = serde_json::json!({"room_id": r, "session_id": id, "k": "a\nb"});
        let json = if i % 3 == 0 {
            serde_json::to_string_pretty(&value)
                .unwrap()
                .replace('\n', " ")
        } else {
            value.to_string()
        };
        s.push(r.to_string(), id.to_string(), Zeroizing::new(json))
            .unwrap();
    }
    let mut out = Vec::new();
    s.finish(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn spilled_and_in_memory_agree() {
    let items: Vec<(String, String)> = (0..500)
        .map(|i| {
            (
                format!("!r{}", (i * 7919) % 13),
                format!("s{}", (i * 104729) % 1000),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = items
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mem = run(usize::MAX, &refs);
    let spilled = run(2000, &refs);
    assert_eq!(mem, spilled);
    let v: Vec<serde_json::Value> = serde_json::from_str(&mem).unwrap();
    assert_eq!(v.len(), 500);
    let keys: Vec<_> = v
        .iter()
        .map(|x| (x["room_id"].to_string(), x["session_id"].to_string()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(run(10, &[]), "[]\n");
}

/// Every item spills on its own (budget 1): hundreds of runs are merged FAN_IN at a
/// time, ids holding the spill line's separators survive, and items with equal ids
/// keep the order they came in.
#[test]
fn many_runs_awkward_ids_and_equal_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SortedJsonArray::new(dir.path(), 1);
    let mut expected = Vec::new();
    for i in 0..700u32 {
        let room = format!("!r{}\t\\n\n{}", i % 7, "\\".repeat((i % 3) as usize));
        let session = format!("s\r{}", i % 50);
        let json = serde_json::json!({"room_id": room, "session_id": session, "i": i});
        expected.push((room.clone(), session.clone(), i));
        s.push(room, session, Zeroizing::new(json.to_string()))
            .unwrap();
    }
    // At most FAN_IN - 1 runs of each level (two levels here).
    assert!(s.runs.len() < 2 * FAN_IN, "{} runs open", s.runs.len());
    // Stable: equal ids in the order pushed.
    expected.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut out = Vec::new();
    s.finish(&mut out).unwrap();
    let got: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    let got: Vec<(String, String, u32)> = got
        .iter()
        .map(|v| {
            (
                v["room_id"].as_str().unwrap().to_owned(),
                v["session_id"].as_str().unwrap().to_owned(),
                v["i"].as_u64().unwrap() as u32,
            )
        })
        .collect();
    assert_eq!(got, expected);
    // Spill files have no name.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A small deterministic generator (the tests need no randomness crate).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Items as a body brings them: room by room, some rooms listed again later, some
/// session ids repeated; `(room, session, serial)`.
fn body_like(seed: u64, rooms: u64, items: usize) -> Vec<(String, String, usize)> {
    let mut rng = Lcg(seed);
    let mut out = Vec::new();
    while out.len() < items {
        let room = format!("!r{}:x", rng.next(rooms));
        let run = 1 + rng.next(40) as usize;
        for _ in 0..run.min(items - out.len()) {
            let session = format!("s{}", rng.next(60));
            let serial = out.len();
            out.push((room.clone(), session, serial));
        }
    }
    out
}

fn json_of(room: &str, session: &str, serial: usize) -> String {
    serde_json::json!({"room_id": room, "session_id": session, "n": serial}).to_string()
}

/// Pushes `items` with `budget`, checking after each push that memory stays within it;
/// returns the array written and what `finish_each` handed on.
fn sorted(budget: usize, items: &[(String, String, usize)]) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let fill = || {
        let mut s = SortedJsonArray::new(dir.path(), budget);
        for (room, session, serial) in items {
            s.push(
                room.clone(),
                session.clone(),
                Zeroizing::new(json_of(room, session, *serial)),
            )
            .unwrap();
            assert!(s.block_bytes + s.group.bytes() < s.budget_bytes.max(2));
        }
        s
    };
    let mut out = Vec::new();
    fill().finish(&mut out).unwrap();
    let mut each = Vec::new();
    fill()
        .finish_each(|json| {
            each.push(json.to_owned());
            Ok(())
        })
        .unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    (String::from_utf8(out).unwrap(), each)
}

/// What the output must be: std's stable sort by (room, session) of the pushed items.
fn expected(items: &[(String, String, usize)]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    items.iter().map(|(r, s, n)| json_of(r, s, *n)).collect()
}

fn array_of(items: &[String]) -> String {
    if items.is_empty() {
        "[]\n".to_owned()
    } else {
        format!("[\n{}\n]\n", items.join(",\n"))
    }
}

/// Bodies with rooms listed again and repeated ids, every budget from "all in memory"
/// to "every item spills": the output is the stable sort, as an array and item by item.
#[test]
fn agrees_with_a_stable_sort_at_every_budget() {
    for seed in 0..12 {
        let items = body_like(seed, 1 + seed % 9, 300 + 97 * seed as usize);
        let want = expected(&items);
        for budget in [usize::MAX, 200_000, 20_000, 3_000, 500, 1] {
            let (array, each) = sorted(budget, &items);
            assert_eq!(each, want, "seed {seed} budget {budget}");
            assert_eq!(array, array_of(&want), "seed {seed} budget {budget}");
        }
    }
}

/// A room listed twice, its sessions interleaving with the first listing's: the two
/// blocks are merged item by item, equal ids in the order they came in; a room in
/// between is written whole.
#[test]
fn a_room_listed_twice_is_merged_with_its_first_listing() {
    let items: Vec<(String, String, usize)> = [
        ("!b", "s3"),
        ("!b", "s1"),
        ("!b", "s5"),
        ("!a", "s9"),
        ("!c", "s0"),
        ("!b", "s2"),
        ("!b", "s5"),
        ("!b", "s0"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (r, s))| (r.to_string(), s.to_string(), i))
    .collect();
    let (array, each) = sorted(usize::MAX, &items);
    let order: Vec<usize> = each
        .iter()
        .map(|j| {
            serde_json::from_str::<serde_json::Value>(j).unwrap()["n"]
                .as_u64()
                .unwrap() as usize
        })
        .collect();
    assert_eq!(order, [3, 7, 1, 5, 0, 2, 6, 4]);
    assert_eq!(array, array_of(&each));
}

/// A hostile body: every item in a room of its own. The blocks' memory counts, so the
/// budget holds (checked after every push in `sorted`) and the output is still sorted.
#[test]
fn a_room_per_item_stays_within_the_budget() {
    let items: Vec<(String, String, usize)> = (0..3000)
        .map(|i| (format!("!r{}", (i * 7919) % 3000), "s".to_owned(), i))
        .collect();
    let (_, each) = sorted(50_000, &items);
    assert_eq!(each, expected(&items));
}

/// Items larger than the output's write buffer, and items that end just at its edge:
/// the array is the same as joined by hand.
#[test]
fn items_around_the_write_buffer_size() {
    let sizes = [
        10,
        crate::wiped::OUTPUT_CHUNK - 40,
        30,
        crate::wiped::OUTPUT_CHUNK + 5,
        3,
        crate::wiped::OUTPUT_CHUNK,
        crate::wiped::OUTPUT_CHUNK - 2,
        7,
    ];
    let items: Vec<(String, String, String)> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let json = format!("\"{}\"", "x".repeat(*n));
            (format!("!r{}", i % 3), format!("s{i}"), json)
        })
        .collect();
    let mut s = SortedJsonArray::new(&std::env::temp_dir(), usize::MAX);
    for (room, session, json) in &items {
        s.push(room.clone(), session.clone(), Zeroizing::new(json.clone()))
            .unwrap();
    }
    let mut out = Vec::new();
    s.finish(&mut out).unwrap();
    let mut want = items.clone();
    want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let want: Vec<String> = want.into_iter().map(|(_, _, j)| j).collect();
    assert_eq!(String::from_utf8(out).unwrap(), array_of(&want));
}

/// The one-pass line-break check against std's searches, a break at every place.
#[test]
fn line_break_check_finds_every_break() {
    for len in [0, 1, 63, 64, 65, 130] {
        assert!(!has_line_break(&"a".repeat(len)));
        for at in 0..len {
            for c in ['\n', '\r'] {
                let mut s = "a".repeat(len);
                s.replace_range(at..at + 1, &c.to_string());
                assert_eq!(has_line_break(&s), s.contains('\n') || s.contains('\r'));
                assert!(has_line_break(&s));
            }
        }
    }
}

/// Text with a line break is refused, not misplaced; the items before it are kept.
#[test]
fn an_item_with_a_line_break_is_refused() {
    let mut s = SortedJsonArray::new(&std::env::temp_dir(), usize::MAX);
    s.push("!a".into(), "s1".into(), Zeroizing::new("1".into()))
        .unwrap();
    for broken in ["{\n}", "[1,\r2]"] {
        assert!(
            s.push("!a".into(), "s2".into(), Zeroizing::new(broken.into()))
                .is_err()
        );
    }
    let mut out = Vec::new();
    s.finish(&mut out).unwrap();
    assert_eq!(out, b"[\n1\n]\n");
}
