//! `fxsat optimize`.

use crate::args::{at_least_one, check_seconds, check_time_limit, CacheArgs, DeviceArgs};
use crate::output::ReportFile;
use crate::progress_bar;
use anyhow::Result;
use clap::Args;
use fxsat::extract::Extractor;
use fxsat::request::{OptimizeRequest, RuleSource};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Optimise a graph: saturate with the rules, extract the cheapest equivalent graph.
///
/// The output has the same inputs and the same outputs in the same order (a joint graph
/// stays a joint graph with the same num_fwd_outputs).
#[derive(Args)]
pub struct OptimizeArgs {
    /// Input FX-JSON file (`.json`, `.json.gz`), or a `torch.export` program (`.pt2`,
    /// converted by `python -m fxsat.exported`: the interpreter is `$FXSAT_PYTHON`, else
    /// `python3`, and needs torch and the fxsat package).
    input: PathBuf,
    /// Output FX-JSON file.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    device: DeviceArgs,
    /// Directory of .rules files replacing the compiled-in rules.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// More .rules files, or directories of them, added to the rules (repeatable).
    #[arg(long, value_name = "PATH")]
    extra_rules: Vec<PathBuf>,
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
    /// own, equal regions once, and stitched back: see docs/scale.md).
    #[arg(long)]
    whole: bool,
    #[command(flatten)]
    cache: CacheArgs,
    /// The extractor: `greedy` (bottom-up tree costs), `dag` (greedy, then local search
    /// on the DAG cost: the default) or `exact` (the DAG result, then an integer program
    /// solved to optimality or to --extract-time-limit; the report's `exact` section gives
    /// the DAG cost, the best cost, the proven lower bound and the gap).
    #[arg(long, value_enum, default_value = "dag")]
    extractor: ExtractorArg,
    /// Time limit in seconds of the exact extractor, per e-graph (per region when the
    /// graph is cut), on top of --time-limit.
    #[arg(long, default_value_t = 10.0)]
    extract_time_limit: f64,
    /// Write the saturated e-graph here in the egraph-serialize JSON format (what
    /// extraction-gym reads; costs are the cost model's). A graph cut into regions writes
    /// one file per region optimised: FILE.json becomes FILE.0.json, FILE.1.json, ...
    /// (see docs/research.md).
    #[arg(long, value_name = "FILE")]
    dump_egraph: Option<PathBuf>,
    /// Write a Graphviz picture of the saturated e-graph here (per region like
    /// --dump-egraph); refused for an e-graph of more than 2,000 e-nodes.
    #[arg(long, value_name = "FILE")]
    dump_dot: Option<PathBuf>,
}

/// `--extractor`'s values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ExtractorArg {
    /// Greedy bottom-up tree costs.
    Greedy,
    /// Greedy, then local search on the DAG cost.
    Dag,
    /// The DAG result, then an exact integer program.
    Exact,
}

impl ExtractorArg {
    fn extractor(self) -> Extractor {
        match self {
            ExtractorArg::Greedy => Extractor::Greedy,
            ExtractorArg::Dag => Extractor::Dag,
            ExtractorArg::Exact => Extractor::Exact,
        }
    }
}

/// Where the `k`th of `n` dumps goes: `path` for a whole graph, `stem.k.ext` per region.
pub fn dump_path(path: &Path, k: usize, regions: bool) -> PathBuf {
    if !regions {
        return path.to_path_buf();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{k}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{k}"),
    };
    path.with_file_name(name)
}

impl OptimizeArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let t0 = Instant::now();
        check_time_limit(self.time_limit)?;
        let extract_time_limit = check_seconds("--extract-time-limit", self.extract_time_limit)?;
        at_least_one("--node-limit", self.node_limit)?;
        at_least_one("--iter-limit", self.iter_limit)?;
        let graph = crate::pt2::read_graph(&self.input)?;
        let req = OptimizeRequest {
            target: self.device.target(),
            device: self.device.device.clone(),
            rules: RuleSource {
                dir: self.rules.clone(),
                extra: self.extra_rules.clone(),
            },
            assume: self.assume.clone(),
            node_limit: self.node_limit,
            iter_limit: self.iter_limit,
            time_limit: self.time_limit,
            // the limit holds from the start: reading the input counts
            start: Some(t0),
            trust_meta: self.trust_meta,
            exact_random: self.exact_random,
            whole: self.whole,
            file: self.input.display().to_string(),
            progress: progress_bar::stderr_bar(),
            cache: self.cache.dir()?,
            extractor: self.extractor.extractor(),
            extract_time_limit: (extract_time_limit != std::time::Duration::MAX)
                .then_some(extract_time_limit),
            dump_egraph: self.dump_egraph.is_some() || self.dump_dot.is_some(),
        };
        let out = fxsat::request::optimize(&graph, &req)?;
        let cut = out
            .report
            .pointer("/regions/count")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            > 0;
        let report_text = match &self.report {
            Some(_) => Some(self.report_file(out.report.clone()).text()?),
            None => None,
        };
        // the graph and the report: both or neither
        let mut files: Vec<(&Path, &[u8])> = vec![(&self.output, out.graph.as_bytes())];
        if let (Some(path), Some(t)) = (&self.report, &report_text) {
            files.push((path, t.as_bytes()));
        }
        // the dumps: one per e-graph (per region optimised when cut)
        let mut dumps: Vec<(PathBuf, String)> = Vec::new();
        for (k, eg) in out.egraphs.iter().enumerate() {
            if let Some(p) = &self.dump_egraph {
                dumps.push((dump_path(p, k, cut), fxsat::extract::serialize::to_json(eg)));
            }
            if let Some(p) = &self.dump_dot {
                let path = dump_path(p, k, cut);
                let name = format!("--dump-dot {}", path.display());
                dumps.push((path, fxsat::extract::serialize::dot(eg, &name)?));
            }
        }
        files.extend(dumps.iter().map(|(p, t)| (p.as_path(), t.as_bytes())));
        fxsat::io::atomic::write_all(&files)?;
        eprintln!("{}", self.summary(&out.report));
        Ok(())
    }

    /// The report file: the report document with the files.
    fn report_file(&self, report: Value) -> ReportFile {
        ReportFile {
            input: Some(self.input.display().to_string()),
            output: Some(self.output.display().to_string()),
            report,
        }
    }

    /// The line on stderr.
    fn summary(&self, r: &Value) -> String {
        let n = |p: &str| r.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        let f = |p: &str| r.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
        let regions = match n("/regions/count") {
            0 => String::new(),
            k => format!(
                " in {k} regions ({} optimised, the rest reused)",
                n("/regions/optimized")
            ),
        };
        let cache = match r.pointer("/cache/hit").and_then(Value::as_bool) {
            Some(true) => "; cache hit",
            Some(false) => "; cache miss (stored)",
            None => "",
        };
        format!(
            "{}: {} → {} nodes; cost {:.3e} → {:.3e} s; e-graph {} nodes / {} classes{regions} after {} iterations ({}); {:.1} ms{cache}",
            self.input.display(),
            n("/nodes/before"),
            n("/nodes/after"),
            f("/cost/before"),
            f("/cost/after"),
            n("/egraph/nodes"),
            n("/egraph/classes"),
            n("/egraph/iterations"),
            r.pointer("/egraph/stop_reason").and_then(Value::as_str).unwrap_or("?"),
            f("/seconds/total") * 1e3
        )
    }
}
