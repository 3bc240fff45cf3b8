//! The typing domain of the op table: what shape rules consume and produce.

use crate::ir::{DType, TensorMeta, Val};
use std::fmt;

/// A tensor's shape and dtype (strides are the graph's concern: [`TensorMeta`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TMeta {
    /// Sizes.
    pub shape: Vec<i64>,
    /// Element type.
    pub dtype: DType,
}

impl TMeta {
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().map(|&d| d.max(0) as u64).product()
    }
    /// Dense size in bytes.
    pub fn bytes(&self) -> u64 {
        self.numel() * self.dtype.size()
    }
    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// What an e-class (or an argument) is known to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Meta {
    /// A tensor.
    Tensor(TMeta),
    /// A tuple (multi-output op).
    Tuple(Vec<Meta>),
    /// A list (int lists, tensor lists).
    List(Vec<Meta>),
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A bool.
    Bool(bool),
    /// `None`.
    None,
    /// A dtype attribute.
    Dtype(DType),
    /// A string-like attribute (device, layout, memory format, string).
    Attr(String),
    /// An ill-typed term (a rule built something its shape rule rejects).
    Invalid(String),
}

impl Meta {
    /// From a graph `val`.
    pub fn from_val(v: &Val) -> Meta {
        match v {
            Val::Tensor(t) => Meta::Tensor(TMeta {
                shape: t.shape.clone(),
                dtype: t.dtype,
            }),
            Val::Tuple(items) => Meta::Tuple(items.iter().map(Meta::from_val).collect()),
            Val::Int(i) => Meta::Int(*i),
            Val::Float(x) => Meta::Float(*x),
            Val::Bool(b) => Meta::Bool(*b),
            Val::None => Meta::None,
        }
    }

    /// Equal as values a node can have (shape+dtype for tensors; exact for scalars; NaN equal to NaN).
    pub fn same_as(&self, other: &Meta) -> bool {
        match (self, other) {
            (Meta::Float(a), Meta::Float(b)) => a.to_bits() == b.to_bits() || a == b,
            (Meta::Tuple(a), Meta::Tuple(b)) | (Meta::List(a), Meta::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            _ => self == other,
        }
    }

    /// Matches a recorded graph `val` (shape and dtype; scalars by kind).
    pub fn matches_val(&self, v: &Val) -> bool {
        match (self, v) {
            (Meta::Tensor(t), Val::Tensor(u)) => t.shape == u.shape && t.dtype == u.dtype,
            (Meta::Tuple(a), Val::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.matches_val(y))
            }
            (Meta::Int(_), Val::Int(_))
            | (Meta::Float(_), Val::Float(_))
            | (Meta::Bool(_), Val::Bool(_)) => true,
            (Meta::None, Val::None) => true,
            _ => false,
        }
    }

    /// The tensor meta, if any.
    pub fn tensor(&self) -> Option<&TMeta> {
        match self {
            Meta::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// Total dense bytes of the tensors in this value.
    pub fn bytes(&self) -> u64 {
        match self {
            Meta::Tensor(t) => t.bytes(),
            Meta::Tuple(items) => items.iter().map(Meta::bytes).sum(),
            _ => 0,
        }
    }

    /// The value as a graph `val` with contiguous strides (tensors) — callers fix strides.
    pub fn to_val(&self) -> Val {
        match self {
            Meta::Tensor(t) => Val::Tensor(TensorMeta::contiguous(t.shape.clone(), t.dtype)),
            Meta::Tuple(items) => Val::Tuple(items.iter().map(Meta::to_val).collect()),
            Meta::Int(i) => Val::Int(*i),
            Meta::Float(x) => Val::Float(*x),
            Meta::Bool(b) => Val::Bool(*b),
            _ => Val::None,
        }
    }
}

impl fmt::Display for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Meta::Tensor(t) => write!(f, "{}{:?}", t.dtype, t.shape),
            Meta::Tuple(items) | Meta::List(items) => {
                let open = if matches!(self, Meta::Tuple(_)) {
                    "("
                } else {
                    "["
                };
                write!(f, "{open}")?;
                for (i, m) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{m}")?;
                }
                write!(f, "{}", if open == "(" { ")" } else { "]" })
            }
            Meta::Int(i) => write!(f, "{i}"),
            Meta::Float(x) => write!(f, "{x:?}"),
            Meta::Bool(b) => write!(f, "{b}"),
            Meta::None => write!(f, "None"),
            Meta::Dtype(d) => write!(f, "{d}"),
            Meta::Attr(s) => write!(f, "{s}"),
            Meta::Invalid(why) => write!(f, "<invalid: {why}>"),
        }
    }
}

