//! The `matmul` the attention rules write, lowered when the graph is written to what PyTorch's
//! own matmul decomposition traces to (`torch._decomp.decompositions.matmul` under Inductor's
//! decomposition table), so the result holds no composite op that Inductor has to decompose
//! (which would make the `torch.compile` backend re-trace the whole graph with `make_fx`).
//!
//! The e-graph's `matmul` takes operands of one rank ≥ 2 with equal batch dims, so two of the
//! decomposition's branches apply:
//!
//! * rank 2: `mm(a, b)`;
//! * rank ≥ 3, `a: [*batch, n, m]`, `b: [*batch, m, p]`, `B = prod(batch)`: each operand
//!   `expand`ed to its own shape, reshaped to 3-D — `view(x, [B, r, c])` where that is a view of
//!   the operand's strides, else `view(clone(x, memory_format=contiguous_format), [B, r, c])`,
//!   as the reference `reshape` writes it — then `bmm`, and `view(bmm, [*batch, n, p])`.
//!
//! Where an operand's strides are not known, the graph writer writes the reshape as
//! `aten.reshape.default` (it copies only when it must), which Inductor lowers too.
//!
//! ```
//! use fxsat::ops::lower_matmul::{lower, Emit};
//! use fxsat::ops::{table, Meta, Op, TMeta};
//! use fxsat::ir::{Arg, DType, NodeId};
//!
//! /// Records the calls and says every reshape is a view.
//! struct Log(Vec<String>);
//! impl Emit for Log {
//!     fn viewable(&self, _: NodeId, _: &[i64]) -> Option<bool> { Some(true) }
//!     fn emit_call(&mut self, op: Op, _: Vec<Arg>, _: &Meta) -> fxsat::Result<NodeId> {
//!         self.0.push(op.name().to_string());
//!         Ok(NodeId(10 + self.0.len() as u32))
//!     }
//! }
//! let t = |s: &[i64]| TMeta { shape: s.to_vec(), dtype: DType::F32 };
//! let mut log = Log(Vec::new());
//! let (op, _) = lower(&mut log, &[Arg::Node(NodeId(0)), Arg::Node(NodeId(1))],
//!                     &[t(&[2, 4, 16, 8]), t(&[2, 4, 8, 16])]).unwrap();
//! assert_eq!(log.0, ["expand", "view", "expand", "view", "bmm"]);
//! assert_eq!(op.name(), "view");
//! ```

use super::{table, Meta, Op, TMeta};
use crate::error::{Error, Result};
use crate::ir::{Arg, NodeId};

/// What the lowering needs from the graph writer.
pub trait Emit {
    /// Whether `view(n, shape)` is a view of node `n`'s strides: `Some(false)` where it needs
    /// a copy, `None` where `n`'s strides are not known.
    fn viewable(&self, n: NodeId, shape: &[i64]) -> Option<bool>;
    /// Writes the call of table op `op` on canonical arguments `args`, with result `out`
    /// (a view whose strides are not known is written as a reshape); returns its node.
    fn emit_call(&mut self, op: Op, args: Vec<Arg>, out: &Meta) -> Result<NodeId>;
}

fn op(name: &str) -> Result<Op> {
    table()
        .by_name(name)
        .ok_or_else(|| Error::Internal(format!("no `{name}` op in the table")))
}

fn ints(v: &[i64]) -> Arg {
    Arg::List(v.iter().map(|&i| Arg::Int(i)).collect())
}

fn tensor(shape: Vec<i64>, like: &TMeta) -> Meta {
    Meta::Tensor(TMeta {
        shape,
        dtype: like.dtype,
    })
}

