//! Conditions and computed attributes of the training-attention rules
//! (`rules/attention_train.rules`), registered beside [`super::registry`]'s, each
//! condition with the generator `check-rules` draws its arguments with.

use super::cond::{Computed, Condition, Draw, DrawCtx, Drawn};
use crate::ir::{Arg, DType};
use crate::ops::{Meta, TMeta};
use crate::target::Target;

fn number(m: &Meta) -> Option<f64> {
    match m {
        Meta::Float(x) => Some(*x),
        Meta::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// The attention dims `[B, H, L, S, E, Ev]` of the training kernels from q, k, v, the mask
/// (`None` or a tensor) and optionally the output's gradient; `None` if they do not fit.
fn train_dims(a: &[&Meta], same_head: bool) -> Option<()> {
    let (q, k, v) = (a[0].tensor()?, a[1].tensor()?, a[2].tensor()?);
    if q.rank() != 4 || k.rank() != 4 || v.rank() != 4 {
        return None;
    }
    let dt = q.dtype;
    if !dt.is_float() || k.dtype != dt || v.dtype != dt {
        return None;
    }
    let (b, h, l, e) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]);
    let (s, ev) = (k.shape[2], v.shape[3]);
    if k.shape[..2] != [b, h] || v.shape[..2] != [b, h] || k.shape[3] != e || v.shape[2] != s {
        return None;
    }
    if same_head && ev != e {
        return None;
    }
    match a.get(3) {
        Some(Meta::None) | None => {}
        Some(Meta::Tensor(m)) => {
            let scores = [b, h, l, s];
            if m.dtype != dt
                || crate::ops::broadcast(&m.shape, &scores).ok()? != scores
                || m.rank() < 2
            {
                return None;
            }
        }
        _ => return None,
    }
    if let Some(g) = a.get(4) {
        if g.tensor()?
            != &(TMeta {
                shape: vec![b, h, l, ev],
                dtype: dt,
            })
        {
            return None;
        }
    }
    Some(())
}

/// The scores' shape `[.., L, S]` of q `[.., L, E]` and k `[.., S, E]` (rank >= 3, one float
/// dtype, equal batch dims).
fn scores_of(q: &TMeta, k: &TMeta) -> Option<Vec<i64>> {
    crate::ops::scores_shape(q, k).ok()
}

