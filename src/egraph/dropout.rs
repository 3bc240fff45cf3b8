//! Which `rand` calls of an input graph are the private random source of one attention
//! block's dropout, so that the training-dropout rules may replace them by SDPA's own
//! `dropout_p` (equal in distribution; see `rules/attention_train.rules`).
//!
//! AOTAutograd spells training-mode dropout on the attention weights `W` as
//!
//! ```text
//! R = rand(shape); G = gt(R, p)                  # the keep mask
//! D = mul(mul(G, W), 1/(1-p))                    # forward: D·v and, in the backward, Dᵀ·g
//! gW' = mul(gD, mul(convert_element_type(G), 1/(1-p)))   # backward: the weights' gradient
//! ```
//!
//! The rules that fuse such a block draw a fresh mask inside the kernel instead of `R`; that
//! keeps the program's distribution only when nothing else sees `R`: every use of `R` must be
//! one of those. A `rand` call is *private* when, in the input graph, its only user is one
//! `gt` by a number; that `gt`'s users are one `mul` (forward) and at most one
//! `convert_element_type` (backward); the forward `mul`'s only user is a `mul` by a number
//! `D` whose uses, through views (`expand`, `view`, `reshape`, `permute`, `transpose`,
//! `alias`, `clone`), are matmuls (`bmm`, `matmul`) only; the `convert_element_type`'s only
//! user is a `mul` by a number whose users are all `mul`s; and none of them is a graph output.
//! (The weights' gradient `gW'` itself is matched by the rules, which also need the three
//! matmuls and the softmax backward of the block.)
//!
//! The fused kernel call is a function of q, k, v, mask, scale and p only: two dropouts of
//! weights the e-graph holds as one class would become one kernel call, one mask for both.
//! [`super::build`] therefore clears the fact of every private `rand` whose weights' class is
//! also dropped out by another (two independent masks of the same weights stay as they are).

use crate::ir::{Arg, Graph, NodeId, NodeKind};
use std::collections::{HashMap, HashSet};

const VIEWS: &[&str] = &[
    "aten.expand.default",
    "aten.view.default",
    "aten._unsafe_view.default",
    "aten.reshape.default",
    "aten.permute.default",
    "aten.transpose.int",
    "aten.t.default",
    "aten.alias.default",
    "aten.clone.default",
];

fn refs(a: &Arg, out: &mut Vec<NodeId>) {
    let _ = a.map_nodes(&mut |n| {
        out.push(n);
        n
    });
}

/// The `rand` nodes of `graph` that are the private source of one dropout (see the module
/// docs): node index of the `rand` → node index of the weights it drops out (the other operand
/// of the forward's `mul`).
pub fn private_dropout_rands(graph: &Graph) -> HashMap<usize, usize> {
    let n = graph.nodes.len();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in graph.nodes.iter().enumerate() {
        if let NodeKind::Call { args, kwargs, .. } = &node.kind {
            let mut r = Vec::new();
            for a in args.iter().chain(kwargs.iter().map(|(_, a)| a)) {
                refs(a, &mut r);
            }
            r.sort();
            r.dedup();
            for x in r {
                users[x.index()].push(i);
            }
        }
    }
    let outputs: HashSet<usize> = graph.outputs.iter().flatten().map(|o| o.index()).collect();
    let target = |i: usize| graph.nodes[i].target().unwrap_or("");
    let args = |i: usize| -> &[Arg] {
        match &graph.nodes[i].kind {
            NodeKind::Call { args, .. } => args,
            _ => &[],
        }
    };
    let by_number = |i: usize| {
        target(i).starts_with("aten.mul.")
            && matches!(args(i).get(1), Some(Arg::Float(_) | Arg::Int(_)))
    };
    let only = |i: usize| -> Option<usize> {
        match users[i].as_slice() {
            [u] if !outputs.contains(&i) => Some(*u),
            _ => None,
        }
    };
    // Every use of `d`, through views, is a matmul; nothing on the way is an output.
    let feeds_matmuls = |d: usize| {
        let mut stack = vec![d];
        let mut seen = HashSet::new();
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            if outputs.contains(&x) || users[x].is_empty() {
                return false;
            }
            for &u in &users[x] {
                let t = target(u);
                if VIEWS.contains(&t) {
                    stack.push(u);
                } else if t != "aten.bmm.default" && t != "aten.matmul.default" {
                    return false;
                }
            }
        }
        true
    };
    let private = |r: usize| -> Option<usize> {
        let g = only(r)?;
        if target(g) != "aten.gt.Scalar"
            || !matches!(args(g).first(), Some(Arg::Node(x)) if x.index() == r)
        {
            return None;
        }
        if outputs.contains(&g) {
            return None;
        }
        let (mut fw, mut bw) = (Vec::new(), Vec::new());
        for &u in &users[g] {
            match target(u) {
                "aten.mul.Tensor" => fw.push(u),
                "prims.convert_element_type.default" => bw.push(u),
                _ => return None,
            }
        }
        let ([m], [] | [_]) = (fw.as_slice(), bw.as_slice()) else {
            return None;
        };
        let w = args(*m).iter().find_map(|a| match a {
            Arg::Node(x) if x.index() != g => Some(x.index()),
            _ => None,
        })?;
        let d = only(*m)?;
        if !by_number(d) || !feeds_matmuls(d) {
            return None;
        }
        if let Some(&c) = bw.first() {
            let c2 = only(c)?;
            if !by_number(c2)
                || outputs.contains(&c2)
                || users[c2].is_empty()
                || users[c2].iter().any(|&u| target(u) != "aten.mul.Tensor")
            {
                return None;
            }
        }
        Some(w)
    };
    (0..n)
        .filter(|&i| matches!(target(i), "aten.rand.default" | "aten.rand_like.default"))
        .filter_map(|i| private(i).map(|w| (i, w)))
        .collect()
}

