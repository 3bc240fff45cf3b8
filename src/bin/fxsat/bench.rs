//! `fxsat bench`: the whole pipeline (read → build e-graph → saturate → extract → partition →
//! export) on each graph, several runs, per-phase medians, e-graph sizes and peak RSS.

use crate::args::{at_least_one, check_assume, check_budget, regions, DeviceArgs};
use anyhow::{Context, Result};
use fxsat::ir::GraphKind;
use fxsat::partition::{partition, PartitionOptions};
use fxsat::{optimize, Options};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which graphs of the scaling family `fxsat bench` runs when given no files.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// `llama{N}.joint.json.gz`.
    Joint,
    /// `llama{N}.forward.json.gz`.
    Forward,
    /// Both, forward first.
    Both,
}

/// Time the whole pipeline (read → build e-graph → saturate → extract → partition →
/// export) on each graph: per-phase medians, e-graph sizes, peak RSS.
///
/// Without FILES, runs the scaling fixtures tests/fixtures/scale/llama{1,4,16,32,64}
/// (made by python/fixtures/gen_scale_fixtures.py).
#[derive(clap::Args)]
pub struct BenchCmd {
    /// Graphs to run (FX-JSON; `.json.gz` is read gunzipped).
    files: Vec<PathBuf>,
    /// Which scaling fixtures to run when no FILES are given.
    #[arg(long, value_enum, default_value = "joint")]
    family: Family,
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
    #[command(flatten)]
    device: DeviceArgs,
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
    /// own, equal regions once, and stitched back: see docs/scale.md).
    #[arg(long)]
    whole: bool,
}

impl BenchCmd {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        at_least_one("--runs", self.runs)?;
        let budget = check_budget(self.budget)?;
        let rules = fxsat::rules::default_rules()?;
        check_assume(&self.assume, &rules)?;
        let profile = self.device.profile()?;
        let files = if self.files.is_empty() {
            family(&self.dir, self.family)
        } else {
            self.files
        };
        run(&BenchArgs {
            files,
            runs: self.runs,
            warmup: self.warmup,
            options: Options {
                target: self.device.target(),
                profile: Some(profile.clone()),
                rules: Some(rules),
                assume: self.assume,
                regions: regions(self.whole),
                ..Options::default()
            },
            partition: PartitionOptions {
                budget,
                target: self.device.target(),
                profile: Some(profile),
                ..PartitionOptions::default()
            },
            markdown: self.markdown,
            json: self.json,
        })
    }
}

/// What to run.
pub struct BenchArgs {
    /// Graphs (FX-JSON, `.gz` allowed).
    pub files: Vec<PathBuf>,
    /// Timed runs per graph.
    pub runs: usize,
    /// Untimed runs first.
    pub warmup: usize,
    /// Options of the optimiser.
    pub options: Options,
    /// Options of the partitioner.
    pub partition: PartitionOptions,
    /// Print a Markdown table.
    pub markdown: bool,
    /// Write every sample and the medians as JSON here.
    pub json: Option<PathBuf>,
}

/// The scaling family's layer counts.
pub const LAYERS: [usize; 5] = [1, 4, 16, 32, 64];

/// The default graph list: the scaling fixtures under `dir`.
pub fn family(dir: &Path, which: Family) -> Vec<PathBuf> {
    let kinds: &[&str] = match which {
        Family::Joint => &["joint"],
        Family::Forward => &["forward"],
        Family::Both => &["forward", "joint"],
    };
    let mut v = Vec::new();
    for k in kinds {
        for n in LAYERS {
            v.push(dir.join(format!("llama{n}.{k}.json.gz")));
        }
    }
    v
}

const PHASES: [&str; 8] = [
    "read",
    "build",
    "saturate",
    "extract",
    "partition",
    "export",
    "total",
    "cpu",
];

/// One run's seconds per phase (indexed like `PHASES`).
type Sample = [f64; 8];

