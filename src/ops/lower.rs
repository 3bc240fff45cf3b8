//! Per-target lowering of the target-neutral ops to device kernels (the back end of a
//! Cranelift-style split: the rules rewrite with neutral ops, this table picks the kernel).
//!
//! `sdpa_fwd` / `sdpa_bwd` (the SDPA training pair, [`super::attention`]) become
//! `_scaled_dot_product_flash_attention_for_cpu[_backward]` on `--target cpu` and
//! `_scaled_dot_product_efficient_attention[_backward]` on `--target cuda`; the causal pair
//! `sdpa_causal_fwd` / `sdpa_causal_bwd` becomes the CPU flash kernels with `is_causal=True`,
//! and on CUDA the flash kernels where they take the block ([`cuda_flash_takes`]), else the
//! efficient ones, with `is_causal=True` and no bias ([`kernel_for`]: the choice reads the
//! children's metas). The composite
//! `scaled_dot_product_attention` that the inference rules write lowers the same way, to
//! `getitem(kernel, 0)`, wherever the kernel takes its arguments ([`inference_kernel`]: 4-D
//! q, k, v, no dropout, a float scale, a float mask of q's dtype or `is_causal` with no mask and L == S; on the CPU one
//! head size and a 2-D or 4-D mask); elsewhere (3-D attention, a bool mask) it stays as it
//! is, for PyTorch to dispatch. A lowering is a
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
    /// For a backward: its forward's neutral op and the children it was built from (`(q, k,
    /// v, mask, dropout_p, scale)` of `sdpa_fwd`, `(q, k, v, dropout_p, scale)` of
    /// `sdpa_causal_fwd`; the rules give the forward exactly these), to type [`Piece::Item`].
    pub fwd_args: Option<(&'static str, Vec<usize>)>,
}

/// The CUDA flash kernel's limits for a causal block of q `[B, H, L, E]`, v `[B, H, S, Ev]`:
/// float16/bfloat16, one head size `E == Ev`, a multiple of 8 up to 256. (Its other limit,
/// rows of q, k, v contiguous in memory, holds for the projections' outputs that joint graphs
/// feed it; it is not checked here.)
pub fn cuda_flash_takes(q: &Meta, v: &Meta) -> bool {
    match (q.tensor(), v.tensor()) {
        (Some(q), Some(v)) if q.rank() == 4 && v.rank() == 4 => {
            let e = q.shape[3];
            matches!(q.dtype, crate::ir::DType::F16 | crate::ir::DType::BF16)
                && v.shape[3] == e
                && e % 8 == 0
                && e > 0
                && e <= 256
        }
        _ => false,
    }
}

