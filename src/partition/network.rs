//! Stage 2, PyTorch's split-node flow network (`solve_min_cut`): every node N becomes
//! `N_in → N_out` whose capacity is the cost of saving N; data edges and bans are infinite.
//! The minimum cut is the saved set.
//!
//! Takes the graph, its [classification](super::classify), the [`MinCutOptions`] and the
//! nodes the knapsack lets go (`dont_ban`); gives a [`Cut`]: the saved set and the banned
//! nodes. The flow itself is [`maxflow`](super::maxflow)'s.

use super::classify::{is_fusible, Classified};
use super::maxflow::FlowNet;
use crate::error::{Error, Result};
use crate::ir::{Graph, NodeId, NodeKind, Val};
use std::collections::{BinaryHeap, HashSet};

/// The options of the min-cut (PyTorch's `MinCutOptions` plus the bans and biases it
/// hard-codes), each of which can be turned off.
#[derive(Debug, Clone, PartialEq)]
pub struct MinCutOptions {
    /// Ban forward users of a value that are used far apart (`ban_recompute_used_far_apart`).
    pub ban_if_used_far_apart: bool,
    /// Ban the end of fusible chains longer than 100 forward nodes
    /// (`ban_recompute_long_fusible_chains`).
    pub ban_if_long_fusible_chains: bool,
    /// Ban nodes the backward must materialise anyway (`ban_recompute_materialized_backward`).
    pub ban_if_materialized_backward: bool,
    /// Allowlist mode: ban every op not in the recomputable set
    /// (`ban_recompute_not_in_allowlist`); off = denylist mode.
    pub ban_if_not_in_allowlist: bool,
    /// Ban nodes whose output is 4× smaller than their inputs (`ban_recompute_reductions`).
    pub ban_if_reductions: bool,
    /// Never recompute random ops (off: they may be recomputed, which changes the numbers
    /// unless the RNG state is replayed).
    pub ban_random: bool,
    /// Never recompute compute-intensive ops (mm, bmm, addmm, baddbmm, convolution, SDPA...).
    pub ban_compute_intensive: bool,
    /// Bias the saving cost by `1.1 ^ clamp(dist_from_bw, 1, 100)`.
    pub distance_bias: bool,
    /// Double the saving cost of values whose users all fuse with them.
    pub unmaterialized_penalty: bool,
    /// Views are never saved (`recompute_views`).
    pub recompute_views: bool,
    /// Saving a graph input (primal) costs 0: it is held by the caller anyway. PyTorch does
    /// this for parameters (`treat_parameters_as_free_to_save`); a joint graph does not say
    /// which primals are parameters, so fxsat treats every primal so.
    pub inputs_free_to_save: bool,
}

impl Default for MinCutOptions {
    fn default() -> Self {
        MinCutOptions {
            ban_if_used_far_apart: true,
            ban_if_long_fusible_chains: true,
            ban_if_materialized_backward: true,
            ban_if_not_in_allowlist: true,
            ban_if_reductions: true,
            ban_random: true,
            ban_compute_intensive: true,
            distance_bias: true,
            unmaterialized_penalty: true,
            recompute_views: false,
            inputs_free_to_save: true,
        }
    }
}

impl MinCutOptions {
    /// PyTorch's "more aggressive" step: no far-apart, long-chain or materialized-backward bans.
    pub fn more_aggressive(&self) -> Self {
        MinCutOptions {
            ban_if_used_far_apart: false,
            ban_if_long_fusible_chains: false,
            ban_if_materialized_backward: false,
            ..self.clone()
        }
    }

    /// PyTorch's "aggressive" step: additionally denylist mode.
    pub fn aggressive(&self) -> Self {
        MinCutOptions {
            ban_if_not_in_allowlist: false,
            ..self.more_aggressive()
        }
    }
}

/// The outcome of one min-cut.
#[derive(Debug, Clone, Default)]
pub struct Cut {
    /// Saved nodes, in graph order.
    pub saved: Vec<NodeId>,
    /// Nodes banned from recomputation (with the first reason).
    pub banned: Vec<(NodeId, &'static str)>,
}

fn size_of(v: &Val) -> u64 {
    v.bytes()
}

/// The per-node bans of the options (PyTorch's `should_ban`: random, compute-intensive,
/// allowlist, materialized-backward, reductions), for the forward nodes; they do not depend on
/// the knapsack's `dont_ban`, so a family of cuts computes them once.
pub fn local_bans(g: &Graph, c: &Classified, opts: &MinCutOptions) -> Vec<Option<&'static str>> {
    let n = c.n;

    let kinds = &c.kinds;

    let is_view = |i: usize| kinds[i].view;
    let fusible = |a: usize, b: usize| is_fusible(&kinds[a], &kinds[b]);

