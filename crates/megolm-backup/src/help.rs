//! The headings that group every command's options in `--help`, the same on each: what
//! the user has, where the result goes, the homeserver, and tuning.

/// The key, the phrase and the files the command reads.
pub(crate) const HAVE: &str = "What you have";
/// Where the result is written, and in which format.
pub(crate) const OUTPUT: &str = "Where it goes";
/// What a command that changes the account is asked to do (`setup`'s choices).
pub(crate) const CHOICES: &str = "What to do";
/// Reaching and logging in to the homeserver.
pub(crate) const SERVER: &str = "The homeserver";
/// Speed, memory and limits; the defaults suit almost everyone.
pub(crate) const TUNING: &str = "Tuning";
