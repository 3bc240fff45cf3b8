//! Common-subexpression elimination of a joint graph before partitioning (PyTorch's
//! partitioner runs `fx_graph_cse` first): two calls with the same target, arguments and
//! keyword arguments become one, unless they are random ops or may have effects
//! ([`crate::ops::has_effects`]). The key also holds whether the
//! node depends on a tangent, so a forward value is never merged with a backward one.

use crate::ir::{Graph, Node, NodeId, NodeKind};
use crate::ops::has_effects;
use rustc_hash::FxHashMap as HashMap;

/// The graph with duplicate calls merged (the first one is kept) and dead nodes dropped
/// except placeholders; returns the graph and how many nodes were merged.
pub fn cse(g: &Graph) -> (Graph, usize) {
    let n = g.nodes.len();
    let mut map = vec![u32::MAX; n];
    let mut nodes: Vec<Node> = Vec::with_capacity(n);
    // structural hash → the kept nodes with it (compared exactly on a hit)
    let mut seen: HashMap<(bool, u64), Vec<u32>> = HashMap::default();
    let dep = g.tangent_dependent();
    let mut merged = 0;
    for (i, node) in g.nodes.iter().enumerate() {
        let new = node.map_inputs(|x| NodeId(map[x.index()]));
        if let NodeKind::Call { target, .. } = &new.kind {
            if !has_effects(target) {
                let bucket = seen.entry((dep[i], new.structural_hash())).or_default();
                let same = bucket
                    .iter()
                    .find(|&&k| nodes[k as usize].same_computation(&new));
                if let Some(&prev) = same {
                    map[i] = prev;
                    merged += 1;
                    continue;
                }
                bucket.push(nodes.len() as u32);
            }
        }
        map[i] = nodes.len() as u32;
        nodes.push(new);
    }
    let outputs = g
        .outputs
        .iter()
        .map(|o| o.map(|x| NodeId(map[x.index()])))
        .collect();
    (
        Graph {
            name: g.name.clone(),
            kind: g.kind,
            num_fwd_outputs: g.num_fwd_outputs,
            nodes,
            outputs,
        },
        merged,
    )
}