/// Training-attention conditions.
pub const CONDITIONS: &[Condition] = &[
    Condition {
        name: "scores-shapes",
        arity: Some(2),
        doc: "q [.., L, E] and kᵀ [.., E, S] (rank >= 3, equal batch dims, one float dtype)",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_scores_shapes),
        test: |_, a| match (a[0].tensor(), a[1].tensor()) {
            (Some(q), Some(kt)) if kt.rank() >= 2 => {
                let r = kt.rank();
                let mut k = kt.clone();
                k.shape.swap(r - 2, r - 1);
                scores_of(q, &k).is_some()
            }
            _ => false,
        },
    },
    Condition {
        name: "scores-grad-shapes",
        arity: Some(4),
        doc: "?gw has the shape and dtype of the scores of q ?q and k ?k [.., S, E]; mask ?m is None or of their dtype and broadcasts to them",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_scores_grad_shapes),
        test: |_, a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
            (Some(g), Some(q), Some(k)) => scores_of(q, k).is_some_and(|s| {
                g.shape == s
                    && g.dtype == q.dtype
                    && match a[3] {
                        Meta::None => true,
                        Meta::Tensor(m) => {
                            m.dtype == q.dtype
                                && crate::ops::broadcast(&m.shape, &s).is_ok_and(|b| b == s)
                        }
                        _ => false,
                    }
            }),
            _ => false,
        },
    },
    Condition {
        name: "sdpa-kernel-takes",
        arity: None,
        doc: "(?q ?k ?v ?m [?g]): the target's SDPA training kernel takes this block. CPU (_scaled_dot_product_flash_attention_for_cpu): 4-D q, k, v [B, H, ·, E] of one float dtype with v's head size E, mask None or of q's dtype broadcasting to [B, H, L, S], output gradient [B, H, L, E]. CUDA (_scaled_dot_product_efficient_attention): the same of float32/16/bfloat16, any head size of v, head sizes multiples of 8 (a mask of any key length S: the lowering pads the bias to 16-element rows and slices it back, as PyTorch's own dispatch does)",
        sees_env: false,
        sees_target: true,
        gen: Some(gen_kernel_shapes),
        test: |env, a| match env.target {
            Target::Cpu => flash_takes(a),
            Target::Cuda => efficient_takes(a),
        },
    },
    Condition {
        name: "kernel-takes-mask-of",
        arity: Some(1),
        doc: "(?k): the target's training kernel takes a mask for k [.., S, E] (a rule that writes the mask itself, so that `sdpa-kernel-takes` is asked with none): k of rank 2 or more; any S on both targets (on CUDA the lowering pads the bias to 16-element rows)",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| a[0].tensor().is_some_and(|k| k.rank() >= 2),
    },
    Condition {
        name: "kernel-takes-dropout",
        arity: Some(1),
        doc: "(?p): the target's kernel takes dropout_p = p > 0: CUDA's efficient kernel (the CPU flash kernel refuses it)",
        sees_env: false,
        sees_target: true,
        gen: None,
        test: |env, _| env.target == Target::Cuda,
    },
    Condition {
        name: "same-number",
        arity: Some(2),
        doc: "two compile-time numbers with equal values (an int and a float may be equal)",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_same_number),
        test: |_, a| matches!((number(a[0]), number(a[1])), (Some(x), Some(y)) if x == y),
    },
    Condition {
        name: "recip-of",
        arity: Some(2),
        doc: "compile-time number ?s is 1 / ?c, as the computed attribute `recip` gives it",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_recip_of),
        test: |_, a| matches!((number(a[0]), number(a[1])), (Some(s), Some(c)) if c != 0.0 && c.is_finite() && s == 1.0 / c),
    },
    Condition {
        name: "dropout-scale",
        arity: Some(2),
        doc: "(?p ?c): compile-time numbers, a dropout probability 0 < p < 1 and its scale c = 1/(1-p) (to 1e-12 relative, as Python computes it)",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_dropout_scale),
        test: |_, a| match (number(a[0]), number(a[1])) {
            (Some(p), Some(c)) if p > 0.0 && p < 1.0 => {
                let want = 1.0 / (1.0 - p);
                (c - want).abs() <= 1e-12 * want
            }
            _ => false,
        },
    },
    Condition {
        name: "is-one",
        arity: Some(1),
        doc: "the compile-time number 1",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_is_one),
        test: |_, a| number(a[0]) == Some(1.0),
    },
    Condition {
        name: "bias-aligned",
        arity: Some(1),
        doc: "k [.., S, E] has S a multiple of 16: the efficient kernel's alignment for an attention bias",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| a[0].tensor().is_some_and(|k| k.rank() >= 2 && k.shape[k.rank() - 2] % 16 == 0),
    },
    Condition {
        name: "is-zero",
        arity: Some(1),
        doc: "the compile-time number 0 (or -0.0)",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_is_zero),
        test: |_, a| number(a[0]) == Some(0.0),
    },
    Condition {
        name: "absorbing-fill-in",
        arity: Some(2),
        doc: "(?f ?x): number ?f rounded to the dtype ?x (a dtype, or a tensor's) is finite and at most -2^125, so adding any |s| < 2^100 gives it back (float32's and bfloat16's finfo.min; not -inf, not float16's, not float32's finfo.min as bfloat16, which rounds to -inf)",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_absorbing_fill_in),
        test: |_, a| {
            let dt = match a[1] {
                Meta::Dtype(d) => *d,
                Meta::Tensor(t) => t.dtype,
                _ => return false,
            };
            number(a[0]).is_some_and(|f| {
                let r = crate::ir::dtype::round_to(f, dt);
                dt.is_float() && r.is_finite() && r <= -(2f64.powi(125))
            })
        },
    },
    Condition {
        name: "keep-correction-exact",
        arity: Some(1),
        doc: "(?k): the `-keep` rules' correction g/S (S = k.shape[-2] keys) rounds no worse than the kernel's own accumulation: S is a power of two (dividing is exact, barring underflow), or k is float32/float64 (one rounding at the kernel's own precision). In bfloat16 g/S loses up to 2^-9 of each |g| before the kernel sums the rows, a sum that can cancel to far below them",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| {
            a[0].tensor().is_some_and(|k| {
                let r = k.rank();
                r >= 2
                    && (matches!(k.dtype, DType::F32 | DType::F64)
                        || (k.shape[r - 2] > 0 && (k.shape[r - 2] as u64).is_power_of_two()))
            })
        },
    },
    Condition {
        name: "keep-mask-fits",
        arity: Some(4),
        doc: "(?c ?fill ?q ?k): ?c is a bool tensor of rank >= 1 broadcasting to the scores [.., L, S] of q ?q and k ?k [.., S, E] without growing them, and ?fill is a 0-d tensor of q's dtype",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_keep_mask_fits),
        test: |_, a| match (a[0].tensor(), a[1].tensor(), a[2].tensor(), a[3].tensor()) {
            (Some(c), Some(f), Some(q), Some(k)) => {
                c.dtype == DType::Bool
                    && f.rank() == 0
                    && f.dtype == q.dtype
                    && c.rank() >= 1
                    && scores_of(q, k).is_some_and(|s| {
                        c.rank() <= s.len()
                            && crate::ops::broadcast(&c.shape, &s).is_ok_and(|b| b == s)
                    })
            }
            _ => false,
        },
    },
];

