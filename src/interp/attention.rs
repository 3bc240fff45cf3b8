//! `matmul` (equal batch dims) and `scaled_dot_product_attention` (the math definition:
//! softmax(q·kᵀ·scale + mask)·v, where a bool mask keeps `true` entries, a float mask is
//! added, `is_causal` keeps the lower triangle, and a row with nothing left gives zeros, as
//! PyTorch's kernels do).

use super::tensor::{unravel, Tensor};
use super::ushape;
use super::value::*;
use crate::ir::DType;
use crate::ops::Meta;

fn sdpa(a: &[Value], shape: &[usize]) -> Result<Tensor, String> {
    let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
    let mask = opt_tensor(a, 3)?;
    if number(a, 4)? != 0.0 {
        return Err("dropout_p > 0 is random: not evaluated".into());
    }
    let causal = boolean(a, 5)?;
    let r = q.rank();
    let (l, e) = (q.shape[r - 2], q.shape[r - 1]);
    let (s, ev) = (k.shape[r - 2], v.shape[r - 1]);
    let scale = opt_number(a, 6)?.unwrap_or(1.0 / (e as f64).sqrt());
    let batch: Vec<usize> = q.shape[..r - 2].to_vec();
    let mut scores_shape = batch.clone();
    scores_shape.extend([l, s]);
    let mask = mask.map(|m| m.broadcast_to(&scores_shape)).transpose()?;
    let nb: usize = batch.iter().product();
    let mut out = Tensor::from_fn(shape, |_| 0.0);
    for b in 0..nb {
        let bi = unravel(b, &batch);
        let at = |t: &Tensor, i: usize, j: usize| {
            let mut idx = bi.clone();
            idx.extend([i, j]);
            t.get(&idx)
        };
        for i in 0..l {
            let mut row: Vec<f64> = (0..s)
                .map(|j| (0..e).map(|c| at(&q, i, c) * at(&k, j, c)).sum::<f64>() * scale)
                .collect();
            for (j, x) in row.iter_mut().enumerate() {
                if causal && j > i {
                    *x = f64::NEG_INFINITY;
                }
                if let Some(m) = &mask {
                    let mv = at(m, i, j);
                    if m.dtype == DType::Bool {
                        if mv == 0.0 {
                            *x = f64::NEG_INFINITY;
                        }
                    } else {
                        *x += mv;
                    }
                }
            }
            let mx = row.iter().fold(f64::NEG_INFINITY, |m, &x| {
                if m.is_nan() || x.is_nan() {
                    f64::NAN
                } else {
                    m.max(x)
                }
            });
            if mx == f64::NEG_INFINITY {
                continue; // fully masked row: zeros
            }
            let w: Vec<f64> = row.iter().map(|&x| (x - mx).exp()).collect();
            let sum: f64 = w.iter().sum();
            for c in 0..ev {
                let o = (0..s).map(|j| w[j] / sum * at(&v, j, c)).sum::<f64>();
                out.data[(b * l + i) * ev + c] = o;
            }
        }
    }
    Ok(out)
}

pub(super) fn eval(name: &str, a: &[Value], out: &Meta) -> Option<Result<Value, String>> {
    let r = match name {
        "matmul" => (|| {
            let (x, y) = (tensor(a, 0)?, tensor(a, 1)?);
            Ok(Value::Tensor(super::matmul::batched_mm(
                &x,
                &y,
                &ushape(out)?,
            )))
        })(),
        "scaled_dot_product_attention" => (|| Ok(Value::Tensor(sdpa(a, &ushape(out)?)?)))(),
        _ => return None,
    };
    Some(r)
}
