//! The whole optimisation: import → saturate → extract → export-ready graph, with a report.

use crate::cost::{Model, Profile};
use crate::egraph::{build, to_graph, BuildOptions, Template};
use crate::error::Result;
use crate::extract::{dag_cost, extract_with, greedy, ExtractOptions};
use crate::ir::Graph;
use crate::partition::cse::cse;
use crate::progress::{Phase, Progress};
use crate::regions::{
    region_graph, same_structure, split, stitch, structure_hash, Placed, Region, RegionOptions,
};
use crate::rules::{default_rules, Rule};
use crate::saturate::{saturate_with, Limits, SatReport, StopReason};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Where the optimised graph will run: decides which aten ops may be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// PyTorch on CPU.
    Cpu,
    /// PyTorch on CUDA.
    Cuda,
}

impl Target {
    /// The cost model of `profile`, or of the target's default profile.
    pub fn model(self, profile: Option<&Profile>) -> Result<Model> {
        Ok(Model::new(match profile {
            Some(p) => p.clone(),
            None => Profile::named(self.default_profile())?,
        }))
    }

    /// The default device profile of the target.
    pub fn default_profile(self) -> &'static str {
        match self {
            Target::Cpu => "cpu",
            Target::Cuda => "h100",
        }
    }
}

/// Options of [`optimize`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Target device.
    pub target: Target,
    /// Device profile for the cost model (defaults to the target's).
    pub profile: Option<Profile>,
    /// Rules (defaults to the compiled-in rules).
    pub rules: Option<Vec<Rule>>,
    /// Saturation limits; `limits.time` bounds the whole of [`optimize`] (import, saturation,
    /// extraction), region by region too.
    pub limits: Limits,
    /// Keep recorded `val`s that contradict shape rules (those nodes become opaque).
    pub trust_meta: bool,
    /// Name of the input, for error messages.
    pub file: String,
    /// Extraction options.
    pub extract: ExtractOptions,
    /// Assumptions about the inputs that the caller asserts, enabling the rules that need
    /// them (e.g. `no-fully-masked-rows`).
    pub assume: Vec<String>,
    /// Apply no rule that is only equal in distribution (`:in-distribution`: random ops the
    /// rule replaces by a kernel's own randomness, e.g. attention dropout becoming SDPA's
    /// `dropout_p`). Off by default, as Inductor applies its dropout SDPA patterns by default.
    pub exact_random: bool,
    /// Progress of saturation and extraction (default: reported nowhere).
    pub progress: Progress,
    /// Large graphs are optimised region by region (see [`crate::regions`]).
    pub regions: RegionOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            target: Target::Cpu,
            profile: None,
            rules: None,
            limits: Limits::default(),
            trust_meta: false,
            file: "<input>".into(),
            extract: ExtractOptions::default(),
            assume: Vec::new(),
            exact_random: false,
            progress: Progress::default(),
            regions: RegionOptions::default(),
        }
    }
}

impl Options {
    /// The cost model (the profile, or the target's default).
    pub fn model(&self) -> Result<Model> {
        self.target.model(self.profile.as_ref())
    }

    /// The rules given, or the compiled-in ones (before target, assumption and randomness
    /// filters).
    pub fn all_rules(&self) -> Result<Vec<Rule>> {
        match &self.rules {
            Some(r) => Ok(r.clone()),
            None => default_rules(),
        }
    }
}

/// Timings, sizes and costs of one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Seconds per phase.
    pub seconds: Seconds,
    /// E-graph size and saturation outcome.
    pub egraph: EGraphReport,
    /// Cost-model seconds before and after.
    pub cost: CostReport,
    /// Applications per rule.
    pub rules: IndexMap<String, usize>,
    /// Nodes in and out, opaque nodes.
    pub nodes: NodeReport,
    /// Attention calls in the output graph.
    pub attention: AttentionReport,
    /// Regions the graph was split into (0: optimised whole) and how many were optimised
    /// (the others reused an equal region's result).
    pub regions: RegionReport,
}

/// Region figures (see [`crate::regions`]).
#[derive(Debug, Clone, Default)]
pub struct RegionReport {
    /// Regions (0 when the graph was optimised whole).
    pub count: usize,
    /// Regions saturated and extracted; the rest reused one of these.
    pub optimized: usize,
}

/// Attention figures.
#[derive(Debug, Clone, Default)]
pub struct AttentionReport {
    /// Forward `scaled_dot_product_attention` calls (any variant) in the output graph.
    pub fused: usize,
    /// Their backward calls (`_scaled_dot_product_*_backward`).
    pub fused_backward: usize,
}