/// Shape-rule result.
pub type InferResult = Result<Meta, String>;

/// The tensor argument at `i`.
pub fn tensor(args: &[Meta], i: usize) -> Result<&TMeta, String> {
    match args.get(i) {
        Some(Meta::Tensor(t)) => Ok(t),
        Some(other) => Err(format!("argument {i} should be a tensor, got {other}")),
        None => Err(format!("missing argument {i}")),
    }
}

/// The int argument at `i`.
pub fn int(args: &[Meta], i: usize) -> Result<i64, String> {
    match args.get(i) {
        Some(Meta::Int(v)) => Ok(*v),
        Some(Meta::Bool(b)) => Ok(*b as i64),
        Some(other) => Err(format!("argument {i} should be an int, got {other}")),
        None => Err(format!("missing argument {i}")),
    }
}

/// The optional int argument at `i`.
pub fn opt_int(args: &[Meta], i: usize) -> Result<Option<i64>, String> {
    match args.get(i) {
        Some(Meta::None) | None => Ok(None),
        _ => int(args, i).map(Some),
    }
}

/// The bool argument at `i`.
pub fn boolean(args: &[Meta], i: usize) -> Result<bool, String> {
    match args.get(i) {
        Some(Meta::Bool(b)) => Ok(*b),
        Some(Meta::Int(v)) => Ok(*v != 0),
        Some(other) => Err(format!("argument {i} should be a bool, got {other}")),
        None => Err(format!("missing argument {i}")),
    }
}

/// The int-list argument at `i` (`None` gives `None`).
pub fn opt_ints(args: &[Meta], i: usize) -> Result<Option<Vec<i64>>, String> {
    match args.get(i) {
        Some(Meta::None) | None => Ok(None),
        Some(Meta::List(items)) => items
            .iter()
            .map(|m| match m {
                Meta::Int(v) => Ok(*v),
                other => Err(format!(
                    "argument {i} should be a list of ints, has {other}"
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(Meta::Int(v)) => Ok(Some(vec![*v])),
        Some(other) => Err(format!(
            "argument {i} should be a list of ints, got {other}"
        )),
    }
}

/// The int-list argument at `i`.
pub fn ints(args: &[Meta], i: usize) -> Result<Vec<i64>, String> {
    opt_ints(args, i)?.ok_or_else(|| format!("argument {i} should be a list of ints, got None"))
}

/// The optional dtype argument at `i`.
pub fn opt_dtype(args: &[Meta], i: usize) -> Result<Option<DType>, String> {
    match args.get(i) {
        Some(Meta::None) | None => Ok(None),
        Some(Meta::Dtype(d)) => Ok(Some(*d)),
        Some(other) => Err(format!("argument {i} should be a dtype, got {other}")),
    }
}

/// Normalises a possibly negative dim for a tensor of rank `rank`.
pub fn norm_dim(d: i64, rank: usize) -> Result<usize, String> {
    let r = rank.max(1) as i64;
    let n = if d < 0 { d + r } else { d };
    if n < 0 || n >= r {
        return Err(format!("dim {d} out of range for rank {rank}"));
    }
    Ok(n as usize)
}

/// Most elements an inferred tensor may have (2^48, as the reader's limit on inputs): shape
/// rules fed absurd shapes or attributes give an error, not a wrapped-around size.
pub const MAX_NUMEL: u128 = 1 << 48;

/// Largest dim a rule's right side may compute (e.g. a matmul padded to the device's
/// alignment): 2^31 - 1. Larger, or a tensor of more than [`MAX_RULE_NUMEL`] elements, and the
/// rewrite does not apply.
pub const MAX_RULE_DIM: i64 = (1 << 31) - 1;

/// Most elements a tensor computed by a rule's right side may have: 2^40.
pub const MAX_RULE_NUMEL: u128 = 1 << 40;

/// Elements of a shape, `None` when a dim is negative or the count overflows `limit`.
pub fn checked_numel(shape: &[i64], limit: u128) -> Option<u128> {
    shape.iter().try_fold(1u128, |acc, &d| {
        (d >= 0)
            .then(|| acc.checked_mul(d as u128))
            .flatten()
            .filter(|&n| n <= limit)
    })
}

/// Builds a tensor meta result; an error for a negative dim or more than [`MAX_NUMEL`]
/// elements.
pub fn tensor_out(shape: Vec<i64>, dtype: DType) -> InferResult {
    if checked_numel(&shape, MAX_NUMEL).is_none() {
        return Err(format!(
            "result shape {shape:?} has a negative dim or more than 2^48 elements"
        ));
    }
    Ok(Meta::Tensor(TMeta { shape, dtype }))
}
