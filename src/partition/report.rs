//! Stage 8, the report: what a partition saved and what it costs.
//!
//! Takes the [solver](super::solve) (graph, scale, cuts), the chosen [`Solution`], the two
//! emitted graphs and the phase times; gives a [`PartitionReport`]: saved and activation
//! bytes, the cost-model runtime of what the backward recomputes, and the peak memory of the
//! forward-then-backward schedule.

use super::solution::Solution;
use super::solve::Solver;
use super::storage::input_storage;
use crate::ir::Graph;
use serde_json::{json, Value};

/// One saved value.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedValue {
    /// The joint graph's node name.
    pub name: String,
    /// Its bytes.
    pub bytes: u64,
    /// Its storage is a graph input's (a primal or a view of one): not an activation.
    pub is_input: bool,
}

/// Seconds per phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// Classification.
    pub classify: f64,
    /// Min-cuts and the budget search.
    pub solve: f64,
    /// Building the two graphs.
    pub emit: f64,
    /// Everything.
    pub total: f64,
}

/// The figures of one partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionReport {
    /// The joint graph's name.
    pub graph: String,
    /// The memory budget asked for.
    pub budget: f64,
    /// Saved values in graph order.
    pub saved: Vec<SavedValue>,
    /// Bytes of the storages the saved values keep alive (a value and its views count once).
    pub saved_bytes: u64,
    /// Those of `saved_bytes` that are not graph inputs' storages (primals, views of them).
    pub activation_bytes: u64,
    /// Activation bytes of the runtime-optimised cut (budget 1).
    pub max_activation_bytes: u64,
    /// The numerator of PyTorch's `get_mem_ratio` (informative): the saved values at their
    /// sizes, inputs included, minus the bytes of all graph inputs (0 when negative).
    pub budget_used_bytes: u64,
    /// The activation bytes the budget allows: `budget × budget_scale_bytes` (PyTorch's
    /// knapsack capacity), or `max_activation_bytes` at budget 1.
    pub budget_bytes: u64,
    /// What budget 1 stands for in bytes, as in PyTorch: the bytes of the values the budget-1
    /// cut (PyTorch's weights) saves, inputs included, minus the bytes of all graph inputs.
    pub budget_scale_bytes: u64,
    /// Nodes the backward recomputes.
    pub recomputed: Vec<String>,
    /// Cost-model seconds of the recomputed nodes.
    pub recompute_seconds: f64,
    /// Flops of the recomputed nodes.
    pub recompute_flops: f64,
    /// Peak bytes of the forward-then-backward schedule (every value freed after its last
    /// use; views share their base's storage).
    pub peak_bytes: u64,
    /// Nodes banned from recomputation in the final cut.
    pub banned: usize,
    /// Min-cuts solved.
    pub cuts: usize,
    /// Nodes of the forward and backward graphs.
    pub fw_nodes: usize,
    /// Nodes of the backward graph.
    pub bw_nodes: usize,
    /// Timings.
    pub timings: Timings,
}

impl PartitionReport {
    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "graph": self.graph,
            "budget": self.budget,
            "saved": self.saved.iter().map(|s| json!({"name": s.name, "bytes": s.bytes, "input": s.is_input})).collect::<Vec<_>>(),
            "saved_bytes": self.saved_bytes,
            "activation_bytes": self.activation_bytes,
            "max_activation_bytes": self.max_activation_bytes,
            "budget_used_bytes": self.budget_used_bytes,
            "budget_bytes": self.budget_bytes,
            "budget_scale_bytes": self.budget_scale_bytes,
            "recomputed": self.recomputed,
            "recompute_cost": {"seconds": self.recompute_seconds, "flops": self.recompute_flops},
            "peak_bytes": self.peak_bytes,
            "banned": self.banned,
            "cuts": self.cuts,
            "nodes": {"fw": self.fw_nodes, "bw": self.bw_nodes},
            "timings": {"classify": self.timings.classify, "solve": self.timings.solve,
                        "emit": self.timings.emit, "total": self.timings.total},
        })
    }
}

impl Timings {
    /// The phase times from the elapsed seconds at the end of classification, of the solve
    /// and of emission.
    pub fn from_marks(classified: f64, solved: f64, emitted: f64) -> Self {
        Timings {
            classify: classified,
            solve: solved - classified,
            emit: emitted - solved,
            total: emitted,
        }
    }
}

/// The report of the partition at `budget` that saved `sol` (chosen by `solver`) and emitted
/// `fw` and `bw`.
pub fn build(
    solver: &Solver,
    budget: f64,
    sol: &Solution,
    fw: &Graph,
    bw: &Graph,
    timings: Timings,
) -> PartitionReport {
    let g = solver.g;
    let input = input_storage(solver.c);
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
        timings,
    }
}
