//! `cargo test` runs the prompt suites too: one libtest-mimic trial per case
//! of `suites/`, answered from the committed recordings (as configured in
//! `promptgate.toml`), so `cargo test -- --list` lists prompt cases beside
//! the unit tests and a prompt regression fails `cargo test`.

use std::path::PathBuf;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use promptgate::provider::Env;
use promptgate::recording::{Mode, RecordingStore};
use promptgate::report::console::failure_block;
use promptgate::result::Verdict;
use promptgate::runner::{self, RunContext};
use promptgate::settings::Config;
use promptgate::suite::{self, LoadOptions};

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Suites, prompts and recordings are resolved relative to the project root.
    if let Err(e) = std::env::set_current_dir(&root) {
        eprintln!("cannot enter {}: {e}", root.display());
        std::process::exit(2);
    }
    let config = Config::load(&root.join("promptgate.toml"), true).unwrap_or_else(|d| {
        eprintln!("{d}");
        std::process::exit(2);
    });
    let opts = LoadOptions {
        prompts_dir: config
            .test
            .prompts_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("prompts")),
        prompt_overrides: Default::default(),
    };
    let project = suite::load(&[PathBuf::from("suites")], &opts).unwrap_or_else(|d| {
        eprintln!("{d}");
        std::process::exit(2);
    });
    let replay = config
        .test
        .replay
        .clone()
        .unwrap_or_else(|| PathBuf::from("recordings"));
    let recordings = RecordingStore::open(Mode::Replay(replay)).unwrap_or_else(|d| {
        eprintln!("{d}");
        std::process::exit(2);
    });
    let client = reqwest::Client::new();
    let plan = runner::plan(project.suites, &[], &Env::process(), &client, &root).unwrap_or_else(|d| {
        eprintln!("{d}");
        std::process::exit(2);
    });
    let ctx = Arc::new(RunContext::new(project.templates, recordings));
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the trials"),
    );
    // One more trial per suite × prompt × provider whose suite sets
    // `thresholds`: it runs the group's cases and checks the thresholds on them.
    let mut groups: std::collections::BTreeMap<(PathBuf, String, String), Vec<runner::Case>> = Default::default();
    for case in plan.cases.iter().filter(|c| c.suite.thresholds.is_some()) {
        groups
            .entry((
                case.suite.file.clone(),
                case.prompt.label(),
                case.provider.spec.display().to_string(),
            ))
            .or_default()
            .push(case.clone());
    }
    let threshold_trials: Vec<Trial> = groups
        .into_values()
        .map(|cases| {
            let (ctx, runtime) = (ctx.clone(), runtime.clone());
            let first = &cases[0];
            let name = format!(
                "{}::thresholds [{} {}]",
                first.suite.name,
                first.prompt.label(),
                first.provider.spec.display()
            );
            Trial::test(name, move || {
                let mut stats = promptgate::analysis::thresholds::GroupStats::default();
                for case in &cases {
                    stats.add(&runtime.block_on(runner::run_case(case, &ctx)));
                }
                let bounds = cases[0].suite.thresholds.as_ref().expect("grouped by thresholds");
                let (verdict, checks, error) = promptgate::analysis::thresholds::evaluate(bounds, &stats);
                match verdict {
                    Verdict::Pass => Ok(()),
                    _ => Err(Failed::from(format!("{error:?}\n{checks:#?}"))),
                }
            })
            .with_kind("thresholds")
        })
        .collect();
    let mut trials: Vec<Trial> = plan
        .cases
        .into_iter()
        .map(|case| {
            let (ctx, runtime) = (ctx.clone(), runtime.clone());
            Trial::test(case.full_name(), move || {
                let result = runtime.block_on(runner::run_case(&case, &ctx));
                match result.verdict {
                    Verdict::Pass => Ok(()),
                    _ => Err(Failed::from(failure_block(&result))),
                }
            })
            .with_kind("prompt")
        })
        .collect();
    trials.extend(threshold_trials);
    libtest_mimic::run(&args, trials).exit();
}
