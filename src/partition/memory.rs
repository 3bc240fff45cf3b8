//! Stage 5, memory simulation: the peak bytes of running the forward and then the backward.
//!
//! Takes the [classification](super::classify), the nodes the forward runs, a saved set and a
//! backward order (from [`schedule`](super::schedule)); gives the peak bytes (every value
//! freed after its last use; views and `getitem`s share their base's allocation) and, on
//! request, what is alive at the peak ([`PeakProfile`], which the peak
//! [repair](super::repair) ranks). The forward's simulation ([`Forward`]) is reusable across
//! backward orders.

use super::classify::Classified;
use super::schedule::{bw_needed, bw_order_of, forward_mask, sink_order};
use crate::ir::{Graph, NodeId};

/// The backward's schedule and the peak bytes of the forward then it: the
/// [backward order](super::schedule::bw_order) with [`sink_order`] applied (on every fixture
/// it never raises the peak, and it lowers the budget-1 peak of the four model fixtures by
/// 1.6–5.8 %). [`backward_graph`](super::emit::backward_graph) emits this order, so the
/// simulated peak is the emitted graph's.
pub fn schedule(g: &Graph, c: &Classified, saved: &[NodeId]) -> (Vec<NodeId>, u64) {
    let (keep, stop) = bw_needed(c, saved);
    schedule_of(c, saved, &bw_order_of(g, c, &keep, &stop))
}

/// [`schedule`] from the backward order `base`.
pub fn schedule_of(c: &Classified, saved: &[NodeId], base: &[NodeId]) -> (Vec<NodeId>, u64) {
    let fw = forward_mask(c, saved);
    let order = sink_order(c, base);
    let peak = Forward::run(c, &fw, saved).backward(c, &order, false).peak;
    (order, peak)
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
/// [`schedule`]), with the storages alive at it.
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

    /// The peak of the allocations over steps `0..=end` and the (first) step it is at.
    fn peak(&self, end: usize) -> (i64, usize) {
        let mut delta = vec![0i64; end + 2];
        for k in 0..self.bytes.len() {
            delta[self.start[k]] += self.bytes[k] as i64;
            delta[self.last[k] + 1] -= self.bytes[k] as i64;
        }
        let (mut cur, mut peak, mut at) = (0i64, 0i64, 0usize);
        for (k, d) in delta.into_iter().enumerate() {
            cur += d;
            if cur > peak {
                (peak, at) = (cur, k);
            }
        }
        (peak, at)
    }

    /// The owners of the (non-empty) allocations alive at step `at`.
    fn alive_at(&self, at: usize) -> Vec<(NodeId, bool)> {
        (0..self.bytes.len())
            .filter(|&k| self.start[k] <= at && at <= self.last[k] && self.bytes[k] > 0)
            .map(|k| self.owner[k])
            .collect()
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
        let (peak, at) = al.peak(end);
        let live = if live { al.alive_at(at) } else { Vec::new() };
        PeakProfile {
            peak: peak as u64,
            live,
            bw_step: at.checked_sub(self.steps).filter(|&k| k < bw_order.len()),
        }
    }
}