    let materialized_backward = |i: usize| -> bool {
        if is_view(i) {
            return false;
        }
        let mut stack = vec![i];
        let mut seen = HashSet::new();
        while let Some(cur) = stack.pop() {
            for u in &c.users[cur] {
                let u = u.index();
                if !c.required_fw[u] && !fusible(cur, u) {
                    return true;
                }
                if is_view(u) && seen.insert(u) {
                    stack.push(u);
                }
            }
        }
        false
    };

    let should_ban = |i: usize| -> Option<&'static str> {
        let k = &kinds[i];
        if !k.call || k.getitem {
            return None;
        }
        if opts.recompute_views && k.view {
            return None;
        }
        let t = g.nodes[i].target().unwrap_or("");
        if t.starts_with("aten.lift_fresh") {
            return None;
        }
        if k.random && opts.ban_random {
            return Some("random op");
        }
        if k.effects && !k.random {
            return Some("op with effects");
        }
        if k.compute_intensive && opts.ban_compute_intensive {
            return Some("compute-intensive op");
        }
        let exempt =
            (k.random && !opts.ban_random) || (k.compute_intensive && !opts.ban_compute_intensive);
        if opts.ban_if_not_in_allowlist && !k.recomputable && !exempt {
            return Some("not in the recomputable allowlist");
        }
        if opts.ban_if_materialized_backward && materialized_backward(i) {
            return Some("materialized in the backward");
        }
        if opts.ban_if_reductions {
            let mut in_bytes = 0u64;
            let mut seen = Vec::new();
            if let NodeKind::Call { args, .. } = &g.nodes[i].kind {
                for a in args {
                    a.for_each_node(&mut |x| {
                        if !seen.contains(&x) {
                            seen.push(x);
                            in_bytes += size_of(&g.node(x).val);
                        }
                    });
                }
            }
            if size_of(&g.nodes[i].val) * 4 < in_bytes {
                return Some("reduction (small output)");
            }
        }
        None
    };

    (0..n)
        .map(|i| {
            if c.live[i] && c.required_fw[i] {
                should_ban(i)
            } else {
                None
            }
        })
        .collect()
}

/// Builds the network and solves it. Nodes in `dont_ban` are never banned (the knapsack's
/// "recompute these" choice).
pub fn solve_min_cut(
    g: &Graph,
    c: &Classified,
    opts: &MinCutOptions,
    dont_ban: &HashSet<NodeId>,
) -> Result<Cut> {
    solve_min_cut_with(g, c, opts, dont_ban, &local_bans(g, c, opts))
}