impl AttentionReport {
    /// Counts the SDPA forward and backward calls of a graph.
    pub fn of(g: &Graph) -> Self {
        let sdpa = |backward: bool| {
            g.nodes
                .iter()
                .filter_map(|n| n.target())
                .filter(|t| t.contains("scaled_dot_product") && t.contains("backward") == backward)
                .count()
        };
        AttentionReport {
            fused: sdpa(false),
            fused_backward: sdpa(true),
        }
    }
}

/// Seconds per phase.
#[derive(Debug, Clone, Default)]
pub struct Seconds {
    /// Graph → e-graph (region by region: the regions' summed, and the cut).
    pub import: f64,
    /// Saturation (region by region: the optimised regions' summed).
    pub saturate: f64,
    /// Extraction and graph rebuild (region by region: the regions' summed, and the stitch).
    pub extract: f64,
    /// Serialisation (filled by the caller that writes).
    pub export: f64,
    /// Everything.
    pub total: f64,
}

/// E-graph figures (region by region: the optimised regions' e-graphs summed, the most
/// iterations, the strongest stop reason: `time-limit`, else `node-limit`, else
/// `iteration-limit`, else `saturated`).
#[derive(Debug, Clone, Default)]
pub struct EGraphReport {
    /// E-nodes after saturation.
    pub nodes: usize,
    /// E-classes after saturation.
    pub classes: usize,
    /// Iterations.
    pub iterations: usize,
    /// Why saturation stopped (`time-limit` also when the time ran out in extraction).
    pub stop_reason: StopReason,
}

/// Costs (cost-model seconds).
#[derive(Debug, Clone, Default)]
pub struct CostReport {
    /// The input graph (region by region: node by node, duplicates included).
    pub before: f64,
    /// The output graph.
    pub after: f64,
    /// Greedy tree extraction's result, for comparison (region by region: the sum over the
    /// regions).
    pub greedy: f64,
}

/// Node counts.
#[derive(Debug, Clone, Default)]
pub struct NodeReport {
    /// Nodes in the input (without the output node).
    pub before: usize,
    /// Nodes in the output.
    pub after: usize,
    /// Input nodes kept opaque (unknown ops).
    pub opaque: usize,
}

/// An optimised graph and its report.
#[derive(Debug, Clone)]
pub struct Optimized {
    /// The graph.
    pub graph: Graph,
    /// What happened.
    pub report: Report,
}

/// Optimises a graph: same inputs, same outputs in the same order. A graph of at least
/// [`RegionOptions::min_graph_nodes`] nodes is optimised [region by region](crate::regions)
/// (and whole if that fails).
pub fn optimize(graph: &Graph, opts: &Options) -> Result<Optimized> {
    let t0 = Instant::now();
    if let Some(regions) = split(graph, &opts.regions) {
        match optimize_regions(graph, &regions, opts, t0) {
            Ok(out) => return Ok(out),
            Err(e) => log::warn!(
                "{}: optimising region by region failed ({e}); optimising the whole graph",
                graph.name
            ),
        }
        // what is left of the time limit
        return optimize_whole(graph, &opts.with_time(left(t0, opts.limits.time)));
    }
    optimize_whole(graph, opts)
}

/// What is left at this instant of `limit` from `start` (`Duration::MAX` stays no limit).
fn left(start: Instant, limit: Duration) -> Duration {
    match start.checked_add(limit) {
        Some(deadline) => deadline.saturating_duration_since(Instant::now()),
        None => Duration::MAX,
    }
}

impl Options {
    /// These options with the time limit `time`.
    fn with_time(&self, time: Duration) -> Options {
        Options {
            limits: Limits {
                time,
                ..self.limits.clone()
            },
            ..self.clone()
        }
    }
}

/// Every region's optimised graph, equal regions optimised once.
struct RegionResults {
    /// The regions optimised: their graph and its optimisation.
    done: Vec<(Graph, Optimized)>,
    /// Per region, its entry in `done`.
    which: Vec<usize>,
    /// Per region, its graph.
    graphs: Vec<Graph>,
}

