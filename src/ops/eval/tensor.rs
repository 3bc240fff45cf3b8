//! A small dense tensor: row-major `f64` data with a shape and a dtype, and rounding to the
//! dtype's precision (f16 and bf16 are emulated by rounding to nearest even).
//!
//! ```
//! use fxsat::interp::{round_to, Tensor};
//! use fxsat::ir::DType;
//! assert_eq!(round_to(1.0 + 1e-4, DType::F16), 1.0);
//! assert_eq!(round_to(-3.4028234663852886e38, DType::F16), f64::NEG_INFINITY);
//! assert_eq!(round_to(2.7, DType::I64), 2.0);
//! let t = Tensor::new(vec![2, 3], DType::F32, (0..6).map(f64::from).collect());
//! assert_eq!(t.permute(&[1, 0]).data, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
//! ```

use crate::ir::DType;
use std::fmt;

/// A dense tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Sizes.
    pub shape: Vec<usize>,
    /// Element type (values are already rounded to it).
    pub dtype: DType,
    /// Row-major elements.
    pub data: Vec<f64>,
}

pub use crate::ir::dtype::round_to;

/// Broadcasts two shapes (the op table's rule, on `usize` shapes).
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let to_i64 = |s: &[usize]| s.iter().map(|&d| d as i64).collect::<Vec<_>>();
    crate::ops::broadcast(&to_i64(a), &to_i64(b))
        .map(|s| s.into_iter().map(|d| d as usize).collect())
}

/// Row-major strides.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The multi-index of a flat row-major position.
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        if shape[i] > 0 {
            idx[i] = flat % shape[i];
            flat /= shape[i];
        }
    }
    idx
}

impl Tensor {
    /// A tensor from data (rounded to `dtype`). Panics if the data does not fit the shape.
    pub fn new(shape: Vec<usize>, dtype: DType, data: Vec<f64>) -> Tensor {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "data does not fit shape {shape:?}"
        );
        Tensor {
            shape,
            dtype,
            data: data.into_iter().map(|x| round_to(x, dtype)).collect(),
        }
    }

    /// A 0-d tensor.
    pub fn scalar(x: f64, dtype: DType) -> Tensor {
        Tensor::new(Vec::new(), dtype, vec![x])
    }

    /// A tensor whose elements are `f(multi-index)`; dtype f64 until cast.
    pub fn from_fn(shape: &[usize], mut f: impl FnMut(&[usize]) -> f64) -> Tensor {
        let n: usize = shape.iter().product();
        let data = (0..n).map(|i| f(&unravel(i, shape))).collect();
        Tensor {
            shape: shape.to_vec(),
            dtype: DType::F64,
            data,
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The element at a multi-index.
    pub fn get(&self, idx: &[usize]) -> f64 {
        let mut flat = 0;
        for (i, (&k, &n)) in idx.iter().zip(&self.shape).enumerate() {
            debug_assert!(k < n, "index {idx:?} out of {:?} at {i}", self.shape);
            flat = flat * n + k;
        }
        self.data[flat]
    }

    /// The same elements converted to `dtype`.
    pub fn cast(&self, dtype: DType) -> Tensor {
        Tensor {
            shape: self.shape.clone(),
            dtype,
            data: self.data.iter().map(|&x| round_to(x, dtype)).collect(),
        }
    }

    /// The same elements with another shape of equal numel.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor, String> {
        if shape.iter().product::<usize>() != self.numel() {
            return Err(format!("cannot reshape {:?} to {shape:?}", self.shape));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            dtype: self.dtype,
            data: self.data.clone(),
        })
    }

    /// Broadcast (copied) to `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor, String> {
        if broadcast_shapes(&self.shape, shape)? != shape {
            return Err(format!("{:?} does not broadcast to {shape:?}", self.shape));
        }
        let lead = shape.len() - self.rank();
        let mut t = Tensor::from_fn(shape, |idx| {
            let own: Vec<usize> = (0..self.rank())
                .map(|i| if self.shape[i] == 1 { 0 } else { idx[lead + i] })
                .collect();
            self.get(&own)
        });
        t.dtype = self.dtype;
        Ok(t)
    }

    /// Dimensions permuted (copied): result dim `i` is input dim `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Tensor {
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        let mut src = vec![0; self.rank()];
        let mut t = Tensor::from_fn(&shape, |idx| {
            for (i, &p) in perm.iter().enumerate() {
                src[p] = idx[i];
            }
            self.get(&src)
        });
        t.dtype = self.dtype;
        t
    }

    /// Elementwise map, keeping shape (dtype f64 until cast).
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Tensor {
        Tensor {
            shape: self.shape.clone(),
            dtype: DType::F64,
            data: self.data.iter().map(|&x| f(x)).collect(),
        }
    }

    /// Picks `indices` along `dim` (copied).
    pub fn take_along(&self, dim: usize, indices: &[usize]) -> Tensor {
        let mut shape = self.shape.clone();
        shape[dim] = indices.len();
        let mut t = Tensor::from_fn(&shape, |idx| {
            let mut src = idx.to_vec();
            src[dim] = indices[idx[dim]];
            self.get(&src)
        });
        t.dtype = self.dtype;
        t
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_rounding_matches_ieee() {
        assert_eq!(round_to(65504.0, DType::F16), 65504.0);
        assert_eq!(round_to(65519.0, DType::F16), 65504.0);
        assert_eq!(round_to(65520.0, DType::F16), f64::INFINITY);
        assert_eq!(round_to(1.0 / 3.0, DType::F16), 0.333251953125);
        assert_eq!(round_to(2f64.powi(-24), DType::F16), 2f64.powi(-24));
        assert_eq!(round_to(2f64.powi(-26), DType::F16), 0.0);
        assert_eq!(round_to(1.0 / 3.0, DType::BF16), 0.333984375);
        assert_eq!(
            round_to(-3.4028234663852886e38, DType::BF16),
            f64::NEG_INFINITY
        );
        assert_eq!(round_to(1.00390625, DType::BF16), 1.0); // tie to even
        assert_eq!(round_to(300.0, DType::U8), 44.0);
        assert_eq!(round_to(-0.5, DType::Bool), 1.0);
    }
}
