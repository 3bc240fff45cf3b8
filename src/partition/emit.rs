//! Emission of the two halves: the forward graph (`fw`: forward outputs then saved values) and
//! the backward graph (`bw`: placeholders = saved values then tangents; returns the joint
//! graph's gradients, with the recomputed forward nodes copied in).

use super::classify::Classified;
use crate::error::{Error, Result};
use crate::ir::{Graph, GraphKind, Node, NodeId, NodeKind};

fn copy_node(node: &Node, map: &[u32]) -> Node {
    node.map_inputs(|x| NodeId(map[x.index()]))
}

/// Marks every node `roots` need, not walking through `stop` nodes (which are marked).
pub fn needed(c: &Classified, roots: &[NodeId], stop: &[bool]) -> Vec<bool> {
    let mut mark = vec![false; c.n];
    let mut stack: Vec<NodeId> = roots.to_vec();
    while let Some(x) = stack.pop() {
        if mark[x.index()] {
            continue;
        }
        mark[x.index()] = true;
        if !stop[x.index()] {
            stack.extend(c.inputs[x.index()].iter().copied());
        }
    }
    mark
}

/// The forward graph: computes the forward outputs and `saved` from the primals.
pub fn forward_graph(g: &Graph, c: &Classified, saved: &[NodeId]) -> Result<Graph> {
    let roots: Vec<NodeId> = c.fwd_outputs.iter().chain(saved).copied().collect();
    let keep = needed(c, &roots, &vec![false; g.nodes.len()]);
    let mut map = vec![u32::MAX; g.nodes.len()];
    let mut nodes = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        if !(keep[i] || c.primals.contains(&NodeId(i as u32))) {
            continue;
        }
        if c.tangents_closure[i] {
            return Err(Error::Invalid(format!(
                "{}: internal error: saved value depends on tangent `{}`",
                g.name, node.name
            )));
        }
        map[i] = nodes.len() as u32;
        nodes.push(copy_node(node, &map));
    }
    let outputs = roots.iter().map(|r| Some(NodeId(map[r.index()]))).collect();
    Ok(Graph {
        name: format!("{}.fw", g.name),
        kind: GraphKind::Fw,
        num_fwd_outputs: None,
        nodes,
        outputs,
    })
}

/// The nodes the backward recomputes (needed by the gradients, neither saved nor tangents,
/// and not depending on tangents), in graph order.
pub fn recomputed(g: &Graph, c: &Classified, saved: &[NodeId]) -> Vec<NodeId> {
    let mut stop = vec![false; g.nodes.len()];
    saved.iter().for_each(|s| stop[s.index()] = true);
    c.tangents.iter().for_each(|t| stop[t.index()] = true);
    let roots: Vec<NodeId> = c.grads.iter().flatten().copied().collect();
    let keep = needed(c, &roots, &stop);
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
    let n = g.nodes.len();
    let mut stop = vec![false; n];
    saved.iter().for_each(|s| stop[s.index()] = true);
    c.tangents.iter().for_each(|t| stop[t.index()] = true);
    let roots: Vec<NodeId> = c.grads.iter().flatten().copied().collect();
    let keep = needed(c, &roots, &stop);
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

/// The backward graph: placeholders `saved` then the tangents; returns the gradients.
pub fn backward_graph(g: &Graph, c: &Classified, saved: &[NodeId]) -> Result<Graph> {
    let n = g.nodes.len();
    let mut map = vec![u32::MAX; n];
    let mut nodes = Vec::new();
    for &p in saved.iter().chain(&c.tangents) {
        let node = g.node(p);
        map[p.index()] = nodes.len() as u32;
        nodes.push(Node {
            name: node.name.clone(),
            kind: NodeKind::Placeholder,
            val: node.val.clone(),
        });
    }
    for id in bw_order(g, c, saved) {
        let (i, node) = (id.index(), g.node(id));
        if !matches!(node.kind, NodeKind::Call { .. }) {
            return Err(Error::Invalid(format!(
                "{}: internal error: the backward needs input `{}` but it is not saved",
                g.name, node.name
            )));
        }
        map[i] = nodes.len() as u32;
        nodes.push(copy_node(node, &map));
    }
    let outputs = c
        .grads
        .iter()
        .map(|o| o.map(|x| NodeId(map[x.index()])))
        .collect();
    Ok(Graph {
        name: format!("{}.bw", g.name),
        kind: GraphKind::Bw,
        num_fwd_outputs: None,
        nodes,
        outputs,
    })
}
