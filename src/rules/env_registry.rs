//! Conditions and computed attributes that see the [`Env`]: matmul padding (the device's
//! alignment) and index patterns (the analysis's "distinct, in-bounds indices" fact).
//!
//! Padding follows Inductor's `pad_mm` (`get_alignment_size`, `get_padded_length`): a dim
//! is padded up to the next multiple of the dtype's alignment unless it is already a multiple
//! or is 1 (a squeezable dim); batch dims are never padded.

use super::registry::{Env, EnvComputed, EnvCondition};
use crate::ir::Arg;
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
pub const ENV_CONDITIONS: &[EnvCondition] = &[
    EnvCondition {
        name: "dropout-uniform",
        arity: None,
        doc: "(?r ?q ?k [?g]): ?r is the value of one `rand` call (uniform in [0, 1)) of the scores' shape of q and k, used only by one attention block's dropout in the input graph (the analysis's `private_dropout` fact): the uniform draws an `:in-distribution` rule may replace by a kernel's own (?g, the output's gradient, only guides check-rules' draws)",
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
    EnvCondition {
        name: "mm-misaligned",
        arity: Some(2),
        doc: "?a @ ?b (rank >= 2, one float dtype, equal batch dims) has an M, K or N dim the device's alignment for that dtype would pad (none on a device without alignment)",
        test: |env, a| match (a[0].tensor(), a[1].tensor()) {
            (Some(x), Some(y)) => mm_pads(env, x, y).is_some_and(|(m, k, n)| m + k + n > 0),
            _ => false,
        },
    },
    EnvCondition {
        name: "addmm-misaligned",
        arity: Some(3),
        doc: "addmm(?c, ?a, ?b): ?a @ ?b is mm-misaligned and the bias ?c is a tensor of its dtype of rank <= 2",
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
    EnvCondition {
        name: "zero-pads",
        arity: Some(1),
        doc: "the int list (a constant_pad_nd padding) is all zeros",
        test: |_, a| ints(a[0]).is_some_and(|p| p.iter().all(|&x| x == 0)),
    },
    EnvCondition {
        name: "slice-covers",
        arity: Some(3),
        doc: "slice(?x, ?d, 0, ?e) keeps all of dim ?d of ?x (?e >= its size)",
        test: |_, a| match (a[0].tensor(), a[1], a[2]) {
            (Some(x), Meta::Int(d), Meta::Int(e)) => crate::ops::meta::norm_dim(*d, x.rank())
                .is_ok_and(|d| x.rank() > 0 && *e >= x.shape[d]),
            _ => false,
        },
    },
    EnvCondition {
        name: "distinct-rows",
        arity: Some(2),
        doc: "the integer tensor ?i holds distinct indices in [0, n) with n = ?x.shape[0] (proved by the analysis: a randperm(n), a prefix slice of it, or a view of either)",
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
    EnvCondition {
        name: "index-put-values",
        arity: Some(3),
        doc: "?y has ?x's dtype and broadcasts, without growing, to the shape of index(?x, [?i])",
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
pub const ENV_COMPUTED: &[EnvComputed] = &[
    EnvComputed {
        name: "pad-mat1",
        arity: 2,
        doc: "the constant_pad_nd list that pads ?a of ?a @ ?b to the device's alignment: K (last dim) and M (the one before)",
        eval: |env, a| {
            let (m, k, _) = mm_pads(env, a[0].tensor()?, a[1].tensor()?)?;
            Some(int_list([0, k, 0, m]))
        },
    },
    EnvComputed {
        name: "pad-mat2",
        arity: 2,
        doc: "the constant_pad_nd list that pads ?b of ?a @ ?b to the device's alignment: N (last dim) and K (the one before)",
        eval: |env, a| {
            let (_, k, n) = mm_pads(env, a[0].tensor()?, a[1].tensor()?)?;
            Some(int_list([0, n, 0, k]))
        },
    },
    EnvComputed {
        name: "pad-bias",
        arity: 3,
        doc: "the constant_pad_nd list that pads the bias ?c of addmm(?c, ?a, ?b) along its non-broadcast dims by the M and N paddings",
        eval: |env, a| {
            let c = a[0].tensor()?;
            let (m, _, n) = mm_pads(env, a[1].tensor()?, a[2].tensor()?)?;
            (c.rank() <= 2).then(|| int_list(bias_pads(c, m, n)))
        },
    },
    EnvComputed {
        name: "size-at",
        arity: 2,
        doc: "the size of dim ?d of tensor ?x, as an int",
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
