//! The general conditions and computed attributes: tensor kinds, shapes, permutations,
//! matmul and attention shapes, numbers. Each condition that pins its arguments down carries
//! the generator `check-rules` draws them with (see [`super::cond`]).

use super::cond::{Computed, Condition, Draw, DrawCtx, Drawn, FLOATS};
use crate::ir::Arg;
use crate::ops::{Meta, TMeta};

fn ints(m: &Meta) -> Option<Vec<i64>> {
    match m {
        Meta::List(items) => items
            .iter()
            .map(|x| if let Meta::Int(i) = x { Some(*i) } else { None })
            .collect(),
        _ => None,
    }
}

fn non_ones(s: &[i64]) -> Vec<i64> {
    s.iter().copied().filter(|&n| n != 1).collect()
}

fn rank(m: &Meta) -> Option<usize> {
    m.tensor().map(|t| t.rank())
}

fn norm(d: i64, r: usize) -> Option<usize> {
    let n = if d < 0 { d + r as i64 } else { d };
    (n >= 0 && (n as usize) < r.max(1)).then_some(n as usize)
}

fn int_list(v: impl IntoIterator<Item = i64>) -> Arg {
    Arg::List(v.into_iter().map(Arg::Int).collect())
}

/// Every condition.
pub const CONDITIONS: &[Condition] = &[
    Condition {
        name: "tensor",
        arity: Some(1),
        doc: "the argument is a tensor",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| a[0].tensor().is_some(),
    },
    Condition {
        name: "scalar",
        arity: Some(1),
        doc: "the argument is a compile-time number",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_scalar),
        test: |_, a| matches!(a[0], Meta::Int(_) | Meta::Float(_) | Meta::Bool(_)),
    },
    Condition {
        name: "bool",
        arity: Some(1),
        doc: "the argument is a bool tensor",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_bool),
        test: |_, a| a[0].tensor().is_some_and(|t| t.dtype == crate::ir::DType::Bool),
    },
    Condition {
        name: "zero-dim",
        arity: Some(1),
        doc: "the argument is a number or a 0-d tensor (it broadcasts into anything without growing it)",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_zero_dim),
        test: |_, a| match a[0] {
            Meta::Int(_) | Meta::Float(_) | Meta::Bool(_) => true,
            m => m.tensor().is_some_and(|t| t.rank() == 0),
        },
    },
    Condition {
        name: "float",
        arity: Some(1),
        doc: "the argument is a floating-point tensor",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_float),
        test: |_, a| a[0].tensor().is_some_and(|t| t.dtype.is_float()),
    },
    Condition {
        name: "same-shape",
        arity: None,
        doc: "all arguments are tensors of one shape",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_like),
        test: |_, a| {
            a.iter().all(|m| {
                m.tensor()
                    .is_some_and(|t| Some(&t.shape) == a[0].tensor().map(|u| &u.shape))
            })
        },
    },
    Condition {
        name: "same-dtype",
        arity: None,
        doc: "all arguments are tensors of one dtype",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_like),
        test: |_, a| {
            a.iter().all(|m| {
                m.tensor()
                    .is_some_and(|t| Some(t.dtype) == a[0].tensor().map(|u| u.dtype))
            })
        },
    },
    Condition {
        name: "shape-is",
        arity: Some(2),
        doc: "tensor ?x has exactly the int list ?s as its shape",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_shape_is),
        test: |_, a| {
            a[0].tensor()
                .is_some_and(|t| ints(a[1]).as_ref() == Some(&t.shape))
        },
    },
    Condition {
        name: "dtype-is",
        arity: Some(2),
        doc: "tensor ?x has dtype ?d",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_dtype_is),
        test: |_, a| matches!((a[0], a[1]), (Meta::Tensor(t), Meta::Dtype(d)) if t.dtype == *d),
    },
    Condition {
        name: "identity-perm",
        arity: Some(1),
        doc: "the int list is 0, 1, ..., n-1",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_identity_perm),
        test: |_, a| ints(a[0]).is_some_and(|p| p.iter().enumerate().all(|(i, &d)| d == i as i64)),
    },
    Condition {
        name: "none",
        arity: Some(1),
        doc: "the argument is None",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_none),
        test: |_, a| matches!(a[0], Meta::None),
    },
    Condition {
        name: "equal",
        arity: Some(2),
        doc: "the two arguments have equal values/metas",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_equal),
        test: |_, a| a[0].same_as(a[1]),
    },
    Condition {
        name: "last-dim",
        arity: Some(2),
        doc: "int ?d names the last dim of tensor ?x",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_last_dim),
        test: |_, a| matches!((a[0].tensor(), a[1]), (Some(t), Meta::Int(d)) if t.rank() > 0 && norm(*d, t.rank()) == Some(t.rank() - 1)),
    },
    Condition {
        name: "swaps-last-two",
        arity: Some(1),
        doc: "the int list is the identity permutation but for its last two entries, swapped",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_swaps_last_two),
        test: |_, a| {
            ints(a[0]).is_some_and(|p| {
                let r = p.len();
                r >= 2 && p.iter().enumerate().all(|(i, &d)| {
                    let want = if i == r - 2 { r - 1 } else if i == r - 1 { r - 2 } else { i };
                    norm(d, r) == Some(want)
                })
            })
        },
    },
    Condition {
        name: "flattens-batch",
        arity: Some(2),
        doc: "int list ?s is tensor ?x's shape with all dims but the last two multiplied into one",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_flattens_batch),
        test: |_, a| match (a[0].tensor(), ints(a[1])) {
            (Some(t), Some(s)) if t.rank() >= 3 => {
                let r = t.rank();
                s == [t.shape[..r - 2].iter().product::<i64>(), t.shape[r - 2], t.shape[r - 1]]
            }
            _ => false,
        },
    },
    Condition {
        name: "matmul-result",
        arity: Some(3),
        doc: "int list ?s is the shape of matmul(?a, ?b) and ?a, ?b have equal batch dims",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_matmul_result),
        test: |_, a| match (a[0].tensor(), a[1].tensor(), ints(a[2])) {
            (Some(x), Some(y), Some(s)) if x.rank() >= 2 && x.rank() == y.rank() => {
                let r = x.rank();
                x.shape[..r - 2] == y.shape[..r - 2] && x.shape[r - 1] == y.shape[r - 2] && s[..] == [&x.shape[..r - 1], &y.shape[r - 1..]].concat()[..]
            }
            _ => false,
        },
    },
    Condition {
        name: "attention-shapes",
        arity: Some(3),
        doc: "q [.., L, E], kᵀ [.., E, S], v [.., S, Ev] with equal batch dims and one float dtype (?kt is kᵀ)",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_attention_shapes),
        test: |_, a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
            (Some(q), Some(kt), Some(v)) => {
                let r = q.rank();
                r >= 3
                    && kt.rank() == r
                    && v.rank() == r
                    && q.dtype.is_float()
                    && q.dtype == kt.dtype
                    && q.dtype == v.dtype
                    && q.shape[r - 1] == kt.shape[r - 2]
                    && kt.shape[r - 1] == v.shape[r - 2]
                    && q.shape[..r - 2] == kt.shape[..r - 2]
                    && q.shape[..r - 2] == v.shape[..r - 2]
            }
            _ => false,
        },
    },
    Condition {
        name: "additive-mask",
        arity: Some(3),
        doc: "?m is a float tensor of ?q's dtype, of rank >= 2, broadcasting to the scores ?q·?kt without growing them",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_additive_mask),
        test: |_, a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
            (Some(m), Some(q), Some(kt)) if q.rank() >= 2 && kt.rank() == q.rank() => {
                let r = q.rank();
                let scores: Vec<i64> = q.shape[..r - 1].iter().copied().chain([kt.shape[r - 1]]).collect();
                m.dtype == q.dtype && m.rank() >= 2 && m.rank() <= r && crate::ops::broadcast(&m.shape, &scores).is_ok_and(|b| b == scores)
            }
            _ => false,
        },
    },
    Condition {
        name: "finite-nonzero",
        arity: Some(1),
        doc: "a compile-time number that is finite and not zero",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_finite_nonzero),
        test: |_, a| match a[0] {
            Meta::Float(x) => x.is_finite() && *x != 0.0,
            Meta::Int(i) => *i != 0,
            _ => false,
        },
    },
    Condition {
        name: "absorbing-fill",
        arity: Some(1),
        doc: "a finite number at most -2^125: adding any |s| < 2^100 to it gives it back exactly (float32/bfloat16 finfo.min qualify; float16's does not). -inf does not qualify: a row masked with -inf everywhere is NaN in the original but 0 in fused SDPA",
        sees_env: false,
        sees_target: false,
        gen: Some(gen_absorbing_fill),
        test: |_, a| match a[0] {
            Meta::Float(x) => x.is_finite() && *x <= -(2f64.powi(125)),
            _ => false,
        },
    },
    Condition {
        name: "half",
        arity: Some(1),
        doc: "a float16 or bfloat16 tensor",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| a[0].tensor().is_some_and(|t| matches!(t.dtype, crate::ir::DType::F16 | crate::ir::DType::BF16)),
    },
    Condition {
        name: "perm-moves-only-ones",
        arity: Some(2),
        doc: "permute(?x, ?p) keeps the order of ?x's dims of size > 1 (so it is a view)",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| match (a[0].tensor(), ints(a[1])) {
            (Some(t), Some(p)) if p.len() == t.rank() => {
                let big: Vec<usize> = p.iter().filter_map(|&d| norm(d, t.rank())).filter(|&d| t.shape[d] != 1).collect();
                big.windows(2).all(|w| w[0] < w[1])
            }
            _ => false,
        },
    },
    Condition {
        name: "inserts-ones",
        arity: Some(2),
        doc: "int list ?s is ?y's shape with only dims of size 1 added or removed",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| match (a[0].tensor(), ints(a[1])) {
            (Some(t), Some(s)) => non_ones(&t.shape) == non_ones(&s),
            _ => false,
        },
    },
    Condition {
        name: "row-constant-factor",
        arity: Some(2),
        doc: "tensor ?t has ?q's dtype, size 1 in its last two dims (or fewer dims) and broadcasts into ?q without growing it: scaling q·kᵀ by ?t equals scaling q",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| match (a[0].tensor(), a[1].tensor()) {
            (Some(t), Some(q)) if q.rank() >= 2 && t.rank() <= q.rank() && t.dtype == q.dtype => {
                let r = t.rank();
                t.shape[r.saturating_sub(2)..].iter().all(|&n| n == 1)
                    && crate::ops::broadcast(&t.shape, &q.shape).is_ok_and(|b| b == q.shape)
            }
            _ => false,
        },
    },
    Condition {
        name: "broadcasts-into",
        arity: Some(2),
        doc: "tensor ?a has ?s's dtype and broadcasts to ?s's shape without growing it",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| match (a[0].tensor(), a[1].tensor()) {
            (Some(x), Some(s)) => x.dtype == s.dtype && x.rank() <= s.rank() && crate::ops::broadcast(&x.shape, &s.shape).is_ok_and(|b| b == s.shape),
            _ => false,
        },
    },
    Condition {
        name: "bool-broadcasts-into",
        arity: Some(2),
        doc: "?c is a bool tensor of rank >= 1 broadcasting to tensor ?s's shape without growing it",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| match (a[0].tensor(), a[1].tensor()) {
            (Some(c), Some(s)) => c.dtype == crate::ir::DType::Bool && c.rank() >= 1 && c.rank() <= s.rank() && crate::ops::broadcast(&c.shape, &s.shape).is_ok_and(|b| b == s.shape),
            _ => false,
        },
    },
    Condition {
        name: "row-flag",
        arity: Some(3),
        doc: "?r is a bool tensor with size 1 in its last dim (one flag per row) broadcasting into ?p without growing it, and ?p, ?v have rank >= 2 (so rows of ?p are rows of ?p·?v)",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
            (Some(r), Some(p), Some(v)) => {
                r.dtype == crate::ir::DType::Bool
                    && r.rank() >= 1
                    && r.shape[r.rank() - 1] == 1
                    && p.rank() >= 2
                    && v.rank() >= 2
                    && r.rank() <= p.rank()
                    && crate::ops::broadcast(&r.shape, &p.shape).is_ok_and(|b| b == p.shape)
            }
            _ => false,
        },
    },
    Condition {
        name: "view-keeps-rows",
        arity: Some(3),
        doc: "view(?x, ?s) keeps the last dim (?s has no -1 and ends with ?x's last size) and ?d names the view's last dim: rows of the view are rows of ?x",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| match (a[0].tensor(), ints(a[1]), a[2]) {
            (Some(x), Some(s), Meta::Int(d)) => {
                x.rank() >= 1
                    && !s.is_empty()
                    && s.iter().all(|&n| n >= 0)
                    && s.last() == x.shape.last()
                    && norm(*d, s.len()) == Some(s.len() - 1)
            }
            _ => false,
        },
    },
    Condition {
        name: "widens",
        arity: Some(2),
        doc: "dtype ?w holds every value of float tensor ?x's dtype exactly (float16/bfloat16 in float32 or float64, float32 in float64)",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| {
            use crate::ir::DType::{BF16, F16, F32, F64};
            matches!((a[0].tensor().map(|t| t.dtype), a[1]), (Some(F16 | BF16), Meta::Dtype(F32 | F64)) | (Some(F32), Meta::Dtype(F64)))
        },
    },
    Condition {
        name: "power-of-two",
        arity: Some(1),
        doc: "a compile-time number ±2^k: multiplying by it is exact in every float dtype (barring overflow)",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| {
            let x = match a[0] {
                Meta::Float(x) => *x,
                Meta::Int(i) => *i as f64,
                _ => return false,
            };
            x.is_finite() && x != 0.0 && x.abs().log2().fract() == 0.0
        },
    },
    Condition {
        name: "splits-bmm-batch",
        arity: Some(3),
        doc: "int list ?s is the shape of bmm(?a, ?b) (3-D, one batch dim B) with B split into several dims: [B1, .., Bn, m, n], B1·..·Bn = B",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| match (a[0].tensor(), a[1].tensor(), ints(a[2])) {
            (Some(x), Some(y), Some(s)) if x.rank() == 3 && y.rank() == 3 && s.len() >= 3 => {
                let r = s.len();
                x.shape[0] == y.shape[0]
                    && x.shape[2] == y.shape[1]
                    && s[r - 2] == x.shape[1]
                    && s[r - 1] == y.shape[2]
                    && s.iter().all(|&n| n >= 0)
                    && s[..r - 2].iter().product::<i64>() == x.shape[0]
            }
            _ => false,
        },
    },
    Condition {
        name: "unflattens-rhs",
        arity: Some(3),
        doc: "?a [B1, .., Bn, m, k] (rank >= 3) and 3-D ?b [B1·..·Bn, k, n]; int list ?s is [B1, .., Bn, m, n]",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| match (a[0].tensor(), a[1].tensor(), ints(a[2])) {
            (Some(x), Some(y), Some(s)) if x.rank() >= 3 && y.rank() == 3 && s.len() == x.rank() => {
                let r = x.rank();
                y.shape[0] == x.shape[..r - 2].iter().product::<i64>()
                    && y.shape[1] == x.shape[r - 1]
                    && s[..r - 1] == x.shape[..r - 1]
                    && s[r - 1] == y.shape[2]
            }
            _ => false,
        },
    },
    Condition {
        name: "single-or-wider",
        arity: Some(1),
        doc: "a float32 or float64 tensor (reassociating its arithmetic stays within float tolerance; float16 rounding would not)",
        sees_env: false,
        sees_target: false,
        gen: None,
        test: |_, a| a[0].tensor().is_some_and(|t| matches!(t.dtype, crate::ir::DType::F32 | crate::ir::DType::F64)),
    },
];

