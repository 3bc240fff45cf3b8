//! Conditions and computed attributes that see the [`Env`]: matmul padding (the device's
//! alignment) and index patterns (the analysis's "distinct, in-bounds indices" fact).
//!
//! Padding follows Inductor's `pad_mm` (`get_alignment_size`, `get_padded_length`): a dim
//! is padded up to the next multiple of the dtype's alignment unless it is already a multiple
//! or is 1 (a squeezable dim); batch dims are never padded.

use super::cond::{Computed, Condition, Draw, DrawCtx, Drawn, Env};
use crate::egraph::Facts;
use crate::ir::{Arg, DType};
use crate::ops::meta::{checked_numel, MAX_RULE_DIM, MAX_RULE_NUMEL};
use crate::ops::{broadcast, Meta, TMeta};

fn ints(m: &Meta) -> Option<Vec<i64>> {
    match m {
        Meta::List(items) => items
            .iter()
            .map(|x| if let Meta::Int(i) = x { Some(*i) } else { None })
            .collect(),
        _ => None,
    }
}

fn int_list(v: impl IntoIterator<Item = i64>) -> Arg {
    Arg::List(v.into_iter().map(Arg::Int).collect())
}

/// Elements to add to a dim of size `x` for alignment `align` (Inductor's
/// `get_padded_length`): 0 when aligned, when `x` is 1, or when there is no alignment.
pub fn padded_length(x: i64, align: Option<i64>) -> i64 {
    checked_padded_length(x, align).unwrap_or(0)
}

/// `(m, k, n)` paddings of `a @ b` (rank >= 2, one float dtype, equal batch dims, no zero
/// dim) on this device; `None` when the operands do not qualify.
fn mm_pads(env: &Env, a: &TMeta, b: &TMeta) -> Option<(i64, i64, i64)> {
    let r = a.rank();
    if r < 2
        || b.rank() != r
        || a.dtype != b.dtype
        || !a.dtype.is_float()
        || a.shape[..r - 2] != b.shape[..r - 2]
        || a.shape[r - 1] != b.shape[r - 2]
        || a.shape.iter().chain(&b.shape).any(|&d| d <= 0)
    {
        return None;
    }
    let align = env.align(a.dtype);
    let (m, k, n) = (a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]);
    let pads = (
        checked_padded_length(m, align)?,
        checked_padded_length(k, align)?,
        checked_padded_length(n, align)?,
    );
    // the padded sizes must be sane (see `MAX_RULE_DIM`, `MAX_RULE_NUMEL`), or no padding
    let (pm, pk, pn) = (m + pads.0, k + pads.1, n + pads.2);
    let batch = &a.shape[..r - 2];
    let sane = |x: i64, y: i64| {
        let shape: Vec<i64> = batch.iter().copied().chain([x, y]).collect();
        x <= MAX_RULE_DIM && y <= MAX_RULE_DIM && checked_numel(&shape, MAX_RULE_NUMEL).is_some()
    };
    (sane(pm, pk) && sane(pk, pn) && sane(pm, pn)).then_some(pads)
}

/// [`padded_length`] without overflow: `None` when `x` rounded up to the alignment does not
/// fit in an `i64`.
fn checked_padded_length(x: i64, align: Option<i64>) -> Option<i64> {
    match align {
        Some(a) if a > 1 && x > 1 && x % a != 0 => {
            (x / a).checked_add(1)?.checked_mul(a)?.checked_sub(x)
        }
        _ => Some(0),
    }
}

/// The constant_pad_nd list that pads a bias of shape `c` along its non-broadcast dims
/// (Inductor's `addmm_replace`): the last dim by `np` unless it is 1, the one before by `mp`
/// unless it is 1.
fn bias_pads(c: &TMeta, mp: i64, np: i64) -> Vec<i64> {
    match c.shape.as_slice() {
        [] => Vec::new(),
        [n] => vec![0, if *n != 1 { np } else { 0 }],
        [.., m, n] => vec![
            0,
            if *n != 1 { np } else { 0 },
            0,
            if *m != 1 { mp } else { 0 },
        ],
    }
}