/// Training-attention computed attributes.
pub const COMPUTED: &[Computed] = &[
    Computed {
        name: "scores-shape",
        arity: 2,
        doc: "the shape [.., L, S] of the scores of q [.., L, E] and k [.., S, E]",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let s = scores_of(a[0].tensor()?, a[1].tensor()?)?;
            Some(Arg::List(s.into_iter().map(Arg::Int).collect()))
        },
    },
    Computed {
        name: "dtype-of",
        arity: 1,
        doc: "the dtype of tensor ?x",
        sees_env: false,
        sees_target: false,
        eval: |_, a| Some(Arg::Dtype(a[0].tensor()?.dtype)),
    },
];

// Generators: how `check-rules` draws an argument each condition pins down.

use super::cond::FLOATS;
use super::registry::small_dim;

/// q: take `[.., L]` from the scores' gradient (argument `grad`) when it is there.
fn draw_q(d: &mut dyn Draw, c: &DrawCtx, grad: Option<usize>) -> Option<Drawn> {
    if !d.chance(0.9) {
        return None;
    }
    let g = grad.and_then(|i| c.tensor(i));
    let mut s = match &g {
        Some(g) if g.rank() >= 3 && g.rank() <= 4 => g.shape.clone(),
        _ => (0..3 + d.below(2)).map(|_| small_dim(d)).collect(),
    };
    let r = s.len();
    s[r - 1] = small_dim(d);
    let dt = c.tensor(0).map_or_else(|| d.pick(&FLOATS), |g| g.dtype);
    Some(Drawn::Tensor(s, dt))
}

fn gen_scores_shapes(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 => draw_q(d, c, None),
        1 => {
            let q = c.tensor(0)?;
            let r = q.rank();
            if r < 3 {
                return None;
            }
            let mut s = q.shape.clone();
            s[r - 2] = q.shape[r - 1];
            s[r - 1] = small_dim(d);
            Some(Drawn::Tensor(s, q.dtype))
        }
        _ => None,
    }
}

/// A mask argument: `None` or an additive mask for the scores of `q` and `k`.
fn draw_mask(d: &mut dyn Draw, q: TMeta, k: TMeta) -> Option<Drawn> {
    let r = q.rank();
    if d.chance(0.3) || k.rank() != r || r < 2 {
        return Some(Drawn::None);
    }
    let keys = k.shape[r - 2];
    Some(Drawn::Mask(q, keys))
}

fn gen_scores_grad_shapes(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        1 => draw_q(d, c, Some(0)),
        2 => {
            let q = c.tensor(1)?;
            let r = q.rank();
            if r < 3 {
                return None;
            }
            let mut s = q.shape.clone();
            s[r - 2] = c
                .tensor(0)
                .filter(|g| g.rank() == r)
                .map_or_else(|| small_dim(d), |g| g.shape[r - 1]);
            Some(Drawn::Tensor(s, q.dtype))
        }
        3 => draw_mask(d, c.tensor(1)?, c.tensor(2)?),
        _ => None,
    }
}

/// `sdpa-kernel-takes` (CPU and CUDA). Roles: q [B, H, L, E], k [B, H, S, E],
/// v [B, H, S, Ev], mask, g [B, H, L, Ev]; dims come from whichever are drawn already.
pub(super) fn kernel_shapes(d: &mut dyn Draw, c: &DrawCtx, efficient: bool) -> Option<Drawn> {
    if c.pos == 3 {
        return draw_mask(d, c.tensor(0)?, c.tensor(1)?);
    }
    let known = |i: usize| c.tensor(i).filter(|m| m.rank() == 4);
    let (q, k, v, g) = (known(0), known(1), known(2), known(4));
    let any = q.clone().or(k.clone()).or(v.clone()).or(g.clone());
    let dim = |d: &mut dyn Draw, x: Option<i64>| {
        x.unwrap_or_else(|| {
            if efficient {
                d.pick(&[8i64, 16])
            } else {
                small_dim(d)
            }
        })
    };
    let b = dim(d, any.as_ref().map(|m| m.shape[0]));
    let h = dim(d, any.as_ref().map(|m| m.shape[1]));
    let l = dim(d, q.as_ref().or(g.as_ref()).map(|m| m.shape[2]));
    let s = match k.as_ref().or(v.as_ref()).map(|m| m.shape[2]) {
        Some(s) => s,
        None if efficient => d.pick(&[16i64, 32]),
        None => small_dim(d),
    };
    let e = dim(d, q.as_ref().or(k.as_ref()).map(|m| m.shape[3]));
    let ev = if !efficient {
        e
    } else {
        dim(d, v.as_ref().or(g.as_ref()).map(|m| m.shape[3]))
    };
    let dt = any.map_or_else(
        || {
            if efficient {
                d.pick(&[DType::F32, DType::F16, DType::BF16])
            } else {
                d.pick(&FLOATS)
            }
        },
        |m| m.dtype,
    );
    let shape = match c.pos {
        0 => vec![b, h, l, e],
        1 => vec![b, h, s, e],
        2 => vec![b, h, s, ev],
        _ => vec![b, h, l, ev],
    };
    Some(Drawn::Tensor(shape, dt))
}

