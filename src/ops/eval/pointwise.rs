//! Kernels of the elementwise ops: operands are converted to the promoted dtype, broadcast, combined in `f64`.

use super::tensor::{broadcast_shapes, Tensor};
use super::ushape;
use super::value::*;
use crate::ir::DType;
use crate::ops::{result_type, Meta};

/// The error function (|error| < 1e-14).
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    let r = if ax < 2.5 {
        // Taylor series: 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)).
        let mut term = ax;
        let mut sum = ax;
        let x2 = ax * ax;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else if ax > 6.0 {
        1.0
    } else {
        // erfc by its continued fraction, evaluated backwards.
        let mut t = ax;
        for k in (1..=80).rev() {
            t = ax + (k as f64 / 2.0) / t;
        }
        1.0 - (-ax * ax).exp() / std::f64::consts::PI.sqrt() / t
    };
    r.copysign(x)
}

/// Operands `idx` of `a` as tensors in `common` (Python numbers keep their value), broadcast.
fn operands(a: &[Value], idx: &[usize], common: DType) -> Result<Vec<Tensor>, String> {
    let mut ts = Vec::new();
    let mut shape = Vec::new();
    for &i in idx {
        let t = match arg(a, i)? {
            Value::Tensor(t) => t.cast(common),
            _ => tensor(a, i)?,
        };
        shape = broadcast_shapes(&shape, &t.shape)?;
        ts.push(t);
    }
    ts.into_iter().map(|t| t.broadcast_to(&shape)).collect()
}

fn common(a: &[Value], idx: &[usize]) -> Result<DType, String> {
    let metas: Vec<Meta> = idx
        .iter()
        .filter_map(|&i| a.get(i))
        .map(Value::meta)
        .collect();
    let refs: Vec<&Meta> = metas.iter().collect();
    result_type(&refs)
}

/// Applies `f` to operands `idx` (converted to `dt`) elementwise.
fn zip(a: &[Value], idx: &[usize], dt: DType, f: impl Fn(&[f64]) -> f64) -> Result<Value, String> {
    let ts = operands(a, idx, dt)?;
    let n = ts[0].numel();
    let mut xs = vec![0.0; ts.len()];
    let data = (0..n)
        .map(|k| {
            for (x, t) in xs.iter_mut().zip(&ts) {
                *x = t.data[k];
            }
            f(&xs)
        })
        .collect();
    Ok(Value::Tensor(Tensor {
        shape: ts[0].shape.clone(),
        dtype: DType::F64,
        data,
    }))
}

fn nan_max(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.max(y)
    }
}

fn nan_min(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.min(y)
    }
}

fn gelu(x: f64, tanh: bool) -> f64 {
    if tanh {
        let k = (2.0 / std::f64::consts::PI).sqrt();
        0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
    } else {
        0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
    }
}

fn gelu_backward(g: f64, x: f64, tanh: bool) -> f64 {
    if tanh {
        let beta = (2.0 / std::f64::consts::PI).sqrt();
        let kappa = 0.044715;
        let inner = beta * (x + kappa * x * x * x);
        let t = inner.tanh();
        let left = 0.5 * x;
        let right = 1.0 + t;
        let dleft = 0.5 * right;
        let dright = left * (1.0 - t * t) * beta * (1.0 + 3.0 * kappa * x * x);
        g * (dleft + dright)
    } else {
        let cdf = 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
        let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        g * (cdf + x * pdf)
    }
}

fn is_tanh(a: &[Value], i: usize) -> Result<bool, String> {
    match opt_str(a, i)? {
        None | Some("none") => Ok(false),
        Some("tanh") => Ok(true),
        Some(other) => Err(format!("unknown gelu approximation `{other}`")),
    }
}

fn bits(x: f64) -> i64 {
    x as i64
}

/// A kernel with a fixed signature, for the family's tables.
pub(crate) type Kernel = fn(&[Value], &Meta) -> Result<Value, String>;

/// The result dtype the shape rule inferred (`f64` for a non-tensor result).
fn out_dtype(out: &Meta) -> DType {
    match out {
        Meta::Tensor(t) => t.dtype,
        _ => DType::F64,
    }
}

/// A unary op `f` on the operand converted to the result dtype.
pub(crate) fn unary(a: &[Value], out: &Meta, f: fn(f64) -> f64) -> Result<Value, String> {
    zip(a, &[0], out_dtype(out), |v| f(v[0]))
}

/// A binary op `f` on operands 0 and 1 converted to the result dtype.
fn binary(a: &[Value], out: &Meta, f: fn(f64, f64) -> f64) -> Result<Value, String> {
    zip(a, &[0, 1], out_dtype(out), |v| f(v[0], v[1]))
}

/// A binary op with the `alpha` of argument 2: `f(x, y, alpha)`.
fn with_alpha(a: &[Value], out: &Meta, f: fn(f64, f64, f64) -> f64) -> Result<Value, String> {
    let alpha = number(a, 2)?;
    zip(a, &[0, 1], out_dtype(out), |v| f(v[0], v[1], alpha))
}

