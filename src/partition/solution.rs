//! Scoring a saved set: what a candidate cut costs.
//!
//! Takes a saved set (from a [min-cut](super::network)) and a per-node recompute cost; gives a
//! [`Solution`]: the saved values the backward really uses, their storage bytes
//! ([`storage`](super::storage)), what the backward recomputes and its cost-model time and
//! flops ([`schedule`](super::schedule)), and the simulated peak ([`memory`](super::memory)).
//! Every candidate the [solver](super::solve) and the [policy](super::policy) weigh is one.

use super::classify::Classified;
use super::memory::schedule_of;
use super::schedule::{bw_needed, bw_order_of, recomputed_of};
use super::storage::storage_bytes;
use crate::cost::node_cost;
use crate::cost::Model;
use crate::ir::{Graph, NodeId};

/// One candidate saved set and what it costs.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Saved values the backward uses, in graph order.
    pub saved: Vec<NodeId>,
    /// Bytes of the storages `saved` keeps alive (see [`storage_bytes`]).
    pub saved_bytes: u64,
    /// Bytes of those storages that are not graph inputs' (see [`storage_bytes`]).
    pub activation_bytes: u64,
    /// The numerator of PyTorch's `get_mem_ratio`: the saved values at their sizes, inputs
    /// included, minus the bytes of all graph inputs (0 when negative). PyTorch's early
    /// returns (the "more aggressive" and "aggressive" cuts) compare this with the budget;
    /// fxsat limits `activation_bytes` instead (see [`Solver::target`](super::solve::Solver::target)).
    pub budget_used_bytes: u64,
    /// Nodes the backward recomputes.
    pub recomputed: Vec<NodeId>,
    /// Cost-model seconds of the recomputation.
    pub recompute_seconds: f64,
    /// Flops of the recomputation.
    pub recompute_flops: f64,
    /// Peak bytes of the forward+backward schedule.
    pub peak_bytes: u64,
    /// Banned nodes in the cut that produced it.
    pub banned: usize,
}

/// Evaluates a saved set: drops values the backward does not use, costs the rest.
pub fn evaluate(
    g: &Graph,
    c: &Classified,
    model: &Model,
    saved: &[NodeId],
    banned: usize,
) -> Solution {
    evaluate_with(g, c, &|r| node_cost(g, model, r), saved, banned)
}

/// [`evaluate`] with the per-node (seconds, flops) of recomputation given by `cost`.
pub fn evaluate_with(
    g: &Graph,
    c: &Classified,
    cost: &dyn Fn(NodeId) -> (f64, f64),
    saved: &[NodeId],
    banned: usize,
) -> Solution {
    let (bw, stop) = bw_needed(c, saved);
    let saved: Vec<NodeId> = saved.iter().copied().filter(|s| bw[s.index()]).collect();
    let recomputed = recomputed_of(g, c, &bw, &stop);
    let (mut secs, mut flops) = (0.0, 0.0);
    for &r in &recomputed {
        let (s, f) = cost(r);
        secs += s;
        flops += f;
    }
    let (saved_bytes, activation_bytes) = storage_bytes(g, c, &saved);
    let node_bytes = |ids: &[NodeId]| ids.iter().map(|i| g.node(*i).val.bytes()).sum::<u64>();
    let budget_used_bytes = node_bytes(&saved).saturating_sub(node_bytes(&c.primals));
    let (_, peak) = schedule_of(c, &saved, &bw_order_of(g, c, &bw, &stop));
    Solution {
        saved,
        saved_bytes,
        activation_bytes,
        budget_used_bytes,
        recomputed,
        recompute_seconds: secs,
        recompute_flops: flops,
        peak_bytes: peak,
        banned,
    }
}
