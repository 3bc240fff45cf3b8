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

/// The meta of a term node: [`crate::egraph::node_meta`], with rule inputs typed by `inputs`
/// and no opaque calls (rules never see them).
pub fn node_meta(node: &Lang, children: &[&Meta], inputs: &[Meta]) -> Meta {
    match node {
        Lang::Call(Op::OPAQUE, _) => Meta::Invalid("opaque calls have no rule semantics".into()),
        _ => crate::egraph::node_meta(node, children, &|k| inputs.get(k).cloned(), &|_| None),
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
