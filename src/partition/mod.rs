//! The min-cut rematerialization partitioner: splits a joint forward+backward graph into a
//! forward graph that saves some values and a backward graph that recomputes the rest.
//!
//! PyTorch's `min_cut_rematerialization_partition` is the reference: the same
//! [classification](classify), the same [split-node flow network](network) with byte
//! capacities, distance bias and bans, solved by [max-flow](maxflow); then a
//! [memory budget](budget) and [emission](emit) of the two graphs with a [report](report).
//!
//! ```
//! use fxsat::partition::{partition, PartitionOptions};
//! let path = std::path::Path::new("tests/fixtures/example_attention.joint.json");
//! let g = fxsat::io::read_file(path).unwrap();
//! let p = partition(&g, &PartitionOptions::default()).unwrap();
//! let nf = g.num_fwd_outputs.unwrap();
//! assert_eq!(p.fw.outputs.len(), nf + p.report.saved.len());
//! assert_eq!(p.bw.outputs.len(), g.outputs.len() - nf);
//! ```

pub mod budget;
pub mod classify;
pub mod emit;
pub mod maxflow;
pub mod network;
pub mod report;

pub use budget::Solution;
pub use network::MinCutOptions;
pub use report::PartitionReport;

use crate::cost::{Model, Profile};
use crate::error::{Error, Result};
use crate::ir::Graph;
use crate::target::Target;
use report::{SavedValue, Timings};
use std::time::Instant;

/// Options of [`partition`].
#[derive(Debug, Clone)]
pub struct PartitionOptions {
    /// Memory budget in [0, 1]: 1 = the runtime-optimised cut, 0 = save only inputs.
    pub budget: f64,
    /// The min-cut's bans and biases.
    pub mincut: MinCutOptions,
    /// Target device (picks the default cost profile).
    pub target: Target,
    /// Cost-model profile (defaults to the target's).
    pub profile: Option<Profile>,
    /// Merge duplicate calls first, as PyTorch does (`functorch.config.cse`).
    pub cse: bool,
    /// How the choice at one budget relates to the peak memory of the others (see
    /// [`PeakRule`]).
    pub peak_rule: PeakRule,
}

/// How budgets below 1 trade recompute time, activation bytes and peak memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeakRule {
    /// The budgets of a 20-point grid, 0 and the asked one are solved together (one pool of
    /// candidates); walking down from budget 1, each takes the least recompute time among the
    /// solutions within its budget whose peak is not above the previous budget's choice; when
    /// every solution within the budget raises the peak, one is repaired (more values saved
    /// within the budget until the peak is back down, see [`budget::Solver::repair`]), else
    /// the lowest peak among them. The budget is always honoured (where any solution meets
    /// it); the peak is non-increasing wherever the repair finds a way. See
    /// [`budget::choose`].
    #[default]
    WithinBudget,
    /// The same pool, but peak memory never rises as the budget decreases: where every
    /// solution within the budget would raise it, the fewest bytes among those that do not,
    /// above the budget.
    Strict,
    /// Each budget alone: the least recompute time among its own candidates that fit.
    Off,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            budget: 1.0,
            mincut: MinCutOptions::default(),
            target: Target::Cpu,
            profile: None,
            cse: true,
            peak_rule: PeakRule::WithinBudget,
        }
    }
}

impl PartitionOptions {
    fn model(&self) -> Result<Model> {
        Model::for_target(self.target, self.profile.as_ref())
    }
}

/// The two halves and the report.
#[derive(Debug, Clone)]
pub struct Partitioned {
    /// Forward graph (kind `fw`): forward outputs, then saved values.
    pub fw: Graph,
    /// Backward graph (kind `bw`): takes saved values then tangents, returns the gradients.
    pub bw: Graph,
    /// What it saved and what it costs.
    pub report: PartitionReport,
}