/// The kernel a neutral op lowers to on `target` for children of metas `metas`: as
/// [`kernel_of`], except that on CUDA a causal block, or one with no mask, becomes the flash
/// kernel where it takes the block ([`cuda_flash_takes`]), and the memory-efficient one
/// elsewhere.
pub fn kernel_for(target: Target, op: Op, metas: &[&Meta]) -> Option<Kernel> {
    use Piece::{Child as C, Item, Lit};
    // no mask and no dropout (the efficient kernel keeps the dropout forms it was checked with)
    let plain = |m: usize, p: usize| {
        matches!(metas.get(m), Some(Meta::None))
            && matches!(metas.get(p), Some(Meta::Float(x)) if *x == 0.0)
    };
    let flash = |q: usize, v: usize| {
        target == Target::Cuda && metas.len() > q.max(v) && cuda_flash_takes(metas[q], metas[v])
    };
    // the flash forward of (q, k, v, dropout_p, scale) children, `causal` or not
    let flash_fwd = |ch: [usize; 5], causal: bool| {
        let [q, k, v, p, s] = ch.map(C);
        let args = vec![q, k, v, p, Lit(Arg::Bool(causal)), Lit(Arg::Bool(false)), s];
        ("_scaled_dot_product_flash_attention", args, None)
    };
    // its backward: (g, q, k, v, dropout_p, scale) children, the forward's items at `fwd`
    let flash_bwd = |ch: [usize; 6], fwd: usize, causal: bool, neutral_fwd, fwd_ch: Vec<usize>| {
        let it = |index| Item { fwd, index };
        let [g, q, k, v, p, s] = ch.map(C);
        let args = vec![
            g,
            q,
            k,
            v,
            it(0),
            it(1),
            it(2),
            it(3),
            it(4),
            it(5),
            p,
            Lit(Arg::Bool(causal)),
            it(6),
            it(7),
            s,
        ];
        (
            "_scaled_dot_product_flash_attention_backward",
            args,
            Some((neutral_fwd, fwd_ch)),
        )
    };
    let (name, args, fwd_args) = match op.name() {
        // sdpa_causal_fwd(q 0, k 1, v 2, dropout_p 3, scale 4)
        "sdpa_causal_fwd" if flash(0, 2) => flash_fwd([0, 1, 2, 3, 4], true),
        // sdpa_causal_bwd(g 0, q 1, k 2, v 3, fwd 4, dropout_p 5, scale 6)
        "sdpa_causal_bwd" if flash(1, 3) => flash_bwd(
            [0, 1, 2, 3, 5, 6],
            4,
            true,
            "sdpa_causal_fwd",
            vec![1, 2, 3, 5, 6],
        ),
        // sdpa_fwd(q 0, k 1, v 2, mask 3, dropout_p 4, scale 5) with no mask, no dropout
        "sdpa_fwd" if flash(0, 2) && plain(3, 4) => flash_fwd([0, 1, 2, 4, 5], false),
        // sdpa_bwd(g 0, q 1, k 2, v 3, mask 4, fwd 5, dropout_p 6, scale 7), the same
        "sdpa_bwd" if flash(1, 3) && plain(4, 6) => flash_bwd(
            [0, 1, 2, 3, 6, 7],
            5,
            false,
            "sdpa_fwd",
            vec![1, 2, 3, 4, 6, 7],
        ),
        _ => return kernel_of(target, op),
    };
    let op = table().by_name(name)?;
    Some(Kernel { op, args, fwd_args })
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
            Some(("sdpa_fwd", vec![1, 2, 3, 4, 6, 7])),
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
            Some(("sdpa_fwd", vec![1, 2, 3, 4, 6, 7])),
        ),
        // sdpa_causal_fwd(q 0, k 1, v 2, dropout_p 3, scale 4): is_causal, no mask
        ("sdpa_causal_fwd", Target::Cpu) => (
            "_scaled_dot_product_flash_attention_for_cpu",
            vec![C(0), C(1), C(2), C(3), f(true), Lit(Arg::None), C(4)],
            None,
        ),
        ("sdpa_causal_fwd", Target::Cuda) => (
            "_scaled_dot_product_efficient_attention",
            vec![
                C(0),
                C(1),
                C(2),
                Lit(Arg::None),
                f(true),
                C(3),
                f(true),
                C(4),
            ],
            None,
        ),
        // sdpa_causal_bwd(g 0, q 1, k 2, v 3, fwd 4, dropout_p 5, scale 6)
        ("sdpa_causal_bwd", Target::Cpu) => (
            "_scaled_dot_product_flash_attention_for_cpu_backward",
            vec![
                C(0),
                C(1),
                C(2),
                C(3),
                Item { fwd: 4, index: 0 },
                Item { fwd: 4, index: 1 },
                C(5),
                f(true),
                Lit(Arg::None),
                C(6),
            ],
            Some(("sdpa_causal_fwd", vec![1, 2, 3, 5, 6])),
        ),
        ("sdpa_causal_bwd", Target::Cuda) => (
            "_scaled_dot_product_efficient_attention_backward",
            vec![
                C(0),
                C(1),
                C(2),
                C(3),
                Lit(Arg::None),
                Item { fwd: 4, index: 0 },
                Item { fwd: 4, index: 1 },
                Item { fwd: 4, index: 2 },
                Item { fwd: 4, index: 3 },
                C(5),
                Lit(Arg::List(vec![
                    Arg::Bool(true),
                    Arg::Bool(true),
                    Arg::Bool(true),
                    Arg::Bool(false),
                ])),
                f(true),
                C(6),
            ],
            Some(("sdpa_causal_fwd", vec![1, 2, 3, 5, 6])),
        ),
        _ => return None,
    };
    let op = table().by_name(name)?;
    Some(Kernel { op, args, fwd_args })
}

