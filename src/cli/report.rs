//! `promptgate report merge`: shard reports into one run's reports.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::exit;
use crate::report::console::ConsoleReporter;
use crate::report::json::JsonReporter;
use crate::report::junit::JunitReporter;
use crate::report::merge;
use crate::report::Reporter;

/// Arguments of `promptgate report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ReportCommand,
}

/// `promptgate report` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the JSON reports of shards (`test --shard I/N --json ...`) into one
    /// JSON report, one JUnit file and one console summary; exit code as for `test`.
    Merge(MergeArgs),
}

/// Arguments of `promptgate report merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' JSON reports.
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Folder for the merged `report.json` and `junit.xml`.
    #[arg(short, long, value_name = "DIR", default_value = "reports")]
    pub output: PathBuf,
}

/// Runs `promptgate report`; returns the exit code.
pub fn run(args: ReportArgs) -> i32 {
    match args.command {
        ReportCommand::Merge(m) => merge_cmd(m),
    }
}

fn merge_cmd(args: MergeArgs) -> i32 {
    let mut reports = Vec::new();
    for path in &args.reports {
        match merge::read_report(path) {
            Ok(r) => reports.push((path.clone(), r)),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INVALID_INPUT;
            }
        }
    }
    let merged = match merge::merge(reports) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
    };
    let code = exit::of_verdict(merged.summary.verdict());
    let json_path = args.output.join("report.json");
    let json = match JsonReporter::new(json_path.clone()) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", json_path.display());
            return exit::INVALID_INPUT;
        }
    };
    let mut reporters: Vec<Box<dyn Reporter>> = vec![
        Box::new(ConsoleReporter::new(Box::new(std::io::stdout()), false)),
        Box::new(JunitReporter::new(args.output.join("junit.xml"))),
        Box::new(json),
    ];
    let errors = merge::replay(merged, &mut reporters);
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        return if code == exit::TEST_FAILED {
            code
        } else {
            exit::INFRA_ERROR
        };
    }
    code
}
