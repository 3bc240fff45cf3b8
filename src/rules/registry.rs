//! Named conditions (`:if (name ?a ...)`) and computed attributes (`(name ?a ...)` on a right
//! side), registered in one table. A rule file that names one not listed here fails to load.
//!
//! Most see only their arguments' metas ([`CONDITIONS`], [`COMPUTED`]); those of
//! [`ENV_CONDITIONS`] and [`ENV_COMPUTED`] also see the [`Env`]: the device's matmul alignment
//! and the analysis's [`Facts`] about each argument.

use crate::egraph::Facts;
use crate::ir::{Arg, DType};
use crate::ops::Meta;

/// What a condition or computed attribute may know besides its arguments' metas.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// Matmul alignment (elements) per dtype of the device the rules run for; empty when the
    /// device has none (then no padding rule applies).
    pub alignment: &'a [(DType, i64)],
    /// What is proved about each argument (parallel to the metas; shorter means unknown).
    pub facts: &'a [Facts],
}

impl Env<'_> {
    /// An environment that knows nothing: no alignment, no facts.
    pub const EMPTY: Env<'static> = Env {
        alignment: &[],
        facts: &[],
    };

    /// The alignment a matmul of this dtype wants, if any (> 1).
    pub fn align(&self, d: DType) -> Option<i64> {
        self.alignment
            .iter()
            .find(|(x, _)| *x == d)
            .map(|&(_, a)| a)
            .filter(|&a| a > 1)
    }

    /// The facts of argument `i`.
    pub fn fact(&self, i: usize) -> Facts {
        self.facts.get(i).copied().unwrap_or_default()
    }
}

/// A condition that also sees the [`Env`].
pub struct EnvCondition {
    /// Name used in rule files.
    pub name: &'static str,
    /// Number of arguments (`None`: any).
    pub arity: Option<usize>,
    /// One line of documentation.
    pub doc: &'static str,
    /// The test.
    pub test: fn(&Env, &[&Meta]) -> bool,
}

/// A computed attribute that also sees the [`Env`].
pub struct EnvComputed {
    /// Name used in rule files.
    pub name: &'static str,
    /// Number of arguments.
    pub arity: usize,
    /// One line of documentation.
    pub doc: &'static str,
    /// The function.
    pub eval: fn(&Env, &[&Meta]) -> Option<Arg>,
}

/// A registered condition of either kind.
#[derive(Clone, Copy)]
pub enum CondRef {
    /// Over metas only.
    Plain(&'static Condition),
    /// Over metas and the environment.
    Env(&'static EnvCondition),
}

impl CondRef {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            CondRef::Plain(c) => c.name,
            CondRef::Env(c) => c.name,
        }
    }
    /// Its number of arguments (`None`: any).
    pub fn arity(self) -> Option<usize> {
        match self {
            CondRef::Plain(c) => c.arity,
            CondRef::Env(c) => c.arity,
        }
    }
    /// Its documentation.
    pub fn doc(self) -> &'static str {
        match self {
            CondRef::Plain(c) => c.doc,
            CondRef::Env(c) => c.doc,
        }
    }
    /// Whether it holds.
    pub fn test(self, env: &Env, args: &[&Meta]) -> bool {
        match self {
            CondRef::Plain(c) => (c.test)(args),
            CondRef::Env(c) => (c.test)(env, args),
        }
    }
}

/// A registered computed attribute of either kind.
#[derive(Clone, Copy)]
pub enum ComputedRef {
    /// Over metas only.
    Plain(&'static Computed),
    /// Over metas and the environment.
    Env(&'static EnvComputed),
}

impl ComputedRef {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            ComputedRef::Plain(c) => c.name,
            ComputedRef::Env(c) => c.name,
        }
    }
    /// Its number of arguments.
    pub fn arity(self) -> usize {
        match self {
            ComputedRef::Plain(c) => c.arity,
            ComputedRef::Env(c) => c.arity,
        }
    }
    /// Its documentation.
    pub fn doc(self) -> &'static str {
        match self {
            ComputedRef::Plain(c) => c.doc,
            ComputedRef::Env(c) => c.doc,
        }
    }
    /// Its value, or `None` when it does not exist for these arguments.
    pub fn eval(self, env: &Env, args: &[&Meta]) -> Option<Arg> {
        match self {
            ComputedRef::Plain(c) => (c.eval)(args),
            ComputedRef::Env(c) => (c.eval)(env, args),
        }
    }
}

impl std::fmt::Debug for CondRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Debug for ComputedRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A condition over the metas of its arguments.
pub struct Condition {
    /// Name used in rule files.
    pub name: &'static str,
    /// Number of arguments (`None`: any).
    pub arity: Option<usize>,
    /// One line of documentation.
    pub doc: &'static str,
    /// The test.
    pub test: fn(&[&Meta]) -> bool,
}