/// Every computed attribute.
pub const COMPUTED: &[Computed] = &[
    Computed {
        name: "compose-perm",
        arity: 2,
        doc: "permute(permute(x, p), q) = permute(x, compose-perm(p, q))",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let (p, q) = (ints(a[0])?, ints(a[1])?);
            let r = p.len();
            if q.len() != r {
                return None;
            }
            Some(int_list(
                q.iter()
                    .map(|&j| norm(j, r).map(|j| p[j]))
                    .collect::<Option<Vec<_>>>()?
                    .into_iter()
                    .map(|d| norm(d, r).map(|d| d as i64))
                    .collect::<Option<Vec<_>>>()?,
            ))
        },
    },
    Computed {
        name: "transpose-perm",
        arity: 3,
        doc: "the permutation of rank(?x) dims that swaps ?a and ?b",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let r = rank(a[0])?;
            let (x, y) = match (a[1], a[2]) {
                (Meta::Int(x), Meta::Int(y)) => (norm(*x, r)?, norm(*y, r)?),
                _ => return None,
            };
            let mut p: Vec<i64> = (0..r as i64).collect();
            if r > 0 {
                p.swap(x, y);
            }
            Some(int_list(p))
        },
    },
    Computed {
        name: "recip",
        arity: 1,
        doc: "1 / ?s as a float, for a finite non-zero number ?s",
        sees_env: false,
        sees_target: false,
        eval: |_, a| match a[0] {
            Meta::Float(x) if x.is_finite() && *x != 0.0 => Some(Arg::Float(1.0 / x)),
            Meta::Int(i) if *i != 0 => Some(Arg::Float(1.0 / *i as f64)),
            _ => None,
        },
    },
    Computed {
        name: "as-float",
        arity: 1,
        doc: "the number ?s as a float",
        sees_env: false,
        sees_target: false,
        eval: |_, a| match a[0] {
            Meta::Float(x) => Some(Arg::Float(*x)),
            Meta::Int(i) => Some(Arg::Float(*i as f64)),
            _ => None,
        },
    },
    Computed {
        name: "swap-last-two",
        arity: 1,
        doc: "the permutation of rank(?x) dims that swaps the last two",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let r = rank(a[0])?;
            if r < 2 {
                return None;
            }
            let mut p: Vec<i64> = (0..r as i64).collect();
            p.swap(r - 2, r - 1);
            Some(int_list(p))
        },
    },
    Computed {
        name: "mul-scalars",
        arity: 2,
        doc: "?a * ?b for two compile-time numbers, as a float",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let f = |m: &Meta| match m {
                Meta::Float(x) => Some(*x),
                Meta::Int(i) => Some(*i as f64),
                _ => None,
            };
            let v = f(a[0])? * f(a[1])?;
            v.is_finite().then_some(Arg::Float(v))
        },
    },
    Computed {
        name: "permuted-shape",
        arity: 2,
        doc: "the shape of permute(?x, ?p)",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let t = a[0].tensor()?;
            let p = ints(a[1])?;
            Some(int_list(p.iter().map(|&d| norm(d, t.rank()).map(|d| t.shape[d])).collect::<Option<Vec<_>>>()?))
        },
    },
    Computed {
        name: "permuted-list",
        arity: 2,
        doc: "the int list ?s permuted by ?p: [s[p[0]], s[p[1]], ...]",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let s = ints(a[0])?;
            let p = ints(a[1])?;
            Some(int_list(p.iter().map(|&d| norm(d, s.len()).map(|d| s[d])).collect::<Option<Vec<_>>>()?))
        },
    },
    Computed {
        name: "ones-perm",
        arity: 3,
        doc: "for view(?y, ?s) that only adds/removes size-1 dims, the permutation of ?y's dims whose size>1 dims come in the order permute(view(?y, ?s), ?p) puts them (size-1 dims last)",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let y = a[0].tensor()?;
            let s = ints(a[1])?;
            let p = ints(a[2])?;
            let y_big: Vec<usize> = (0..y.rank()).filter(|&d| y.shape[d] != 1).collect();
            let s_rank: Vec<Option<usize>> = {
                let mut k = 0;
                s.iter().map(|&n| if n != 1 { k += 1; Some(k - 1) } else { None }).collect()
            };
            let mut out: Vec<i64> = Vec::new();
            for &d in &p {
                if let Some(r) = s_rank[norm(d, s.len())?] {
                    out.push(*y_big.get(r)? as i64);
                }
            }
            out.extend((0..y.rank()).filter(|&d| y.shape[d] == 1).map(|d| d as i64));
            Some(int_list(out))
        },
    },
    Computed {
        name: "unsqueezed-shape",
        arity: 2,
        doc: "the shape of unsqueeze(?x, ?d)",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let t = a[0].tensor()?;
            let d = match a[1] {
                Meta::Int(d) => norm(*d, t.rank() + 1)?,
                _ => return None,
            };
            let mut s = t.shape.clone();
            s.insert(d, 1);
            Some(int_list(s))
        },
    },
    Computed {
        name: "ones-in-place-perm",
        arity: 2,
        doc: "the permutation that moves ?x's dims of size > 1 as ?p does and leaves its size-1 dims where they are (None when that is ?p itself)",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let t = a[0].tensor()?;
            let p = ints(a[1])?;
            let r = t.rank();
            if p.len() != r {
                return None;
            }
            let p: Vec<usize> = p.iter().map(|&d| norm(d, r)).collect::<Option<Vec<_>>>()?;
            let mut big = p.iter().copied().filter(|&d| t.shape[d] != 1);
            let q: Vec<usize> = (0..r)
                .map(|i| if t.shape[i] == 1 { Some(i) } else { big.next() })
                .collect::<Option<Vec<_>>>()?;
            (q != p).then(|| int_list(q.into_iter().map(|d| d as i64)))
        },
    },
    Computed {
        name: "resolved-size",
        arity: 2,
        doc: "the view size ?s for tensor ?x with its -1 replaced by the inferred size (None when ?s has no -1)",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let t = a[0].tensor()?;
            let s = ints(a[1])?;
            if s.iter().filter(|&&n| n == -1).count() != 1 || s.iter().any(|&n| n < -1) {
                return None;
            }
            let known: i64 = s.iter().filter(|&&n| n != -1).product();
            let numel: i64 = t.shape.iter().product();
            if known == 0 || numel % known != 0 {
                return None;
            }
            Some(int_list(s.iter().map(|&n| if n == -1 { numel / known } else { n })))
        },
    },
    Computed {
        name: "flat-matmul-shape",
        arity: 2,
        doc: "for ?a [..., m, k] and ?b [..., k, n] of one rank >= 3 with equal batch dims, the shape [prod(batch), m, n] of bmm over their batch-flattened views",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let (x, y) = (a[0].tensor()?, a[1].tensor()?);
            let r = x.rank();
            if r < 3 || y.rank() != r || x.shape[..r - 2] != y.shape[..r - 2] || x.shape[r - 1] != y.shape[r - 2] {
                return None;
            }
            Some(int_list([x.shape[..r - 2].iter().product(), x.shape[r - 2], y.shape[r - 1]]))
        },
    },
    Computed {
        name: "split-batch",
        arity: 2,
        doc: "for 3-D ?x [B, m, n] (B = 1 or the product of ?s's dims but the last two), ?x's shape with B split as in ?s: [B1, .., Bn, m, n] (all 1 when B = 1)",
        sees_env: false,
        sees_target: false,
        eval: |_, a| {
            let x = a[0].tensor()?;
            let s = ints(a[1])?;
            if x.rank() != 3 || s.len() < 3 {
                return None;
            }
            let batch = &s[..s.len() - 2];
            let lead: Vec<i64> = if x.shape[0] == batch.iter().product::<i64>() {
                batch.to_vec()
            } else if x.shape[0] == 1 {
                vec![1; batch.len()]
            } else {
                return None;
            };
            Some(int_list(lead.into_iter().chain(x.shape[1..].iter().copied())))
        },
    },
    Computed {
        name: "shape-of",
        arity: 1,
        doc: "the shape of tensor ?x as an int list",
        sees_env: false,
        sees_target: false,
        eval: |_, a| Some(int_list(a[0].tensor()?.shape.clone())),
    },
];