/// [`solve_min_cut`] given the options' [`local_bans`].
pub fn solve_min_cut_with(
    g: &Graph,
    c: &Classified,
    opts: &MinCutOptions,
    dont_ban: &HashSet<NodeId>,
    local: &[Option<&'static str>],
) -> Result<Cut> {
    let n = c.n;
    let (src, sink) = (0usize, 1usize);
    let vin = |i: usize| 2 + 2 * i;
    let vout = |i: usize| 3 + 2 * i;
    let mut banned: Vec<Option<&'static str>> = vec![None; n];
    let kinds = &c.kinds;
    let is_view = |i: usize| kinds[i].view;
    let fusible = |a: usize, b: usize| is_fusible(&kinds[a], &kinds[b]);
    let mut keep = vec![false; n];
    dont_ban.iter().for_each(|d| keep[d.index()] = true);

    let mut edges: Vec<(usize, usize, Option<i64>)> = Vec::new(); // None = ∞
    let ban = |i: usize,
               why: &'static str,
               banned: &mut Vec<Option<&'static str>>,
               edges: &mut Vec<(usize, usize, Option<i64>)>| {
        if is_view(i) || keep[i] || banned[i].is_some() {
            return;
        }
        banned[i] = Some(why);
        edges.push((src, vin(i), None));
    };

    let is_primal: Vec<bool> = {
        let mut v = vec![false; n];
        c.primals.iter().for_each(|p| v[p.index()] = true);
        v
    };
    #[allow(clippy::needless_range_loop)] // i indexes several per-node tables
    for i in 0..n {
        if !c.live[i] {
            continue;
        }
        if c.required_bw[i] {
            if c.tangents_closure[i] {
                edges.push((vin(i), sink, None));
                continue;
            }
            edges.push((vout(i), sink, None));
        }
        if is_primal[i] {
            ban(i, "primal input", &mut banned, &mut edges);
        }
        if c.required_fw[i] {
            if let Some(why) = local[i] {
                ban(i, why, &mut banned, &mut edges);
            }
        }
        let node = &g.nodes[i];
        let weight = match &node.val {
            Val::Tensor(_) if opts.inputs_free_to_save && is_primal[i] => Some(0),
            Val::Tensor(t) => {
                if opts.recompute_views && is_view(i) {
                    None
                } else {
                    let mut w = t.bytes() as f64;
                    if opts.distance_bias {
                        let d = c.dist_from_bw[i].clamp(1, 100) as i32;
                        w = (w * 1.1f64.powi(d)).floor();
                    }
                    // the output node is a user that fuses with nothing
                    let materialized = node.kind == NodeKind::Placeholder
                        || c.is_output[i]
                        || !c.users[i].iter().all(|u| fusible(i, u.index()));
                    if opts.unmaterialized_penalty && !materialized {
                        w *= 2.0;
                    }
                    Some(w as i64)
                }
            }
            Val::Int(_) | Val::Bool(_) => Some(1),
            Val::Float(_) => Some(4),
            Val::None => Some(0),
            Val::Tuple(_) => None,
        };
        edges.push((vin(i), vout(i), weight));
        for u in &c.users[i] {
            if c.live[u.index()] {
                edges.push((vout(i), vin(u.index()), None));
            }
        }
    }

    // global bans
    let req_fw: Vec<usize> = (0..n).filter(|&i| c.required_fw[i] && c.live[i]).collect();
    let order = |i: usize| c.fw_order[i];
    if opts.ban_if_used_far_apart {
        for &x in &req_fw {
            let fw_users: Vec<usize> = c.users[x]
                .iter()
                .map(|u| u.index())
                .filter(|&u| c.required_fw[u])
                .collect();
            let Some(max_range) = fw_users.iter().map(|&u| order(u)).max() else {
                continue;
            };
            // first unfusible position reached by fusible chains from x's forward users
            let first_unfusible = {
                let mut heap: BinaryHeap<std::cmp::Reverse<(u32, usize, bool)>> = fw_users
                    .iter()
                    .map(|&u| std::cmp::Reverse((order(u), u, true)))
                    .collect();
                let mut pushed: HashSet<(usize, bool)> =
                    fw_users.iter().map(|&u| (u, true)).collect();
                let mut res = max_range;
                while let Some(std::cmp::Reverse((o, cur, ok))) = heap.pop() {
                    if !ok {
                        res = o;
                        break;
                    }
                    for u in &c.users[cur] {
                        let u = u.index();
                        if c.required_fw[u] && order(u) <= max_range {
                            let f = fusible(cur, u);
                            if pushed.insert((u, f)) {
                                heap.push(std::cmp::Reverse((order(u), u, f)));
                            }
                        }
                    }
                }
                res
            };
            for &u in &fw_users {
                if order(u) > first_unfusible && fusible(x, u) && banned[u].is_none() {
                    ban(u, "used far apart", &mut banned, &mut edges);
                }
            }
        }
    }
    if opts.ban_if_long_fusible_chains {
        let mut visited = vec![false; n];
        for &start in &req_fw {
            let start_order = order(start);
            let mut heap = BinaryHeap::new();
            heap.push(std::cmp::Reverse((start_order, start)));
            while let Some(std::cmp::Reverse((_, cur))) = heap.pop() {
                if visited[cur] {
                    continue;
                }
                visited[cur] = true;
                if order(cur) > start_order + 100 && heap.is_empty() {
                    ban(cur, "long fusible chain", &mut banned, &mut edges);
                    break;
                }
                for u in &c.users[cur] {
                    let u = u.index();
                    if c.required_fw[u] && fusible(cur, u) && banned[u].is_none() {
                        heap.push(std::cmp::Reverse((order(u), u)));
                    }
                }
            }
        }
    }

    // ∞ = 3 × the sum of finite capacities (PyTorch's custom Dinic)
    let finite: i64 = edges
        .iter()
        .filter_map(|e| e.2)
        .fold(0i64, |a, b| a.saturating_add(b));
    let inf = finite.saturating_mul(3).saturating_add(1);
    let mut net = FlowNet::new(2 + 2 * n);
    for &(u, v, w) in &edges {
        net.add_edge(u, v, w.unwrap_or(inf));
    }
    let value = net.max_flow(src, sink);
    if value >= inf {
        return Err(Error::Invalid(format!(
            "{}: some value can neither be saved nor recomputed (unbounded min-cut: a non-tensor value or a banned node the backward needs through an infinite path)",
            g.name
        )));
    }
    let side = net.min_cut(sink);
    let mut saved = Vec::new();
    for i in 0..n {
        if c.live[i] && side[vin(i)] && !side[vout(i)] {
            saved.push(NodeId(i as u32));
        }
    }
    let banned = (0..n)
        .filter_map(|i| banned[i].map(|w| (NodeId(i as u32), w)))
        .collect();
    Ok(Cut { saved, banned })
}
