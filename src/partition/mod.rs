//! The min-cut rematerialization partitioner: splits a joint forward+backward graph into a
//! forward graph that saves some values and a backward graph that recomputes the rest.
//!
//! PyTorch's `min_cut_rematerialization_partition` is the reference. One module per stage,
//! each taking what the one before gives:
//!
//! 1. [`classify`]: what each node is (primal, tangent, forward, backward, op kinds, bytes);
//! 2. `network` and [`maxflow`]: the split-node flow network with byte capacities, distance
//!    bias and bans, and its minimum cut (a saved set);
//! 3. `knapsack`: an exact 0/1 knapsack over the values a cut bans ([`knapsack()`]);
//! 4. `solve`: the candidate cuts for a budget, each scored as a [`Solution`] ([`evaluate`]:
//!    `storage` bytes, the backward's `schedule` of recomputation);
//! 5. `memory`: the simulated peak of the forward-then-backward schedule;
//! 6. `policy` and `repair`: which candidate each budget takes, keeping the peak from rising
//!    as the budget decreases ([`PeakRule`]);
//! 7. `emit`: the forward and backward graphs;
//! 8. [`report`]: what was saved and what it costs ([`PartitionReport`]); [`sweep`] gives the
//!    whole budget curve.
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

pub mod classify;
mod emit;
mod knapsack;
pub mod maxflow;
mod memory;
mod network;
mod options;
mod policy;
mod repair;
pub mod report;
mod schedule;
mod solution;
mod solve;
mod storage;
mod sweep;

pub use knapsack::knapsack;
pub use network::MinCutOptions;
pub use options::{PartitionOptions, PeakRule};
pub use policy::sweep_budgets;
pub use report::{PartitionReport, SavedValue, Timings};
pub use solution::{evaluate, Solution};
pub use sweep::{sweep, SweepPoint};

use crate::error::{Error, Result};
use crate::ir::Graph;
use solve::Solver;
use std::borrow::Cow;
use std::time::Instant;

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

fn check_budget(b: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&b) {
        return Err(Error::Invalid(format!(
            "memory budget must be in [0, 1], got {b}"
        )));
    }
    Ok(())
}

/// The graph the stages work on: with `cse` on, duplicate calls merged first, as PyTorch does.
fn prepare<'g>(g: &'g Graph, opts: &PartitionOptions) -> Cow<'g, Graph> {
    if opts.cse {
        Cow::Owned(crate::passes::cse(g).0)
    } else {
        Cow::Borrowed(g)
    }
}

/// Partitions a joint graph (see the module docs).
pub fn partition(g: &Graph, opts: &PartitionOptions) -> Result<Partitioned> {
    check_budget(opts.budget)?;
    let t0 = Instant::now();
    let model = opts.model()?;
    let g = &*prepare(g, opts);
    let c = classify::classify(g)?;
    let t_classify = t0.elapsed().as_secs_f64();
    let mut solver = Solver::new(g, &c, &model, opts)?;
    let sol = policy::choose_at(&mut solver, opts.budget, opts.peak_rule)?;
    let t_solve = t0.elapsed().as_secs_f64();
    let fw = emit::forward_graph(g, &c, &sol.saved)?;
    let bw = emit::backward_graph(g, &c, &sol.saved)?;
    let t_emit = t0.elapsed().as_secs_f64();
    let timings = Timings::from_marks(t_classify, t_solve, t_emit);
    let report = report::build(&solver, opts.budget, &sol, &fw, &bw, timings);
    Ok(Partitioned { fw, bw, report })
}

/// Checks what [`partition`] checks before any work (the budget, a joint graph), so the
/// training pipeline fails before optimising.
pub(crate) fn check_input(g: &Graph, popts: &PartitionOptions) -> Result<()> {
    check_budget(popts.budget)?;
    classify::classify(g)?;
    Ok(())
}
