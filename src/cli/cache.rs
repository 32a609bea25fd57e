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

/// Opens the response cache `promptgate.toml` (or `--config`) names, if it
/// exists: `Ok(Err(path))` when there is no cache file yet (the read-only
/// commands create nothing); `Err` is the exit code, after the error is
/// printed.
pub(super) fn open_existing(config_path: Option<&PathBuf>) -> Result<Result<Store, PathBuf>, i32> {
    let config = Settings::load(config_path.map(PathBuf::as_path)).map_err(|d| {
        eprintln!("{d}");
        exit::INVALID_INPUT
    })?;
    let path = config.config.cache.path();
    if !path.exists() {
        return Ok(Err(path));
    }
    Store::open(&path, config.config.cache.ttl()).map(Ok).map_err(|e| {
        eprintln!("error: {e}");
        exit::INVALID_INPUT
    })
}

/// Runs `promptgate cache`; returns the exit code.
pub fn run(args: CacheArgs) -> i32 {
    let store = match open_existing(args.config.as_ref()) {
        Ok(Ok(s)) => s,
        Ok(Err(path)) => {
            // Nothing to show or clear, and nothing is created.
            match args.command {
                CacheCommand::Stats => {
                    println!(
                        "cache: {} (not created yet: a live or recorded run creates it)",
                        path.display()
                    );
                    println!("entries: 0 (0 expired)");
                }
                CacheCommand::Clear { .. } => println!("removed 0 cached responses"),
            }
            return exit::SUCCESS;
        }
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
