//! Graph → e-graph.

use super::analysis::{FxEGraph, Input, Opaque};
use super::lang::{Attr, Lang, F64};
use crate::error::{Error, Result};
use crate::ir::{Arg, Graph, NodeId, NodeKind};
use crate::ops::{table, Op};
use egg::Id;
use ordered_float::OrderedFloat;

/// Options for [`build`].
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Keep the graph's `val` where it contradicts an op's shape rule (the node becomes opaque).
    pub trust_meta: bool,
    /// Name of the source, for error messages.
    pub file: String,
}

/// An e-graph built from a graph.
#[derive(Debug)]
pub struct Built {
    /// The e-graph.
    pub egraph: FxEGraph,
    /// Class of each graph output (`None` entries stay `None`).
    pub outputs: Vec<Option<Id>>,
    /// Class and op of every graph node (for reusing names on export).
    pub nodes: Vec<(Id, Op)>,
    /// How many nodes became opaque.
    pub opaque_count: usize,
    /// Classes of the calls that must be kept, once each and in their original relative order
    /// ([`Opaque::effect`]: random ops and ops the table does not know), in graph order.
    /// Extraction takes them as extra roots, so that an unused one is not dropped.
    pub effects: Vec<Id>,
}

/// Targets whose results are random: always opaque, never merged with each other (the one
/// list of [`crate::ops::random`]).
pub use crate::ops::is_random;

/// Builds the e-graph of a graph. Every node's shape and dtype are inferred by the op table
/// and compared with the graph's `val`.
pub fn build(graph: &Graph, opts: &BuildOptions) -> Result<Built> {
    check_functional(graph, &opts.file)?;
    let mut eg = FxEGraph::default();
    let mut classes: Vec<Id> = Vec::with_capacity(graph.nodes.len());
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    let mut opaque_count = 0;
    let mut effects = Vec::new();
    let private = super::dropout::private_dropout_rands(graph);
    for (index, node) in graph.nodes.iter().enumerate() {
        let (id, op) = match &node.kind {
            NodeKind::Placeholder | NodeKind::GetAttr(_) => {
                let k = eg.analysis.inputs.len() as i64;
                eg.analysis.inputs.push(Input {
                    name: node.name.clone(),
                    get_attr: match &node.kind {
                        NodeKind::GetAttr(a) => Some(a.clone()),
                        _ => None,
                    },
                    val: node.val.clone(),
                });
                let i = eg.add(Lang::Int(k));
                (eg.add(Lang::call(Op::INPUT, vec![i])), Op::INPUT)
            }
            NodeKind::Call {
                target,
                args,
                kwargs,
            } => {
                let err = |field: &str, msg: String| Error::Node {
                    file: opts.file.clone(),
                    node: node.name.clone(),
                    field: field.into(),
                    msg,
                };
                // random and in-place calls are opaque calls with effects
                let random = is_random(target) || crate::ops::is_mutating(target);
                let known = if target == "getitem" {
                    Some(getitem(&mut eg, &classes, args).map_err(|m| err("args", m))?)
                } else if random {
                    None
                } else if let Some((op, ov)) = table().by_target(target) {
                    let canon = table()
                        .canonical_args(op, ov, args, kwargs)
                        .map_err(|m| err("args", m));
                    match canon {
                        Ok(canon) => {
                            let children: Vec<Id> = canon
                                .iter()
                                .map(|a| add_arg(&mut eg, &classes, a))
                                .collect();
                            Some((eg.add(Lang::call(op, children)), op))
                        }
                        Err(e) if !opts.trust_meta => return Err(e),
                        Err(_) => None,
                    }
                } else {
                    None
                };
                let checked = match known {
                    Some((id, op)) => {
                        let meta = &eg[id].data.meta;
                        if meta.matches_val(&node.val) {
                            Some((id, op))
                        } else if opts.trust_meta {
                            log::warn!(
                                "node `{}`: keeping the graph's val {} over the rule's {}",
                                node.name,
                                node.val,
                                meta
                            );
                            None
                        } else {
                            return Err(Error::MetaMismatch {
                                file: opts.file.clone(),
                                node: node.name.clone(),
                                op: target.clone(),
                                recorded: node.val.to_string(),
                                inferred: meta.to_string(),
                            });
                        }
                    }
                    None => None,
                };
                match checked {
                    Some(x) => x,
                    None => {
                        opaque_count += 1;
                        // random, or unknown to the table (a known op whose val disagrees
                        // under `trust_meta` is pure: it may go)
                        let effect = random || table().by_target(target).is_none();
                        let id = add_opaque(
                            &mut eg,
                            &classes,
                            target,
                            args,
                            kwargs,
                            &node.val,
                            private.contains_key(&index),
                            effect,
                        );
                        if effect {
                            effects.push(id);
                        }
                        (id, Op::OPAQUE)
                    }
                }
            }
        };
        classes.push(id);
        nodes.push((id, op));
    }
    let outputs = graph
        .outputs
        .iter()
        .map(|o| o.map(|n| classes[n.index()]))
        .collect();
    eg.rebuild();
    // Two private dropouts of the weights of one class would share one kernel call (one
    // mask): neither is private.
    let mut by_weights: std::collections::HashMap<Id, Vec<Id>> = Default::default();
    for (&r, &w) in &private {
        by_weights
            .entry(eg.find(classes[w]))
            .or_default()
            .push(eg.find(classes[r]));
    }
    for rands in by_weights.values().filter(|v| v.len() > 1) {
        for &r in rands {
            eg[r].data.facts.private_dropout = false;
        }
    }
    // A private dropout without backward (an inference graph in training mode).
    for r in super::dropout::forward_only_dropout_rands(graph, &private) {
        let r = eg.find(classes[r]);
        let facts = &mut eg[r].data.facts;
        facts.dropout_no_backward = facts.private_dropout;
    }
    Ok(Built {
        egraph: eg,
        outputs,
        nodes,
        opaque_count,
        effects,
    })
}

