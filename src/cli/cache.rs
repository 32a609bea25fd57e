//! `promptgate cache stats|clear`: the response cache.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cache::Store;
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

/// Opens the response cache `promptgate.toml` (or `--config`) names;
/// `Err` is the exit code, after the error is printed.
pub(super) fn open(config_path: Option<&PathBuf>) -> Result<Store, i32> {
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
pub fn run(args: CacheArgs) -> i32 {
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
