//! The e-class analysis: the [`Meta`] (shape, dtype, constant value) of every e-class.

use super::lang::Lang;
use crate::ir::{Arg, Val};
use crate::ops::{Meta, Op};
use egg::{DidMerge, EGraph, Id, Language};

/// An opaque call kept exactly as the graph had it.
#[derive(Debug, Clone)]
pub struct Opaque {
    /// Aten target (or anything the table does not know).
    pub target: String,
    /// Positional args; `Arg::Node(NodeId(i))` stands for the opaque e-node's i-th child.
    pub args: Vec<Arg>,
    /// Keyword args, same convention.
    pub kwargs: Vec<(String, Arg)>,
    /// The recorded value.
    pub val: Val,
    /// A `rand` call whose only use in the input graph is the dropout of one attention
    /// block's weights (see [`super::dropout`]).
    pub private_dropout: bool,
    /// A random op or an op the table does not know: kept once, in its original order
    /// relative to the others (see [`super::Built::effects`]).
    pub effect: bool,
}

/// A graph input (placeholder or get_attr).
#[derive(Debug, Clone)]
pub struct Input {
    /// Node name.
    pub name: String,
    /// `Some(attr)` for a get_attr node.
    pub get_attr: Option<String>,
    /// Recorded value.
    pub val: Val,
}

/// Per e-class data.
#[derive(Debug, Clone)]
pub struct ClassData {
    /// What the class's value is.
    pub meta: Meta,
    /// What is proved about its elements.
    pub facts: Facts,
}

/// What the analysis proved about the elements of a class's value, beyond its meta.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// `Some(n)`: an integer tensor whose elements are distinct and in `[0, n)`. Made by
    /// `randperm(n)` (an opaque call), kept by its prefix slices (`[:k]` of a 1-D index) and
    /// by views of it (`view`, `unsqueeze`, `squeeze`, `permute`, `transpose`, `t`, `alias`,
    /// `clone`); never by `expand`, which repeats elements.
    pub distinct_below: Option<i64>,
    /// The value of one `rand` call (uniform in [0, 1), independent of everything else)
    /// whose only use in the input graph is the dropout of one attention block's weights:
    /// `rand > p` is used by the forward's `mask · weights · 1/(1-p)` (itself used by matmuls
    /// only) and by the backward's `convert(mask) · 1/(1-p)` (used by multiplications only).
    /// Set by [`super::build`] from the input graph's uses (see [`super::dropout`]).
    pub private_dropout: bool,
    /// A `private_dropout` value whose dropout has no backward in the input graph (no
    /// `convert(rand > p)` use: an inference graph keeping training-mode dropout). Set by
    /// [`super::build`] (see [`super::dropout::forward_only_dropout_rands`]).
    pub dropout_no_backward: bool,
    /// The index structure of a mask-like tensor: an index tensor, or a bool or additive
    /// mask keeping a band of a query and a key axis (see [`super::mask`]).
    pub mask: Option<super::mask::MaskFact>,
}

impl Facts {
    /// Both facts hold of one value (the classes were merged): keep the stronger of each.
    pub fn meet(self, other: Facts) -> Facts {
        Facts {
            distinct_below: match (self.distinct_below, other.distinct_below) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            private_dropout: self.private_dropout || other.private_dropout,
            dropout_no_backward: self.dropout_no_backward || other.dropout_no_backward,
            mask: self.mask.or(other.mask),
        }
    }
}

/// A merge of two classes whose metas disagree.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// Meta of the surviving class.
    pub left: Meta,
    /// Meta of the absorbed class.
    pub right: Meta,
}