/// The regions' optimised graphs (equal regions once), stitched back.
fn optimize_regions(
    graph: &Graph,
    regions: &[Region],
    opts: &Options,
    t0: Instant,
) -> Result<Optimized> {
    let t_each = Instant::now();
    let res = optimize_each(graph, regions, opts, t0)?;
    let optimising: f64 = res.done.iter().map(|(_, o)| o.report.seconds.total).sum();
    // the cut, and making and comparing the region graphs
    let cutting = (t_each - t0).as_secs_f64() + t_each.elapsed().as_secs_f64() - optimising;
    let t_stitch = Instant::now();
    let placed: Vec<Placed<'_>> = regions
        .iter()
        .zip(&res.which)
        .zip(&res.graphs)
        .map(|((region, &i), rg)| Placed {
            region,
            result: &res.done[i].1.graph,
            names: res.done[i]
                .0
                .nodes
                .iter()
                .zip(&rg.nodes)
                .filter(|(a, b)| a.name != b.name)
                .map(|(a, b)| (a.name.clone(), b.name.clone()))
                .collect(),
        })
        .collect();
    let (out, _) = cse(&stitch(graph, &placed)?);
    let mut report = region_report(graph, &out, &res, opts)?;
    report.seconds.import += cutting;
    report.seconds.extract += t_stitch.elapsed().as_secs_f64();
    report.seconds.total = t0.elapsed().as_secs_f64();
    log::info!(
        "{}: {} regions ({} optimised), {} → {} nodes, cost {:.3e} → {:.3e} s",
        graph.name,
        regions.len(),
        res.done.len(),
        report.nodes.before,
        report.nodes.after,
        report.cost.before,
        report.cost.after
    );
    Ok(Optimized { graph: out, report })
}

/// Optimises each region (as a graph of its own, whole) or reuses an equal one's result; all
/// within the time limit from `t0`.
fn optimize_each(
    graph: &Graph,
    regions: &[Region],
    opts: &Options,
    t0: Instant,
) -> Result<RegionResults> {
    // the rules are read once, not once per region
    let rules = Some(opts.all_rules()?);
    let mut memo: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut res = RegionResults {
        done: Vec::new(),
        which: Vec::with_capacity(regions.len()),
        graphs: Vec::with_capacity(regions.len()),
    };
    for (k, r) in regions.iter().enumerate() {
        let rg = region_graph(graph, r);
        let key = structure_hash(&rg);
        let same = memo.get(&key).filter(|_| opts.regions.reuse).and_then(|c| {
            c.iter()
                .copied()
                .find(|&i| same_structure(&res.done[i].0, &rg))
        });
        let i = match same {
            Some(i) => i,
            None => {
                let sub = Options {
                    rules: rules.clone(),
                    regions: RegionOptions::off(),
                    progress: Progress::default(),
                    ..opts.with_time(left(t0, opts.limits.time))
                };
                let out = optimize_whole(&rg, &sub)?;
                res.done.push((rg.clone(), out));
                memo.entry(key).or_default().push(res.done.len() - 1);
                res.done.len() - 1
            }
        };
        opts.progress
            .step(Phase::Saturate, k + 1, regions.len(), "regions");
        res.which.push(i);
        res.graphs.push(rg);
    }
    opts.progress.finish(Phase::Saturate);
    Ok(res)
}

/// The report of a region-by-region run: e-graphs and phase times of the regions optimised,
/// rule applications of every region, costs and counts of the whole graphs.
fn region_report(
    graph: &Graph,
    out: &Graph,
    res: &RegionResults,
    opts: &Options,
) -> Result<Report> {
    let mut r = Report {
        regions: RegionReport {
            count: res.which.len(),
            optimized: res.done.len(),
        },
        ..Report::default()
    };
    for (_, o) in &res.done {
        let s = &o.report;
        r.seconds.import += s.seconds.import;
        r.seconds.saturate += s.seconds.saturate;
        r.seconds.extract += s.seconds.extract;
        r.egraph.nodes += s.egraph.nodes;
        r.egraph.classes += s.egraph.classes;
        r.egraph.iterations = r.egraph.iterations.max(s.egraph.iterations);
        if s.egraph.stop_reason.rank() > r.egraph.stop_reason.rank() {
            r.egraph.stop_reason = s.egraph.stop_reason;
        }
    }
    for &i in &res.which {
        let s = &res.done[i].1.report;
        r.cost.greedy += s.cost.greedy;
        r.nodes.opaque += s.nodes.opaque;
        for (rule, n) in &s.rules {
            *r.rules.entry(rule.clone()).or_insert(0) += n;
        }
    }
    let model = opts.model()?;
    let graph_cost = |g: &Graph| -> f64 {
        (0..g.nodes.len() as u32)
            .map(|i| crate::partition::report::node_cost(g, &model, crate::ir::NodeId(i)).0)
            .sum()
    };
    // the whole graphs' costs: the regions' would count the shared nodes once per region
    r.cost.before = graph_cost(graph);
    r.cost.after = graph_cost(out);
    r.nodes.before = graph.nodes.len();
    r.nodes.after = out.nodes.len();
    r.attention = AttentionReport::of(out);
    Ok(r)
}