fn getitem(eg: &mut FxEGraph, classes: &[Id], args: &[Arg]) -> Result<(Id, Op), String> {
    match args {
        [Arg::Node(n), Arg::Int(i)] => {
            let idx = eg.add(Lang::Int(*i));
            Ok((
                eg.add(Lang::call(Op::GETITEM, vec![classes[n.index()], idx])),
                Op::GETITEM,
            ))
        }
        _ => Err("getitem takes a node and an int index".into()),
    }
}

/// Adds an argument value as an e-class.
pub fn add_arg(eg: &mut FxEGraph, classes: &[Id], a: &Arg) -> Id {
    match a {
        Arg::None => eg.add(Lang::call(Op::NONE, vec![])),
        Arg::Bool(b) => eg.add(Lang::Bool(*b)),
        Arg::Int(i) => eg.add(Lang::Int(*i)),
        Arg::Float(x) => eg.add(Lang::Float(F64(OrderedFloat(*x)))),
        Arg::Str(s) => eg.add(Lang::Attr(Attr::new("str", s))),
        Arg::Device(s) => eg.add(Lang::Attr(Attr::new("device", s))),
        Arg::Layout(s) => eg.add(Lang::Attr(Attr::new("layout", s))),
        Arg::MemoryFormat(s) => eg.add(Lang::Attr(Attr::new("memfmt", s))),
        Arg::Dtype(d) => eg.add(Lang::Dtype(*d)),
        Arg::Node(n) => classes[n.index()],
        Arg::List(items) => {
            let ids: Vec<Id> = items.iter().map(|x| add_arg(eg, classes, x)).collect();
            eg.add(Lang::call(Op::LIST, ids))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn add_opaque(
    eg: &mut FxEGraph,
    classes: &[Id],
    target: &str,
    args: &[Arg],
    kwargs: &[(String, Arg)],
    val: &crate::ir::Val,
    private_dropout: bool,
    effect: bool,
) -> Id {
    let mut children = Vec::new();
    let mut renumber = |a: &Arg| {
        renumber_nodes(a, &mut |n| {
            children.push(classes[n.index()]);
            NodeId(children.len() as u32) // child 0 is the index leaf
        })
    };
    let args: Vec<Arg> = args.iter().map(&mut renumber).collect();
    let kwargs: Vec<(String, Arg)> = kwargs
        .iter()
        .map(|(k, v)| (k.clone(), renumber(v)))
        .collect();
    let k = eg.analysis.opaque.len() as i64;
    eg.analysis.opaque.push(Opaque {
        target: target.to_string(),
        args,
        kwargs,
        val: val.clone(),
        private_dropout,
        effect,
    });
    let mut ids = vec![eg.add(Lang::Int(k))];
    ids.extend(children);
    eg.add(Lang::call(Op::OPAQUE, ids))
}

/// Replaces every node reference in `a` by `f(node)`.
pub fn renumber_nodes(a: &Arg, f: &mut impl FnMut(NodeId) -> NodeId) -> Arg {
    a.map_nodes(f)
}

/// Refuses a graph that reads a tensor after an in-place call ([`crate::ops::is_mutating`])
/// wrote into it, or that uses such a call's result. AOTAutograd's functional graphs only
/// write into inputs, last (`copy_(arg, new)`), so fxsat can keep every in-place call after
/// all other calls, in order; a graph that reads the written storage afterwards (directly, or
/// through a view of it) depends on the write's place, which fxsat does not track.
pub fn check_functional(graph: &Graph, file: &str) -> Result<()> {
    use crate::ops::OpClass;
    let Some(first) = graph
        .nodes
        .iter()
        .position(|n| n.target().is_some_and(crate::ops::is_mutating))
    else {
        return Ok(());
    };
    // base[i]: the node whose storage node i is a view of (itself if it is no view); an op
    // the table does not know may return a view, so it counts as one.
    let mut base: Vec<usize> = (0..graph.nodes.len()).collect();
    for (i, n) in graph.nodes.iter().enumerate() {
        let Some(t) = n.target() else { continue };
        let view = match table().by_target(t) {
            Some((op, _)) => table().def_of(op).class == OpClass::View,
            None => t == "getitem" || !crate::ops::is_mutating(t),
        };
        if view {
            let mut first_input = None;
            n.for_each_input(|x| {
                first_input.get_or_insert(x.index());
            });
            if let Some(x) = first_input {
                base[i] = base[x];
            }
        }
    }
    let refuse = |reader: &str, read: &str, writer: &str| {
        Err(Error::Invalid(format!(
            "{file}: node `{reader}` reads `{read}` after `{writer}` writes into it in place; \
             fxsat needs a functional graph (AOTAutograd's), whose in-place calls come last"
        )))
    };
    // written[b]: the in-place call that wrote into storage b, once one has
    let mut written: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    for (i, n) in graph.nodes.iter().enumerate().skip(first) {
        let mut reads: Vec<NodeId> = Vec::new();
        n.for_each_input(|x| reads.push(x));
        for x in &reads {
            let xn = &graph.nodes[x.index()];
            if xn.target().is_some_and(crate::ops::is_mutating) {
                return refuse(&n.name, &xn.name, &xn.name);
            }
            if let Some(w) = written[base[x.index()]] {
                return refuse(&n.name, &xn.name, &graph.nodes[w].name);
            }
        }
        if n.target().is_some_and(crate::ops::is_mutating) {
            // the written arguments: `self` (the first) and `out=`
            let mut targets: Vec<usize> = reads.first().map(|x| x.index()).into_iter().collect();
            if let NodeKind::Call { kwargs, .. } = &n.kind {
                for (k, a) in kwargs {
                    if k == "out" {
                        a.for_each_node(&mut |x| targets.push(x.index()));
                    }
                }
            }
            for t in targets {
                written[base[t]] = Some(i);
            }
        }
    }
    for o in graph.outputs.iter().flatten() {
        let on = &graph.nodes[o.index()];
        if on.target().is_some_and(crate::ops::is_mutating) {
            return refuse("output", &on.name, &on.name);
        }
    }
    Ok(())
}