/// `matmul(args[0], args[1])` with operand metas `metas`: writes the calls before the last
/// one through `e` and returns the last one (its op and canonical arguments), which computes
/// the matmul's value (its e-class's node).
pub fn lower(e: &mut impl Emit, args: &[Arg], metas: &[TMeta]) -> Result<(Op, Vec<Arg>)> {
    let bad = |why: &str| Error::Internal(format!("matmul cannot be lowered: {why}"));
    let ([a, b], [ma, mb]) = (args, metas) else {
        return Err(bad("it takes two operands"));
    };
    let r = ma.rank();
    if r < 2 || mb.rank() != r || ma.shape[..r - 2] != mb.shape[..r - 2] {
        return Err(bad(&format!(
            "operands {:?} and {:?} are not of one rank >= 2 with equal batch dims",
            ma.shape, mb.shape
        )));
    }
    if r == 2 {
        return Ok((op("mm")?, vec![a.clone(), b.clone()]));
    }
    let batch = &ma.shape[..r - 2];
    let flat: i64 = batch.iter().product();
    let mut three_d = Vec::new();
    for (x, m) in [(a, ma), (b, mb)] {
        let Arg::Node(x) = x else {
            return Err(bad("an operand is not a node"));
        };
        let full = tensor(m.shape.clone(), m);
        let expand = e.emit_call(
            op("expand")?,
            vec![Arg::Node(*x), ints(&m.shape), Arg::Bool(false)],
            &full,
        )?;
        let shape3 = vec![flat, m.shape[r - 2], m.shape[r - 1]];
        let src = match e.viewable(expand, &shape3) {
            Some(false) => e.emit_call(
                op("clone")?,
                vec![
                    Arg::Node(expand),
                    Arg::MemoryFormat("contiguous_format".into()),
                ],
                &full,
            )?,
            _ => expand,
        };
        let v = e.emit_call(
            op("view")?,
            vec![Arg::Node(src), ints(&shape3)],
            &tensor(shape3, m),
        )?;
        three_d.push(Arg::Node(v));
    }
    let out3 = vec![flat, ma.shape[r - 2], mb.shape[r - 1]];
    let bmm = e.emit_call(op("bmm")?, three_d, &tensor(out3, ma))?;
    let mut out = batch.to_vec();
    out.extend([ma.shape[r - 2], mb.shape[r - 1]]);
    Ok((op("view")?, vec![Arg::Node(bmm), ints(&out)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DType;

    /// Records every call; `copy` names the nodes whose reshape is not a view, `unknown`
    /// those whose strides are not known.
    #[derive(Default)]
    struct Log {
        calls: Vec<(String, Vec<Arg>)>,
        copy: Vec<u32>,
        unknown: Vec<u32>,
    }

    impl Emit for Log {
        fn viewable(&self, n: NodeId, _: &[i64]) -> Option<bool> {
            // the expand of operand k is node 100 + call index; map it back to the operand
            let operand = match self.calls.get(n.0 as usize - 100) {
                Some((_, args)) => match args[0] {
                    Arg::Node(x) => x.0,
                    _ => return None,
                },
                None => return None,
            };
            if self.unknown.contains(&operand) {
                None
            } else {
                Some(!self.copy.contains(&operand))
            }
        }
        fn emit_call(&mut self, op: Op, args: Vec<Arg>, _: &Meta) -> Result<NodeId> {
            self.calls.push((op.name().to_string(), args));
            Ok(NodeId(100 + self.calls.len() as u32 - 1))
        }
    }

    fn t(s: &[i64]) -> TMeta {
        TMeta {
            shape: s.to_vec(),
            dtype: DType::F32,
        }
    }

    fn nodes() -> [Arg; 2] {
        [Arg::Node(NodeId(0)), Arg::Node(NodeId(1))]
    }

    fn names(log: &Log) -> Vec<&str> {
        log.calls.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn rank_two_is_mm() {
        let mut log = Log::default();
        let (op, args) = lower(&mut log, &nodes(), &[t(&[3, 4]), t(&[4, 5])]).unwrap();
        assert!(log.calls.is_empty());
        assert_eq!(op.name(), "mm");
        assert_eq!(args, nodes());
    }

    /// `[2, 4, 16, 8] @ [2, 4, 8, 16]`: expand, view to `[8, r, c]`, bmm, view back.
    #[test]
    fn rank_four_is_expand_view_bmm_view() {
        let mut log = Log::default();
        let (op, args) =
            lower(&mut log, &nodes(), &[t(&[2, 4, 16, 8]), t(&[2, 4, 8, 16])]).unwrap();
        assert_eq!(names(&log), ["expand", "view", "expand", "view", "bmm"]);
        assert_eq!(log.calls[0].1[1], ints(&[2, 4, 16, 8]));
        assert_eq!(
            log.calls[1].1,
            vec![Arg::Node(NodeId(100)), ints(&[8, 16, 8])]
        );
        assert_eq!(
            log.calls[3].1,
            vec![Arg::Node(NodeId(102)), ints(&[8, 8, 16])]
        );
        assert_eq!(
            log.calls[4].1,
            vec![Arg::Node(NodeId(101)), Arg::Node(NodeId(103))]
        );
        assert_eq!(op.name(), "view");
        assert_eq!(args, vec![Arg::Node(NodeId(104)), ints(&[2, 4, 16, 16])]);
    }

    /// An operand whose batch dims do not fold into a view is copied first (the reference
    /// `reshape`); one whose strides are unknown is left to the writer (a reshape).
    #[test]
    fn operand_that_does_not_fold_is_cloned() {
        let mut log = Log {
            copy: vec![1],
            unknown: vec![0],
            ..Log::default()
        };
        lower(&mut log, &nodes(), &[t(&[2, 4, 16, 8]), t(&[2, 4, 8, 16])]).unwrap();
        assert_eq!(
            names(&log),
            ["expand", "view", "expand", "clone", "view", "bmm"]
        );
        assert_eq!(
            log.calls[3].1[1],
            Arg::MemoryFormat("contiguous_format".into())
        );
        assert_eq!(log.calls[4].1[0], Arg::Node(NodeId(103)));
    }

    #[test]
    fn bad_operands_are_an_error_not_a_panic() {
        let mut log = Log::default();
        for (a, b) in [
            (t(&[2, 3, 4]), t(&[4, 5])),
            (t(&[2, 3, 4]), t(&[3, 4, 5])),
            (t(&[3]), t(&[3])),
        ] {
            let e = lower(&mut log, &nodes(), &[a, b]).unwrap_err();
            assert!(e.to_string().contains("matmul cannot be lowered"), "{e}");
        }
        assert!(lower(&mut log, &nodes()[..1], &[t(&[2, 2])]).is_err());
    }
}
