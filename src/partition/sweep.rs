//! The budget sweep: the budget → (activation bytes, recompute cost, peak) curve.
//!
//! Takes a joint graph and the [options](super::PartitionOptions) (the budget is ignored);
//! gives one [`SweepPoint`] per budget of [`sweep_budgets`](super::sweep_budgets), the same
//! choices [`partition`](super::partition) makes at those budgets. Drawing the curve is the
//! binary's business.

use super::options::PartitionOptions;
use super::solve::Solver;
use super::{classify, policy, prepare};
use crate::error::Result;
use crate::ir::Graph;

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

/// The budget → (activation bytes, recompute cost, peak) curve over
/// [`sweep_budgets`](super::sweep_budgets) (the same choices [`partition`](super::partition)
/// makes at those budgets).
pub fn sweep(g: &Graph, opts: &PartitionOptions) -> Result<Vec<SweepPoint>> {
    let model = opts.model()?;
    let g = &*prepare(g, opts);
    let c = classify::classify(g)?;
    let mut solver = Solver::new(g, &c, &model, opts)?;
    let all = policy::choose_sweep(&mut solver, opts.peak_rule)?;
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
