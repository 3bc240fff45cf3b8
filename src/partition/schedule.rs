//! The backward's demand and order: what the gradients need given a saved set, which forward
//! nodes the backward recomputes, and the order it runs them in.
//!
//! Takes the [classification](super::classify) and a saved set; gives node masks (what the
//! forward runs, what the backward needs), the recomputed nodes, and the backward's order
//! (each recomputed value made just before its first use, then [sunk](sink_order) so that
//! allocations happen late). The [memory simulation](super::memory) prices these orders and
//! [emission](super::emit) writes them out.

use super::classify::Classified;
use crate::ir::{Graph, NodeId};

/// Marks every node `roots` need, not walking through `stop` nodes (which are marked).
pub fn needed(c: &Classified, roots: &[NodeId], stop: &[bool]) -> Vec<bool> {
    let mut mark = vec![false; c.n];
    let mut stack: Vec<NodeId> = Vec::with_capacity(roots.len());
    for r in roots {
        if !mark[r.index()] {
            mark[r.index()] = true;
            stack.push(*r);
        }
    }
    while let Some(x) = stack.pop() {
        if stop[x.index()] {
            continue;
        }
        for &i in &c.inputs[x.index()] {
            if !mark[i.index()] {
                mark[i.index()] = true;
                stack.push(i);
            }
        }
    }
    mark
}

/// The nodes the backward recomputes (needed by the gradients, neither saved nor tangents,
/// and not depending on tangents), in graph order, from [`bw_needed`]'s masks.
pub fn recomputed_of(g: &Graph, c: &Classified, keep: &[bool], stop: &[bool]) -> Vec<NodeId> {
    (0..g.nodes.len())
        .filter(|&i| keep[i] && !stop[i] && !c.tangents_closure[i])
        .map(|i| NodeId(i as u32))
        .collect()
}

/// The order in which the backward runs its nodes: the tangent-dependent nodes in graph
/// order, each preceded by the recomputed nodes it needs that are not yet computed (so a
/// recomputed value is made just before its first use, not all at the start), then whatever
/// the gradients still need.
pub fn bw_order(g: &Graph, c: &Classified, saved: &[NodeId]) -> Vec<NodeId> {
    let (keep, stop) = bw_needed(c, saved);
    bw_order_of(g, c, &keep, &stop)
}

/// What the backward needs given `saved`: (the nodes the gradients need, not walking
/// through saved values and tangents; those stops).
pub fn bw_needed(c: &Classified, saved: &[NodeId]) -> (Vec<bool>, Vec<bool>) {
    let mut stop = vec![false; c.n];
    saved.iter().for_each(|s| stop[s.index()] = true);
    c.tangents.iter().for_each(|t| stop[t.index()] = true);
    let roots: Vec<NodeId> = c.grads.iter().flatten().copied().collect();
    (needed(c, &roots, &stop), stop)
}

/// [`bw_order`] from [`bw_needed`]'s masks.
pub fn bw_order_of(g: &Graph, c: &Classified, keep: &[bool], stop: &[bool]) -> Vec<NodeId> {
    let n = g.nodes.len();
    let mut done = vec![false; n];
    let mut order = Vec::new();
    let mut stack: Vec<(usize, bool)> = Vec::new();
    let mut visit = |start: usize, done: &mut Vec<bool>, order: &mut Vec<NodeId>| {
        stack.push((start, false));
        while let Some((x, expanded)) = stack.pop() {
            if done[x] {
                continue;
            }
            if expanded {
                done[x] = true;
                order.push(NodeId(x as u32));
                continue;
            }
            stack.push((x, true));
            for i in c.inputs[x].iter().rev() {
                let i = i.index();
                if keep[i] && !stop[i] && !done[i] {
                    stack.push((i, false));
                }
            }
        }
    };
    for i in 0..n {
        if keep[i] && !stop[i] && c.tangents_closure[i] {
            visit(i, &mut done, &mut order);
        }
    }
    for i in 0..n {
        if keep[i] && !stop[i] {
            visit(i, &mut done, &mut order);
        }
    }
    order
}

