//! The runner: plans one case per suite × prompt × provider × test, runs
//! them concurrently on tokio (bounded by `-j` and each provider's
//! `max_concurrency`), and streams [`Event`]s to reporters as cases finish.
//!
//! - `plan`: the cases of a run (filters, shards, provider slots), [`plan()`];
//! - `exec`: the scheduler ([`run`]);
//! - `case`: one case ([`run_case`]); `grader`: its grader calls;
//! - `call`: every provider call, through [`crate::provider::layers`];
//! - `thresholds`: suite-level thresholds; `interrupt`: Ctrl-C.

mod call;
mod case;
mod context;
mod exec;
mod grader;
mod interrupt;
mod plan;
mod thresholds;

pub use crate::report::events::{Event, RunInfo};
pub use case::run_case;
pub use context::{RunContext, RunOptions};
pub use exec::{run, Aborted};
pub use plan::{plan, plan_with, require_prices, Case, GraderSlots, Plan, PlanOptions, ProviderSlot, Shard};