/// Optimises a graph as one e-graph, within `opts.limits.time` from now.
fn optimize_whole(graph: &Graph, opts: &Options) -> Result<Optimized> {
    let t0 = Instant::now();
    let deadline = t0.checked_add(opts.limits.time);
    let model = opts.model()?;
    let rules: Vec<Rule> = opts
        .all_rules()?
        .into_iter()
        .filter(|r| {
            r.enabled(opts.target, &opts.assume)
                && !(opts.exact_random && r.in_distribution.is_some())
        })
        .collect();
    let mut built = build(
        graph,
        &BuildOptions {
            trust_meta: opts.trust_meta,
            file: opts.file.clone(),
        },
    )?;
    // Rules that depend on the device (matmul padding) read its alignment from the analysis.
    built.egraph.analysis.matmul_alignment = model.profile.alignments();
    // Calls with effects are roots too (an unused `rand` still draws; an unknown op may have
    // effects), except a private dropout `rand` that an in-distribution rule may replace.
    let effects: Vec<egg::Id> = built
        .effects
        .iter()
        .copied()
        .filter(|&e| opts.exact_random || !built.egraph[e].data.facts.private_dropout)
        .collect();
    let roots: Vec<egg::Id> = built
        .outputs
        .iter()
        .flatten()
        .chain(&effects)
        .copied()
        .collect();
    let before = dag_cost(
        &built.egraph,
        &model,
        &greedy(&built.egraph, &model),
        &roots,
    )
    .unwrap_or(f64::NAN);
    let t_import = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let limits = Limits {
        time: left(t0, opts.limits.time),
        ..opts.limits.clone()
    };
    let (egraph, sat): (_, SatReport) =
        saturate_with(built.egraph, &rules, &limits, &opts.progress)?;
    let t_sat = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let extract = crate::extract::ExtractOptions {
        deadline: match (deadline, opts.extract.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        ..opts.extract.clone()
    };
    let ex = extract_with(&egraph, &model, &roots, &extract, &opts.progress);
    let out = to_graph(
        &egraph,
        &ex.selection,
        &Template {
            graph,
            nodes: &built.nodes,
            outputs: &built.outputs,
            effects: &effects,
        },
    )?;
    let t_ext = t2.elapsed().as_secs_f64();
    // In-distribution rules must replace a dropout whole (its forward and backward one
    // kernel pair, its `rand` gone); if one was replaced in part, redo without them.
    let in_distribution_applied = rules.iter().any(|r| {
        r.in_distribution.is_some() && sat.applications.get(&r.name).is_some_and(|&n| n > 0)
    });
    if in_distribution_applied && !crate::egraph::dropout::whole_dropouts_replaced(graph, &out) {
        log::warn!(
            "{}: a dropout was replaced in part by the in-distribution rules; optimising again without them",
            graph.name
        );
        return optimize_whole(
            graph,
            &Options {
                exact_random: true,
                ..opts.with_time(left(t0, opts.limits.time))
            },
        );
    }

    let report = Report {
        seconds: Seconds {
            import: t_import,
            saturate: t_sat,
            extract: t_ext,
            export: 0.0,
            total: t0.elapsed().as_secs_f64(),
        },
        egraph: EGraphReport {
            nodes: sat.nodes,
            classes: sat.classes,
            iterations: sat.iterations,
            stop_reason: if ex.timed_out {
                StopReason::TimeLimit
            } else {
                sat.stop_reason
            },
        },
        cost: CostReport {
            before,
            after: ex.cost,
            greedy: ex.greedy_cost,
        },
        rules: sat.applications,
        nodes: NodeReport {
            before: graph.nodes.len(),
            after: out.nodes.len(),
            opaque: built.opaque_count,
        },
        attention: AttentionReport::of(&out),
        regions: RegionReport::default(),
    };
    log::info!(
        "{}: {} → {} nodes, cost {:.3e} → {:.3e} s, {} e-nodes, stop: {}",
        graph.name,
        report.nodes.before,
        report.nodes.after,
        report.cost.before,
        report.cost.after,
        report.egraph.nodes,
        report.egraph.stop_reason
    );
    Ok(Optimized { graph: out, report })
}