fn gen_kernel_shapes(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    kernel_shapes(d, c, c.target == Target::Cuda)
}

/// What `_scaled_dot_product_flash_attention_for_cpu` takes (see `sdpa-kernel-takes`).
pub(super) fn flash_takes(a: &[&Meta]) -> bool {
    a.len() >= 4 && train_dims(a, true).is_some()
}

/// What `_scaled_dot_product_efficient_attention` takes (see `sdpa-kernel-takes`).
pub(super) fn efficient_takes(a: &[&Meta]) -> bool {
    a.len() >= 4
        && train_dims(a, false).is_some()
        && a[0].tensor().is_some_and(|q| {
            matches!(q.dtype, DType::F32 | DType::F16 | DType::BF16) && q.shape[3] % 8 == 0
        })
        && a[2].tensor().is_some_and(|v| v.shape[3] % 8 == 0)
}

fn gen_same_number(_: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    if c.pos > 1 {
        return None;
    }
    match c.arg(1 - c.pos)? {
        Meta::Float(x) => Some(Drawn::Float(*x)),
        Meta::Int(i) => Some(Drawn::Int(*i)),
        _ => None,
    }
}

fn gen_recip_of(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 => Some(Drawn::Float(
            1.0 / d.pick(&[0.5, 2.0, 4.0, 8.0, 3.0, 0.125]),
        )),
        1 => match c.arg(0)? {
            Meta::Float(x) if *x != 0.0 => Some(Drawn::Float(1.0 / x)),
            _ => None,
        },
        _ => None,
    }
}

fn gen_dropout_scale(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 => Some(Drawn::Float(d.pick(&[0.1, 0.25, 0.5, 0.9]))),
        1 => match c.arg(0)? {
            Meta::Float(p) if *p < 1.0 => Some(Drawn::Float(1.0 / (1.0 - p))),
            _ => None,
        },
        _ => None,
    }
}

fn gen_is_one(_: &mut dyn Draw, _: &DrawCtx) -> Option<Drawn> {
    Some(Drawn::Float(1.0))
}

fn gen_is_zero(d: &mut dyn Draw, _: &DrawCtx) -> Option<Drawn> {
    Some(if d.chance(0.5) {
        Drawn::Int(0)
    } else {
        Drawn::Float(0.0)
    })
}

const F32_MIN: f64 = -3.4028234663852886e38;
const BF16_MIN: f64 = -3.3895313892515355e38;

fn gen_absorbing_fill_in(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 if c.keep_fill.is_some() => c.keep_fill.map(Drawn::Float),
        0 => {
            let bf16 = match c.arg(1) {
                Some(Meta::Dtype(x)) => *x == DType::BF16,
                Some(Meta::Tensor(t)) => t.dtype == DType::BF16,
                _ => false,
            };
            Some(Drawn::Float(if bf16 {
                BF16_MIN
            } else {
                d.pick(&[F32_MIN, BF16_MIN, f64::NEG_INFINITY])
            }))
        }
        1 => Some(Drawn::Dtype(d.pick(&[
            DType::F32,
            DType::F32,
            DType::BF16,
            DType::F64,
        ]))),
        _ => None,
    }
}

fn gen_keep_mask_fits(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 => {
            let (q, k) = (c.tensor(2)?, c.tensor(3)?);
            let r = q.rank();
            if r < 2 || k.rank() != r {
                return None;
            }
            let keys = k.shape[r - 2];
            Some(Drawn::Keep(q, keys))
        }
        // The fill: a 0-d tensor of q's dtype holding an absorbing number (drawn before
        // `fill_value`, which repeats it: tensors are drawn before attributes).
        1 => {
            let q = c.tensor(2)?;
            let x = if q.dtype == DType::BF16 {
                BF16_MIN
            } else {
                d.pick(&[F32_MIN, BF16_MIN])
            };
            Some(Drawn::KeepFill(x, q.dtype))
        }
        _ => None,
    }
}
