//! The command line. `main` parses arguments, runs the subcommand and maps
//! the outcome to a process exit code ([`crate::cli::exit`], the only place
//! that knows exit codes). One file per command (`registry/` holds one per
//! subcommand); each parses its flags, resolves its settings
//! ([`crate::settings::Settings`]), calls the library (the run itself is
//! [`crate::session`]'s) and prints, human or JSON (`output`).

mod cache;
mod costs;
pub mod exit;
mod gate;
mod output;
mod registry;
mod report;
mod test;

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
    Test(Box<test::TestArgs>),
    /// Work with JSON reports (merge shards).
    Report(report::ReportArgs),
    /// The response cache: stats, clear.
    Cache(cache::CacheArgs),
    /// Spending from the call log (live runs): per model, suite or prompt.
    Costs(costs::CostsArgs),
    /// The prompt registry: versions, labels, activation, rollback, drift status, audit log.
    #[command(after_help = registry::HELP)]
    Registry(registry::RegistryArgs),
    /// Register, test and activate every prompt file that differs from its active version.
    #[command(after_help = gate::HELP)]
    Gate(gate::GateArgs),
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
        Command::Test(args) => test::run(*args),
        Command::Report(args) => report::run(args),
        Command::Cache(args) => cache::run(args),
        Command::Costs(args) => costs::run(args),
        Command::Registry(args) => registry::run(args),
        Command::Gate(args) => gate::run(args),
    };
    ExitCode::from(code as u8)
}

/// Parses `NAME=PATH`. A clap value parser: clap's contract is a `String`
/// error, which it prints after the flag's name.
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