// Generators: how `check-rules` draws an argument each condition pins down.

/// A small dim.
pub(crate) fn small_dim(d: &mut dyn Draw) -> i64 {
    d.pick(&[1i64, 2, 3, 4])
}

fn gen_shape_is(_: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match (c.pos, c.other()) {
        (1, Some(Meta::Tensor(t))) => Some(Drawn::Ints(t.shape.clone())),
        _ => None,
    }
}

fn gen_dtype_is(_: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match (c.pos, c.other()) {
        (1, Some(Meta::Tensor(t))) => Some(Drawn::Dtype(t.dtype)),
        _ => None,
    }
}

fn gen_identity_perm(_: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    Some(Drawn::Ints((0..c.rank as i64).collect()))
}

fn gen_none(_: &mut dyn Draw, _: &DrawCtx) -> Option<Drawn> {
    Some(Drawn::None)
}

fn gen_scalar(d: &mut dyn Draw, _: &DrawCtx) -> Option<Drawn> {
    Some(Drawn::Float(d.pick(&[0.5, 2.0, -1.0, 0.125, 0.0, 3.0])))
}

/// A bool tensor of rank 1 to 4, some dims 1.
fn gen_bool(d: &mut dyn Draw, _: &DrawCtx) -> Option<Drawn> {
    let rank = 1 + d.below(4);
    let shape = (0..rank)
        .map(|_| if d.chance(0.4) { 1 } else { small_dim(d) })
        .collect();
    Some(Drawn::Tensor(shape, crate::ir::DType::Bool))
}

