//! Sorting while the items arrive: the items of one room come together (a backup body
//! lists its sessions room by room), so each room's items are sorted as soon as the
//! next room starts, into a *block*: the room's items in order, as the text the output
//! holds. At the end the blocks are put in order by room, and a block no other block
//! overlaps is written out whole.

use zeroize::Zeroizing;

/// Memory an item costs beyond its texts (the entry in a vector, allocation headers).
const ITEM_OVERHEAD: usize = 64;
/// Memory a block costs beyond its texts.
const BLOCK_OVERHEAD: usize = 128;
/// Memory a session id in a block costs beyond its text.
const ID_OVERHEAD: usize = 32;

/// The items of the room that is arriving now, in the order they came in.
#[derive(Default)]
pub(super) struct Group {
    room_id: String,
    items: Vec<(String, Zeroizing<String>)>,
    bytes: usize,
}

impl Group {
    /// Is this item of another room than the group's (or the group empty)?
    pub(super) fn starts_new(&self, room_id: &str) -> bool {
        self.items.is_empty() || self.room_id != room_id
    }

    /// Adds an item of the group's room (or the first item of an empty group). `json`
    /// holds no line break.
    pub(super) fn push(&mut self, room_id: String, session_id: String, json: Zeroizing<String>) {
        if self.items.is_empty() {
            self.room_id = room_id;
        }
        self.bytes += json.len() + session_id.len() + ITEM_OVERHEAD;
        self.items.push((session_id, json));
    }

    /// Memory the group holds.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The group as a block (none when empty); the group is empty after.
    pub(super) fn close(&mut self, seq: usize) -> Option<Block> {
        if self.items.is_empty() {
            return None;
        }
        let mut items = std::mem::take(&mut self.items);
        self.bytes = 0;
        // Stable: items with the same ids stay in the order they came in.
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let text_len: usize = items.iter().map(|(_, json)| json.len() + 2).sum();
        let mut text = Zeroizing::new(String::with_capacity(text_len));
        let mut session_ids = Vec::with_capacity(items.len());
        let mut bytes = BLOCK_OVERHEAD + self.room_id.len();
        for (session_id, json) in items {
            text.push_str(&json);
            text.push_str(",\n");
            bytes += session_id.len() + ID_OVERHEAD;
            session_ids.push(session_id.into_boxed_str());
            // `json` is wiped here.
        }
        bytes += text.len();
        Some(Block {
            room_id: std::mem::take(&mut self.room_id),
            session_ids,
            text,
            seq,
            bytes,
        })
    }
}

/// One room's items (or some of them), sorted by session id.
pub(super) struct Block {
    /// The room.
    pub(super) room_id: String,
    /// The items' session ids, in order.
    pub(super) session_ids: Vec<Box<str>>,
    /// The items' JSON texts in the same order, each followed by `,\n` (none holds a
    /// line break): what the output array holds. Wiped on drop.
    pub(super) text: Zeroizing<String>,
    /// Blocks are numbered in the order they were made: items with equal ids come out
    /// in the order of their blocks.
    pub(super) seq: usize,
    /// Memory the block holds.
    pub(super) bytes: usize,
}

impl Block {
    /// The item at byte `pos` of the text (the start of an item): its JSON (without the
    /// `,\n`) and where the next item starts.
    pub(super) fn item_at(&self, pos: usize) -> (&str, usize) {
        let rest = &self.text[pos..];
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        let json = line.strip_suffix(",\n").unwrap_or(line);
        (json, pos + end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(g: &mut Group, room: &str, session: &str, json: &str) {
        g.push(room.into(), session.into(), Zeroizing::new(json.into()));
    }

    #[test]
    fn a_group_closes_into_a_sorted_block_keeping_equal_ids_in_order() {
        let mut g = Group::default();
        assert!(g.starts_new("!a"));
        item(&mut g, "!a", "s2", "{\"x\":2}");
        item(&mut g, "!a", "s1", "{\"x\":1}");
        item(&mut g, "!a", "s2", "{\"x\":3}");
        assert!(!g.starts_new("!a"));
        assert!(g.starts_new("!b"));
        let b = g.close(7).unwrap();
        assert_eq!(b.room_id, "!a");
        assert_eq!(b.seq, 7);
        let ids: Vec<&str> = b.session_ids.iter().map(|s| &**s).collect();
        assert_eq!(ids, ["s1", "s2", "s2"]);
        assert_eq!(&*b.text, "{\"x\":1},\n{\"x\":2},\n{\"x\":3},\n");
        let (first, next) = b.item_at(0);
        assert_eq!(first, "{\"x\":1}");
        assert_eq!(b.item_at(next).0, "{\"x\":2}");
        assert!(g.close(8).is_none());
        assert_eq!(g.bytes(), 0);
    }
}
