//! What a partition costs: saved and activation bytes, the cost-model runtime of what the
//! backward recomputes, and the peak memory of the forward-then-backward schedule.

use super::classify::Classified;
use crate::cost::Model;
use crate::ir::{Arg, Graph, NodeId, NodeKind};
use crate::ops::{table, Meta, Op};
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

fn arg_meta(g: &Graph, a: &Arg) -> Meta {
    match a {
        Arg::Node(x) => Meta::from_val(&g.node(*x).val),
        Arg::List(items) => Meta::List(items.iter().map(|x| arg_meta(g, x)).collect()),
        _ => Meta::None,
    }
}

/// The fused scaled-dot-product-attention forward kernels AOTAutograd leaves in joint graphs
/// (`aten._scaled_dot_product_flash_attention_for_cpu.default`, the CUDA flash, efficient and
/// cuDNN ones): the op table does not know them, but they compute the same attention.
pub fn is_fused_attention_kernel(target: &str) -> bool {
    let name = target.strip_prefix("aten.").unwrap_or(target);
    let name = name.split('.').next().unwrap_or(name);
    matches!(
        name,
        "_scaled_dot_product_flash_attention"
            | "_scaled_dot_product_flash_attention_for_cpu"
            | "_scaled_dot_product_efficient_attention"
            | "_scaled_dot_product_cudnn_attention"
    )
}

/// Cost-model (seconds, flops) of computing node `id` once.
pub fn node_cost(g: &Graph, model: &Model, id: NodeId) -> (f64, f64) {
    let node = g.node(id);
    let NodeKind::Call { target, args, .. } = &node.kind else {
        return (0.0, 0.0);
    };
    let op = if target == "getitem" {
        Op::GETITEM
    } else if is_fused_attention_kernel(target) {
        // priced as the attention it computes (q, k, v are its first three arguments)
        table()
            .by_name("scaled_dot_product_attention")
            .unwrap_or(Op::OPAQUE)
    } else {
        table().by_target(target).map_or(Op::OPAQUE, |(op, _)| op)
    };
    let metas: Vec<Meta> = args.iter().map(|a| arg_meta(g, a)).collect();
    let refs: Vec<&Meta> = metas.iter().collect();
    let out = match (&node.val, op == Op::OPAQUE) {
        // a kernel returning (out, logsumexp, ...): the attention output is its first item
        (crate::ir::Val::Tuple(items), false) if is_fused_attention_kernel(target) => {
            items.first().map_or(Meta::None, Meta::from_val)
        }
        _ => Meta::from_val(&node.val),
    };
    let w = model.work_of(op, &refs, &out);
    let dtype = node
        .val
        .tensor()
        .map(|t| t.dtype)
        .or_else(|| match &node.val {
            crate::ir::Val::Tuple(items) => items.iter().find_map(|v| v.tensor().map(|t| t.dtype)),
            _ => None,
        });
    (model.seconds(&w, dtype), w.flops)
}

fn new_alloc(
    b: u64,
    t: usize,
    bytes: &mut Vec<u64>,
    start: &mut Vec<usize>,
    last: &mut Vec<usize>,
) -> usize {
    bytes.push(b);
    start.push(t);
    last.push(t);
    bytes.len() - 1
}

/// Peak bytes of running the forward (computing the forward outputs and `saved`) and then
/// the backward in `bw_order` (see [`emit::bw_order`](super::emit::bw_order)).
pub fn peak_bytes(
    g: &Graph,
    c: &Classified,
    fw: &[bool],
    saved: &[NodeId],
    bw_order: &[NodeId],
) -> u64 {
    let n = g.nodes.len();
    let aliases = |i: usize| c.kinds[i].view || c.kinds[i].getitem;
    let mut bytes: Vec<u64> = Vec::new();
    let mut start: Vec<usize> = Vec::new();
    let mut last: Vec<usize> = Vec::new();
    let mut inst_fw = vec![usize::MAX; n];
    let mut inst_bw = vec![usize::MAX; n];
    let mut t = 0usize;
    // forward
    for i in 0..n {
        if !fw[i] {
            continue;
        }
        let base = if aliases(i) {
            c.inputs[i].first().copied()
        } else {
            None
        };
        inst_fw[i] = match base {
            Some(b) if inst_fw[b.index()] != usize::MAX => inst_fw[b.index()],
            _ => new_alloc(g.nodes[i].val.bytes(), t, &mut bytes, &mut start, &mut last),
        };
        for x in &c.inputs[i] {
            let a = inst_fw[x.index()];
            if a != usize::MAX {
                last[a] = last[a].max(t);
            }
        }
        t += 1;
    }
    let fw_end = t.saturating_sub(1);
    for o in &c.fwd_outputs {
        let a = inst_fw[o.index()];
        if a != usize::MAX {
            last[a] = last[a].max(fw_end);
        }
    }
    // backward
    for &s in saved {
        inst_bw[s.index()] = inst_fw[s.index()];
        let a = inst_bw[s.index()];
        if a != usize::MAX {
            last[a] = last[a].max(t);
        }
    }
    for &tg in &c.tangents {
        inst_bw[tg.index()] =
            new_alloc(g.node(tg).val.bytes(), t, &mut bytes, &mut start, &mut last);
    }
    for &id in bw_order {
        let i = id.index();
        if inst_bw[i] != usize::MAX {
            continue;
        }
        let base = if aliases(i) {
            c.inputs[i].first().copied()
        } else {
            None
        };
        inst_bw[i] = match base {
            Some(b) if inst_bw[b.index()] != usize::MAX => inst_bw[b.index()],
            _ => new_alloc(g.nodes[i].val.bytes(), t, &mut bytes, &mut start, &mut last),
        };
        for x in &c.inputs[i] {
            let a = inst_bw[x.index()];
            if a != usize::MAX {
                last[a] = last[a].max(t);
            }
        }
        t += 1;
    }
    let end = t;
    // graph inputs are held by the caller (parameters, the batch) for the whole step
    for p in &c.primals {
        let a = inst_fw[p.index()];
        if a != usize::MAX {
            last[a] = last[a].max(end);
        }
    }
    for o in c.grads.iter().flatten() {
        let a = inst_bw[o.index()];
        if a != usize::MAX {
            last[a] = last[a].max(end);
        }
    }
    let mut delta = vec![0i128; end + 2];
    for k in 0..bytes.len() {
        delta[start[k]] += bytes[k] as i128;
        delta[last[k] + 1] -= bytes[k] as i128;
    }
    let (mut cur, mut peak) = (0i128, 0i128);
    for d in delta {
        cur += d;
        peak = peak.max(cur);
    }
    peak as u64
}