/// A bitwise op on integer or bool operands.
fn bitwise(a: &[Value], out: &Meta, f: fn(i64, i64) -> i64) -> Result<Value, String> {
    let out_dt = out_dtype(out);
    if out_dt.is_float() {
        return Err("bitwise ops need integer or bool tensors".into());
    }
    zip(a, &[0, 1], out_dt, |v| f(bits(v[0]), bits(v[1])) as f64)
}

/// A logical op on operands 0 and 1 (converted to their common dtype), as 0/1.
fn logical(a: &[Value], f: fn(bool, bool) -> bool) -> Result<Value, String> {
    zip(a, &[0, 1], common(a, &[0, 1])?, |v| {
        f(v[0] != 0.0, v[1] != 0.0) as u8 as f64
    })
}

/// A comparison of operands 0 and 1 (converted to their common dtype), as 0/1.
fn compare(a: &[Value], f: fn(f64, f64) -> bool) -> Result<Value, String> {
    zip(a, &[0, 1], common(a, &[0, 1])?, |v| {
        f(v[0], v[1]) as u8 as f64
    })
}

/// `f` on the operand's elements as they are (no conversion).
fn map_elements(a: &[Value], f: impl Fn(f64) -> f64) -> Result<Value, String> {
    Ok(Value::Tensor(tensor(a, 0)?.map(f)))
}

pub(crate) fn add(a: &[Value], out: &Meta) -> Result<Value, String> {
    with_alpha(a, out, |x, y, alpha| x + alpha * y)
}

pub(crate) fn sub(a: &[Value], out: &Meta) -> Result<Value, String> {
    with_alpha(a, out, |x, y, alpha| x - alpha * y)
}

pub(crate) fn rsub(a: &[Value], out: &Meta) -> Result<Value, String> {
    with_alpha(a, out, |x, y, alpha| y - alpha * x)
}

pub(crate) fn mul(a: &[Value], out: &Meta) -> Result<Value, String> {
    binary(a, out, |x, y| x * y)
}

/// True division, or with a `rounding_mode` (argument 2) `trunc`/`floor` in the result dtype.
pub(crate) fn div(a: &[Value], out: &Meta) -> Result<Value, String> {
    let mode = opt_str(a, 2)?.map(str::to_string);
    let dt = if mode.is_some() {
        out_dtype(out)
    } else {
        common(a, &[0, 1])?
    };
    let dt = if dt.is_float() { dt } else { DType::F64 };
    zip(a, &[0, 1], dt, |v| {
        let q = v[0] / v[1];
        match mode.as_deref() {
            Some("trunc") => q.trunc(),
            Some("floor") => q.floor(),
            _ => q,
        }
    })
}

pub(crate) fn pow(a: &[Value], out: &Meta) -> Result<Value, String> {
    binary(a, out, f64::powf)
}

pub(crate) fn maximum(a: &[Value], out: &Meta) -> Result<Value, String> {
    binary(a, out, nan_max)
}

pub(crate) fn minimum(a: &[Value], out: &Meta) -> Result<Value, String> {
    binary(a, out, nan_min)
}

pub(crate) fn bitwise_and(a: &[Value], out: &Meta) -> Result<Value, String> {
    bitwise(a, out, |x, y| x & y)
}

pub(crate) fn bitwise_or(a: &[Value], out: &Meta) -> Result<Value, String> {
    bitwise(a, out, |x, y| x | y)
}

pub(crate) fn bitwise_xor(a: &[Value], out: &Meta) -> Result<Value, String> {
    bitwise(a, out, |x, y| x ^ y)
}

pub(crate) fn logical_and(a: &[Value], _: &Meta) -> Result<Value, String> {
    logical(a, |x, y| x && y)
}

pub(crate) fn logical_or(a: &[Value], _: &Meta) -> Result<Value, String> {
    logical(a, |x, y| x || y)
}

pub(crate) fn logical_xor(a: &[Value], _: &Meta) -> Result<Value, String> {
    logical(a, |x, y| x ^ y)
}

pub(crate) fn eq(a: &[Value], _: &Meta) -> Result<Value, String> {
    compare(a, |x, y| x == y)
}

pub(crate) fn ne(a: &[Value], _: &Meta) -> Result<Value, String> {
    compare(a, |x, y| x != y)
}

pub(crate) fn lt(a: &[Value], _: &Meta) -> Result<Value, String> {
    compare(a, |x, y| x < y)
}

pub(crate) fn le(a: &[Value], _: &Meta) -> Result<Value, String> {
    compare(a, |x, y| x <= y)
}

pub(crate) fn gt(a: &[Value], _: &Meta) -> Result<Value, String> {
    compare(a, |x, y| x > y)
}

pub(crate) fn ge(a: &[Value], _: &Meta) -> Result<Value, String> {
    compare(a, |x, y| x >= y)
}

pub(crate) fn fma(a: &[Value], out: &Meta) -> Result<Value, String> {
    zip(a, &[0, 1, 2], out_dtype(out), |v| v[0] * v[1] + v[2])
}