/// Whether `output` (an optimized `input`) replaced whole dropouts only: every private `rand`
/// of `input` that is gone from `output` (by name: the export keeps the names of the original
/// nodes it keeps) was replaced by one efficient-attention call with `dropout_p > 0`, and no
/// such call is left without a `rand` gone. A block whose kernel was emitted while some
/// other use kept its `rand` (partly replaced: its forward and backward would see different
/// masks) breaks the count.
pub fn whole_dropouts_replaced(input: &Graph, output: &Graph) -> bool {
    let private: HashSet<&str> = private_dropout_rands(input)
        .keys()
        .map(|&i| input.nodes[i].name.as_str())
        .collect();
    let kept = output
        .nodes
        .iter()
        .filter(|n| {
            private.contains(n.name.as_str()) && n.target().is_some_and(|t| t.contains("rand"))
        })
        .count();
    let kernels = output
        .nodes
        .iter()
        .filter(|n| {
            n.target() == Some("aten._scaled_dot_product_efficient_attention.default")
                && matches!(&n.kind, NodeKind::Call { args, .. }
                    if matches!(args.get(5), Some(Arg::Float(p)) if *p > 0.0))
        })
        .count();
    private.len() - kept == kernels
}

/// The private `rand`s of `private` (from [`private_dropout_rands`]) whose dropout has no
/// backward in `graph`: their `gt` has no `convert_element_type` user (an inference graph that
/// keeps training-mode dropout, e.g. a model left in `train()` under `no_grad`).
pub fn forward_only_dropout_rands(
    graph: &Graph,
    private: &HashMap<usize, usize>,
) -> HashSet<usize> {
    let mut gts_of: HashMap<usize, usize> = HashMap::new(); // gt node -> its rand
    let mut backward: HashSet<usize> = HashSet::new(); // gt nodes with a convert user
    for (i, node) in graph.nodes.iter().enumerate() {
        let NodeKind::Call { target, args, .. } = &node.kind else {
            continue;
        };
        match (target.as_str(), args.first()) {
            ("aten.gt.Scalar", Some(Arg::Node(r))) if private.contains_key(&r.index()) => {
                gts_of.insert(i, r.index());
            }
            ("prims.convert_element_type.default", Some(Arg::Node(g))) => {
                backward.insert(g.index());
            }
            _ => {}
        }
    }
    gts_of
        .into_iter()
        .filter(|(g, _)| !backward.contains(g))
        .map(|(_, r)| r)
        .collect()
}
