//! The cost of a graph's node (not an e-node): the same roofline estimate, read from the
//! node's recorded `val`s. Used for a graph's cost before and after and by the partitioner.

use super::Model;
use crate::ir::{Arg, Graph, NodeId, NodeKind, Val};
use crate::ops::{table, Meta, Op};

/// Cost-model (seconds) of a whole graph: every node once.
pub fn graph_cost(g: &Graph, model: &Model) -> f64 {
    (0..g.nodes.len() as u32)
        .map(|i| node_cost(g, model, NodeId(i)).0)
        .sum()
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
        (Val::Tuple(items), false) if is_fused_attention_kernel(target) => {
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
            Val::Tuple(items) => items.iter().find_map(|v| v.tensor().map(|t| t.dtype)),
            _ => None,
        });
    (model.seconds(&w, dtype), w.flops)
}
