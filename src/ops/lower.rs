//! Per-target lowering of the target-neutral ops to device kernels (the back end of a
//! Cranelift-style split: the rules rewrite with neutral ops, this table picks the kernel).
//!
//! `sdpa_fwd` / `sdpa_bwd` (the SDPA training pair, [`super::attention`]) become
//! `_scaled_dot_product_flash_attention_for_cpu[_backward]` on `--target cpu` and
//! `_scaled_dot_product_efficient_attention[_backward]` on `--target cuda`. A lowering is a
//! list of [`Piece`]s, one per kernel argument, each built from the neutral op's children:
//! the graph writer (`egraph::to_graph`) emits it, and the cost model prices the neutral op
//! as the kernel it becomes ([`Kernel::metas`]), so that extraction chooses as it would
//! between kernel calls.
//!
//! ```
//! use fxsat::ops::{lower, table};
//! use fxsat::Target;
//! let fwd = table().by_name("sdpa_fwd").unwrap();
//! let cuda = lower::kernel_of(Target::Cuda, fwd).unwrap();
//! assert_eq!(cuda.op.name(), "_scaled_dot_product_efficient_attention");
//! ```

use super::{table, Meta, Op, TMeta};
use crate::ir::Arg;
use crate::target::Target;

/// How one kernel argument is built from the neutral op's children.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Child `i` as it is.
    Child(usize),
    /// A literal.
    Lit(Arg),
    /// Child `mask` expanded to the scores' shape `[B, H, L, S]` of children `q` and `k`
    /// (`expand(mask, shape, false)`, a view), or `None` as it is: the CUDA kernels take their
    /// bias at the full shape, as SDPA itself expands it.
    Expanded {
        /// The mask child.
        mask: usize,
        /// The query child.
        q: usize,
        /// The key child.
        k: usize,
    },
    /// Item `index` of the kernel that child `fwd` (an `sdpa_fwd`) lowers to:
    /// `getitem(fwd, index)`.
    Item {
        /// The forward child.
        fwd: usize,
        /// The tuple index.
        index: usize,
    },
}

/// The kernel a neutral op lowers to on one target.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The kernel op (a real aten op of the table).
    pub op: Op,
    /// Its canonical arguments, in order.
    pub args: Vec<Piece>,
    /// For a backward: the children `(q, k, v, mask, dropout_p, scale)` its forward child
    /// was built from (the rules give the forward exactly these), to type [`Piece::Item`].
    pub fwd_args: Option<[usize; 6]>,
}

/// The kernel a neutral op lowers to on `target`; `None` for other ops.
pub fn kernel_of(target: Target, op: Op) -> Option<Kernel> {
    use Piece::{Child as C, Expanded, Item, Lit};
    let f = |b: bool| Lit(Arg::Bool(b));
    let (name, args, fwd_args) = match (op.name(), target) {
        // sdpa_fwd(q 0, k 1, v 2, mask 3, dropout_p 4, scale 5)
        ("sdpa_fwd", Target::Cpu) => (
            "_scaled_dot_product_flash_attention_for_cpu",
            vec![C(0), C(1), C(2), C(4), f(false), C(3), C(5)],
            None,
        ),
        ("sdpa_fwd", Target::Cuda) => (
            "_scaled_dot_product_efficient_attention",
            vec![
                C(0),
                C(1),
                C(2),
                Expanded {
                    mask: 3,
                    q: 0,
                    k: 1,
                },
                f(true),
                C(4),
                f(false),
                C(5),
            ],
            None,
        ),
        // sdpa_bwd(g 0, q 1, k 2, v 3, mask 4, fwd 5, dropout_p 6, scale 7)
        ("sdpa_bwd", Target::Cpu) => (
            "_scaled_dot_product_flash_attention_for_cpu_backward",
            vec![
                C(0),
                C(1),
                C(2),
                C(3),
                Item { fwd: 5, index: 0 },
                Item { fwd: 5, index: 1 },
                C(6),
                f(false),
                C(4),
                C(7),
            ],
            Some([1, 2, 3, 4, 6, 7]),
        ),
        ("sdpa_bwd", Target::Cuda) => (
            "_scaled_dot_product_efficient_attention_backward",
            vec![
                C(0),
                C(1),
                C(2),
                C(3),
                Expanded {
                    mask: 4,
                    q: 1,
                    k: 2,
                },
                Item { fwd: 5, index: 0 },
                Item { fwd: 5, index: 1 },
                Item { fwd: 5, index: 2 },
                Item { fwd: 5, index: 3 },
                C(6),
                Lit(Arg::List(vec![
                    Arg::Bool(true),
                    Arg::Bool(true),
                    Arg::Bool(true),
                    Arg::Bool(false),
                ])),
                f(false),
                C(7),
            ],
            Some([1, 2, 3, 4, 6, 7]),
        ),
        _ => return None,
    };
    let op = table().by_name(name)?;
    Some(Kernel { op, args, fwd_args })
}

/// The meta of a literal argument, as the e-graph types it.
pub fn literal_meta(a: &Arg) -> Meta {
    match a {
        Arg::Bool(b) => Meta::Bool(*b),
        Arg::Int(i) => Meta::Int(*i),
        Arg::Float(x) => Meta::Float(*x),
        Arg::List(items) => Meta::List(items.iter().map(literal_meta).collect()),
        _ => Meta::None,
    }
}

