//! The `fxsat` command line.

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use fxsat::cost::{Model, Profile};
use fxsat::pipeline::Target;
use fxsat::saturate::Limits;
use fxsat::{optimize, Options};
use serde_json::json;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[path = "fxsat/bench.rs"]
mod bench;
#[path = "fxsat/lowering_cases.rs"]
mod lowering_cases;
#[path = "fxsat/progress_bar.rs"]
mod progress_bar;
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

#[derive(Clone, Copy, ValueEnum)]
enum TargetArg {
    /// Emit ops that run in PyTorch on CPU.
    Cpu,
    /// Emit ops that run in PyTorch on CUDA.
    Cuda,
}

#[derive(Clone, Copy, ValueEnum)]
enum PeakRuleArg {
    /// Honour the budget; among the solutions within it, do not raise the peak where possible.
    WithinBudget,
    /// Never raise the peak as the budget decreases, even above the budget.
    Strict,
    /// Each budget alone: the least recompute time within it.
    Off,
}

#[derive(Subcommand)]
enum Cmd {
    /// Optimise a graph: saturate with the rules, extract the cheapest equivalent graph.
    ///
    /// The output has the same inputs and the same outputs in the same order (a joint graph
    /// stays a joint graph with the same num_fwd_outputs).
    Optimize {
        /// Input FX-JSON file.
        input: PathBuf,
        /// Output FX-JSON file.
        #[arg(short, long)]
        output: PathBuf,
        /// Device the result must run on in PyTorch.
        #[arg(long, value_enum, default_value = "cpu")]
        target: TargetArg,
        /// Cost-model profile: cpu, a100, h100, or a JSON file (default: the target's: cpu → cpu, cuda → h100).
        #[arg(long)]
        device: Option<String>,
        /// Directory of .rules files replacing the compiled-in rules.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Write a JSON report (timings, e-graph size, costs, rule applications) here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Most e-nodes during saturation.
        #[arg(long, default_value_t = 200_000)]
        node_limit: usize,
        /// Most saturation iterations.
        #[arg(long, default_value_t = 30)]
        iter_limit: usize,
        /// Saturation time limit in seconds.
        #[arg(long, default_value_t = 10.0)]
        time_limit: f64,
        /// Keep a node's recorded val where it contradicts the op's shape rule (the node becomes opaque).
        #[arg(long)]
        trust_meta: bool,
        /// Assert a property of the inputs that some rules need (repeatable). Known:
        /// `no-fully-masked-rows` (no attention mask hides a whole row of scores: lets masked
        /// attention fuse in training graphs, whose SDPA backward gets such rows wrong when
        /// the mask uses finfo.min).
        #[arg(long, value_name = "NAME")]
        assume: Vec<String>,
        /// Apply no rule that is only equal in distribution (`:in-distribution`): training
        /// dropout on attention weights then stays as the graph spells it (`rand > p`) instead
        /// of becoming SDPA's `dropout_p` (which draws its own mask, so the output is the same
        /// random variable but not the same numbers for a given RNG state).
        #[arg(long)]
        exact_random: bool,
        /// Optimise the graph as one e-graph even when it is large (by default a graph of
        /// 2,000 nodes or more is cut into regions between its blocks, each optimised on its
        /// own, equal regions once, and stitched back: see the README, "Scale").
        #[arg(long)]
        whole: bool,
    },
    /// Print what a graph contains: ops, node counts, unknown ops, total flops and bytes.
    Stats {
        /// Input FX-JSON file.
        input: PathBuf,
        /// Cost-model profile used for the time estimate.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Keep recorded vals that contradict shape rules.
        #[arg(long)]
        trust_meta: bool,
    },
    /// Check every rule numerically: random instances of its left side that satisfy its
    /// conditions, evaluated against its right side by the reference interpreter. Prints one
    /// line per rule; exits 1 if any rule fails (with a counterexample and its seed).
    CheckRules {
        /// Directory of .rules files to check (default: the compiled-in rules).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Cases per rule.
        #[arg(long, default_value_t = 100)]
        cases: usize,
        /// Base seed; case i uses seed + i.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Matmul padding over a sweep of M, K, N and dtypes: fxsat's decision (padding rules +
    /// cost model) beside Inductor's rule (misaligned and compute-bound), with the reason for
    /// every disagreement.
    PadSweep {
        /// Cost-model profile: cpu, a100, h100, or a JSON file.
        #[arg(long, default_value = "h100")]
        device: String,
    },
    /// Time the whole pipeline (read → build e-graph → saturate → extract → partition →
    /// export) on each graph: per-phase medians, e-graph sizes, peak RSS.
    ///
    /// Without FILES, runs the scaling fixtures tests/fixtures/scale/llama{1,4,16,32,64}
    /// (made by python/gen_scale_fixtures.py).
    Bench {
        /// Graphs to run (FX-JSON; `.json.gz` is read gunzipped).
        files: Vec<PathBuf>,
        /// Which scaling fixtures to run when no FILES are given.
        #[arg(long, value_enum, default_value = "joint")]
        family: bench::Family,
        /// Directory of the scaling fixtures.
        #[arg(long, default_value = "tests/fixtures/scale")]
        dir: PathBuf,
        /// Timed runs per graph.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Untimed runs per graph first.
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        /// Memory budget of the partition of joint graphs.
        #[arg(long, default_value_t = 1.0)]
        budget: f64,
        /// Device the result runs on (picks the cost profile).
        #[arg(long, value_enum, default_value = "cpu")]
        target: TargetArg,
        /// Print a Markdown table.
        #[arg(long)]
        markdown: bool,
        /// Write every sample and the medians as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Assert a property of the inputs, as for `optimize` (e.g. `no-fully-masked-rows`:
        /// lets the masked attention blocks of joint graphs fuse).
        #[arg(long, value_name = "NAME")]
        assume: Vec<String>,
        /// Optimise the graph as one e-graph even when it is large (by default a graph of
        /// 2,000 nodes or more is cut into regions between its blocks, each optimised on its
        /// own, equal regions once, and stitched back: see the README, "Scale").
        #[arg(long)]
        whole: bool,
    },
    /// Partition a joint graph into PREFIX.fw.json and PREFIX.bw.json (min-cut
    /// rematerialization under a memory budget).
    Partition {
        /// Input joint FX-JSON file (kind "joint").
        input: PathBuf,
        /// Output prefix: writes PREFIX.fw.json and PREFIX.bw.json.
        #[arg(short, long)]
        output: PathBuf,
        /// Memory budget in [0, 1]: 1 = runtime-optimised cut, 0 = save only inputs.
        #[arg(long, default_value_t = 1.0)]
        budget: f64,
        /// Device the result runs on (picks the default cost profile).
        #[arg(long, value_enum, default_value = "cpu")]
        target: TargetArg,
        /// Cost-model profile: cpu, a100, h100, or a JSON file (default: the target's).
        #[arg(long)]
        device: Option<String>,
        /// Write a JSON report (saved values, bytes, recompute cost, peak, timings) here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Print the budget → (activation bytes, recompute cost, peak) curve over 20 budgets
        /// and write PREFIX.sweep.svg.
        #[arg(long)]
        sweep: bool,
        /// How budgets below 1 treat peak memory (see the README).
        #[arg(long, value_enum, default_value = "within-budget")]
        peak_rule: PeakRuleArg,
    },
    /// Dev: write the lowering conformance cases (python/tests/test_lowering_conformance.py).
    #[command(hide = true)]
    LoweringCases {
        /// The per-op cases (python/gen_op_cases.py).
        #[arg(long, default_value = "tests/fixtures/interp/op_cases.json")]
        cases: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The exit codes, for `--help`.
const EXIT_CODES: &str = "Exit status: 0 success (also when stdout is a pipe closed early); \
1 fxsat's own failure (an internal error), an output that could not be written, or \
check-rules finding a failing rule; 2 bad input or bad usage (malformed graph, rules or \
profile, a missing or unreadable input file, an option value out of range). Outputs are \
written all or none: a failed run leaves existing output files as they were.";

/// Bad usage: an option value out of range (exit 2, like clap's own usage errors).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

/// The exit code of an error: 2 for bad input or usage, 1 for the rest.
fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<Usage>() {
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

/// Writes `text` to stdout; a failure is an output error.
fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(fxsat::io::atomic::stdout_error)?;
    Ok(())
}

/// A writer that remembers its first error (for library code that ignores write errors).
struct Checked<W> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> std::io::Write for Checked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            self.error
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| {
            self.error
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }
}

/// A time limit in seconds: positive; huge or infinite is no limit (`Duration::MAX`).
fn check_time_limit(secs: f64) -> Result<Duration> {
    if secs.is_nan() || secs <= 0.0 {
        return Err(usage(format!(
            "--time-limit must be a positive number of seconds, got {secs}"
        )));
    }
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// A memory budget in [0, 1].
fn check_budget(b: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&b) {
        return Err(usage(format!("--budget must be in [0, 1], got {b}")));
    }
    Ok(b)
}

/// A count that must be at least 1.
fn at_least_one(name: &str, n: usize) -> Result<usize> {
    if n == 0 {
        return Err(usage(format!("{name} must be at least 1")));
    }
    Ok(n)
}

/// Every `--assume` names an assumption some rule uses.
fn check_assume(assume: &[String], rules: &[fxsat::rules::Rule]) -> Result<()> {
    let mut known: Vec<String> = rules
        .iter()
        .flat_map(|r| r.assume.iter().cloned())
        .collect();
    if let Some(a) = assume.iter().find(|a| !known.contains(a)) {
        known.sort();
        known.dedup();
        return Err(usage(format!(
            "--assume {a}: no rule uses this assumption (known: {})",
            known.join(", ")
        )));
    }
    Ok(())
}

/// Region options of `--whole`.
fn regions(whole: bool) -> fxsat::regions::RegionOptions {
    if whole {
        fxsat::regions::RegionOptions::off()
    } else {
        fxsat::regions::RegionOptions::default()
    }
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

fn read(path: &Path) -> Result<fxsat::ir::Graph> {
    Ok(fxsat::io::read_file(path)?)
}

fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Optimize {
            input,
            output,
            target,
            device,
            rules,
            report,
            node_limit,
            iter_limit,
            time_limit,
            trust_meta,
            assume,
            exact_random,
            whole,
        } => {
            let t0 = Instant::now();
            let time_limit = check_time_limit(time_limit)?;
            at_least_one("--node-limit", node_limit)?;
            at_least_one("--iter-limit", iter_limit)?;
            let graph = read(&input)?;
            let target = match target {
                TargetArg::Cpu => Target::Cpu,
                TargetArg::Cuda => Target::Cuda,
            };
            let profile = Profile::named(device.as_deref().unwrap_or(target.default_profile()))?;
            let builtin_rules = rules.is_none();
            let rules = match rules {
                Some(dir) => Some(fxsat::rules::load_dir(&dir)?),
                None => None,
            };
            match &rules {
                Some(r) => check_assume(&assume, r)?,
                None => check_assume(&assume, &fxsat::rules::default_rules()?)?,
            }
            let opts = Options {
                target,
                profile: Some(profile),
                rules,
                limits: Limits {
                    nodes: node_limit,
                    iterations: iter_limit,
                    // the limit holds from the start: reading the input counts
                    time: time_limit.saturating_sub(t0.elapsed()),
                    ..Limits::default()
                },
                trust_meta,
                assume,
                exact_random,
                file: input.display().to_string(),
                progress: progress_bar::stderr_bar(),
                regions: regions(whole),
                ..Options::default()
            };
            let mut out = optimize(&graph, &opts).map_err(|e| match e {
                // a compiled-in rule that is unsound is fxsat's own failure
                fxsat::Error::UnsoundMerge { .. } if builtin_rules => {
                    fxsat::Error::Internal(e.to_string())
                }
                e => e,
            })?;
            let t_export = Instant::now();
            let text = fxsat::io::write_string(&out.graph);
            out.report.seconds.export = t_export.elapsed().as_secs_f64();
            out.report.seconds.total = t0.elapsed().as_secs_f64();
            let r = &out.report;
            let report_text = report.as_ref().map(|_| {
                let j = json!({
                    "input": input.display().to_string(),
                    "output": output.display().to_string(),
                    "seconds": {"import": r.seconds.import, "saturate": r.seconds.saturate, "extract": r.seconds.extract,
                                "export": r.seconds.export, "total": r.seconds.total},
                    "egraph": {"nodes": r.egraph.nodes, "classes": r.egraph.classes, "iterations": r.egraph.iterations,
                               "stop_reason": r.egraph.stop_reason},
                    "cost": {"before": r.cost.before, "after": r.cost.after, "greedy_tree": r.cost.greedy},
                    "nodes": {"before": r.nodes.before, "after": r.nodes.after, "opaque": r.nodes.opaque},
                    "attention": {"fused": r.attention.fused, "fused_backward": r.attention.fused_backward},
                    "regions": {"count": r.regions.count, "optimized": r.regions.optimized},
                    "rules": r.rules.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<String, serde_json::Value>>(),
                });
                format!("{j:#}\n")
            });
            // the graph and the report: both or neither
            let mut files: Vec<(&Path, &[u8])> = vec![(&output, text.as_bytes())];
            if let (Some(path), Some(t)) = (&report, &report_text) {
                files.push((path, t.as_bytes()));
            }
            fxsat::io::atomic::write_all(&files)?;
            let regions = match r.regions.count {
                0 => String::new(),
                n => format!(
                    " in {n} regions ({} optimised, the rest reused)",
                    r.regions.optimized
                ),
            };
            eprintln!(
                "{}: {} → {} nodes; cost {:.3e} → {:.3e} s; e-graph {} nodes / {} classes{regions} after {} iterations ({}); {:.1} ms",
                input.display(),
                r.nodes.before,
                r.nodes.after,
                r.cost.before,
                r.cost.after,
                r.egraph.nodes,
                r.egraph.classes,
                r.egraph.iterations,
                r.egraph.stop_reason,
                r.seconds.total * 1e3
            );
            Ok(())
        }
        Cmd::Bench {
            files,
            family,
            dir,
            runs,
            warmup,
            budget,
            target,
            markdown,
            json,
            assume,
            whole,
        } => {
            let target = match target {
                TargetArg::Cpu => Target::Cpu,
                TargetArg::Cuda => Target::Cuda,
            };
            at_least_one("--runs", runs)?;
            let budget = check_budget(budget)?;
            let rules = fxsat::rules::default_rules()?;
            check_assume(&assume, &rules)?;
            let files = if files.is_empty() {
                bench::family(&dir, family)
            } else {
                files
            };
            let args = bench::BenchArgs {
                files,
                runs,
                warmup,
                options: Options {
                    target,
                    rules: Some(rules),
                    assume,
                    regions: regions(whole),
                    ..Options::default()
                },
                partition: fxsat::PartitionOptions {
                    budget,
                    target,
                    ..fxsat::PartitionOptions::default()
                },
                markdown,
                json,
            };
            bench::run(&args)
        }
        Cmd::Stats {
            input,
            device,
            trust_meta,
        } => {
            let graph = read(&input)?;
            let model = Model::new(Profile::named(&device)?);
            let s = fxsat::stats::stats(&graph, &model, trust_meta, &input.display().to_string())?;
            print(&s.to_string())
        }
        Cmd::PadSweep { device } => {
            let profile = Profile::named(&device)?;
            let rows = fxsat::pad_sweep::sweep(&profile, &fxsat::pad_sweep::default_cases())?;
            print(&fxsat::pad_sweep::table_text(&profile, &rows))
        }
        Cmd::CheckRules { rules, cases, seed } => {
            at_least_one("--cases", cases)?;
            let opts = fxsat::check::CheckOptions { cases, seed };
            let mut out = Checked {
                inner: std::io::stdout().lock(),
                error: None,
            };
            let failed = fxsat::check::check_rules_command(rules.as_deref(), &opts, &mut out)?;
            let _ = out.flush();
            if let Some(e) = out.error {
                return Err(fxsat::io::atomic::stdout_error(e).into());
            }
            anyhow::ensure!(failed == 0, "check-rules: {failed} rule(s) failed");
            Ok(())
        }
        Cmd::Partition {
            input,
            output,
            budget,
            target,
            device,
            report,
            sweep,
            peak_rule,
        } => partition_cmd(
            &input,
            &output,
            budget,
            target,
            device.as_deref(),
            report.as_deref(),
            sweep,
            peak_rule,
        ),
        Cmd::LoweringCases { cases, out } => lowering_cases::run(&cases, &out),
    }
}

/// `fxsat partition`: split a joint graph into PREFIX.fw.json and PREFIX.bw.json.
#[allow(clippy::too_many_arguments)]
fn partition_cmd(
    input: &Path,
    prefix: &Path,
    budget: f64,
    target: TargetArg,
    device: Option<&str>,
    report: Option<&Path>,
    sweep: bool,
    peak_rule: PeakRuleArg,
) -> Result<()> {
    use fxsat::partition::{partition, sweep as sweep_curve, PartitionOptions, PeakRule};
    let t0 = Instant::now();
    let budget = check_budget(budget)?;
    let graph = read(input)?;
    let target = match target {
        TargetArg::Cpu => Target::Cpu,
        TargetArg::Cuda => Target::Cuda,
    };
    let opts = PartitionOptions {
        budget,
        target,
        profile: Some(Profile::named(device.unwrap_or(target.default_profile()))?),
        peak_rule: match peak_rule {
            PeakRuleArg::WithinBudget => PeakRule::WithinBudget,
            PeakRuleArg::Strict => PeakRule::Strict,
            PeakRuleArg::Off => PeakRule::Off,
        },
        ..PartitionOptions::default()
    };
    let mut p = partition(&graph, &opts)?;
    p.report.timings.total = t0.elapsed().as_secs_f64();
    let points = if sweep {
        Some(sweep_curve(&graph, &opts)?)
    } else {
        None
    };
    let with_suffix = |s: &str| {
        let mut os = prefix.as_os_str().to_owned();
        os.push(s);
        PathBuf::from(os)
    };
    let (fw_path, bw_path, svg_path) = (
        with_suffix(".fw.json"),
        with_suffix(".bw.json"),
        with_suffix(".sweep.svg"),
    );
    let fw = fxsat::io::write_string(&p.fw);
    let bw = fxsat::io::write_string(&p.bw);
    let r = &p.report;
    let report_text = report.map(|_| format!("{:#}\n", r.to_json()));
    let svg = points
        .as_ref()
        .map(|pts| sweep_svg::sweep_svg(&graph.name, pts));
    // every output or none
    let mut files: Vec<(&Path, &[u8])> = vec![(&fw_path, fw.as_bytes()), (&bw_path, bw.as_bytes())];
    if let (Some(path), Some(t)) = (report, &report_text) {
        files.push((path, t.as_bytes()));
    }
    if let Some(svg) = &svg {
        files.push((&svg_path, svg.as_bytes()));
    }
    fxsat::io::atomic::write_all(&files)?;
    if let Some(points) = &points {
        use std::fmt::Write as _;
        let mut table = String::from(
            "budget\tactivation_bytes\trecompute_seconds\trecompute_flops\tpeak_bytes\n",
        );
        for pt in points {
            let _ = writeln!(
                table,
                "{:.2}\t{}\t{:.6e}\t{:.6e}\t{}",
                pt.budget,
                pt.activation_bytes,
                pt.recompute_seconds,
                pt.recompute_flops,
                pt.peak_bytes
            );
        }
        print(&table)?;
    }
    eprintln!(
        "{}: budget {}: saved {} values, {} bytes ({} activation bytes, the budget allows {}, budget 1 saves {}); recomputes {} nodes ({:.3e} s, {:.3e} flops); peak {} bytes; {:.1} ms",
        input.display(),
        r.budget,
        r.saved.len(),
        r.saved_bytes,
        r.activation_bytes,
        r.budget_bytes,
        r.max_activation_bytes,
        r.recomputed.len(),
        r.recompute_seconds,
        r.recompute_flops,
        r.peak_bytes,
        r.timings.total * 1e3
    );
    Ok(())
}