/// Every condition that sees the environment.
pub const CONDITIONS: &[Condition] = &[
    Condition {
        name: "dropout-uniform",
        arity: None,
        doc: "(?r ?q ?k [?g]): ?r is the value of one `rand` call (uniform in [0, 1)) of the scores' shape of q and k, used only by one attention block's dropout in the input graph (the analysis's `private_dropout` fact): the uniform draws an `:in-distribution` rule may replace by a kernel's own (?g, the output's gradient, only guides check-rules' draws)",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_dropout_uniform),
        test: |env, a| {
            a.len() >= 3
                && env.fact(0).private_dropout
                && match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
                    (Some(r), Some(q), Some(k)) => {
                        r.dtype.is_float()
                            && crate::ops::scores_shape(q, k).is_ok_and(|s| s == r.shape)
                    }
                    _ => false,
                }
        },
    },
    Condition {
        name: "mm-misaligned",
        arity: Some(2),
        doc: "?a @ ?b (rank >= 2, one float dtype, equal batch dims) has an M, K or N dim the device's alignment for that dtype would pad (none on a device without alignment)",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_mm_misaligned),
        test: |env, a| match (a[0].tensor(), a[1].tensor()) {
            (Some(x), Some(y)) => mm_pads(env, x, y).is_some_and(|(m, k, n)| m + k + n > 0),
            _ => false,
        },
    },
    Condition {
        name: "addmm-misaligned",
        arity: Some(3),
        doc: "addmm(?c, ?a, ?b): ?a @ ?b is mm-misaligned and the bias ?c is a tensor of its dtype of rank <= 2",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_addmm_misaligned),
        test: |env, a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
            (Some(c), Some(x), Some(y)) => {
                c.dtype == x.dtype
                    && c.rank() <= 2
                    && x.rank() == 2
                    && mm_pads(env, x, y).is_some_and(|(m, k, n)| m + k + n > 0)
            }
            _ => false,
        },
    },
    Condition {
        name: "zero-pads",
        arity: Some(1),
        doc: "the int list (a constant_pad_nd padding) is all zeros",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_zero_pads),
        test: |_, a| ints(a[0]).is_some_and(|p| p.iter().all(|&x| x == 0)),
    },
    Condition {
        name: "slice-covers",
        arity: Some(3),
        doc: "slice(?x, ?d, 0, ?e) keeps all of dim ?d of ?x (?e >= its size)",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_slice_covers),
        test: |_, a| match (a[0].tensor(), a[1], a[2]) {
            (Some(x), Meta::Int(d), Meta::Int(e)) => crate::ops::meta::norm_dim(*d, x.rank())
                .is_ok_and(|d| x.rank() > 0 && *e >= x.shape[d]),
            _ => false,
        },
    },
    Condition {
        name: "distinct-rows",
        arity: Some(2),
        doc: "the integer tensor ?i holds distinct indices in [0, n) with n = ?x.shape[0] (proved by the analysis: a randperm(n), a prefix slice of it, or a view of either)",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_distinct_rows),
        test: |env, a| match (a[0].tensor(), a[1].tensor()) {
            (Some(i), Some(x)) => {
                !i.dtype.is_float()
                    && i.dtype != crate::ir::DType::Bool
                    && x.rank() >= 1
                    && env.fact(0).distinct_below == Some(x.shape[0])
            }
            _ => false,
        },
    },
    Condition {
        name: "index-put-values",
        arity: Some(3),
        doc: "?y has ?x's dtype and broadcasts, without growing, to the shape of index(?x, [?i])",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_index_put_values),
        test: |_, a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
            (Some(x), Some(i), Some(y)) if x.rank() >= 1 => {
                let shape: Vec<i64> = i.shape.iter().chain(&x.shape[1..]).copied().collect();
                y.dtype == x.dtype
                    && y.rank() <= shape.len()
                    && broadcast(&y.shape, &shape).is_ok_and(|b| b == shape)
            }
            _ => false,
        },
    },
];

