//! Named conditions (`:if (name ?a ...)`) and computed attributes (`(name ?a ...)` on a right
//! side), registered in one table. A rule file that names one not listed here fails to load.

use crate::ir::Arg;
use crate::ops::Meta;

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
        name: "shape-of",
        arity: 1,
        doc: "the shape of tensor ?x as an int list",
        eval: |a| Some(int_list(a[0].tensor()?.shape.clone())),
    },
];

/// Looks up a condition.
pub fn condition(name: &str) -> Option<&'static Condition> {
    CONDITIONS.iter().find(|c| c.name == name)
}

/// Looks up a computed attribute.
pub fn computed(name: &str) -> Option<&'static Computed> {
    COMPUTED.iter().find(|c| c.name == name)
}