/// The 20 budgets of a sweep: 1.0, 0.95, ..., 0.05.
pub fn sweep_budgets() -> Vec<f64> {
    (0..20).map(|k| 1.0 - k as f64 * 0.05).collect()
}

fn check_budget(b: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&b) {
        return Err(Error::Invalid(format!(
            "memory budget must be in [0, 1], got {b}"
        )));
    }
    Ok(())
}

/// Partitions a joint graph (see the module docs).
pub fn partition(g: &Graph, opts: &PartitionOptions) -> Result<Partitioned> {
    check_budget(opts.budget)?;
    let t0 = Instant::now();
    let model = opts.model()?;
    let deduped;
    let g = if opts.cse {
        deduped = crate::passes::cse(g).0;
        &deduped
    } else {
        g
    };
    let c = classify::classify(g)?;
    let t_classify = t0.elapsed().as_secs_f64();
    let mut solver = budget::Solver::new(g, &c, &model, opts)?;
    let sol = if opts.budget >= 1.0 {
        solver.runtime_optimized.clone()
    } else if opts.peak_rule == PeakRule::Off {
        solver.solve(opts.budget)?
    } else {
        let mut budgets = sweep_budgets();
        budgets.push(0.0);
        budgets.push(opts.budget);
        let all = budget::choose(&mut solver, &budgets, opts.peak_rule == PeakRule::Strict)?;
        all.into_iter()
            .find(|(b, _)| *b == opts.budget)
            .map(|(_, s)| s)
            .expect("the asked budget is among the solved ones")
    };
    let t_solve = t0.elapsed().as_secs_f64();
    let fw = emit::forward_graph(g, &c, &sol.saved)?;
    let bw = emit::backward_graph(g, &c, &sol.saved)?;
    let t_emit = t0.elapsed().as_secs_f64();
    let report = make_report(
        g,
        &c,
        opts.budget,
        &sol,
        &solver,
        &fw,
        &bw,
        t_classify,
        t_solve,
        t_emit,
    );
    Ok(Partitioned { fw, bw, report })
}

#[allow(clippy::too_many_arguments)]
fn make_report(
    g: &Graph,
    c: &classify::Classified,
    budget: f64,
    sol: &Solution,
    solver: &budget::Solver,
    fw: &Graph,
    bw: &Graph,
    t_classify: f64,
    t_solve: f64,
    t_emit: f64,
) -> PartitionReport {
    let input = budget::input_storage(g, c);
    PartitionReport {
        graph: g.name.clone(),
        budget,
        saved: sol
            .saved
            .iter()
            .map(|s| SavedValue {
                name: g.node(*s).name.clone(),
                bytes: g.node(*s).val.bytes(),
                is_input: input[s.index()],
            })
            .collect(),
        saved_bytes: sol.saved_bytes,
        activation_bytes: sol.activation_bytes,
        max_activation_bytes: solver.runtime_optimized.activation_bytes,
        budget_used_bytes: sol.budget_used_bytes,
        budget_bytes: solver.target(budget),
        budget_scale_bytes: solver.scale,
        recomputed: sol
            .recomputed
            .iter()
            .map(|r| g.node(*r).name.clone())
            .collect(),
        recompute_seconds: sol.recompute_seconds,
        recompute_flops: sol.recompute_flops,
        peak_bytes: sol.peak_bytes,
        banned: sol.banned,
        cuts: solver.cuts,
        fw_nodes: fw.nodes.len(),
        bw_nodes: bw.nodes.len(),
        timings: Timings {
            classify: t_classify,
            solve: t_solve - t_classify,
            emit: t_emit - t_solve,
            total: t_emit,
        },
    }
}

/// One point of a budget sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// The budget.
    pub budget: f64,
    /// Activation bytes saved.
    pub activation_bytes: u64,
    /// Cost-model seconds recomputed.
    pub recompute_seconds: f64,
    /// Flops recomputed.
    pub recompute_flops: f64,
    /// Peak bytes of the schedule.
    pub peak_bytes: u64,
}

