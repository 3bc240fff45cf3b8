//! A term under construction: an e-graph expression plus the meta of every node (computed as
//! the e-graph analysis computes it, from the op table's shape rules).

use crate::egraph::{Attr, Lang, F64};
use crate::ir::Arg;
use crate::ops::{Meta, Op};
use egg::{Id, RecExpr};
use ordered_float::OrderedFloat;

/// An expression and its per-node metas. The last node is the root.
#[derive(Debug, Clone, Default)]
pub struct Term {
    /// The expression.
    pub expr: RecExpr<Lang>,
    /// Meta of each node of `expr`.
    pub metas: Vec<Meta>,
}

/// The meta of `node` given its children's metas; `inputs` are the metas of `(input i)`.
pub fn node_meta(node: &Lang, children: &[&Meta], inputs: &[Meta]) -> Meta {
    let (op, _) = match node {
        Lang::Int(i) => return Meta::Int(*i),
        Lang::Float(x) => return Meta::Float(x.get()),
        Lang::Bool(b) => return Meta::Bool(*b),
        Lang::Dtype(d) => return Meta::Dtype(*d),
        Lang::Attr(a) => return Meta::Attr(a.to_string()),
        Lang::Call(op, c) => (*op, c),
    };
    if let Some(bad) = children.iter().find(|m| matches!(m, Meta::Invalid(_))) {
        return (*bad).clone();
    }
    let index = |i: usize| match children.get(i) {
        Some(Meta::Int(k)) if *k >= 0 => Some(*k as usize),
        _ => None,
    };
    match op {
        Op::INPUT => index(0)
            .and_then(|k| inputs.get(k).cloned())
            .unwrap_or_else(|| Meta::Invalid("input index out of range".into())),
        Op::OPAQUE => Meta::Invalid("opaque calls have no rule semantics".into()),
        Op::LIST => Meta::List(children.iter().map(|m| (*m).clone()).collect()),
        Op::NONE => Meta::None,
        Op::GETITEM => match (children.first(), index(1)) {
            (Some(Meta::Tuple(items)), Some(i)) | (Some(Meta::List(items)), Some(i))
                if i < items.len() =>
            {
                items[i].clone()
            }
            _ => Meta::Invalid("getitem of a non-tuple or out of range".into()),
        },
        _ => {
            let owned: Vec<Meta> = children.iter().map(|m| (*m).clone()).collect();
            (op.def().infer)(&owned).unwrap_or_else(|e| Meta::Invalid(format!("{op}: {e}")))
        }
    }
}

impl Term {
    /// Adds a node (children must already be in the term) and returns its id.
    pub fn push(&mut self, node: Lang, inputs: &[Meta]) -> Id {
        let metas: Vec<&Meta> = egg::Language::children(&node)
            .iter()
            .map(|&c| &self.metas[usize::from(c)])
            .collect();
        let m = node_meta(&node, &metas, inputs);
        self.metas.push(m);
        self.expr.add(node)
    }

    /// Copies another term in; returns the id of its root.
    pub fn append(&mut self, other: &Term, inputs: &[Meta]) -> Id {
        let base = self.expr.as_ref().len();
        let mut last = Id::from(0usize);
        for n in other.expr.as_ref() {
            let node = match n {
                Lang::Call(op, c) => Lang::Call(
                    *op,
                    c.iter().map(|&i| Id::from(usize::from(i) + base)).collect(),
                ),
                leaf => leaf.clone(),
            };
            last = self.push(node, inputs);
        }
        last
    }

    /// Adds an argument value (a computed attribute's result).
    pub fn push_arg(&mut self, a: &Arg, inputs: &[Meta]) -> Id {
        let node = match a {
            Arg::None => Lang::call(Op::NONE, Vec::new()),
            Arg::Bool(b) => Lang::Bool(*b),
            Arg::Int(i) => Lang::Int(*i),
            Arg::Float(x) => Lang::Float(F64(OrderedFloat(*x))),
            Arg::Str(s) => Lang::Attr(Attr::new("str", s)),
            Arg::Device(s) => Lang::Attr(Attr::new("device", s)),
            Arg::Layout(s) => Lang::Attr(Attr::new("layout", s)),
            Arg::MemoryFormat(s) => Lang::Attr(Attr::new("memfmt", s)),
            Arg::Dtype(d) => Lang::Dtype(*d),
            Arg::Node(_) => Lang::call(Op::NONE, Vec::new()),
            Arg::List(items) => {
                let ids: Vec<Id> = items.iter().map(|x| self.push_arg(x, inputs)).collect();
                Lang::call(Op::LIST, ids)
            }
        };
        self.push(node, inputs)
    }

    /// The root's meta.
    pub fn meta(&self) -> &Meta {
        self.metas.last().unwrap_or(&Meta::None)
    }
}