/// `where(condition, self, other)`: the values in the result dtype, broadcast with the
/// condition.
pub(crate) fn where_(a: &[Value], out: &Meta) -> Result<Value, String> {
    let cond = tensor(a, 0)?;
    let vals = operands(a, &[1, 2], out_dtype(out))?;
    let shape = broadcast_shapes(&cond.shape, &vals[0].shape)?;
    let c = cond.broadcast_to(&shape)?;
    let (x, y) = (vals[0].broadcast_to(&shape)?, vals[1].broadcast_to(&shape)?);
    let data = (0..c.numel())
        .map(|k| {
            if c.data[k] != 0.0 {
                x.data[k]
            } else {
                y.data[k]
            }
        })
        .collect();
    Ok(Value::Tensor(Tensor {
        shape,
        dtype: DType::F64,
        data,
    }))
}

pub(crate) fn tanh_backward(a: &[Value], out: &Meta) -> Result<Value, String> {
    binary(a, out, |g, y| g * (1.0 - y * y))
}

pub(crate) fn sigmoid_backward(a: &[Value], out: &Meta) -> Result<Value, String> {
    binary(a, out, |g, y| g * y * (1.0 - y))
}

pub(crate) fn threshold_backward(a: &[Value], out: &Meta) -> Result<Value, String> {
    let t = number(a, 2)?;
    zip(a, &[0, 1], out_dtype(out), |v| {
        if v[1] <= t {
            0.0
        } else {
            v[0]
        }
    })
}

pub(crate) fn gelu_backward_kernel(a: &[Value], out: &Meta) -> Result<Value, String> {
    let tanh = is_tanh(a, 2)?;
    zip(a, &[0, 1], out_dtype(out), |v| {
        gelu_backward(v[0], v[1], tanh)
    })
}

pub(crate) fn gelu_kernel(a: &[Value], out: &Meta) -> Result<Value, String> {
    let tanh = is_tanh(a, 1)?;
    zip(a, &[0], out_dtype(out), |v| gelu(v[0], tanh))
}

/// `clamp(self, min, max)`, NaN-propagating; at least one bound.
pub(crate) fn clamp(a: &[Value], out: &Meta) -> Result<Value, String> {
    let (lo, hi) = (opt_number(a, 1)?, opt_number(a, 2)?);
    if lo.is_none() && hi.is_none() {
        return Err("clamp needs min or max".into());
    }
    zip(a, &[0], out_dtype(out), |v| {
        let mut x = v[0];
        if let Some(l) = lo {
            x = nan_max(x, l);
        }
        if let Some(h) = hi {
            x = nan_min(x, h);
        }
        x
    })
}

/// `masked_fill(self, mask, value)`: the value rounded to a float `self`'s dtype first.
pub(crate) fn masked_fill(a: &[Value], _: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    let mask = tensor(a, 1)?.broadcast_to(&x.shape)?;
    let v = number(a, 2)?;
    let v = if x.dtype.is_float() {
        super::tensor::round_to(v, x.dtype)
    } else {
        v
    };
    let data = x
        .data
        .iter()
        .zip(&mask.data)
        .map(|(&e, &m)| if m != 0.0 { v } else { e })
        .collect();
    Ok(Value::Tensor(Tensor {
        shape: x.shape,
        dtype: DType::F64,
        data,
    }))
}

/// Casts (`convert_element_type`, `_to_copy`): the operand, rounded to the result dtype by
/// the caller.
pub(crate) fn cast(a: &[Value], _: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor(tensor(a, 0)?))
}

/// `copy(self, src)`: `src` broadcast to `self`'s shape.
pub(crate) fn copy(a: &[Value], out: &Meta) -> Result<Value, String> {
    let shape = ushape(out)?;
    Ok(Value::Tensor(tensor(a, 1)?.broadcast_to(&shape)?))
}

pub(crate) fn logical_not(a: &[Value], _: &Meta) -> Result<Value, String> {
    map_elements(a, |v| (v == 0.0) as u8 as f64)
}

pub(crate) fn isnan(a: &[Value], _: &Meta) -> Result<Value, String> {
    map_elements(a, |v| v.is_nan() as u8 as f64)
}

pub(crate) fn isinf(a: &[Value], _: &Meta) -> Result<Value, String> {
    map_elements(a, |v| v.is_infinite() as u8 as f64)
}

/// `bitwise_not`: logical not on bools, two's complement on integers.
pub(crate) fn bitwise_not(a: &[Value], _: &Meta) -> Result<Value, String> {
    let is_bool = tensor(a, 0)?.dtype == DType::Bool;
    map_elements(a, |v| {
        if is_bool {
            (v == 0.0) as u8 as f64
        } else {
            !(v as i64) as f64
        }
    })
}

pub(crate) fn relu(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else {
        x.max(0.0)
    }
}

pub(crate) fn sign(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub(crate) fn silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    #[test]
    fn erf_is_accurate() {
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (-2.0, -0.9953222650189527),
            (2.5, 0.999593047982555),
            (3.0, 0.9999779095030014),
        ] {
            assert!((super::erf(x) - want).abs() < 1e-14, "erf({x})");
        }
    }
}
