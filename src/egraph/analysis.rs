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
        ClassData {
            meta: make_meta(egraph, enode),
        }
    }

    fn merge(&mut self, a: &mut ClassData, b: ClassData) -> DidMerge {
        if a.meta.same_as(&b.meta) {
            return DidMerge(false, false);
        }
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
    }
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
