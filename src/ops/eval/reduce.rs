//! Kernels of the reductions and normalisations, accumulated in `f64`.

use super::tensor::{unravel, Tensor};
use super::ushape;
use super::value::*;
use crate::ir::DType;
use crate::ops::Meta;

/// The reduced dims (`None` or `[]`: all) of `x`.
fn dims_of(x: &Tensor, ds: Option<Vec<i64>>) -> Result<Vec<usize>, String> {
    match ds {
        Some(ds) if !ds.is_empty() => ds.iter().map(|&d| dim(d, x.rank())).collect(),
        _ => Ok((0..x.rank()).collect()),
    }
}

/// Groups the elements of `x` by output position (reduced dims collapsed), in output order.
fn groups(x: &Tensor, dims: &[usize]) -> Vec<Vec<f64>> {
    let kept: Vec<usize> = (0..x.rank()).filter(|d| !dims.contains(d)).collect();
    let n_out: usize = kept.iter().map(|&d| x.shape[d]).product();
    let mut out = vec![Vec::new(); n_out];
    for (flat, &v) in x.data.iter().enumerate() {
        let idx = unravel(flat, &x.shape);
        let o = kept.iter().fold(0, |acc, &d| acc * x.shape[d] + idx[d]);
        out[o].push(v);
    }
    out
}

fn reduce_with(x: &Tensor, dims: &[usize], shape: Vec<usize>, f: impl Fn(&[f64]) -> f64) -> Tensor {
    let data = groups(x, dims).iter().map(|g| f(g)).collect();
    Tensor {
        shape,
        dtype: DType::F64,
        data,
    }
}

/// Applies `f` to every 1-d lane of `x` along `d`.
pub(crate) fn along(x: &Tensor, d: usize, f: impl Fn(&[f64]) -> Vec<f64>) -> Tensor {
    let mut out = x.map(|v| v);
    if x.rank() == 0 {
        out.data = f(&x.data);
        return out;
    }
    let n = x.shape[d];
    let inner: usize = x.shape[d + 1..].iter().product();
    let outer: usize = x.shape[..d].iter().product();
    for o in 0..outer {
        for i in 0..inner {
            let lane: Vec<f64> = (0..n).map(|k| x.data[(o * n + k) * inner + i]).collect();
            for (k, v) in f(&lane).into_iter().enumerate() {
                out.data[(o * n + k) * inner + i] = v;
            }
        }
    }
    out
}

pub(crate) fn max_of(g: &[f64]) -> f64 {
    g.iter().fold(f64::NEG_INFINITY, |m, &v| {
        if v.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(v)
        }
    })
}

pub(crate) fn min_of(g: &[f64]) -> f64 {
    g.iter().fold(f64::INFINITY, |m, &v| {
        if v.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.min(v)
        }
    })
}

/// Index of the first max (or min) element; NaN counts as the extreme.
fn arg_extreme(g: &[f64], max: bool) -> usize {
    let mut best = 0;
    for (i, &v) in g.iter().enumerate() {
        let b = g[best];
        if b.is_nan() {
            break;
        }
        if v.is_nan() || (max && v > b) || (!max && v < b) {
            best = i;
        }
    }
    best
}

fn softmax(lane: &[f64], log: bool, safe: bool) -> Vec<f64> {
    let m = max_of(lane);
    if safe && m == f64::NEG_INFINITY {
        return vec![0.0; lane.len()];
    }
    let e: Vec<f64> = lane.iter().map(|&v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    if log {
        lane.iter().map(|&v| v - m - s.ln()).collect()
    } else {
        e.iter().map(|&v| v / s).collect()
    }
}

fn var(g: &[f64], correction: f64) -> f64 {
    let n = g.len() as f64;
    let mean = g.iter().sum::<f64>() / n;
    g.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - correction).max(0.0)
}

/// A reduction of one group of elements.
pub(crate) type Reducer = fn(&[f64]) -> f64;

/// The kernel of a reduction `f` over `dim` (argument 1; `None` or `[]`: all dims);
/// `takes_dtype`: argument 3 is the accumulation dtype (`sum`, `mean`, `prod`).
pub(crate) fn reduction(
    f: Reducer,
    takes_dtype: bool,
) -> impl Fn(&[Value], &Meta) -> Result<Value, String> {
    move |a, out| {
        let x = tensor(a, 0)?;
        let explicit = match a.get(3) {
            Some(Value::Dtype(d)) if takes_dtype => Some(*d),
            _ => None,
        };
        let x = explicit.map_or(x.clone(), |d| x.cast(d));
        let dims = dims_of(&x, opt_ints(a, 1)?)?;
        Ok(Value::Tensor(reduce_with(&x, &dims, ushape(out)?, f)))
    }
}

pub(crate) fn sum_of(g: &[f64]) -> f64 {
    g.iter().sum()
}

pub(crate) fn mean_of(g: &[f64]) -> f64 {
    g.iter().sum::<f64>() / g.len() as f64
}