/// Every computed attribute that sees the environment.
pub const COMPUTED: &[Computed] = &[
    Computed {
        name: "pad-mat1",
        arity: 2,
        doc: "the constant_pad_nd list that pads ?a of ?a @ ?b to the device's alignment: K (last dim) and M (the one before)",
        sees_env: true,
        sees_target: false,
        eval: |env, a| {
            let (m, k, _) = mm_pads(env, a[0].tensor()?, a[1].tensor()?)?;
            Some(int_list([0, k, 0, m]))
        },
    },
    Computed {
        name: "pad-mat2",
        arity: 2,
        doc: "the constant_pad_nd list that pads ?b of ?a @ ?b to the device's alignment: N (last dim) and K (the one before)",
        sees_env: true,
        sees_target: false,
        eval: |env, a| {
            let (_, k, n) = mm_pads(env, a[0].tensor()?, a[1].tensor()?)?;
            Some(int_list([0, n, 0, k]))
        },
    },
    Computed {
        name: "pad-bias",
        arity: 3,
        doc: "the constant_pad_nd list that pads the bias ?c of addmm(?c, ?a, ?b) along its non-broadcast dims by the M and N paddings",
        sees_env: true,
        sees_target: false,
        eval: |env, a| {
            let c = a[0].tensor()?;
            let (m, _, n) = mm_pads(env, a[1].tensor()?, a[2].tensor()?)?;
            (c.rank() <= 2).then(|| int_list(bias_pads(c, m, n)))
        },
    },
    Computed {
        name: "size-at",
        arity: 2,
        doc: "the size of dim ?d of tensor ?x, as an int",
        sees_env: true,
        sees_target: false,
        eval: |_, a| {
            let x = a[0].tensor()?;
            let d = match a[1] {
                Meta::Int(d) => crate::ops::meta::norm_dim(*d, x.rank()).ok()?,
                _ => return None,
            };
            x.shape.get(d).map(|&s| Arg::Int(s))
        },
    },
];

// Generators: how `check-rules` draws an argument each condition pins down.

fn gen_dropout_uniform(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let t = |i: usize| c.tensor(i);
    match c.pos {
        0 => {
            // Uniform draws in [0, 1) of the scores' shape (from q and k when drawn).
            let shape = match (t(1), t(2), t(3).filter(|g| g.rank() == 4)) {
                (Some(q), Some(k), _) => crate::ops::scores_shape(&q, &k).ok()?,
                (_, _, Some(g)) => vec![g.shape[0], g.shape[1], g.shape[2], d.pick(&[16i64, 32])],
                _ => vec![
                    d.pick(&[1i64, 2]),
                    d.pick(&[1i64, 3]),
                    d.pick(&[1i64, 5, 8]),
                    d.pick(&[16i64, 32]),
                ],
            };
            let n = shape.iter().product::<i64>() as usize;
            let data = (0..n).map(|_| d.unit()).collect();
            let facts = Facts {
                private_dropout: true,
                ..Facts::default()
            };
            Some(Drawn::Values {
                shape,
                dtype: DType::F32,
                data,
                facts,
            })
        }
        1 | 2 => {
            // q [B, H, L, E] and k [B, H, S, E] from the draws' shape [B, H, L, S].
            let r = t(0).filter(|r| r.rank() == 4)?;
            let other = t(3 - c.pos).filter(|m| m.rank() == 4);
            let e = other
                .as_ref()
                .map_or_else(|| d.pick(&[8i64, 16]), |m| m.shape[3]);
            let dt = other.map_or_else(
                || d.pick(&[DType::F32, DType::F16, DType::BF16]),
                |m| m.dtype,
            );
            let rows = if c.pos == 1 { r.shape[2] } else { r.shape[3] };
            Some(Drawn::Tensor(vec![r.shape[0], r.shape[1], rows, e], dt))
        }
        3 if t(0).is_none() && t(1).is_none() => {
            // The output's gradient [B, H, L, Ev] drawn first: small dims.
            let shape = vec![
                d.pick(&[1i64, 2]),
                d.pick(&[1i64, 3]),
                d.pick(&[1i64, 5, 8]),
                d.pick(&[8i64, 16]),
            ];
            Some(Drawn::Tensor(
                shape,
                d.pick(&[DType::F32, DType::F16, DType::BF16]),
            ))
        }
        _ => None,
    }
}

/// Dims that are often misaligned.
const ODD: [i64; 6] = [1, 2, 3, 5, 8, 9];

fn gen_mm_misaligned(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 => {
            let r = 2 + d.below(2);
            let s: Vec<i64> = (0..r).map(|_| d.pick(&[1, 2, 3, 4, 5, 7, 8, 9])).collect();
            Some(Drawn::Tensor(
                s,
                d.pick(&[DType::F32, DType::F16, DType::BF16]),
            ))
        }
        1 => {
            let a = c.tensor(0)?;
            let r = a.rank();
            if r < 2 {
                return None;
            }
            let mut s = a.shape[..r - 2].to_vec();
            s.extend([a.shape[r - 1], d.pick(&[1, 2, 3, 4, 5, 8, 9])]);
            Some(Drawn::Tensor(s, a.dtype))
        }
        _ => None,
    }
}

