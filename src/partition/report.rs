//! What a partition costs: saved and activation bytes, the cost-model runtime of what the
//! backward recomputes, and the peak memory of the forward-then-backward schedule.

use super::classify::Classified;
use crate::ir::NodeId;
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

/// The peak of a forward-then-backward schedule and what is alive at it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeakProfile {
    /// Peak bytes.
    pub peak: u64,
    /// The nodes owning the storages alive at the (first) peak, with whether each was
    /// allocated by the backward (a recomputed or tangent-dependent value) or by the forward.
    pub live: Vec<(NodeId, bool)>,
    /// Where the peak is when it is in the backward: the index in the backward order of the
    /// step at it.
    pub bw_step: Option<usize>,
}

/// The peak of running the forward (`fw`: the nodes it runs, computing the forward outputs
/// and `saved`) and then the backward in `bw_order` (see
/// [`emit::schedule`](super::emit::schedule)), with the storages alive at it.
pub fn peak_live(
    c: &Classified,
    fw: &[bool],
    saved: &[NodeId],
    bw_order: &[NodeId],
) -> PeakProfile {
    Forward::run(c, fw, saved).backward(c, bw_order, true)
}

/// The allocations of a schedule: per storage its bytes, first and last step, owner node
/// and whether the backward allocated it.
#[derive(Default, Clone)]
struct Allocs {
    bytes: Vec<u64>,
    start: Vec<usize>,
    last: Vec<usize>,
    owner: Vec<(NodeId, bool)>,
}

impl Allocs {
    fn push(&mut self, b: u64, t: usize, owner: usize, bw: bool) -> usize {
        self.bytes.push(b);
        self.start.push(t);
        self.last.push(t);
        self.owner.push((NodeId(owner as u32), bw));
        self.bytes.len() - 1
    }

    fn touch(&mut self, a: usize, t: usize) {
        if a != usize::MAX {
            self.last[a] = self.last[a].max(t);
        }
    }
}

/// Runs one phase (forward or backward): each node shares its base's storage (views,
/// `getitem`s) or allocates its own, and uses its inputs at its step.
fn run_phase(
    c: &Classified,
    nodes: impl Iterator<Item = usize>,
    inst: &mut [usize],
    al: &mut Allocs,
    t: &mut usize,
    bw: bool,
) {
    for i in nodes {
        if bw && inst[i] != usize::MAX {
            continue;
        }
        let base = if c.aliases(i) {
            c.inputs[i].first().copied()
        } else {
            None
        };
        inst[i] = match base {
            Some(b) if inst[b.index()] != usize::MAX => inst[b.index()],
            _ => al.push(c.bytes[i], *t, i, bw),
        };
        for x in &c.inputs[i] {
            al.touch(inst[x.index()], *t);
        }
        *t += 1;
    }
}

/// The simulated forward of a saved set, ready to be followed by backward orders.
#[derive(Clone)]
pub struct Forward {
    al: Allocs,
    /// Per node, its storage in the backward (the saved values' forward storages, the
    /// tangents').
    inst_bw: Vec<usize>,
    inst_fw: Vec<usize>,
    steps: usize,
}

impl Forward {
    /// Simulates the forward (`fw`: the nodes it runs) that saves `saved`.
    pub fn run(c: &Classified, fw: &[bool], saved: &[NodeId]) -> Forward {
        let n = c.n;
        let mut al = Allocs::default();
        let mut inst_fw = vec![usize::MAX; n];
        let mut inst_bw = vec![usize::MAX; n];
        let mut t = 0usize;
        run_phase(
            c,
            (0..n).filter(|&i| fw[i]),
            &mut inst_fw,
            &mut al,
            &mut t,
            false,
        );
        let fw_end = t.saturating_sub(1);
        for o in &c.fwd_outputs {
            al.touch(inst_fw[o.index()], fw_end);
        }
        for &s in saved {
            inst_bw[s.index()] = inst_fw[s.index()];
            al.touch(inst_bw[s.index()], t);
        }
        for &tg in &c.tangents {
            inst_bw[tg.index()] = al.push(c.bytes[tg.index()], t, tg.index(), true);
        }
        Forward {
            al,
            inst_bw,
            inst_fw,
            steps: t,
        }
    }

    /// The peak of this forward followed by the backward in `bw_order` (with `live`, what is
    /// alive at it).
    pub fn backward(&self, c: &Classified, bw_order: &[NodeId], live: bool) -> PeakProfile {
        let mut al = self.al.clone();
        let mut inst_bw = self.inst_bw.clone();
        let mut t = self.steps;
        let order = bw_order.iter().map(|id| id.index());
        run_phase(c, order, &mut inst_bw, &mut al, &mut t, true);
        let end = t;
        // graph inputs are held by the caller (parameters, the batch) for the whole step
        for p in &c.primals {
            al.touch(self.inst_fw[p.index()], end);
        }
        for o in c.grads.iter().flatten() {
            al.touch(inst_bw[o.index()], end);
        }
        let mut delta = vec![0i64; end + 2];
        for k in 0..al.bytes.len() {
            delta[al.start[k]] += al.bytes[k] as i64;
            delta[al.last[k] + 1] -= al.bytes[k] as i64;
        }
        let (mut cur, mut peak, mut at) = (0i64, 0i64, 0usize);
        for (k, d) in delta.into_iter().enumerate() {
            cur += d;
            if cur > peak {
                (peak, at) = (cur, k);
            }
        }
        let live = if live {
            (0..al.bytes.len())
                .filter(|&k| al.start[k] <= at && at <= al.last[k] && al.bytes[k] > 0)
                .map(|k| al.owner[k])
                .collect()
        } else {
            Vec::new()
        };
        PeakProfile {
            peak: peak as u64,
            live,
            bw_step: at.checked_sub(self.steps).filter(|&k| k < bw_order.len()),
        }
    }
}
