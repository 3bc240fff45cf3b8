//! Metadata of a value: tensor shape, dtype and stride, tuples, scalars.

use super::DType;
use std::fmt;

/// A tensor's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorMeta {
    /// Sizes (static).
    pub shape: Vec<i64>,
    /// Element type.
    pub dtype: DType,
    /// Strides in elements.
    pub stride: Vec<i64>,
}

impl TensorMeta {
    /// A contiguous tensor of this shape and dtype.
    pub fn contiguous(shape: Vec<i64>, dtype: DType) -> Self {
        let stride = contiguous_strides(&shape);
        TensorMeta {
            shape,
            dtype,
            stride,
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().map(|&d| d.max(0) as u64).product()
    }

    /// Bytes of a dense tensor of this shape and dtype.
    pub fn bytes(&self) -> u64 {
        self.numel() * self.dtype.size()
    }
}

/// Row-major strides of a shape.
pub fn contiguous_strides(shape: &[i64]) -> Vec<i64> {
    let mut stride = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        stride[i] = stride[i + 1] * shape[i + 1].max(1);
    }
    stride
}

/// The metadata of a node's value (`meta["val"]` in FX).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A tensor.
    Tensor(TensorMeta),
    /// A tuple of values.
    Tuple(Vec<Val>),
    /// An int scalar.
    Int(i64),
    /// A float scalar.
    Float(f64),
    /// A bool scalar.
    Bool(bool),
    /// No value.
    None,
}

impl Val {
    /// The tensor meta, if this is a tensor.
    pub fn tensor(&self) -> Option<&TensorMeta> {
        match self {
            Val::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// Total bytes of all tensors in this value.
    pub fn bytes(&self) -> u64 {
        match self {
            Val::Tensor(t) => t.bytes(),
            Val::Tuple(items) => items.iter().map(Val::bytes).sum(),
            _ => 0,
        }
    }
}

impl fmt::Display for TensorMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.shape)
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Tensor(t) => write!(f, "{t}"),
            Val::Tuple(items) => {
                write!(f, "(")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, ")")
            }
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) => write!(f, "{x:?}"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::None => write!(f, "None"),
        }
    }
}