/// The analysis: side tables for inputs and opaque calls, and a log of conflicts.
#[derive(Debug, Default, Clone)]
pub struct FxAnalysis {
    /// Graph inputs, by `(input i)` index.
    pub inputs: Vec<Input>,
    /// Opaque calls, by `(opaque k ...)` index.
    pub opaque: Vec<Opaque>,
    /// Merges whose metas disagreed (a rule bug).
    pub conflicts: Vec<Conflict>,
    /// Matmul alignment (elements) per dtype of the device the rules run for, set by the
    /// pipeline from the device profile; empty (the default): no padding rule applies.
    pub matmul_alignment: Vec<(crate::ir::DType, i64)>,
    /// The target the rules run for, set by the pipeline: conditions that ask whether a
    /// kernel of the target takes a block read it ([`crate::rules::cond::Env::target`]).
    pub target: crate::target::Target,
}

/// The e-graph type.
pub type FxEGraph = EGraph<Lang, FxAnalysis>;

/// The int value of a leaf class, if it is one.
pub fn class_int(egraph: &FxEGraph, id: Id) -> Option<i64> {
    match egraph[id].data.meta {
        Meta::Int(i) => Some(i),
        _ => None,
    }
}

impl egg::Analysis<Lang> for FxAnalysis {
    type Data = ClassData;

    fn make(egraph: &mut FxEGraph, enode: &Lang, _id: Id) -> ClassData {
        let meta = make_meta(egraph, enode);
        let facts = make_facts(egraph, enode, &meta);
        ClassData { meta, facts }
    }

    fn merge(&mut self, a: &mut ClassData, b: ClassData) -> DidMerge {
        let facts = a.facts.meet(b.facts);
        let facts_merge = DidMerge(facts != a.facts, facts != b.facts);
        a.facts = facts;
        let meta_merge = if a.meta.same_as(&b.meta) {
            DidMerge(false, false)
        } else {
            match (&a.meta, &b.meta) {
                (Meta::Invalid(_), _) => {
                    a.meta = b.meta;
                    DidMerge(true, false)
                }
                (_, Meta::Invalid(_)) => DidMerge(false, true),
                _ => {
                    self.conflicts.push(Conflict {
                        left: a.meta.clone(),
                        right: b.meta,
                    });
                    DidMerge(false, true)
                }
            }
        };
        meta_merge | facts_merge
    }
}

/// Ops whose result holds exactly the elements of their first operand (rearranged or not).
const KEEPS_ELEMENTS: &[&str] = &[
    "view",
    "unsqueeze",
    "squeeze",
    "permute",
    "transpose",
    "t",
    "alias",
    "clone",
];

/// The facts of one e-node's value (see [`Facts`]).
fn make_facts(egraph: &FxEGraph, enode: &Lang, meta: &Meta) -> Facts {
    let Lang::Call(op, children) = enode else {
        return Facts::default();
    };
    if *op == Op::OPAQUE {
        let private = children
            .first()
            .and_then(|&c| class_int(egraph, c))
            .and_then(|k| egraph.analysis.opaque.get(k as usize))
            .is_some_and(|o| o.private_dropout);
        if private {
            return Facts {
                distinct_below: None,
                private_dropout: true,
                dropout_no_backward: false,
                mask: None,
            };
        }
    }
    let mask = match *op {
        Op::OPAQUE | Op::INPUT | Op::LIST | Op::NONE | Op::GETITEM => None,
        _ => super::mask::mask_fact(egraph, *op, children, meta),
    };
    let is_int = meta.tensor().is_some_and(|t| {
        matches!(
            t.dtype,
            crate::ir::DType::I64 | crate::ir::DType::I32 | crate::ir::DType::I16
        )
    });
    if !is_int {
        return Facts {
            mask,
            ..Facts::default()
        };
    }
    let child = |i: usize| children.get(i).map(|&c| &egraph[c].data);
    let int = |i: usize| {
        child(i).and_then(|d| match d.meta {
            Meta::Int(k) => Some(k),
            _ => None,
        })
    };
    let distinct_below = match *op {
        Op::OPAQUE => int(0)
            .and_then(|k| egraph.analysis.opaque.get(k as usize))
            .and_then(|o| randperm_n(o, meta)),
        Op::INPUT | Op::LIST | Op::NONE | Op::GETITEM => None,
        _ if KEEPS_ELEMENTS.contains(&op.name()) => child(0).and_then(|d| d.facts.distinct_below),
        _ if op.name() == "slice" => child(0).and_then(|src| {
            // slice(self, dim, start, end, step) of a 1-D index, from its start: a prefix.
            let prefix = src.meta.tensor().is_some_and(|t| t.rank() == 1)
                && matches!(int(1), Some(0 | -1))
                && (int(2) == Some(0) || child(2).is_some_and(|d| matches!(d.meta, Meta::None)))
                && int(4) == Some(1);
            src.facts.distinct_below.filter(|_| prefix)
        }),
        _ => None,
    };
    Facts {
        distinct_below,
        private_dropout: false,
        dropout_no_backward: false,
        mask,
    }
}

