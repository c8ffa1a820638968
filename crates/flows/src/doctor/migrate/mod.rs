//! Moving every session the user's keys can read into the current backup version, and only
//! then deleting the versions they came from: [`MigrateFlow`].
//!
//! One file per concern: `outcome` (what it refuses and what it did), `flow` (the steps
//! and their requests), `read` (the keys bodies it reads and what they mean), `plan`
//! (from a diagnosis to a ready flow).

mod flow;
mod outcome;
mod plan;
mod read;
#[cfg(test)]
mod tests;

pub use flow::MigrateFlow;
pub use outcome::{MigrateError, MigrationOutcome, OldVersionFate};
pub use plan::{MigrationPlan, plan_migration};

/// How many sessions one `PUT /room_keys/keys` of the migration carries.
pub const MIGRATION_CHUNK: usize = 500;

/// (room id, session id).
type SessionRef = (String, String);

/// The flow's steps, in the order they go out (`flow` sends them, `read` reads the keys
/// bodies they bring).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    ReadCurrent,
    CreateVersion,
    ReadOld(usize),
    Upload(usize),
    ReadBack,
    Delete(usize),
}
