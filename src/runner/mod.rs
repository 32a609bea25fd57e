//! The runner: plans one case per suite × prompt × provider × test, runs
//! them concurrently on tokio (bounded by `-j` and each provider's
//! `max_concurrency`), and streams [`Event`]s to reporters as cases finish.

mod exec;
mod plan;

pub use crate::report::events::{Event, RunInfo};
pub use exec::{run, run_case, RunContext, RunOptions};
pub use plan::{plan, plan_with, require_prices, Case, GraderSlots, Plan, PlanOptions, ProviderSlot, Shard};
