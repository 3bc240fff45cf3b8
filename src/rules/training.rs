//! Conditions and computed attributes of the training-attention rules
//! (`rules/attention_train.rules`), registered beside [`super::registry`]'s.

use super::registry::{Computed, Condition};
use crate::ir::{Arg, DType};
use crate::ops::{Meta, TMeta};

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
        test: |a| match (a[0].tensor(), a[1].tensor()) {
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
        test: |a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
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
        name: "flash-cpu-shapes",
        arity: None,
        doc: "(?q ?k ?v ?m [?g]): 4-D q, k, v [B, H, ·, E] of one float dtype with v's head size E, mask None or of q's dtype broadcasting to [B, H, L, S], output gradient [B, H, L, E]: what _scaled_dot_product_flash_attention_for_cpu takes",
        test: |a| a.len() >= 4 && train_dims(a, true).is_some(),
    },
    Condition {
        name: "efficient-shapes",
        arity: None,
        doc: "(?q ?k ?v ?m [?g]): 4-D q, k, v of float32/16/bfloat16 with head sizes multiple of 8, mask None or of q's dtype broadcasting to [B, H, L, S] with S a multiple of 16 (the kernel's bias alignment): what _scaled_dot_product_efficient_attention takes",
        test: |a| {
            a.len() >= 4
                && train_dims(a, false).is_some()
                && a[0].tensor().is_some_and(|q| {
                    matches!(q.dtype, DType::F32 | DType::F16 | DType::BF16) && q.shape[3] % 8 == 0
                })
                && a[2].tensor().is_some_and(|v| v.shape[3] % 8 == 0)
                && a[1].tensor().is_some_and(|k| matches!(a[3], Meta::None) || k.shape[2] % 16 == 0)
        },
    },
    Condition {
        name: "same-number",
        arity: Some(2),
        doc: "two compile-time numbers with equal values (an int and a float may be equal)",
        test: |a| matches!((number(a[0]), number(a[1])), (Some(x), Some(y)) if x == y),
    },
    Condition {
        name: "recip-of",
        arity: Some(2),
        doc: "compile-time number ?s is 1 / ?c, as the computed attribute `recip` gives it",
        test: |a| matches!((number(a[0]), number(a[1])), (Some(s), Some(c)) if c != 0.0 && c.is_finite() && s == 1.0 / c),
    },
    Condition {
        name: "dropout-scale",
        arity: Some(2),
        doc: "(?p ?c): compile-time numbers, a dropout probability 0 < p < 1 and its scale c = 1/(1-p) (to 1e-12 relative, as Python computes it)",
        test: |a| match (number(a[0]), number(a[1])) {
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
        test: |a| number(a[0]) == Some(1.0),
    },
    Condition {
        name: "bias-aligned",
        arity: Some(1),
        doc: "k [.., S, E] has S a multiple of 16: the efficient kernel's alignment for an attention bias",
        test: |a| a[0].tensor().is_some_and(|k| k.rank() >= 2 && k.shape[k.rank() - 2] % 16 == 0),
    },
    Condition {
        name: "is-zero",
        arity: Some(1),
        doc: "the compile-time number 0 (or -0.0)",
        test: |a| number(a[0]) == Some(0.0),
    },
    Condition {
        name: "absorbing-fill-in",
        arity: Some(2),
        doc: "(?f ?x): number ?f rounded to the dtype ?x (a dtype, or a tensor's) is finite and at most -2^125, so adding any |s| < 2^100 gives it back (float32's and bfloat16's finfo.min; not -inf, not float16's, not float32's finfo.min as bfloat16, which rounds to -inf)",
        test: |a| {
            let dt = match a[1] {
                Meta::Dtype(d) => *d,
                Meta::Tensor(t) => t.dtype,
                _ => return false,
            };
            number(a[0]).is_some_and(|f| {
                let r = crate::interp::round_to(f, dt);
                dt.is_float() && r.is_finite() && r <= -(2f64.powi(125))
            })
        },
    },
    Condition {
        name: "keep-correction-exact",
        arity: Some(1),
        doc: "(?k): the `-keep` rules' correction g/S (S = k.shape[-2] keys) rounds no worse than the kernel's own accumulation: S is a power of two (dividing is exact, barring underflow), or k is float32/float64 (one rounding at the kernel's own precision). In bfloat16 g/S loses up to 2^-9 of each |g| before the kernel sums the rows, a sum that can cancel to far below them",
        test: |a| {
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
        test: |a| match (a[0].tensor(), a[1].tensor(), a[2].tensor(), a[3].tensor()) {
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
        eval: |a| {
            let s = scores_of(a[0].tensor()?, a[1].tensor()?)?;
            Some(Arg::List(s.into_iter().map(Arg::Int).collect()))
        },
    },
    Computed {
        name: "dtype-of",
        arity: 1,
        doc: "the dtype of tensor ?x",
        eval: |a| Some(Arg::Dtype(a[0].tensor()?.dtype)),
    },
];