/// A number or a 0-d float tensor.
fn gen_zero_dim(d: &mut dyn Draw, _: &DrawCtx) -> Option<Drawn> {
    if d.chance(0.5) {
        Some(Drawn::Float(d.pick(&[0.0, -1.0, 2.5, -3.0e38])))
    } else {
        Some(Drawn::Tensor(vec![], d.pick(&FLOATS)))
    }
}

fn gen_equal(_: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let other = (0..c.args.len()).find(|&i| i != c.pos && c.args[i].is_some())?;
    Some(Drawn::Copy(other))
}

fn gen_float(_: &mut dyn Draw, _: &DrawCtx) -> Option<Drawn> {
    Some(Drawn::WantFloat)
}

fn gen_like(_: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.other() {
        Some(Meta::Tensor(t)) => Some(Drawn::Like(t.clone())),
        _ => None,
    }
}

fn gen_flattens_batch(_: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let a = c.tensor(0).filter(|_| c.pos == 1)?;
    let r = a.rank();
    if r < 3 {
        return None;
    }
    let s = &a.shape;
    Some(Drawn::Ints(vec![
        s[..r - 2].iter().product(),
        s[r - 2],
        s[r - 1],
    ]))
}

fn gen_matmul_result(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        1 => {
            let a = c.tensor(0)?;
            let r = a.rank();
            if r < 2 {
                return None;
            }
            let mut s = a.shape[..r - 2].to_vec();
            s.extend([a.shape[r - 1], small_dim(d)]);
            Some(Drawn::Tensor(s, a.dtype))
        }
        2 => {
            let (a, b) = (c.tensor(0)?, c.tensor(1)?);
            let r = a.rank();
            if r < 2 || b.rank() != r {
                return None;
            }
            let mut s = a.shape[..r - 1].to_vec();
            s.push(b.shape[r - 1]);
            Some(Drawn::Ints(s))
        }
        _ => None,
    }
}