/// A computed attribute: a value built from the metas of its arguments, or `None` when it
/// does not exist for them (the rule then does not apply).
pub struct Computed {
    /// Name used in rule files.
    pub name: &'static str,
    /// Number of arguments.
    pub arity: usize,
    /// One line of documentation.
    pub doc: &'static str,
    /// The function.
    pub eval: fn(&[&Meta]) -> Option<Arg>,
}

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
        test: |a| a[0].tensor().is_some(),
    },
    Condition {
        name: "scalar",
        arity: Some(1),
        doc: "the argument is a compile-time number",
        test: |a| matches!(a[0], Meta::Int(_) | Meta::Float(_) | Meta::Bool(_)),
    },
    Condition {
        name: "float",
        arity: Some(1),
        doc: "the argument is a floating-point tensor",
        test: |a| a[0].tensor().is_some_and(|t| t.dtype.is_float()),
    },
    Condition {
        name: "same-shape",
        arity: None,
        doc: "all arguments are tensors of one shape",
        test: |a| {
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
        test: |a| {
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
        test: |a| {
            a[0].tensor()
                .is_some_and(|t| ints(a[1]).as_ref() == Some(&t.shape))
        },
    },
    Condition {
        name: "dtype-is",
        arity: Some(2),
        doc: "tensor ?x has dtype ?d",
        test: |a| matches!((a[0], a[1]), (Meta::Tensor(t), Meta::Dtype(d)) if t.dtype == *d),
    },
    Condition {
        name: "identity-perm",
        arity: Some(1),
        doc: "the int list is 0, 1, ..., n-1",
        test: |a| ints(a[0]).is_some_and(|p| p.iter().enumerate().all(|(i, &d)| d == i as i64)),
    },
    Condition {
        name: "none",
        arity: Some(1),
        doc: "the argument is None",
        test: |a| matches!(a[0], Meta::None),
    },
    Condition {
        name: "equal",
        arity: Some(2),
        doc: "the two arguments have equal values/metas",
        test: |a| a[0].same_as(a[1]),
    },
    Condition {
        name: "last-dim",
        arity: Some(2),
        doc: "int ?d names the last dim of tensor ?x",
        test: |a| matches!((a[0].tensor(), a[1]), (Some(t), Meta::Int(d)) if t.rank() > 0 && norm(*d, t.rank()) == Some(t.rank() - 1)),
    },
    Condition {
        name: "swaps-last-two",
        arity: Some(1),
        doc: "the int list is the identity permutation but for its last two entries, swapped",
        test: |a| {
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
        test: |a| match (a[0].tensor(), ints(a[1])) {
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
        test: |a| match (a[0].tensor(), a[1].tensor(), ints(a[2])) {
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
        test: |a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
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
        test: |a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
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
        test: |a| match a[0] {
            Meta::Float(x) => x.is_finite() && *x != 0.0,
            Meta::Int(i) => *i != 0,
            _ => false,
        },
    },
    Condition {
        name: "absorbing-fill",
        arity: Some(1),
        doc: "a finite number at most -2^125: adding any |s| < 2^100 to it gives it back exactly (float32/bfloat16 finfo.min qualify; float16's does not). -inf does not qualify: a row masked with -inf everywhere is NaN in the original but 0 in fused SDPA",
        test: |a| match a[0] {
            Meta::Float(x) => x.is_finite() && *x <= -(2f64.powi(125)),
            _ => false,
        },
    },
    Condition {
        name: "half",
        arity: Some(1),
        doc: "a float16 or bfloat16 tensor",
        test: |a| a[0].tensor().is_some_and(|t| matches!(t.dtype, crate::ir::DType::F16 | crate::ir::DType::BF16)),
    },
    Condition {
        name: "perm-moves-only-ones",
        arity: Some(2),
        doc: "permute(?x, ?p) keeps the order of ?x's dims of size > 1 (so it is a view)",
        test: |a| match (a[0].tensor(), ints(a[1])) {
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
        test: |a| match (a[0].tensor(), ints(a[1])) {
            (Some(t), Some(s)) => non_ones(&t.shape) == non_ones(&s),
            _ => false,
        },
    },
    Condition {
        name: "row-constant-factor",
        arity: Some(2),
        doc: "tensor ?t has ?q's dtype, size 1 in its last two dims (or fewer dims) and broadcasts into ?q without growing it: scaling q·kᵀ by ?t equals scaling q",
        test: |a| match (a[0].tensor(), a[1].tensor()) {
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
        test: |a| match (a[0].tensor(), a[1].tensor()) {
            (Some(x), Some(s)) => x.dtype == s.dtype && x.rank() <= s.rank() && crate::ops::broadcast(&x.shape, &s.shape).is_ok_and(|b| b == s.shape),
            _ => false,
        },
    },
    Condition {
        name: "bool-broadcasts-into",
        arity: Some(2),
        doc: "?c is a bool tensor of rank >= 1 broadcasting to tensor ?s's shape without growing it",
        test: |a| match (a[0].tensor(), a[1].tensor()) {
            (Some(c), Some(s)) => c.dtype == crate::ir::DType::Bool && c.rank() >= 1 && c.rank() <= s.rank() && crate::ops::broadcast(&c.shape, &s.shape).is_ok_and(|b| b == s.shape),
            _ => false,
        },
    },
    Condition {
        name: "row-flag",
        arity: Some(3),
        doc: "?r is a bool tensor with size 1 in its last dim (one flag per row) broadcasting into ?p without growing it, and ?p, ?v have rank >= 2 (so rows of ?p are rows of ?p·?v)",
        test: |a| match (a[0].tensor(), a[1].tensor(), a[2].tensor()) {
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
        test: |a| match (a[0].tensor(), ints(a[1]), a[2]) {
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
        test: |a| {
            use crate::ir::DType::{BF16, F16, F32, F64};
            matches!((a[0].tensor().map(|t| t.dtype), a[1]), (Some(F16 | BF16), Meta::Dtype(F32 | F64)) | (Some(F32), Meta::Dtype(F64)))
        },
    },
    Condition {
        name: "power-of-two",
        arity: Some(1),
        doc: "a compile-time number ±2^k: multiplying by it is exact in every float dtype (barring overflow)",
        test: |a| {
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
        test: |a| match (a[0].tensor(), a[1].tensor(), ints(a[2])) {
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
        test: |a| match (a[0].tensor(), a[1].tensor(), ints(a[2])) {
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
        test: |a| a[0].tensor().is_some_and(|t| matches!(t.dtype, crate::ir::DType::F32 | crate::ir::DType::F64)),
    },
];

/// Every computed attribute.
pub const COMPUTED: &[Computed] = &[
    Computed {
        name: "compose-perm",
        arity: 2,
        doc: "permute(permute(x, p), q) = permute(x, compose-perm(p, q))",
        eval: |a| {
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
        eval: |a| {
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
        eval: |a| match a[0] {
            Meta::Float(x) if x.is_finite() && *x != 0.0 => Some(Arg::Float(1.0 / x)),
            Meta::Int(i) if *i != 0 => Some(Arg::Float(1.0 / *i as f64)),
            _ => None,
        },
    },
    Computed {
        name: "as-float",
        arity: 1,
        doc: "the number ?s as a float",
        eval: |a| match a[0] {
            Meta::Float(x) => Some(Arg::Float(*x)),
            Meta::Int(i) => Some(Arg::Float(*i as f64)),
            _ => None,
        },
    },
    Computed {
        name: "swap-last-two",
        arity: 1,
        doc: "the permutation of rank(?x) dims that swaps the last two",
        eval: |a| {
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
        eval: |a| {
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
        eval: |a| {
            let t = a[0].tensor()?;
            let p = ints(a[1])?;
            Some(int_list(p.iter().map(|&d| norm(d, t.rank()).map(|d| t.shape[d])).collect::<Option<Vec<_>>>()?))
        },
    },
    Computed {
        name: "permuted-list",
        arity: 2,
        doc: "the int list ?s permuted by ?p: [s[p[0]], s[p[1]], ...]",
        eval: |a| {
            let s = ints(a[0])?;
            let p = ints(a[1])?;
            Some(int_list(p.iter().map(|&d| norm(d, s.len()).map(|d| s[d])).collect::<Option<Vec<_>>>()?))
        },
    },
    Computed {
        name: "ones-perm",
        arity: 3,
        doc: "for view(?y, ?s) that only adds/removes size-1 dims, the permutation of ?y's dims whose size>1 dims come in the order permute(view(?y, ?s), ?p) puts them (size-1 dims last)",
        eval: |a| {
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
        eval: |a| {
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
        eval: |a| {
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
        eval: |a| {
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
        eval: |a| {
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
        eval: |a| {
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
        eval: |a| Some(int_list(a[0].tensor()?.shape.clone())),
    },
];

/// Looks up a condition.
pub fn condition(name: &str) -> Option<CondRef> {
    CONDITIONS
        .iter()
        .chain(super::training::CONDITIONS)
        .find(|c| c.name == name)
        .map(CondRef::Plain)
        .or_else(|| {
            super::env_registry::ENV_CONDITIONS
                .iter()
                .find(|c| c.name == name)
                .map(CondRef::Env)
        })
}

/// Looks up a computed attribute.
pub fn computed(name: &str) -> Option<ComputedRef> {
    COMPUTED
        .iter()
        .chain(super::training::COMPUTED)
        .find(|c| c.name == name)
        .map(ComputedRef::Plain)
        .or_else(|| {
            super::env_registry::ENV_COMPUTED
                .iter()
                .find(|c| c.name == name)
                .map(ComputedRef::Env)
        })
}

pub use super::env_registry::{ENV_COMPUTED, ENV_CONDITIONS};