/// The forward nodes that run: those the forward outputs and `saved` need, and the primals.
pub fn forward_mask(c: &Classified, saved: &[NodeId]) -> Vec<bool> {
    let roots: Vec<NodeId> = c.fwd_outputs.iter().chain(saved).copied().collect();
    let mut fw = needed(c, &roots, &vec![false; c.n]);
    c.primals.iter().for_each(|p| fw[p.index()] = true);
    fw
}

/// Per node, the node whose allocation it shares in the peak simulation: itself, or for a
/// view or `getitem` its first input's.
pub fn alias_roots(c: &Classified) -> Vec<usize> {
    let mut root: Vec<usize> = (0..c.n).collect();
    for i in 0..c.n {
        if c.aliases(i) {
            if let Some(x) = c.inputs[i].first() {
                root[i] = root[x.index()];
            }
        }
    }
    root
}

/// `order` with nodes moved later: each view or `getitem`, and each node whose output
/// outweighs the storages it would hold longer, moves to just before its first user in the
/// backward (a gradient without users: to the end), so that it is allocated later. Nodes are
/// visited from the last to the first, so chains move together; the result is topological.
pub fn sink_order(c: &Classified, order: &[NodeId]) -> Vec<NodeId> {
    let root = alias_roots(c);
    let last = last_uses(c, order, &root);
    let key = sink_keys(c, order, &root, &last);
    order_by_keys(order, &key)
}

/// Per storage owner (an [`alias_roots`] entry), the last position in `order` that uses it
/// (`order.len()` for those held to the end: graph inputs and gradients).
fn last_uses(c: &Classified, order: &[NodeId], root: &[usize]) -> Vec<usize> {
    let len = order.len();
    let mut last = vec![0usize; c.n];
    for (k, id) in order.iter().enumerate() {
        for x in &c.inputs[id.index()] {
            let r = root[x.index()];
            last[r] = last[r].max(k);
        }
    }
    c.primals.iter().for_each(|p| last[root[p.index()]] = len);
    c.grads
        .iter()
        .flatten()
        .for_each(|o| last[root[o.index()]] = len);
    last
}

/// Per node of `order`, its sort key (anchor position, offset): a node that moves is anchored
/// at its first user's anchor, one step before it; one that stays keeps its own position.
fn sink_keys(
    c: &Classified,
    order: &[NodeId],
    root: &[usize],
    last: &[usize],
) -> Vec<(usize, i64)> {
    const NONE: usize = usize::MAX;
    let (n, len) = (c.n, order.len());
    let mut pos = vec![NONE; n];
    for (k, id) in order.iter().enumerate() {
        pos[id.index()] = k;
    }
    let mut key: Vec<(usize, i64)> = vec![(0, 0); n];
    let mut stamp = vec![NONE; n];
    for (k, id) in order.iter().enumerate().rev() {
        let i = id.index();
        let first = c.users[i]
            .iter()
            .filter(|u| pos[u.index()] != NONE)
            .map(|u| key[u.index()])
            .min()
            .unwrap_or((len, 0));
        let alias = root[i] != i;
        let mut held = 0u64;
        if !alias {
            for x in &c.inputs[i] {
                let r = root[x.index()];
                if last[r] < first.0 && stamp[r] != i {
                    stamp[r] = i;
                    held += c.bytes[r];
                }
            }
        }
        key[i] = if alias || c.bytes[i] > held {
            (first.0, first.1 - 1)
        } else {
            (k, 0)
        };
    }
    key
}

/// `order` sorted by anchor (a counting sort), then within an anchor by (offset, position).
fn order_by_keys(order: &[NodeId], key: &[(usize, i64)]) -> Vec<NodeId> {
    let len = order.len();
    let mut start = vec![0usize; len + 2];
    for id in order {
        start[key[id.index()].0 + 1] += 1;
    }
    for a in 0..=len {
        start[a + 1] += start[a];
    }
    let mut fill = start.clone();
    let mut flat = vec![(0i64, 0usize); len];
    for (k, id) in order.iter().enumerate() {
        let (a, sub) = key[id.index()];
        flat[fill[a]] = (sub, k);
        fill[a] += 1;
    }
    for a in 0..=len {
        let seg = &mut flat[start[a]..start[a + 1]];
        if seg.len() > 1 {
            seg.sort_unstable();
        }
    }
    flat.into_iter().map(|(_, k)| order[k]).collect()
}
