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

    /// Adds an item of the group's room (or the first item of an empty group).
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
        let text_len = items.iter().map(|(_, json)| json.len() + 2).sum();
        let ids_len = items.iter().map(|(id, _)| id.len()).sum();
        let mut text = Zeroizing::new(String::with_capacity(text_len));
        let mut ids = String::with_capacity(ids_len);
        let mut ends = Vec::with_capacity(items.len());
        for (session_id, json) in items {
            ids.push_str(&session_id);
            text.push_str(&json);
            text.push_str(",\n");
            ends.push((ids.len(), text.len()));
            // `json` is wiped here.
        }
        let room_id = std::mem::take(&mut self.room_id);
        let bytes = BLOCK_OVERHEAD
            + room_id.len()
            + ids.len()
            + text.len()
            + ends.len() * std::mem::size_of::<(usize, usize)>();
        Some(Block {
            room_id,
            ids,
            text,
            ends,
            seq,
            bytes,
        })
    }
}

/// One room's items (or some of them), sorted by session id, in three allocations.
pub(super) struct Block {
    /// The room.
    pub(super) room_id: String,
    /// The items' session ids, one after another.
    ids: String,
    /// The items' JSON texts, one after another, each followed by `,\n`: what the
    /// output array holds. Wiped on drop.
    text: Zeroizing<String>,
    /// Where each item's session id ends in `ids`, and its text (after the `,\n`) in
    /// `text`.
    ends: Vec<(usize, usize)>,
    /// Blocks are numbered in the order they were made: items with equal ids come out
    /// in the order of their blocks.
    pub(super) seq: usize,
    /// Memory the block holds.
    pub(super) bytes: usize,
}

impl Block {
    /// How many items (at least one).
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Where item `i` starts in `ids` and in `text`.
    fn starts(&self, i: usize) -> (usize, usize) {
        match i.checked_sub(1) {
            Some(before) => self.ends[before],
            None => (0, 0),
        }
    }

    /// Item `i`'s session id.
    pub(super) fn session_id(&self, i: usize) -> &str {
        &self.ids[self.starts(i).0..self.ends[i].0]
    }

    /// Item `i`'s JSON text.
    pub(super) fn json(&self, i: usize) -> &str {
        &self.text[self.starts(i).1..self.ends[i].1 - 2]
    }

    /// The texts of the items from `i` on, each followed by `,\n`.
    pub(super) fn text_from(&self, i: usize) -> &str {
        &self.text[self.starts(i).1..]
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
        let items: Vec<(&str, &str)> = (0..b.len()).map(|i| (b.session_id(i), b.json(i))).collect();
        assert_eq!(
            items,
            [
                ("s1", "{\"x\":1}"),
                ("s2", "{\"x\":2}"),
                ("s2", "{\"x\":3}")
            ]
        );
        assert_eq!(b.text_from(1), "{\"x\":2},\n{\"x\":3},\n");
        assert!(g.close(8).is_none());
        assert_eq!(g.bytes(), 0);
    }
}
