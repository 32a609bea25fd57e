//! `promptgate-fake-provider`: a fake OpenAI-compatible server on loopback,
//! for benchmarks and for regenerating the example recordings.
//!
//! ```text
//! promptgate-fake-provider [--port N] [--latency-ms MS] [--script FILE] [--faults]
//! ```
//! Prints `listening on http://127.0.0.1:PORT/v1` and serves until killed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use promptgate::fake_provider::{parse_script, start, FakeConfig, FaultMix};

/// A fake OpenAI-compatible chat completions server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// YAML list of `{match: REGEX, unless: REGEX, reply: TEXT}`; without a match the last message is echoed.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Answer with the benchmark's fault mix: 10% 429 (retry-after-ms 50), 5% 500, 1% non-JSON 200
    /// (deterministic per request body and attempt).
    #[arg(long)]
    faults: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rules = match &args.script {
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| parse_script(&t).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {}: {e}", p.display());
                return std::process::ExitCode::from(2);
            }
        },
        None => Vec::new(),
    };
    let config = FakeConfig {
        latency: Duration::from_millis(args.latency_ms),
        rules,
        faults: if args.faults {
            FaultMix::standard()
        } else {
            FaultMix::default()
        },
        ..Default::default()
    };
    // Each answer in flight sleeps on a blocking-pool thread (exact latency):
    // allow as many as promptgate can have requests in flight (tokio's default is 512).
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(promptgate::settings::MAX_JOBS)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    rt.block_on(async move {
        let server = match start(SocketAddr::from(([127, 0, 0, 1], args.port)), config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot listen on port {}: {e}", args.port);
                return std::process::ExitCode::from(3);
            }
        };
        println!("listening on {}", server.base_url());
        let _ = tokio::signal::ctrl_c().await;
        std::process::ExitCode::SUCCESS
    })
}
