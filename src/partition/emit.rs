//! Stage 7, emission: the two halves as graphs.
//!
//! Takes the joint graph, its [classification](super::classify) and the chosen saved set;
//! gives the forward graph (`fw`: forward outputs then saved values) and the backward graph
//! (`bw`: placeholders = saved values then tangents; returns the joint graph's gradients, with
//! the recomputed forward nodes copied in, in the [simulated order](super::memory::schedule)).

use super::classify::Classified;
use super::memory::schedule;
use super::schedule::needed;
use crate::error::{Error, Result};
use crate::ir::{Graph, GraphKind, Node, NodeId, NodeKind};

fn copy_node(node: &Node, map: &[u32]) -> Node {
    node.map_inputs(|x| NodeId(map[x.index()]))
}

/// The forward graph: computes the forward outputs and `saved` from the primals, and keeps
/// the forward's calls with effects (random ops, library ops) even when nothing uses them.
pub fn forward_graph(g: &Graph, c: &Classified, saved: &[NodeId]) -> Result<Graph> {
    let roots: Vec<NodeId> = c.fwd_outputs.iter().chain(saved).copied().collect();
    let effects = (0..c.n)
        .filter(|&i| c.kinds[i].effects && !c.tangents_closure[i])
        .map(|i| NodeId(i as u32));
    let keep_roots: Vec<NodeId> = roots.iter().copied().chain(effects).collect();
    let keep = needed(c, &keep_roots, &vec![false; g.nodes.len()]);
    let mut map = vec![u32::MAX; g.nodes.len()];
    let mut nodes = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        if !(keep[i] || c.primals.contains(&NodeId(i as u32))) {
            continue;
        }
        if c.tangents_closure[i] {
            return Err(Error::Internal(format!(
                "{}: saved value depends on tangent `{}`",
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
    for id in schedule(g, c, saved).0 {
        let (i, node) = (id.index(), g.node(id));
        if !matches!(node.kind, NodeKind::Call { .. }) {
            return Err(Error::Internal(format!(
                "{}: the backward needs input `{}` but it is not saved",
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