/// The kernel the composite `scaled_dot_product_attention(q 0, k 1, v 2, mask 3, dropout_p 4,
/// is_causal 5, scale 6, enable_gqa 7)` lowers to on `target` for children `metas` (its
/// output is the kernel's item 0), with the kernel's argument metas and result; `None` where
/// the kernel does not take them (the composite is then written as it is). With
/// `is_causal=True` (no mask, L == S): the CPU flash kernel, or on CUDA the flash kernel where
/// it takes the call, else the efficient one, each with `is_causal=True`. The kernel is
/// what PyTorch's own dispatch picks for such a call: the CPU flash kernel on the CPU (the
/// one CPU kernel with a mask), the memory-efficient one on CUDA (it takes any float mask,
/// expanded to the scores' shape; no log-sum-exp: inference).
pub fn inference_kernel(
    target: Target,
    op: Op,
    metas: &[&Meta],
) -> Option<(Kernel, Vec<Meta>, Meta)> {
    use Piece::{Child as C, Expanded, Lit};
    if op.name() != "scaled_dot_product_attention" || metas.len() != 8 {
        return None;
    }
    let zero = matches!(metas[4], Meta::Float(p) if *p == 0.0) || matches!(metas[4], Meta::Int(0));
    let plain = zero && matches!(metas[6], Meta::Float(_)) && matches!(metas[7], Meta::Bool(false));
    if !plain {
        return None;
    }
    let f = |b: bool| Lit(Arg::Bool(b));
    if matches!(metas[5], Meta::Bool(true)) {
        // is_causal with no mask, as many queries as keys (top-left is then SDPA's own)
        let square = matches!((metas[0].tensor(), metas[1].tensor()),
            (Some(q), Some(k)) if q.rank() == 4 && k.rank() == 4 && q.shape[2] == k.shape[2]);
        if !matches!(metas[3], Meta::None) || !square {
            return None;
        }
        let (name, args) = match target {
            Target::Cpu => (
                "_scaled_dot_product_flash_attention_for_cpu",
                vec![C(0), C(1), C(2), C(4), f(true), Lit(Arg::None), C(6)],
            ),
            Target::Cuda if cuda_flash_takes(metas[0], metas[2]) => (
                "_scaled_dot_product_flash_attention",
                vec![C(0), C(1), C(2), C(4), f(true), f(false), C(6)],
            ),
            Target::Cuda => (
                "_scaled_dot_product_efficient_attention",
                vec![
                    C(0),
                    C(1),
                    C(2),
                    Lit(Arg::None),
                    f(false),
                    C(4),
                    f(true),
                    C(6),
                ],
            ),
        };
        let kernel = Kernel {
            op: table().by_name(name)?,
            args,
            fwd_args: None,
        };
        let (args, out) = kernel.metas(target, metas)?;
        return Some((kernel, args, out));
    }
    if !matches!(metas[5], Meta::Bool(false)) {
        return None;
    }
    let (name, args) = match target {
        Target::Cpu => {
            // the CPU kernel takes a 2-D or 4-D mask only
            if let Meta::Tensor(m) = metas[3] {
                if m.rank() != 2 && m.rank() != 4 {
                    return None;
                }
            }
            (
                "_scaled_dot_product_flash_attention_for_cpu",
                vec![C(0), C(1), C(2), C(4), f(false), C(3), C(6)],
            )
        }
        Target::Cuda if matches!(metas[3], Meta::None) && cuda_flash_takes(metas[0], metas[2]) => (
            "_scaled_dot_product_flash_attention",
            vec![C(0), C(1), C(2), C(4), f(false), f(false), C(6)],
        ),
        Target::Cuda => (
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
                f(false),
                C(4),
                f(false),
                C(6),
            ],
        ),
    };
    let kernel = Kernel {
        op: table().by_name(name)?,
        args,
        fwd_args: None,
    };
    let (args, out) = kernel.metas(target, metas)?;
    Some((kernel, args, out))
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
        let fwd_out = match &self.fwd_args {
            Some((name, ix)) => {
                let inner: Vec<&Meta> = ix
                    .iter()
                    .map(|&i| metas.get(i).copied())
                    .collect::<Option<_>>()?;
                let fwd = kernel_for(target, table().by_name(name)?, &inner)?;
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

    /// The composite SDPA lowers where the kernel takes the call, and stays elsewhere.
    #[test]
    fn composite_sdpa_lowers_where_the_kernel_takes_it() {
        let (q, k) = (t(&[1, 2, 40, 8]), t(&[1, 2, 16, 8]));
        let (mask, mask3) = (t(&[1, 1, 40, 16]), t(&[2, 40, 16]));
        let (zero, f, s) = (Meta::Float(0.0), Meta::Bool(false), Meta::Float(0.5));
        let sdpa = neutral("scaled_dot_product_attention");
        let call = |q: &Meta, k: &Meta, m: &Meta, p: &Meta| {
            [
                q.clone(),
                k.clone(),
                k.clone(),
                m.clone(),
                p.clone(),
                f.clone(),
                s.clone(),
                f.clone(),
            ]
        };
        let lowered = |target, args: &[Meta; 8]| {
            let metas: Vec<&Meta> = args.iter().collect();
            inference_kernel(target, sdpa, &metas)
        };
        let (kernel, args, out) = lowered(Target::Cpu, &call(&q, &k, &mask, &zero)).unwrap();
        assert_eq!(
            kernel.op.name(),
            "_scaled_dot_product_flash_attention_for_cpu"
        );
        assert_eq!(args[5], mask);
        assert!(matches!(out, Meta::Tuple(ref items) if items[0] == q));
        let (kernel, args, _) = lowered(Target::Cuda, &call(&q, &k, &mask, &zero)).unwrap();
        assert_eq!(kernel.op.name(), "_scaled_dot_product_efficient_attention");
        assert_eq!(args[3], t(&[1, 2, 40, 16]), "the bias expanded");
        assert_eq!(args[4], Meta::Bool(false), "no logsumexp in inference");
        // the CPU kernel takes 2-D and 4-D masks only; CUDA expands any
        assert!(lowered(Target::Cpu, &call(&q, &k, &mask3, &zero)).is_none());
        assert!(lowered(Target::Cuda, &call(&q, &k, &mask3, &zero)).is_some());
        // dropout, 3-D attention: the composite stays
        assert!(lowered(Target::Cpu, &call(&q, &k, &Meta::None, &Meta::Float(0.1))).is_none());
        let (q3, k3) = (t(&[2, 40, 8]), t(&[2, 16, 8]));
        assert!(lowered(Target::Cpu, &call(&q3, &k3, &Meta::None, &zero)).is_none());
    }

    /// The causal pair: the CPU flash kernels with is_causal; on CUDA the flash kernels for
    /// half types with one head size (a multiple of 8, at most 256), else the efficient ones;
    /// the backward's items typed by the forward it was chosen with.
    #[test]
    fn causal_pair_picks_the_kernel_by_dtype_and_head_size() {
        let f32t = |shape: &[i64]| {
            Meta::Tensor(TMeta {
                shape: shape.to_vec(),
                dtype: DType::F32,
            })
        };
        let (dp, s) = (Meta::Float(0.0), Meta::Float(0.5));
        let fwd = neutral("sdpa_causal_fwd");
        let bwd = neutral("sdpa_causal_bwd");
        let cases = [
            (
                Target::Cpu,
                t(&[1, 2, 16, 8]),
                "_scaled_dot_product_flash_attention_for_cpu",
            ),
            (
                Target::Cuda,
                t(&[1, 2, 16, 8]),
                "_scaled_dot_product_flash_attention",
            ),
            (
                Target::Cuda,
                t(&[1, 2, 16, 12]),
                "_scaled_dot_product_efficient_attention",
            ),
            (
                Target::Cuda,
                t(&[1, 2, 16, 512]),
                "_scaled_dot_product_efficient_attention",
            ),
            (
                Target::Cuda,
                f32t(&[1, 2, 16, 8]),
                "_scaled_dot_product_efficient_attention",
            ),
        ];
        for (target, q, want) in cases {
            let metas = [&q, &q, &q, &dp, &s];
            let k = kernel_for(target, fwd, &metas).unwrap();
            assert_eq!(k.op.name(), want, "{target} {q:?}");
            let (args, out) = k.metas(target, &metas).unwrap();
            assert!(args.contains(&Meta::Bool(true)), "is_causal");
            assert!(!args.iter().any(|a| matches!(a, Meta::Tensor(m) if m.rank() == 4 && m.shape != q.tensor().unwrap().shape)), "no mask tensor");
            let Meta::Tuple(items) = out else {
                panic!("a tuple")
            };
            let fwd_meta = Meta::Tuple(items[..2].to_vec());
            let bmetas = [&q, &q, &q, &q, &fwd_meta, &dp, &s];
            let b = kernel_for(target, bwd, &bmetas).unwrap();
            assert_eq!(b.op.name(), format!("{want}_backward"), "{target}");
            let (_, bout) = b.metas(target, &bmetas).unwrap();
            assert!(matches!(bout, Meta::Tuple(ref v) if v.len() >= 3 && v[0] == q));
        }
    }

    /// The backward's forward items are typed by the forward's kernel on the same target.
    #[test]
    fn backward_reads_its_forwards_kernel_items() {
        let q = t(&[1, 2, 40, 8]);
        let k = t(&[1, 2, 16, 8]);
        let (none, dp, s) = (Meta::None, Meta::Float(0.0), Meta::Float(0.5));
        let fwd = Meta::Tuple(vec![q.clone(), t(&[1, 2, 40])]);
        let mask = t(&[1, 2, 40, 16]);
        for (target, n_args, lse_rows, m) in [
            (Target::Cpu, 10, 40, &none),
            (Target::Cuda, 13, 64, &mask),
            (Target::Cuda, 15, 40, &none),
        ] {
            let metas = [&q, &q, &k, &k, m, &fwd, &dp, &s];
            let b = kernel_for(target, neutral("sdpa_bwd"), &metas).unwrap();
            // on CUDA the flash pair where there is no mask (its log-sum-exp is not padded)
            let flash = target == Target::Cuda && matches!(m, Meta::None);
            assert_eq!(
                b.op.name().contains("flash"),
                flash || target == Target::Cpu
            );
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