/// The figures of one graph.
struct Row {
    file: String,
    kind: String,
    nodes_in: usize,
    nodes_out: usize,
    enodes: usize,
    eclasses: usize,
    iterations: usize,
    /// Regions (0: whole) and how many were optimised.
    regions: (usize, usize),
    stop: String,
    softmax_in: usize,
    sdpa_out: usize,
    saved: Option<usize>,
    peak_rss: Option<u64>,
    samples: Vec<Sample>,
}

impl Row {
    fn median(&self, phase: usize) -> f64 {
        let mut v: Vec<f64> = self.samples.iter().map(|s| s[phase]).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
}

/// CPU seconds this thread has run, from `/proc/thread-self/schedstat` (`None` elsewhere).
fn thread_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// Peak resident set size of this process in bytes (`VmHWM` of `/proc/self/status`).
pub fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak RSS to the current RSS (Linux: `5` into `/proc/self/clear_refs`).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn one_run(path: &Path, args: &BenchArgs) -> Result<(Sample, Row)> {
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    let graph = fxsat::io::read_file(path)?;
    let t_read = t0.elapsed().as_secs_f64();
    let opts = Options {
        file: path.display().to_string(),
        ..args.options.clone()
    };
    let out = optimize(&graph, &opts)?;
    let (t_part, parts) = if graph.kind == GraphKind::Joint {
        let t = Instant::now();
        let p = partition(&out.graph, &args.partition)?;
        (t.elapsed().as_secs_f64(), Some(p))
    } else {
        (0.0, None)
    };
    let t = Instant::now();
    let bytes = match &parts {
        Some(p) => fxsat::io::write_string(&p.fw).len() + fxsat::io::write_string(&p.bw).len(),
        None => fxsat::io::write_string(&out.graph).len(),
    };
    std::hint::black_box(bytes);
    let t_export = t.elapsed().as_secs_f64();
    let total = t0.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    let r = &out.report;
    let sample = [
        t_read,
        r.seconds.import,
        r.seconds.saturate,
        r.seconds.extract,
        t_part,
        t_export,
        total,
        cpu,
    ];
    let softmax_in = graph
        .nodes
        .iter()
        .filter(|n| {
            n.target() == Some("aten.amax.default") || n.target() == Some("aten._softmax.default")
        })
        .count();
    let row = Row {
        file: path.file_name().map_or_else(
            || path.display().to_string(),
            |f| f.to_string_lossy().into(),
        ),
        kind: format!("{:?}", graph.kind).to_lowercase(),
        nodes_in: r.nodes.before,
        nodes_out: r.nodes.after,
        enodes: r.egraph.nodes,
        eclasses: r.egraph.classes,
        iterations: r.egraph.iterations,
        regions: (r.regions.count, r.regions.optimized),
        stop: r.egraph.stop_reason.to_string(),
        softmax_in,
        sdpa_out: r.attention.fused,
        saved: parts.as_ref().map(|p| p.report.saved.len()),
        peak_rss: None,
        samples: Vec::new(),
    };
    Ok((sample, row))
}

fn bench_one(path: &Path, args: &BenchArgs) -> Result<Row> {
    let clean = reset_peak_rss();
    for _ in 0..args.warmup {
        one_run(path, args)?;
    }
    let mut row = None;
    let mut samples = Vec::new();
    for _ in 0..args.runs.max(1) {
        let (s, r) = one_run(path, args)?;
        samples.push(s);
        row = Some(r);
    }
    let mut row = row.expect("at least one run");
    row.samples = samples;
    // Without a reset the high-water mark is the process's so far (an upper bound).
    row.peak_rss = peak_rss();
    if !clean {
        log::warn!("peak RSS could not be reset between graphs: figures are cumulative");
    }
    Ok(row)
}

fn ms(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x < 0.01 {
        format!("{:.2}", x * 1e3)
    } else {
        format!("{:.1}", x * 1e3)
    }
}

fn mib(b: Option<u64>) -> String {
    b.map_or("-".into(), |b| {
        format!("{:.0}", b as f64 / (1 << 20) as f64)
    })
}

/// Runs the bench and prints the table (stdout); progress lines go to stderr.
pub fn run(args: &BenchArgs) -> Result<()> {
    let mut rows = Vec::new();
    for path in &args.files {
        if !path.exists() {
            // bad input (exit 2)
            return Err(fxsat::Error::Invalid(format!(
                "{}: no such graph (the scaling fixtures are made by python/fixtures/gen_scale_fixtures.py)",
                path.display()
            ))
            .into());
        }
        let t = Instant::now();
        let row = bench_one(path, args).with_context(|| format!("bench {}", path.display()))?;
        eprintln!(
            "bench: {}: {} runs in {:.1} s",
            row.file,
            row.samples.len(),
            t.elapsed().as_secs_f64()
        );
        rows.push(row);
    }
    // the JSON first: a failed write of it must not follow a printed table
    if let Some(path) = &args.json {
        let j = json!({
            "format": "fxsat-bench",
            "version": 1,
            "runs": args.runs,
            "warmup": args.warmup,
            "phases": PHASES,
            "graphs": rows.iter().map(|r| json!({
                "file": r.file,
                "kind": r.kind,
                "nodes": {"in": r.nodes_in, "out": r.nodes_out},
                "egraph": {"nodes": r.enodes, "classes": r.eclasses, "iterations": r.iterations,
                           "stop_reason": r.stop},
                "regions": {"count": r.regions.0, "optimized": r.regions.1},
                "attention": {"softmax_in": r.softmax_in, "sdpa_out": r.sdpa_out},
                "saved": r.saved,
                "peak_rss_bytes": r.peak_rss,
                "median_seconds": PHASES.iter().enumerate()
                    .map(|(i, p)| (p.to_string(), json!(r.median(i))))
                    .collect::<serde_json::Map<_, _>>(),
                "samples": r.samples.iter().map(|s| s.to_vec()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        fxsat::io::atomic::write(path, (serde_json::to_string_pretty(&j)? + "\n").as_bytes())?;
    }
    crate::output::print(&table(&rows, args.markdown))
}

/// The table `fxsat bench` prints.
fn table(rows: &[Row], markdown: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let header = [
        "graph",
        "nodes",
        "e-nodes",
        "e-classes",
        "iters",
        "regions",
        "read",
        "build",
        "saturate",
        "extract",
        "partition",
        "export",
        "total ms",
        "cpu ms",
        "sdpa",
        "peak RSS MiB",
    ];
    let mut lines: Vec<Vec<String>> = Vec::new();
    for r in rows {
        let mut l = vec![
            r.file.clone(),
            r.nodes_in.to_string(),
            r.enodes.to_string(),
            r.eclasses.to_string(),
            r.iterations.to_string(),
            match r.regions {
                (0, _) => "whole".into(),
                (n, k) => format!("{k} of {n}"),
            },
        ];
        for (i, phase) in PHASES.iter().enumerate() {
            l.push(if *phase == "partition" && r.saved.is_none() {
                "-".into()
            } else {
                ms(r.median(i))
            });
        }
        l.push(format!("{}/{}", r.sdpa_out, r.softmax_in));
        l.push(mib(r.peak_rss));
        lines.push(l);
    }
    if markdown {
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
        for l in &lines {
            let _ = writeln!(out, "| {} |", l.join(" | "));
        }
    } else {
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].len())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let fmt = |cells: Vec<&str>| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 {
                        format!("{c:<w$}", w = widths[i])
                    } else {
                        format!("{c:>w$}", w = widths[i])
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
        let _ = writeln!(out, "{}", fmt(header.to_vec()));
        for l in &lines {
            let _ = writeln!(out, "{}", fmt(l.iter().map(|s| s.as_str()).collect()));
        }
    }
    let _ = writeln!(
        out,
        "(medians over the timed runs; times in ms; read = gunzip + JSON parse, build = graph → \
         e-graph, export = writing the output FX-JSON (fw + bw for joint graphs); cpu = this \
         thread's CPU time; sdpa = SDPA calls out / softmax blocks in)"
    );
    out
}