pub(crate) fn prod_of(g: &[f64]) -> f64 {
    g.iter().product()
}

pub(crate) fn any_of(g: &[f64]) -> f64 {
    g.iter().any(|&v| v != 0.0) as u8 as f64
}

pub(crate) fn all_of(g: &[f64]) -> f64 {
    g.iter().all(|&v| v != 0.0) as u8 as f64
}

pub(crate) fn argmax_of(g: &[f64]) -> f64 {
    arg_extreme(g, true) as f64
}

pub(crate) fn argmin_of(g: &[f64]) -> f64 {
    arg_extreme(g, false) as f64
}

pub(crate) fn logsumexp_of(g: &[f64]) -> f64 {
    let m = max_of(g);
    if m.is_infinite() {
        m
    } else {
        m + g.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    }
}

/// `max.dim` (`is_max`) and `min.dim`: values and indices.
pub(crate) fn extreme_dim(is_max: bool) -> impl Fn(&[Value], &Meta) -> Result<Value, String> {
    move |a, out| {
        let x = tensor(a, 0)?;
        let dims = vec![dim(int(a, 1)?, x.rank())?];
        let Meta::Tuple(parts) = out else {
            return Err("max.dim result is not a tuple".into());
        };
        let shape = ushape(&parts[0])?;
        let vals = reduce_with(&x, &dims, shape.clone(), |g| g[arg_extreme(g, is_max)]);
        let idx = reduce_with(&x, &dims, shape, |g| arg_extreme(g, is_max) as f64);
        Ok(Value::Tuple(vec![Value::Tensor(vals), Value::Tensor(idx)]))
    }
}

/// `var` and (`with_mean`) `var_mean`.
pub(crate) fn variance(with_mean: bool) -> impl Fn(&[Value], &Meta) -> Result<Value, String> {
    move |a, out| {
        let x = tensor(a, 0)?;
        let dims = dims_of(&x, opt_ints(a, 1)?)?;
        let c = opt_number(a, 2)?.unwrap_or(1.0);
        let shape = match out {
            Meta::Tuple(p) => ushape(&p[0])?,
            m => ushape(m)?,
        };
        let v = reduce_with(&x, &dims, shape.clone(), |g| var(g, c));
        Ok(if with_mean {
            let m = reduce_with(&x, &dims, shape, mean_of);
            Value::Tuple(vec![Value::Tensor(v), Value::Tensor(m)])
        } else {
            Value::Tensor(v)
        })
    }
}

pub(crate) fn cumsum(a: &[Value], _: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    let d = dim(int(a, 1)?, x.rank())?;
    let x = match a.get(2) {
        Some(Value::Dtype(dt)) => x.cast(*dt),
        _ => x,
    };
    Ok(Value::Tensor(along(&x, d, |lane| {
        let mut s = 0.0;
        lane.iter()
            .map(|v| {
                s += v;
                s
            })
            .collect()
    })))
}

/// `_softmax`, `_log_softmax` (`log`) and `_safe_softmax` (`safe`: a fully masked row gives
/// zeros).
pub(crate) fn softmax_kernel(
    log: bool,
    safe: bool,
) -> impl Fn(&[Value], &Meta) -> Result<Value, String> {
    move |a, _| {
        let x = tensor(a, 0)?;
        let d = dim(int(a, 1)?, x.rank())?;
        Ok(Value::Tensor(along(&x, d, |lane| softmax(lane, log, safe))))
    }
}

pub(crate) fn native_layer_norm(a: &[Value], out: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    let ns = ints(a, 1)?;
    let k = ns.len();
    let r = x.rank();
    let dims: Vec<usize> = (r - k..r).collect();
    let (w, b) = (opt_tensor(a, 2)?, opt_tensor(a, 3)?);
    let eps = number(a, 4)?;
    let Meta::Tuple(parts) = out else {
        return Err("layer_norm result is not a tuple".into());
    };
    let stat_shape = ushape(&parts[1])?;
    let mean = reduce_with(&x, &dims, stat_shape.clone(), mean_of);
    let rstd = reduce_with(&x, &dims, stat_shape, |g| 1.0 / (var(g, 0.0) + eps).sqrt());
    let inner: usize = x.shape[r - k..].iter().product();
    let w = w.map(|w| w.broadcast_to(&x.shape[r - k..])).transpose()?;
    let b = b.map(|b| b.broadcast_to(&x.shape[r - k..])).transpose()?;
    let y = Tensor {
        shape: x.shape.clone(),
        dtype: DType::F64,
        data: x
            .data
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (g, j) = (i / inner.max(1), i % inner.max(1));
                let mut y = (v - mean.data[g]) * rstd.data[g];
                if let Some(w) = &w {
                    y *= w.data[j];
                }
                if let Some(b) = &b {
                    y += b.data[j];
                }
                y
            })
            .collect(),
    };
    Ok(Value::Tuple(vec![
        Value::Tensor(y),
        Value::Tensor(mean),
        Value::Tensor(rstd),
    ]))
}
