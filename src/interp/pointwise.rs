//! Elementwise ops: operands are converted to the promoted dtype, broadcast, combined in `f64`.

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

const OTHERS: &[&str] = &[
    "add",
    "sub",
    "rsub",
    "mul",
    "div",
    "pow",
    "maximum",
    "minimum",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "logical_and",
    "logical_or",
    "logical_xor",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "fma",
    "where",
    "tanh_backward",
    "sigmoid_backward",
    "threshold_backward",
    "gelu_backward",
    "gelu",
    "clamp",
    "masked_fill",
    "convert_element_type",
    "_to_copy",
    "copy",
    "logical_not",
    "isnan",
    "isinf",
    "bitwise_not",
];

fn unary(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "neg" => |x| -x,
        "abs" => f64::abs,
        "relu" => |x| if x.is_nan() { x } else { x.max(0.0) },
        "sign" => |x| {
            if x.is_nan() {
                x
            } else if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        },
        "floor" => f64::floor,
        "ceil" => f64::ceil,
        "round" => f64::round_ties_even,
        "trunc" => f64::trunc,
        "exp" => f64::exp,
        "exp2" => f64::exp2,
        "log" => f64::ln,
        "log2" => f64::log2,
        "log1p" => f64::ln_1p,
        "expm1" => f64::exp_m1,
        "tanh" => f64::tanh,
        "sigmoid" => |x| 1.0 / (1.0 + (-x).exp()),
        "rsqrt" => |x| 1.0 / x.sqrt(),
        "sqrt" => f64::sqrt,
        "reciprocal" => |x| 1.0 / x,
        "erf" => erf,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "silu" => |x| x / (1.0 + (-x).exp()),
        _ => return None,
    })
}

pub(super) fn eval(name: &str, a: &[Value], out: &Meta) -> Option<Result<Value, String>> {
    if !OTHERS.contains(&name) && unary(name).is_none() {
        return None;
    }
    let out_dt = match out {
        Meta::Tensor(t) => t.dtype,
        _ => DType::F64,
    };
    let r = (|| -> Result<Value, String> {
        let c2 = || common(a, &[0, 1]);
        Ok(match name {
            "add" | "sub" | "rsub" => {
                let alpha = number(a, 2)?;
                zip(a, &[0, 1], out_dt, |v| match name {
                    "add" => v[0] + alpha * v[1],
                    "sub" => v[0] - alpha * v[1],
                    _ => v[1] - alpha * v[0],
                })?
            }
            "mul" => zip(a, &[0, 1], out_dt, |v| v[0] * v[1])?,
            "div" => {
                let mode = opt_str(a, 2)?.map(str::to_string);
                let dt = if mode.is_some() { out_dt } else { c2()? };
                let dt = if dt.is_float() { dt } else { DType::F64 };
                zip(a, &[0, 1], dt, |v| {
                    let q = v[0] / v[1];
                    match mode.as_deref() {
                        Some("trunc") => q.trunc(),
                        Some("floor") => q.floor(),
                        _ => q,
                    }
                })?
            }
            "pow" => zip(a, &[0, 1], out_dt, |v| v[0].powf(v[1]))?,
            "maximum" => zip(a, &[0, 1], out_dt, |v| nan_max(v[0], v[1]))?,
            "minimum" => zip(a, &[0, 1], out_dt, |v| nan_min(v[0], v[1]))?,
            "bitwise_and" | "bitwise_or" | "bitwise_xor" => {
                if out_dt.is_float() {
                    return Err("bitwise ops need integer or bool tensors".into());
                }
                zip(a, &[0, 1], out_dt, |v| {
                    let (x, y) = (bits(v[0]), bits(v[1]));
                    (match name {
                        "bitwise_and" => x & y,
                        "bitwise_or" => x | y,
                        _ => x ^ y,
                    }) as f64
                })?
            }
            "logical_and" | "logical_or" | "logical_xor" => zip(a, &[0, 1], c2()?, |v| {
                let (x, y) = (v[0] != 0.0, v[1] != 0.0);
                (match name {
                    "logical_and" => x && y,
                    "logical_or" => x || y,
                    _ => x ^ y,
                }) as u8 as f64
            })?,
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" => zip(a, &[0, 1], c2()?, |v| {
                let (x, y) = (v[0], v[1]);
                (match name {
                    "eq" => x == y,
                    "ne" => x != y,
                    "lt" => x < y,
                    "le" => x <= y,
                    "gt" => x > y,
                    _ => x >= y,
                }) as u8 as f64
            })?,
            "fma" => zip(a, &[0, 1, 2], out_dt, |v| v[0] * v[1] + v[2])?,
            "where" => {
                let cond = tensor(a, 0)?;
                let vals = operands(a, &[1, 2], out_dt)?;
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
                Value::Tensor(Tensor {
                    shape,
                    dtype: DType::F64,
                    data,
                })
            }
            "tanh_backward" => zip(a, &[0, 1], out_dt, |v| v[0] * (1.0 - v[1] * v[1]))?,
            "sigmoid_backward" => zip(a, &[0, 1], out_dt, |v| v[0] * v[1] * (1.0 - v[1]))?,
            "threshold_backward" => {
                let t = number(a, 2)?;
                zip(a, &[0, 1], out_dt, |v| if v[1] <= t { 0.0 } else { v[0] })?
            }
            "gelu_backward" => {
                let tanh = is_tanh(a, 2)?;
                zip(a, &[0, 1], out_dt, |v| gelu_backward(v[0], v[1], tanh))?
            }
            "gelu" => {
                let tanh = is_tanh(a, 1)?;
                zip(a, &[0], out_dt, |v| gelu(v[0], tanh))?
            }
            "clamp" => {
                let (lo, hi) = (opt_number(a, 1)?, opt_number(a, 2)?);
                if lo.is_none() && hi.is_none() {
                    return Err("clamp needs min or max".into());
                }
                zip(a, &[0], out_dt, |v| {
                    let mut x = v[0];
                    if let Some(l) = lo {
                        x = nan_max(x, l);
                    }
                    if let Some(h) = hi {
                        x = nan_min(x, h);
                    }
                    x
                })?
            }
            "masked_fill" => {
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
                Value::Tensor(Tensor {
                    shape: x.shape,
                    dtype: DType::F64,
                    data,
                })
            }
            "convert_element_type" | "_to_copy" => Value::Tensor(tensor(a, 0)?),
            "copy" => {
                let shape = ushape(out)?;
                Value::Tensor(tensor(a, 1)?.broadcast_to(&shape)?)
            }
            "logical_not" | "isnan" | "isinf" | "bitwise_not" => {
                let x = tensor(a, 0)?;
                let is_bool = x.dtype == DType::Bool;
                Value::Tensor(x.map(|v| match name {
                    "logical_not" => (v == 0.0) as u8 as f64,
                    "isnan" => v.is_nan() as u8 as f64,
                    "isinf" => v.is_infinite() as u8 as f64,
                    _ if is_bool => (v == 0.0) as u8 as f64,
                    _ => !(v as i64) as f64,
                }))
            }
            _ => {
                let f = unary(name).ok_or("not a pointwise op")?;
                zip(a, &[0], out_dt, |v| f(v[0]))?
            }
        })
    })();
    Some(r)
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
