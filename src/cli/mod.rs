//! The command line. `main` parses arguments, runs the subcommand and maps
//! the outcome to a process exit code ([`crate::cli::exit`]).

mod cache_cmd;
pub mod exit;
mod gate_cmd;
mod output;
mod registry_cmd;
mod report_cmd;
mod test_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Regression tests and CI gating for LLM prompts.
#[derive(Debug, Parser)]
#[command(name = "promptgate", version, about, after_help = exit::HELP_TABLE)]
pub struct Cli {
    /// When to use colours.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Colour choice.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Color {
    /// Colour when stdout is a terminal.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run prompt test suites and report (console, JUnit, JSON, GitHub).
    #[command(after_help = exit::HELP_TABLE)]
    Test(Box<test_cmd::TestArgs>),
    /// Work with JSON reports (merge shards).
    Report(report_cmd::ReportArgs),
    /// The response cache: stats, clear.
    Cache(cache_cmd::CacheArgs),
    /// Spending from the call log (live runs): per model, suite or prompt.
    Costs(cache_cmd::CostsArgs),
    /// The prompt registry: versions, labels, activation, rollback, drift status, audit log.
    #[command(after_help = registry_cmd::HELP)]
    Registry(registry_cmd::RegistryArgs),
    /// Register, test and activate every prompt file that differs from its active version.
    #[command(after_help = gate_cmd::HELP)]
    Gate(gate_cmd::GateArgs),
}

/// Runs the command line and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::INVALID_INPUT
            } else {
                exit::SUCCESS
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    match cli.color {
        Color::Always => {
            console::set_colors_enabled(true);
            console::set_colors_enabled_stderr(true);
        }
        Color::Never => {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
        Color::Auto => {}
    }
    let code = match cli.command {
        Command::Test(args) => test_cmd::run(*args),
        Command::Report(args) => report_cmd::run(args),
        Command::Cache(args) => cache_cmd::run_cache(args),
        Command::Costs(args) => cache_cmd::run_costs(args),
        Command::Registry(args) => registry_cmd::run(args),
        Command::Gate(args) => gate_cmd::run(args),
    };
    ExitCode::from(code as u8)
}

/// Parses `NAME=PATH`.
pub(crate) fn parse_name_path(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.trim().is_empty() && !path.trim().is_empty() => {
            Ok((name.trim().to_string(), PathBuf::from(path.trim())))
        }
        _ => Err(format!(
            "expected NAME=PATH (e.g. rag_system=prompts/rag_system.v2.txt), got `{s}`"
        )),
    }
}
