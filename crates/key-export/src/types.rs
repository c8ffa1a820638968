//! The plaintext of an export: a JSON array of room keys.

/// One exported room key (`ExportedSessionData`): the workspace's one room-key type,
/// [`backup_cipher::RoomKey`] — the same a restore writes and an upload takes.
pub type ExportedRoomKey = backup_cipher::RoomKey;