/// `Some(n)` when the opaque call is `randperm(n)` producing `n` integers.
fn randperm_n(o: &Opaque, meta: &Meta) -> Option<i64> {
    let op = o.target.split('.').nth(1)?;
    if op != "randperm" {
        return None;
    }
    let n = match o.args.first() {
        Some(Arg::Int(n)) => *n,
        _ => return None,
    };
    (meta.tensor()?.shape == [n]).then_some(n)
}

fn make_meta(egraph: &FxEGraph, enode: &Lang) -> Meta {
    let metas: Vec<&Meta> = enode
        .children()
        .iter()
        .map(|&c| &egraph[c].data.meta)
        .collect();
    let a = &egraph.analysis;
    node_meta(
        enode,
        &metas,
        &|k| a.inputs.get(k).map(|i| Meta::from_val(&i.val)),
        &|k| a.opaque.get(k).map(|o| Meta::from_val(&o.val)),
    )
}

/// The meta of one e-node from its children's metas: the op table's shape rule, or the special
/// ops' typing (`input` and `opaque` look their index up with `input` / `opaque`). Shared by
/// the e-graph analysis and the rule checker, so both type terms identically.
pub fn node_meta(
    enode: &Lang,
    metas: &[&Meta],
    input: &dyn Fn(usize) -> Option<Meta>,
    opaque: &dyn Fn(usize) -> Option<Meta>,
) -> Meta {
    let op = match enode {
        Lang::Int(i) => return Meta::Int(*i),
        Lang::Float(x) => return Meta::Float(x.get()),
        Lang::Bool(b) => return Meta::Bool(*b),
        Lang::Dtype(d) => return Meta::Dtype(*d),
        Lang::Attr(a) => return Meta::Attr(a.to_string()),
        Lang::Call(op, _) => *op,
    };
    if let Some(bad) = metas.iter().find(|m| matches!(m, Meta::Invalid(_))) {
        return (*bad).clone();
    }
    let index = |i: usize| match metas.get(i) {
        Some(Meta::Int(k)) if *k >= 0 => Some(*k as usize),
        _ => None,
    };
    match op {
        Op::INPUT => index(0)
            .and_then(input)
            .unwrap_or_else(|| Meta::Invalid("input index out of range".into())),
        Op::OPAQUE => index(0)
            .and_then(opaque)
            .unwrap_or_else(|| Meta::Invalid("opaque index out of range".into())),
        Op::LIST => Meta::List(metas.iter().map(|m| (*m).clone()).collect()),
        Op::NONE => Meta::None,
        Op::GETITEM => match (metas.first(), index(1)) {
            (Some(Meta::Tuple(items)), Some(i)) | (Some(Meta::List(items)), Some(i))
                if i < items.len() =>
            {
                items[i].clone()
            }
            _ => Meta::Invalid("getitem of a non-tuple or out of range".into()),
        },
        _ => {
            let owned: Vec<Meta> = metas.iter().map(|m| (*m).clone()).collect();
            (op.def().infer)(&owned).unwrap_or_else(|e| Meta::Invalid(format!("{op}: {e}")))
        }
    }
}
