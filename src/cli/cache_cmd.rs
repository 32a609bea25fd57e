//! `promptgate cache stats|clear` and `promptgate costs`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cache::{CostGroup, Store};
use crate::cli::exit;
use crate::settings::Settings;

/// Arguments of `promptgate cache`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CacheCommand,
    /// Project config file [default: promptgate.toml when present] (`[cache] path`).
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

/// `promptgate cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, expired entries and file size of the response cache.
    Stats,
    /// Remove cached responses (the call log is kept).
    Clear {
        /// Only the entries older than the TTL.
        #[arg(long)]
        expired: bool,
    },
}

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

fn open(config_path: Option<&PathBuf>) -> Result<Store, i32> {
    let config = Settings::load(config_path.map(PathBuf::as_path)).map_err(|d| {
        eprintln!("{d}");
        exit::INVALID_INPUT
    })?;
    Store::open(&config.config.cache.path(), config.config.cache.ttl()).map_err(|e| {
        eprintln!("error: {e}");
        exit::INVALID_INPUT
    })
}

/// Runs `promptgate cache`; returns the exit code.
pub fn run_cache(args: CacheArgs) -> i32 {
    let store = match open(args.config.as_ref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match args.command {
        CacheCommand::Stats => match store.stats() {
            Ok(s) => {
                println!("cache: {}", store.path().display());
                println!("entries: {} ({} expired)", s.entries, s.expired);
                println!("size: {:.1} KiB", s.file_bytes as f64 / 1024.0);
                exit::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::INFRA_ERROR
            }
        },
        CacheCommand::Clear { expired } => match store.clear(expired) {
            Ok(n) => {
                println!("removed {n} cached response{}", if n == 1 { "" } else { "s" });
                exit::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::INFRA_ERROR
            }
        },
    }
}

/// Runs `promptgate costs`; returns the exit code.
pub fn run_costs(args: CostsArgs) -> i32 {
    let store = match open(args.config.as_ref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rows = match store.costs(args.days, args.by) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INFRA_ERROR;
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
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
