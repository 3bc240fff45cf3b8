//! `fxsat optimize`.

use crate::args::{
    at_least_one, check_assume, check_seconds, check_time_limit, regions, DeviceArgs,
};
use crate::output::{ReportFile, REPORT_VERSION};
use crate::progress_bar;
use anyhow::Result;
use clap::Args;
use fxsat::extract::Extractor;
use fxsat::Limits;
use fxsat::{optimize, Options};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Optimise a graph: saturate with the rules, extract the cheapest equivalent graph.
///
/// The output has the same inputs and the same outputs in the same order (a joint graph
/// stays a joint graph with the same num_fwd_outputs).
#[derive(Args)]
pub struct OptimizeArgs {
    /// Input FX-JSON file.
    input: PathBuf,
    /// Output FX-JSON file.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    device: DeviceArgs,
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
    /// own, equal regions once, and stitched back: see docs/scale.md).
    #[arg(long)]
    whole: bool,
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
        let time_limit = check_time_limit(self.time_limit)?;
        let extract_time_limit = check_seconds("--extract-time-limit", self.extract_time_limit)?;
        at_least_one("--node-limit", self.node_limit)?;
        at_least_one("--iter-limit", self.iter_limit)?;
        let graph = fxsat::io::read_file(&self.input)?;
        let profile = self.device.profile()?;
        let builtin_rules = self.rules.is_none();
        let rules = match &self.rules {
            Some(dir) => Some(fxsat::rules::load_dir(dir)?),
            None => None,
        };
        match &rules {
            Some(r) => check_assume(&self.assume, r)?,
            None => check_assume(&self.assume, &fxsat::rules::default_rules()?)?,
        }
        let opts = Options {
            target: self.device.target(),
            profile: Some(profile),
            rules,
            limits: Limits {
                nodes: self.node_limit,
                iterations: self.iter_limit,
                // the limit holds from the start: reading the input counts
                time: time_limit.saturating_sub(t0.elapsed()),
                ..Limits::default()
            },
            trust_meta: self.trust_meta,
            assume: self.assume.clone(),
            exact_random: self.exact_random,
            file: self.input.display().to_string(),
            progress: progress_bar::stderr_bar(),
            regions: regions(self.whole),
            extract: fxsat::ExtractOptions {
                extractor: self.extractor.extractor(),
                exact_time_limit: (extract_time_limit != std::time::Duration::MAX)
                    .then_some(extract_time_limit),
                ..fxsat::ExtractOptions::default()
            },
            dump_egraph: self.dump_egraph.is_some() || self.dump_dot.is_some(),
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
        let report_text = match &self.report {
            Some(_) => Some(self.report_file(&opts, &out.report).text()?),
            None => None,
        };
        // the graph and the report: both or neither
        let mut files: Vec<(&Path, &[u8])> = vec![(&self.output, text.as_bytes())];
        if let (Some(path), Some(t)) = (&self.report, &report_text) {
            files.push((path, t.as_bytes()));
        }
        // the dumps: one per e-graph (per region optimised when cut)
        let cut = out.report.regions.count > 0;
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

    /// The report file: the report, the files and the options as given.
    fn report_file<'a>(
        &self,
        opts: &Options,
        report: &'a fxsat::Report,
    ) -> ReportFile<'a, fxsat::UsedOptions, fxsat::Report> {
        let mut used = opts.used();
        // as given: the options' limit is what was left after reading the input
        used.time_limit = check_time_limit(self.time_limit)
            .ok()
            .filter(|d| *d != std::time::Duration::MAX)
            .map(|d| d.as_secs_f64());
        used.rules = self.rules.as_ref().map(|d| d.display().to_string());
        ReportFile {
            format: "fxsat-optimize-report",
            version: REPORT_VERSION,
            input: Some(self.input.display().to_string()),
            output: Some(self.output.display().to_string()),
            options: used,
            report,
        }
    }

    /// The line on stderr.
    fn summary(&self, r: &fxsat::Report) -> String {
        let regions = match r.regions.count {
            0 => String::new(),
            n => format!(
                " in {n} regions ({} optimised, the rest reused)",
                r.regions.optimized
            ),
        };
        format!(
            "{}: {} → {} nodes; cost {:.3e} → {:.3e} s; e-graph {} nodes / {} classes{regions} after {} iterations ({}); {:.1} ms",
            self.input.display(),
            r.nodes.before,
            r.nodes.after,
            r.cost.before,
            r.cost.after,
            r.egraph.nodes,
            r.egraph.classes,
            r.egraph.iterations,
            r.egraph.stop_reason,
            r.seconds.total * 1e3
        )
    }
}
