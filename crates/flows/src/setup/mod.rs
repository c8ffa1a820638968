//! Setting up recovery as Element's "Set up recovery" does, as a plan of requests.
//!
//! [`AccountStateFlow`] reads what is there (backup version, secret storage, the
//! cross-signing master key); [`plan_setup`] decides everything — refuse, keep or replace
//! the cross-signing keys, what to copy from the old backup — and returns the requests in
//! the order that keeps the account usable if the caller stops half-way
//! (listed in [`plan_setup`]).
//!
//! [`SetupFlow`] carries all of it out as one sans-IO flow: it reads the state, plans,
//! answers the server's password confirmation, carries the old sessions over, writes, and
//! reads everything back to check it. [`AccountSituation`] names the state an account is
//! in (fresh, set up by Element, a backup without secret storage, secret storage without a
//! backup, Element X used without recovery) and what each choice costs.
//!
//! One file per concern: `state` (reading the account), `situation` (naming its state),
//! `options` (what the user chose), `refusal` (why no setup is planned), `plan` (the
//! decision and the requests), `password` (the server's confirmation), `events` (steps and
//! events of the flow), `outcome` (how it ends), `carry_over` (the old sessions re-encrypted
//! to the new key), `read_back` (the final check), `flow` (the state machine).

mod carry_over;
mod events;
mod flow;
mod options;
mod outcome;
mod password;
mod plan;
mod read_back;
mod refusal;
mod situation;
mod state;

pub use events::{SetupEvent, SetupStep};
pub use flow::SetupFlow;
pub use options::{SetupChoices, SetupOptions};
pub use outcome::{NewSecurityKey, RolledBack, SetupFlowError, SetupOutcome, VersionUnknown};
pub use password::with_password;
pub use plan::{CarryOver, SetupPlan, plan_setup};
pub use refusal::PlanError;
pub use situation::AccountSituation;
pub use state::{AccountState, AccountStateFlow, KEY_BACKUP_EVENT, master_key_in_query};