fn gen_addmm_misaligned(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 => {
            let (m, n) = (d.pick(&ODD), d.pick(&ODD));
            let s = match d.below(5) {
                0 => vec![n],
                1 => vec![1, n],
                2 => vec![m, 1],
                3 => vec![],
                _ => vec![m, n],
            };
            Some(Drawn::Tensor(
                s,
                d.pick(&[DType::F32, DType::F16, DType::BF16]),
            ))
        }
        1 => {
            let bias = c.tensor(0)?;
            let m = match bias.shape.as_slice() {
                [m, _] if *m != 1 => *m,
                _ => d.pick(&ODD),
            };
            let k = d.pick(&ODD);
            Some(Drawn::Tensor(vec![m, k], bias.dtype))
        }
        2 => {
            let (bias, a) = (c.tensor(0)?, c.tensor(1)?);
            let n = match bias.shape.last() {
                Some(&n) if n != 1 => n,
                _ => d.pick(&ODD),
            };
            Some(Drawn::Tensor(vec![*a.shape.last()?, n], bias.dtype))
        }
        _ => None,
    }
}

fn gen_zero_pads(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    (c.pos == 0).then(|| Drawn::Ints(vec![0; 2 * d.below(c.rank + 1)]))
}

fn gen_slice_covers(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let y = c.tensor(0).filter(|_| c.pos == 2)?;
    if y.rank() == 0 {
        return None;
    }
    let dim = match c.arg(1) {
        Some(Meta::Int(x)) => crate::ops::meta::norm_dim(*x, y.rank()).ok()?,
        _ => return None,
    };
    Some(Drawn::Int(if d.chance(0.3) {
        i64::MAX
    } else {
        y.shape[dim] + d.below(3) as i64
    }))
}

fn gen_distinct_rows(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let x = c.tensor(1).filter(|_| c.pos == 0)?;
    let n = *x.shape.first()?;
    if n < 1 {
        return None;
    }
    let k = 1 + d.below(n as usize);
    let mut p = d.permutation(n as usize);
    p.truncate(k);
    Some(Drawn::Values {
        shape: vec![k as i64],
        dtype: DType::I64,
        data: p.into_iter().map(|v| v as f64).collect(),
        facts: Facts {
            distinct_below: Some(n),
            ..Facts::default()
        },
    })
}

fn gen_index_put_values(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let (x, i) = (c.tensor(0)?, c.tensor(1)?);
    if c.pos != 2 || x.rank() == 0 {
        return None;
    }
    let mut s: Vec<i64> = i.shape.iter().chain(&x.shape[1..]).copied().collect();
    for n in s.iter_mut() {
        if d.chance(0.2) {
            *n = 1;
        }
    }
    let drop = d.below(s.len().min(2) + 1).min(s.len());
    Some(Drawn::Tensor(s[drop..].to_vec(), x.dtype))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DType;

    #[test]
    fn padded_lengths_follow_inductor() {
        assert_eq!(padded_length(7, Some(8)), 1);
        assert_eq!(padded_length(8, Some(8)), 0);
        assert_eq!(padded_length(1, Some(8)), 0);
        assert_eq!(padded_length(13, Some(4)), 3);
        assert_eq!(padded_length(13, None), 0);
    }

    #[test]
    fn bias_pads_skip_broadcast_dims() {
        let t = |s: &[i64]| TMeta {
            shape: s.to_vec(),
            dtype: DType::F32,
        };
        assert_eq!(bias_pads(&t(&[5]), 3, 2), vec![0, 2]);
        assert_eq!(bias_pads(&t(&[1]), 3, 2), vec![0, 0]);
        assert_eq!(bias_pads(&t(&[7, 5]), 3, 2), vec![0, 2, 0, 3]);
        assert_eq!(bias_pads(&t(&[1, 5]), 3, 2), vec![0, 2, 0, 0]);
        assert_eq!(bias_pads(&t(&[7, 1]), 3, 2), vec![0, 0, 0, 3]);
    }
}
