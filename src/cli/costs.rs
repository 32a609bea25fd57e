//! `promptgate costs`: spending from the call log (live runs), per model,
//! suite or prompt version.

use std::path::PathBuf;

use clap::Args;

use crate::cache::CostGroup;
use crate::cli::{exit, output};

/// Arguments of `promptgate costs`.
#[derive(Debug, Args)]
pub struct CostsArgs {
    /// Report the last N days.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub days: u32,
    /// Group by model, suite or prompt version.
    #[arg(long, value_enum, default_value_t = CostGroup::Model)]
    pub by: CostGroup,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Project config file [default: promptgate.toml when present] (`[cache] path`).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Runs `promptgate costs`; returns the exit code.
pub fn run(args: CostsArgs) -> i32 {
    let store = match super::cache::open_existing(args.config.as_ref()) {
        Ok(Ok(s)) => Some(s),
        Ok(Err(path)) => {
            if !args.json {
                eprintln!(
                    "note: no call log yet at {} (live runs log their calls there)",
                    path.display()
                );
            }
            None
        }
        Err(code) => return code,
    };
    let rows = match store.map(|s| s.costs(args.days, args.by)).unwrap_or(Ok(Vec::new())) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INFRA_ERROR;
        }
    };
    if args.json {
        output::json(&rows);
        return exit::SUCCESS;
    }
    let what = match args.by {
        CostGroup::Model => "model",
        CostGroup::Suite => "suite",
        CostGroup::Prompt => "prompt",
    };
    let width = rows
        .iter()
        .map(|r| r.key.chars().count())
        .max()
        .unwrap_or(0)
        .max(what.len());
    println!(
        "{what:<width$}  {:>7}  {:>10}  {:>12}  {:>12}  {:>10}  {:>10}",
        "calls", "cache hits", "tokens in", "tokens out", "cost USD", "saved USD"
    );
    let (mut cost, mut saved, mut unpriced_calls, mut unpriced_hits) = (0.0, 0.0, 0, 0);
    for r in &rows {
        cost += r.cost_usd.unwrap_or(0.0);
        saved += r.saved_usd.unwrap_or(0.0);
        unpriced_calls += r.unpriced_calls;
        unpriced_hits += r.unpriced_hits;
        println!(
            "{:<width$}  {:>7}  {:>10}  {:>12}  {:>12}  {:>10}  {:>10}",
            r.key,
            r.calls,
            r.cache_hits,
            r.tokens_in,
            r.tokens_out,
            usd_cell(r.cost_usd, r.unpriced_calls),
            usd_cell(r.saved_usd, r.unpriced_hits)
        );
    }
    let not_included = |n: u64, what: &str| match n {
        0 => String::new(),
        1 => format!(" (1 {what} without a price not included)"),
        n => format!(" ({n} {what}s without a price not included)"),
    };
    println!(
        "total over the last {} days: ${cost:.4} spent{}, ${saved:.4} saved by the response cache{}",
        args.days,
        not_included(unpriced_calls, "call"),
        not_included(unpriced_hits, "cache hit")
    );
    if unpriced_calls + unpriced_hits > 0 {
        let n = unpriced_calls + unpriced_hits;
        println!(
            "— no price: {n} call{} without a price (unknown cost, not free; * marks a row that is only partly priced). \
             Give the model a price in USD per million tokens, in promptgate.toml `[prices.\"MODEL\"]` \
             (`input`, `output`) or on the provider `config.cost: {{input, output}}`; calls already logged keep no cost.",
            if n == 1 { "" } else { "s" }
        );
    }
    exit::SUCCESS
}

/// A USD amount for the table: `—` when unknown (no price), a trailing `*`
/// when `unpriced` calls are left out of it.
fn usd_cell(usd: Option<f64>, unpriced: u64) -> String {
    match usd {
        None => "—".to_string(),
        Some(x) if unpriced > 0 => format!("{x:.4}*"),
        Some(x) => format!("{x:.4}"),
    }
}