/// The budget → (activation bytes, recompute cost, peak) curve over [`sweep_budgets`] (the
/// same choices [`partition`] makes at those budgets).
pub fn sweep(g: &Graph, opts: &PartitionOptions) -> Result<Vec<SweepPoint>> {
    let model = opts.model()?;
    let deduped;
    let g = if opts.cse {
        deduped = crate::passes::cse(g).0;
        &deduped
    } else {
        g
    };
    let c = classify::classify(g)?;
    let mut solver = budget::Solver::new(g, &c, &model, opts)?;
    let mut budgets = sweep_budgets();
    budgets.push(0.0);
    let all = if opts.peak_rule != PeakRule::Off {
        budget::choose(&mut solver, &budgets, opts.peak_rule == PeakRule::Strict)?
    } else {
        budgets
            .iter()
            .map(|&b| solver.solve(b).map(|s| (b, s)))
            .collect::<Result<Vec<_>>>()?
    };
    Ok(all
        .into_iter()
        .filter(|(b, _)| *b > 0.0)
        .map(|(b, s)| SweepPoint {
            budget: b,
            activation_bytes: s.activation_bytes,
            recompute_seconds: s.recompute_seconds,
            recompute_flops: s.recompute_flops,
            peak_bytes: s.peak_bytes,
        })
        .collect())
}

/// An SVG plot of a sweep: activation bytes and peak bytes (left axis, MB) and recompute
/// seconds (right axis, scaled) against the budget.
pub fn sweep_svg(name: &str, points: &[SweepPoint]) -> String {
    use std::fmt::Write;
    let (w, h, m) = (640.0, 400.0, 60.0);
    let max_b = points
        .iter()
        .map(|p| p.peak_bytes.max(p.activation_bytes))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_s = points
        .iter()
        .map(|p| p.recompute_seconds)
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let x = |b: f64| m + b * (w - 2.0 * m);
    let y = |v: f64, max: f64| h - m - v / max * (h - 2.0 * m);
    let line = |f: &dyn Fn(&SweepPoint) -> f64, max: f64| {
        points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.budget), y(f(p), max)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let esc = name.replace('&', "&amp;").replace('<', "&lt;");
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{m}" y="20">{esc}: budget sweep</text>
<line x1="{m}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/>
<line x1="{m}" y1="{m}" x2="{m}" y2="{b}" stroke="black"/>
<text x="{cx}" y="{lb}">memory budget (0 … 1)</text>
<text x="4" y="{m}">{mb:.2} MB</text>
<text x="{r2}" y="{m}">{ms:.2e} s</text>
<polyline fill="none" stroke="steelblue" stroke-width="2" points="{act}"/>
<polyline fill="none" stroke="darkred" stroke-width="2" points="{peak}"/>
<polyline fill="none" stroke="green" stroke-width="2" stroke-dasharray="4" points="{rec}"/>
<text x="{lx}" y="40" fill="steelblue">activation bytes</text>
<text x="{lx}" y="55" fill="darkred">peak bytes</text>
<text x="{lx}" y="70" fill="green">recompute seconds</text>
</svg>
"##,
        b = h - m,
        r = w - m,
        cx = w / 2.0 - 60.0,
        lb = h - 20.0,
        mb = max_b / 1e6,
        r2 = w - m - 10.0,
        ms = max_s,
        act = line(&|p| p.activation_bytes as f64, max_b),
        peak = line(&|p| p.peak_bytes as f64, max_b),
        rec = line(&|p| p.recompute_seconds, max_s),
        lx = w - 200.0,
    );
    s
}

/// Checks what [`partition`] checks before any work (the budget, a joint graph), so the
/// training pipeline fails before optimising.
pub(crate) fn check_input(g: &Graph, popts: &PartitionOptions) -> Result<()> {
    check_budget(popts.budget)?;
    classify::classify(g)?;
    Ok(())
}