/// The scores' shape `[.., L, S]` a mask is expanded to.
pub fn expanded_shape(q: &Meta, k: &Meta) -> Option<Vec<i64>> {
    super::attention::scores_shape(q.tensor()?, k.tensor()?).ok()
}

impl Kernel {
    /// The metas of the kernel's arguments, from the neutral op's children's `metas`, and
    /// the kernel's result; `None` where the kernel does not take them.
    pub fn metas(&self, target: Target, metas: &[&Meta]) -> Option<(Vec<Meta>, Meta)> {
        let fwd_out = match self.fwd_args {
            Some(ix) => {
                let fwd = kernel_of(target, table().by_name("sdpa_fwd")?)?;
                let inner: Vec<&Meta> = ix.iter().map(|&i| metas[i]).collect();
                Some(fwd.metas(target, &inner)?.1)
            }
            None => None,
        };
        let args = self
            .args
            .iter()
            .map(|p| {
                Some(match p {
                    Piece::Child(i) => (*metas.get(*i)?).clone(),
                    Piece::Lit(a) => literal_meta(a),
                    Piece::Expanded { mask, q, k } => match metas.get(*mask)? {
                        Meta::Tensor(m) => Meta::Tensor(TMeta {
                            shape: expanded_shape(metas[*q], metas[*k])?,
                            dtype: m.dtype,
                        }),
                        other => (*other).clone(),
                    },
                    Piece::Item { index, .. } => match &fwd_out {
                        Some(Meta::Tuple(items)) => items.get(*index)?.clone(),
                        _ => return None,
                    },
                })
            })
            .collect::<Option<Vec<Meta>>>()?;
        let out = (self.op.def().infer)(&args).ok()?;
        Some((args, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DType;

    fn t(shape: &[i64]) -> Meta {
        Meta::Tensor(TMeta {
            shape: shape.to_vec(),
            dtype: DType::F16,
        })
    }

    fn neutral(name: &str) -> Op {
        table().by_name(name).unwrap()
    }

    /// The CPU forward returns (out, logsumexp [B, H, L]); the CUDA one pads the logsumexp to
    /// a multiple of 32 rows and adds the RNG state: the kernels' own shapes.
    #[test]
    fn forward_lowers_to_each_targets_kernel() {
        let (q, mask) = (t(&[1, 2, 40, 8]), t(&[1, 1, 40, 16]));
        let k = t(&[1, 2, 16, 8]);
        let (dp, s) = (Meta::Float(0.0), Meta::Float(0.5));
        let metas = [&q, &k, &k, &mask, &dp, &s];
        let cpu = kernel_of(Target::Cpu, neutral("sdpa_fwd")).unwrap();
        let (args, out) = cpu.metas(Target::Cpu, &metas).unwrap();
        assert_eq!(cpu.op.name(), "_scaled_dot_product_flash_attention_for_cpu");
        assert_eq!(args[5], mask, "the CPU kernel takes the mask as it is");
        let Meta::Tuple(items) = out else {
            panic!("a tuple")
        };
        assert_eq!(items[1].tensor().unwrap().shape, vec![1, 2, 40]);
        let cuda = kernel_of(Target::Cuda, neutral("sdpa_fwd")).unwrap();
        let (args, out) = cuda.metas(Target::Cuda, &metas).unwrap();
        assert_eq!(cuda.op.name(), "_scaled_dot_product_efficient_attention");
        assert_eq!(
            args[3],
            t(&[1, 2, 40, 16]),
            "the CUDA kernel takes the bias expanded"
        );
        let Meta::Tuple(items) = out else {
            panic!("a tuple")
        };
        assert_eq!(items.len(), 4);
        assert_eq!(items[1].tensor().unwrap().shape, vec![1, 2, 64]);
    }

    /// The backward's forward items are typed by the forward's kernel on the same target.
    #[test]
    fn backward_reads_its_forwards_kernel_items() {
        let q = t(&[1, 2, 40, 8]);
        let k = t(&[1, 2, 16, 8]);
        let (none, dp, s) = (Meta::None, Meta::Float(0.0), Meta::Float(0.5));
        let fwd = Meta::Tuple(vec![q.clone(), t(&[1, 2, 40])]);
        let metas = [&q, &q, &k, &k, &none, &fwd, &dp, &s];
        for (target, n_args, lse_rows) in [(Target::Cpu, 10, 40), (Target::Cuda, 13, 64)] {
            let b = kernel_of(target, neutral("sdpa_bwd")).unwrap();
            let (args, out) = b.metas(target, &metas).unwrap();
            assert_eq!(args.len(), n_args);
            let lse = Meta::Tensor(TMeta {
                shape: vec![1, 2, lse_rows],
                dtype: DType::F32,
            });
            assert!(args.contains(&lse), "{target}: {args:?}");
            let Meta::Tuple(items) = out else {
                panic!("a tuple")
            };
            assert_eq!(items[2], k, "{target}");
        }
        assert!(kernel_of(Target::Cpu, table().by_name("matmul").unwrap()).is_none());
    }
}
