//! The `fxsat` command line: one module per subcommand, the `--target`/`--device` group
//! and option checks in `args`, report files and stdout in `output`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::process::ExitCode;

#[path = "fxsat/args.rs"]
mod args;
#[path = "fxsat/bench.rs"]
mod bench;
#[path = "fxsat/cache_cmd.rs"]
mod cache_cmd;
#[path = "fxsat/inspect.rs"]
mod inspect;
#[path = "fxsat/lowering_cases.rs"]
mod lowering_cases;
#[path = "fxsat/optimize.rs"]
mod optimize;
#[path = "fxsat/output.rs"]
mod output;
#[path = "fxsat/partition.rs"]
mod partition;
#[path = "fxsat/progress_bar.rs"]
mod progress_bar;
#[path = "fxsat/pt2.rs"]
mod pt2;
#[path = "fxsat/rules_report.rs"]
mod rules_report;
#[path = "fxsat/sweep_svg.rs"]
mod sweep_svg;

/// Equality-saturation optimizer for PyTorch aten graphs (FX-JSON in, FX-JSON out).
#[derive(Parser)]
#[command(name = "fxsat", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Optimize(optimize::OptimizeArgs),
    Stats(inspect::StatsArgs),
    CheckRules(inspect::CheckRulesArgs),
    PadSweep(inspect::PadSweepArgs),
    Bench(bench::BenchCmd),
    Partition(partition::PartitionArgs),
    Cache(cache_cmd::CacheCmd),
    RulesReport(rules_report::RulesReportArgs),
    /// Dev: write the lowering conformance cases (python/tests/test_lowering_conformance.py).
    #[command(hide = true)]
    LoweringCases {
        /// The per-op cases (python/fixtures/gen_op_cases.py).
        #[arg(long, default_value = "tests/fixtures/interp/op_cases.json")]
        cases: std::path::PathBuf,
        /// Output directory.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Optimize(a) => a.run(),
        Cmd::Stats(a) => a.run(),
        Cmd::CheckRules(a) => a.run(),
        Cmd::PadSweep(a) => a.run(),
        Cmd::Bench(a) => a.run(),
        Cmd::Partition(a) => a.run(),
        Cmd::Cache(a) => a.run(),
        Cmd::RulesReport(a) => a.run(),
        Cmd::LoweringCases { cases, out } => lowering_cases::run(&cases, &out),
    }
}

/// The exit codes, for `--help`.
const EXIT_CODES: &str = "Exit status: 0 success (also when stdout is a pipe closed early); \
1 fxsat's own failure (an internal error), an output that could not be written, or \
check-rules finding a failing rule; 2 bad input or bad usage (malformed graph, rules or \
profile, a missing or unreadable input file, an option value out of range). Outputs are \
written all or none: a failed run leaves existing output files as they were.";

/// The exit code of an error: 2 for bad input or usage, 1 for the rest.
fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<args::Usage>() {
            return 2;
        }
        if let Some(fe) = cause.downcast_ref::<fxsat::Error>() {
            return if fe.is_bad_input() { 2 } else { 1 };
        }
    }
    1
}

/// Whether the error is a write to a closed pipe (ends quietly, like `cat`).
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// glibc's malloc keeps small freed chunks in "fastbins" and merges them all
/// (`malloc_consolidate`) whenever a larger request comes: with the JSON reader's and the
/// e-graph's many small allocations that merging was a fifth of a large graph's run time, and
/// grew faster than the graph. Without fastbins a 64-layer graph reads 23 % faster.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_MXFAST: i32 = 1;
    // SAFETY: glibc's `mallopt` may be called at any time; M_MXFAST = 0 disables fastbins.
    unsafe {
        mallopt(M_MXFAST, 0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

/// `--help` and `--version` print as clap does; a usage error is one line on stderr (clap's
/// message without its usage block and hint), exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    let line = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    let _ = writeln!(
        std::io::stderr(),
        "fxsat: error: {line} (see 'fxsat --help')"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    tune_malloc();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp(None)
        .init();
    match run(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // one line, whatever the messages hold
            let msg = message(&e).replace('\n', "; ");
            let _ = writeln!(std::io::stderr(), "fxsat: error: {msg}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The error and its causes, `: `-separated, skipping a cause whose text the message already
/// holds (`fxsat::Error::Io` prints its OS error itself and also reports it as its source).
fn message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if msg.contains(&s) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s);
    }
    msg
}
