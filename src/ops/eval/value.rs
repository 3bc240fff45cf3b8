//! What the interpreter computes with: tensors, tuples, lists and attribute values, plus
//! accessors for op arguments.

use super::tensor::Tensor;
use crate::ir::DType;
use crate::ops::{Meta, TMeta};
use std::fmt;

/// A runtime value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A tensor.
    Tensor(Tensor),
    /// A tuple (multi-output op).
    Tuple(Vec<Value>),
    /// A list (int lists, tensor lists).
    List(Vec<Value>),
    /// A Python int.
    Int(i64),
    /// A Python float.
    Float(f64),
    /// A Python bool.
    Bool(bool),
    /// `None`.
    None,
    /// A dtype.
    Dtype(DType),
    /// A string-like attribute as `kind:value` (e.g. `str:tanh`, `device:cpu`).
    Attr(String),
}

impl Value {
    /// The value's meta (shape and dtype for tensors).
    pub fn meta(&self) -> Meta {
        match self {
            Value::Tensor(t) => Meta::Tensor(TMeta {
                shape: t.shape.iter().map(|&d| d as i64).collect(),
                dtype: t.dtype,
            }),
            Value::Tuple(v) => Meta::Tuple(v.iter().map(Value::meta).collect()),
            Value::List(v) => Meta::List(v.iter().map(Value::meta).collect()),
            Value::Int(i) => Meta::Int(*i),
            Value::Float(x) => Meta::Float(*x),
            Value::Bool(b) => Meta::Bool(*b),
            Value::None => Meta::None,
            Value::Dtype(d) => Meta::Dtype(*d),
            Value::Attr(s) => Meta::Attr(s.clone()),
        }
    }

    /// The tensor, if this is one.
    pub fn tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// Converts to the dtype/shape of `meta` (tensors are rounded to its dtype; tuples item by
    /// item). Errors when the shapes disagree: the interpreter and the op table would differ.
    pub fn conform(self, meta: &Meta) -> Result<Value, String> {
        match (self, meta) {
            (Value::Tensor(t), Meta::Tensor(m)) => {
                let shape: Vec<usize> = m.shape.iter().map(|&d| d as usize).collect();
                if t.shape != shape {
                    return Err(format!(
                        "interpreter computed shape {:?} but the op table says {:?}",
                        t.shape, m.shape
                    ));
                }
                Ok(Value::Tensor(t.cast(m.dtype)))
            }
            (Value::Tuple(v), Meta::Tuple(ms)) if v.len() == ms.len() => Ok(Value::Tuple(
                v.into_iter()
                    .zip(ms)
                    .map(|(x, m)| x.conform(m))
                    .collect::<Result<_, _>>()?,
            )),
            (v, _) => Ok(v),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.meta())
    }
}

/// The argument at `i`.
pub fn arg(a: &[Value], i: usize) -> Result<&Value, String> {
    a.get(i).ok_or_else(|| format!("missing argument {i}"))
}

/// The tensor argument at `i` (a Python number becomes a 0-d tensor).
pub fn tensor(a: &[Value], i: usize) -> Result<Tensor, String> {
    match arg(a, i)? {
        Value::Tensor(t) => Ok(t.clone()),
        Value::Int(v) => Ok(Tensor::scalar(*v as f64, DType::I64)),
        Value::Float(v) => Ok(Tensor::scalar(*v, DType::F64)),
        Value::Bool(v) => Ok(Tensor::scalar(*v as u8 as f64, DType::Bool)),
        other => Err(format!("argument {i} should be a tensor, got {other}")),
    }
}

/// The optional tensor argument at `i`.
pub fn opt_tensor(a: &[Value], i: usize) -> Result<Option<Tensor>, String> {
    match a.get(i) {
        None | Some(Value::None) => Ok(None),
        _ => tensor(a, i).map(Some),
    }
}

/// The int argument at `i`.
pub fn int(a: &[Value], i: usize) -> Result<i64, String> {
    match arg(a, i)? {
        Value::Int(v) => Ok(*v),
        Value::Bool(b) => Ok(*b as i64),
        other => Err(format!("argument {i} should be an int, got {other}")),
    }
}

/// The optional int argument at `i`.
pub fn opt_int(a: &[Value], i: usize) -> Result<Option<i64>, String> {
    match a.get(i) {
        None | Some(Value::None) => Ok(None),
        _ => int(a, i).map(Some),
    }
}

/// A number (int, float or bool) at `i`.
pub fn number(a: &[Value], i: usize) -> Result<f64, String> {
    match arg(a, i)? {
        Value::Int(v) => Ok(*v as f64),
        Value::Float(v) => Ok(*v),
        Value::Bool(b) => Ok(*b as u8 as f64),
        Value::Tensor(t) if t.numel() == 1 => Ok(t.data[0]),
        other => Err(format!("argument {i} should be a number, got {other}")),
    }
}

/// An optional number at `i`.
pub fn opt_number(a: &[Value], i: usize) -> Result<Option<f64>, String> {
    match a.get(i) {
        None | Some(Value::None) => Ok(None),
        _ => number(a, i).map(Some),
    }
}

/// The bool argument at `i`.
pub fn boolean(a: &[Value], i: usize) -> Result<bool, String> {
    match arg(a, i)? {
        Value::Bool(b) => Ok(*b),
        Value::Int(v) => Ok(*v != 0),
        other => Err(format!("argument {i} should be a bool, got {other}")),
    }
}

/// The optional int list at `i` (an int is a one-element list).
pub fn opt_ints(a: &[Value], i: usize) -> Result<Option<Vec<i64>>, String> {
    match a.get(i) {
        None | Some(Value::None) => Ok(None),
        Some(Value::Int(v)) => Ok(Some(vec![*v])),
        Some(Value::List(items)) => items
            .iter()
            .map(|x| match x {
                Value::Int(v) => Ok(*v),
                other => Err(format!(
                    "argument {i} should be a list of ints, has {other}"
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(format!(
            "argument {i} should be a list of ints, got {other}"
        )),
    }
}

/// The int list at `i`.
pub fn ints(a: &[Value], i: usize) -> Result<Vec<i64>, String> {
    opt_ints(a, i)?.ok_or_else(|| format!("argument {i} should be a list of ints, got None"))
}

/// The list at `i`.
pub fn list(a: &[Value], i: usize) -> Result<&[Value], String> {
    match arg(a, i)? {
        Value::List(items) => Ok(items),
        other => Err(format!("argument {i} should be a list, got {other}")),
    }
}

/// The string attribute at `i` (`None` gives `None`), without its kind prefix.
pub fn opt_str(a: &[Value], i: usize) -> Result<Option<&str>, String> {
    match a.get(i) {
        None | Some(Value::None) => Ok(None),
        Some(Value::Attr(s)) => Ok(Some(s.split_once(':').map_or(s.as_str(), |p| p.1))),
        Some(other) => Err(format!("argument {i} should be a string, got {other}")),
    }
}

/// Normalises a possibly negative dim for rank `rank` (0-d tensors accept 0 and -1).
pub fn dim(d: i64, rank: usize) -> Result<usize, String> {
    crate::ops::meta::norm_dim(d, rank)
}