fn gen_swaps_last_two(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let rank = c.rank;
    if rank < 2 {
        return None;
    }
    let mut p: Vec<i64> = (0..rank as i64).collect();
    p.swap(rank - 2, rank - 1);
    if d.chance(0.3) {
        p[rank - 1] -= rank as i64;
    }
    Some(Drawn::Ints(p))
}

fn gen_last_dim(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let x = c.tensor(0).filter(|_| c.pos == 1)?;
    Some(Drawn::Int(if d.chance(0.5) {
        -1
    } else {
        x.rank() as i64 - 1
    }))
}

fn gen_absorbing_fill(d: &mut dyn Draw, _: &DrawCtx) -> Option<Drawn> {
    Some(Drawn::Float(d.pick(&[
        f64::NEG_INFINITY,
        -3.4028234663852886e38,
        -3.3895313892515355e38,
    ])))
}

fn gen_finite_nonzero(d: &mut dyn Draw, _: &DrawCtx) -> Option<Drawn> {
    Some(if d.chance(0.2) {
        Drawn::Int(d.pick(&[2, 8, -1]))
    } else {
        Drawn::Float(d.pick(&[0.5, 2.0, -1.0, 0.125, 3.0, 8.0]))
    })
}

/// The key comes as k [.., S, E] or as kᵀ [.., E, S], depending on the rule: draw either
/// layout (the condition rejects the wrong one) and take S from either.
fn gen_attention_shapes(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 => {
            let r = 3 + d.below(2);
            let s: Vec<i64> = (0..r).map(|_| small_dim(d)).collect();
            Some(Drawn::Tensor(s, d.pick(&FLOATS)))
        }
        1 => {
            let q = c.tensor(0)?;
            let r = q.rank();
            let mut s = q.shape.clone();
            s[r - 2] = small_dim(d);
            if d.chance(0.5) {
                s.swap(r - 2, r - 1);
            }
            Some(Drawn::Tensor(s, q.dtype))
        }
        2 => {
            let k = c.tensor(1)?;
            let r = k.rank();
            let mut s = k.shape.clone();
            s[r - 2] = k.shape[r - 2 + d.below(2)];
            s[r - 1] = small_dim(d);
            Some(Drawn::Tensor(s, k.dtype))
        }
        _ => None,
    }
}

fn gen_additive_mask(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let (q, k): (TMeta, TMeta) = (c.tensor(1)?, c.tensor(2)?);
    let r = q.rank();
    if c.pos != 0 || r < 2 || k.rank() != r {
        return None;
    }
    let keys = k.shape[r - 2 + d.below(2)];
    Some(Drawn::Mask(q, keys))
}
