//! Kernels of the attention family: `scaled_dot_product_attention` (the math definition:
//! softmax(q·kᵀ·scale + mask)·v, where a bool mask keeps `true` entries, a float mask is
//! added, `is_causal` keeps the lower triangle, and a row with nothing left gives zeros, as
//! PyTorch's kernels do), the device SDPA kernels' forwards and backwards (training), the
//! softmax backward and the phantom handles of the training rules. (`matmul` is
//! [`mm`](super::matmul::mm).)

use super::tensor::Tensor;
use super::ushape;
use super::value::*;
use crate::ir::DType;
use crate::ops::Meta;
use crate::target::Target;
use std::cell::RefCell;

thread_local! {
    static DROPOUT_UNIFORM: RefCell<Option<Tensor>> = const { RefCell::new(None) };
    static KERNEL_TARGET: RefCell<Option<Target>> = const { RefCell::new(None) };
}

/// Runs `f` with the target-neutral attention ops (`scaled_dot_product_attention`, `sdpa_fwd`,
/// `sdpa_bwd`) evaluated as the kernels they lower to on `target` compute them: on CUDA a
/// float mask goes to the memory-efficient kernel, which drops entries below about -2.36e38
/// (see `efficient_bias`). Without a target (the default) they are evaluated as the CPU
/// kernels compute them. `check-rules` evaluates each case for the target it is drawn for.
pub fn with_kernel_target<R>(t: Option<Target>, f: impl FnOnce() -> R) -> R {
    let old = KERNEL_TARGET.with(|d| d.replace(t));
    let r = f();
    KERNEL_TARGET.with(|d| *d.borrow_mut() = old);
    r
}

/// A neutral op's float mask as the current kernel target's kernel sees it.
fn target_bias(m: Option<Tensor>) -> Option<Tensor> {
    match KERNEL_TARGET.with(|d| *d.borrow()) {
        Some(Target::Cuda) => efficient_bias(m),
        _ => m,
    }
}

/// Runs `f` with `u` as the uniform draws (in [0, 1), one per element of the scores
/// `[B, H, L, S]`) that the SDPA training kernels with `dropout_p = p > 0` read: they keep the
/// weights where `u > p` and scale them by `1/(1-p)`, in the forward and in the backward alike
/// (the real kernels regenerate the forward's mask in the backward from the philox seed and
/// offset the forward returns). Without draws (the default), such a kernel is not evaluated.
/// `check-rules` sets them to the values of the `rand` a `:in-distribution` rule's left side
/// reads: a coupling under which both sides must be equal in value.
pub fn with_dropout_uniform<R>(u: Option<Tensor>, f: impl FnOnce() -> R) -> R {
    let old = DROPOUT_UNIFORM.with(|d| d.replace(u));
    let r = f();
    DROPOUT_UNIFORM.with(|d| *d.borrow_mut() = old);
    r
}

/// The dropout multipliers `keep / (1 - p)` of `n` score elements, `None` for `p = 0`.
fn dropout_scale(a: &[Value], i: usize, n: usize) -> Result<Option<Vec<f64>>, String> {
    let p = number(a, i)?;
    if p == 0.0 {
        return Ok(None);
    }
    if !(0.0..1.0).contains(&p) {
        return Err(format!("dropout_p {p} is not in [0, 1)"));
    }
    DROPOUT_UNIFORM.with(|d| match &*d.borrow() {
        Some(u) if u.numel() == n => Ok(Some(
            u.data
                .iter()
                .map(|&x| if x > p { 1.0 / (1.0 - p) } else { 0.0 })
                .collect(),
        )),
        Some(u) => Err(format!(
            "dropout draws of shape {:?} do not cover the {n} scores",
            u.shape
        )),
        None => Err("dropout_p > 0 is random: evaluated only with given uniform draws (a coupling, as check-rules does for `:in-distribution` rules)".into()),
    })
}

/// Number of score elements `B·H·L·S` of q [.., L, E] and k [.., S, E].
fn n_scores(q: &Tensor, k: &Tensor) -> usize {
    let r = q.rank();
    q.shape[..r - 1].iter().product::<usize>() * k.shape[r - 2]
}

/// `aten.scaled_dot_product_attention`: the training kernels' forward output.
fn sdpa(a: &[Value]) -> Result<Tensor, String> {
    let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
    no_dropout(a, 4)?;
    let mask = target_bias(opt_tensor(a, 3)?);
    Ok(train_forward(
        &q,
        &k,
        &v,
        mask.as_ref(),
        boolean(a, 5)?,
        opt_number(a, 6)?,
        None,
    )?
    .0)
}

/// `aten.scaled_dot_product_attention`: the training kernels' forward output.
pub(crate) fn scaled_dot_product_attention(a: &[Value], _: &Meta) -> Result<Value, String> {
    sdpa(a).map(Value::Tensor)
}

/// Attention weights of q [.., L, E] and k [.., S, E]: `softmax(q·kᵀ·scale + mask)` per row
/// (a bool mask keeps `true`), with each row's logsumexp. A row with nothing left has
/// weights `nan_rows` (NaN as the decomposed softmax gives, or 0 as fused kernels give) and a
/// logsumexp of -inf.
struct Weights {
    batch: Vec<usize>,
    l: usize,
    s: usize,
    /// `[nb, l, s]` row-major.
    p: Vec<f64>,
    /// `[nb, l]`.
    lse: Vec<f64>,
}

fn weights(
    q: &Tensor,
    k: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: f64,
    masked_row: f64,
) -> Result<Weights, String> {
    let r = q.rank();
    let (l, s) = (q.shape[r - 2], k.shape[r - 2]);
    let batch = q.shape[..r - 2].to_vec();
    let nb: usize = batch.iter().product();
    let x = scores(q, k, mask, causal, scale)?;
    let mut p = vec![0.0; nb * l * s];
    let mut lse = vec![f64::NEG_INFINITY; nb * l];
    for (row, out) in p.chunks_mut(s.max(1)).enumerate() {
        let xs = &x[row * s..(row + 1) * s];
        let mx = xs.iter().fold(f64::NEG_INFINITY, |m, &v| {
            if m.is_nan() || v.is_nan() {
                f64::NAN
            } else {
                m.max(v)
            }
        });
        if mx == f64::NEG_INFINITY {
            out.iter_mut().for_each(|v| *v = masked_row);
            continue;
        }
        let w: Vec<f64> = xs.iter().map(|&v| (v - mx).exp()).collect();
        let sum: f64 = w.iter().sum();
        for (o, v) in out.iter_mut().zip(&w) {
            *o = v / sum;
        }
        lse[row] = mx + sum.ln();
    }
    Ok(Weights {
        batch,
        l,
        s,
        p,
        lse,
    })
}

/// The masked, scaled scores `q·kᵀ·scale + mask` (`-inf` where a bool mask or causality
/// drops an entry), `[nb, l, s]` row-major.
fn scores(
    q: &Tensor,
    k: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: f64,
) -> Result<Vec<f64>, String> {
    let r = q.rank();
    let (l, e, s) = (q.shape[r - 2], q.shape[r - 1], k.shape[r - 2]);
    let mut scores_shape = q.shape[..r - 2].to_vec();
    scores_shape.extend([l, s]);
    let nb: usize = q.shape[..r - 2].iter().product();
    let mask = mask.map(|m| m.broadcast_to(&scores_shape)).transpose()?;
    let mut out = vec![0.0; nb * l * s];
    for b in 0..nb {
        for i in 0..l {
            for j in 0..s {
                let mut x = (0..e)
                    .map(|c| q.data[(b * l + i) * e + c] * k.data[(b * s + j) * e + c])
                    .sum::<f64>()
                    * scale;
                if causal && j > i {
                    x = f64::NEG_INFINITY;
                }
                if let Some(m) = &mask {
                    let mv = m.data[(b * l + i) * s + j];
                    if m.dtype == DType::Bool {
                        if mv == 0.0 {
                            x = f64::NEG_INFINITY;
                        }
                    } else {
                        x += mv;
                    }
                }
                out[(b * l + i) * s + j] = x;
            }
        }
    }
    Ok(out)
}

/// `P ⊙ (dP − rowsum(dP ⊙ P))`, the gradient of the scores from that of the weights.
fn scores_grad(w: &Weights, dp: &[f64]) -> Vec<f64> {
    let s = w.s;
    let mut ds = vec![0.0; w.p.len()];
    for row in 0..w.p.len() / s.max(1) {
        let (p, g) = (&w.p[row * s..(row + 1) * s], &dp[row * s..(row + 1) * s]);
        let d: f64 = p.iter().zip(g).map(|(a, b)| a * b).sum();
        for j in 0..s {
            ds[row * s + j] = p[j] * (g[j] - d);
        }
    }
    ds
}

fn shaped(batch: &[usize], tail: [usize; 2], data: Vec<f64>, dtype: DType) -> Tensor {
    let mut shape = batch.to_vec();
    shape.extend(tail);
    Tensor::new(shape, dtype, data)
}

/// Forward of the training kernels: `(out, logsumexp)`, fully masked rows giving zeros.
fn train_forward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: Option<f64>,
    drop: Option<&[f64]>,
) -> Result<(Tensor, Weights), String> {
    let e = q.shape[q.rank() - 1];
    let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
    let w = weights(q, k, mask, causal, scale, 0.0)?;
    let ev = v.shape[v.rank() - 1];
    let (l, s) = (w.l, w.s);
    let nb: usize = w.batch.iter().product();
    let mut out = vec![0.0; nb * l * ev];
    for b in 0..nb {
        for i in 0..l {
            for j in 0..s {
                let z = drop.map_or(1.0, |z| z[(b * l + i) * s + j]);
                let pij = w.p[(b * l + i) * s + j] * z;
                for c in 0..ev {
                    out[(b * l + i) * ev + c] += pij * v.data[(b * s + j) * ev + c];
                }
            }
        }
    }
    Ok((shaped(&w.batch, [l, ev], out, q.dtype), w))
}

/// Backward of the training kernels: `(dq, dk, dv, d_mask_unreduced)`. Like the kernels, it
/// recomputes the weights as `exp(scores - logsumexp)` (not `exp(scores - max) / sum`) and
/// takes `D = rowsum(dO ⊙ O)` from the output: in a row whose mask is all finfo.min the
/// logsumexp rounds to finfo.min, and the weights come out 1 instead of 1/S, as they do in
/// the kernels. (The logsumexp is recomputed in f64
/// rather than read from the forward's rounded output, so that ordinary rows carry no more
/// rounding than the kernels' own.)
#[allow(clippy::too_many_arguments)]
fn train_backward(
    g: &Tensor,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: Option<f64>,
    drop: Option<&[f64]>,
) -> Result<(Tensor, Tensor, Tensor, Vec<f64>), String> {
    let z = |i: usize| drop.map_or(1.0, |z| z[i]);
    let e = q.shape[q.rank() - 1];
    let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
    let mut w = weights(q, k, mask, causal, scale, 0.0)?;
    let ev = v.shape[v.rank() - 1];
    let (l, s) = (w.l, w.s);
    let nb: usize = w.batch.iter().product();
    // D_i = rowsum(dO ⊙ O), with O the forward's (correctly normalised) output.
    let mut d_row = vec![0.0; nb * l];
    for (row, d) in d_row.iter_mut().enumerate() {
        let b = row / l.max(1);
        for c in 0..ev {
            let o: f64 = (0..s)
                .map(|j| w.p[row * s + j] * z(row * s + j) * v.data[(b * s + j) * ev + c])
                .sum();
            *d += g.data[row * ev + c] * o;
        }
    }
    {
        let x = scores(q, k, mask, causal, scale)?;
        for (row, chunk) in w.p.chunks_mut(s.max(1)).enumerate() {
            let m = w.lse[row];
            for (j, p) in chunk.iter_mut().enumerate() {
                *p = if m == f64::NEG_INFINITY {
                    0.0
                } else {
                    (x[row * s + j] - m).exp()
                };
            }
        }
    }
    let mut dp = vec![0.0; nb * l * s];
    let mut dv = vec![0.0; nb * s * ev];
    for b in 0..nb {
        for i in 0..l {
            for j in 0..s {
                let zij = z((b * l + i) * s + j);
                let pij = w.p[(b * l + i) * s + j] * zij;
                let mut acc = 0.0;
                for c in 0..ev {
                    let gic = g.data[(b * l + i) * ev + c];
                    acc += gic * v.data[(b * s + j) * ev + c];
                    dv[(b * s + j) * ev + c] += pij * gic;
                }
                dp[(b * l + i) * s + j] = acc * zij;
            }
        }
    }
    // dS = P ⊙ (dP − D), as the kernels compute it.
    let ds: Vec<f64> = (0..w.p.len())
        .map(|i| w.p[i] * (dp[i] - d_row[i / s.max(1)]))
        .collect();
    let mut dq = vec![0.0; nb * l * e];
    let mut dk = vec![0.0; nb * s * e];
    for b in 0..nb {
        for i in 0..l {
            for j in 0..s {
                let d = ds[(b * l + i) * s + j] * scale;
                for c in 0..e {
                    dq[(b * l + i) * e + c] += d * k.data[(b * s + j) * e + c];
                    dk[(b * s + j) * e + c] += d * q.data[(b * l + i) * e + c];
                }
            }
        }
    }
    let dt = q.dtype;
    Ok((
        shaped(&w.batch, [l, e], dq, dt),
        shaped(&w.batch, [s, e], dk, dt),
        shaped(&w.batch, [s, ev], dv, dt),
        ds,
    ))
}

/// PyTorch's CPU flash kernel refuses dropout ("Currently do not support dropout > 0").
fn no_cpu_dropout(a: &[Value], i: usize) -> Result<(), String> {
    if number(a, i)? != 0.0 {
        return Err("the CPU flash attention kernel does not support dropout_p > 0".into());
    }
    Ok(())
}

fn no_dropout(a: &[Value], i: usize) -> Result<(), String> {
    if number(a, i)? != 0.0 {
        return Err("dropout_p > 0 is random: not evaluated".into());
    }
    Ok(())
}

pub(crate) fn softmax_backward_data(a: &[Value], _: &Meta) -> Result<Value, String> {
    let (g, y) = (tensor(a, 0)?, tensor(a, 1)?);
    let d = dim(int(a, 2)?, g.rank())?;
    let gy = Tensor::new(
        g.shape.clone(),
        DType::F64,
        g.data.iter().zip(&y.data).map(|(a, b)| a * b).collect(),
    );
    let sums = super::reduce::along(&gy, d, |lane| {
        let t: f64 = lane.iter().sum();
        vec![t; lane.len()]
    });
    let data = (0..g.numel())
        .map(|i| y.data[i] * (g.data[i] - sums.data[i]))
        .collect();
    Ok(Value::Tensor(Tensor::new(
        g.shape.clone(),
        DType::F64,
        data,
    )))
}

pub(crate) fn attention_weights(a: &[Value], _: &Meta) -> Result<Value, String> {
    let (q, k) = (tensor(a, 0)?, tensor(a, 1)?);
    let m = opt_tensor(a, 2)?;
    let w = weights(&q, &k, m.as_ref(), false, number(a, 3)?, f64::NAN)?;
    Ok(Value::Tensor(shaped(&w.batch, [w.l, w.s], w.p, q.dtype)))
}

pub(crate) fn keep_mask(a: &[Value], _: &Meta) -> Result<Value, String> {
    let (c, fill) = (tensor(a, 0)?, tensor(a, 2)?);
    let f = fill.data[0];
    let data = c
        .data
        .iter()
        .map(|&x| if x != 0.0 { 0.0 } else { f })
        .collect();
    Ok(Value::Tensor(Tensor::new(
        c.shape.clone(),
        fill.dtype,
        data,
    )))
}

pub(crate) fn attention_scores_grad(a: &[Value], _: &Meta) -> Result<Value, String> {
    let (g, q, k) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
    let m = opt_tensor(a, 3)?;
    let scale = number(a, 4)?;
    let w = weights(&q, &k, m.as_ref(), false, scale, f64::NAN)?;
    let ds: Vec<f64> = scores_grad(&w, &g.data).iter().map(|x| x * scale).collect();
    Ok(Value::Tensor(shaped(&w.batch, [w.l, w.s], ds, q.dtype)))
}

pub(crate) fn flash_attention_for_cpu(a: &[Value], _: &Meta) -> Result<Value, String> {
    no_cpu_dropout(a, 3)?;
    let m = opt_tensor(a, 5)?;
    let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
    let (o, w) = train_forward(
        &q,
        &k,
        &v,
        m.as_ref(),
        boolean(a, 4)?,
        opt_number(a, 6)?,
        None,
    )?;
    let lse = Tensor::new(q.shape[..3].to_vec(), DType::F64, w.lse);
    Ok(Value::Tuple(vec![Value::Tensor(o), Value::Tensor(lse)]))
}

pub(crate) fn flash_attention_for_cpu_backward(a: &[Value], _: &Meta) -> Result<Value, String> {
    no_cpu_dropout(a, 6)?;
    let m = opt_tensor(a, 8)?;
    let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
    let (dq, dk, dv, _) = train_backward(
        &g,
        &q,
        &k,
        &v,
        m.as_ref(),
        boolean(a, 7)?,
        opt_number(a, 9)?,
        None,
    )?;
    Ok(Value::Tuple(vec![
        Value::Tensor(dq),
        Value::Tensor(dk),
        Value::Tensor(dv),
    ]))
}

/// The float attention bias as CUDA's memory-efficient kernel sees it: it scales the scores
/// by log2(e) in float32 before exponentiating, so an entry below about -2.36e38 (f32's
/// finfo.min among them) overflows to -inf and drops out; a row with only such entries comes
/// out 0 in the forward (logsumexp -inf) and gives nothing in the backward, where the
/// decomposed softmax has uniform weights (measured on an H100:
/// experiments/gpu_fully_masked_rows.py). Finite scores are absorbed by such an entry in
/// float32, so the bias alone decides it.
fn efficient_bias(m: Option<Tensor>) -> Option<Tensor> {
    m.map(|m| {
        if m.dtype == DType::Bool {
            return m;
        }
        m.map(|x| {
            if ((x as f32) * std::f32::consts::LOG2_E).is_infinite() && x < 0.0 {
                f64::NEG_INFINITY
            } else {
                x
            }
        })
    })
}

pub(crate) fn efficient_attention(a: &[Value], out: &Meta) -> Result<Value, String> {
    let m = efficient_bias(opt_tensor(a, 3)?);
    let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
    let drop = dropout_scale(a, 5, n_scores(&q, &k))?;
    let (o, w) = train_forward(
        &q,
        &k,
        &v,
        m.as_ref(),
        boolean(a, 6)?,
        opt_number(a, 7)?,
        drop.as_deref(),
    )?;
    let len = match out {
        Meta::Tuple(p) => ushape(&p[1])?[2],
        _ => return Err("efficient attention returns a tuple".into()),
    };
    let (bh, l) = (q.shape[0] * q.shape[1], q.shape[2]);
    let lse = (0..bh * len)
        .map(|i| {
            if i % len < l {
                w.lse[i / len * l + i % len]
            } else {
                0.0
            }
        })
        .collect();
    let lse = Tensor::new(vec![q.shape[0], q.shape[1], len], DType::F32, lse);
    let zero = || Value::Tensor(Tensor::scalar(0.0, DType::I64));
    Ok(Value::Tuple(vec![
        Value::Tensor(o),
        Value::Tensor(lse),
        zero(),
        zero(),
    ]))
}

pub(crate) fn efficient_attention_backward(a: &[Value], out: &Meta) -> Result<Value, String> {
    let m = efficient_bias(opt_tensor(a, 4)?);
    let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
    let drop = dropout_scale(a, 9, n_scores(&q, &k))?;
    let (dq, dk, dv, ds) = train_backward(
        &g,
        &q,
        &k,
        &v,
        m.as_ref(),
        boolean(a, 11)?,
        opt_number(a, 12)?,
        drop.as_deref(),
    )?;
    let bias = match (out, &m) {
        (Meta::Tuple(p), Some(m)) if matches!(p[3], Meta::Tensor(_)) => {
            let full: Vec<usize> = q.shape[..3].iter().copied().chain([k.shape[2]]).collect();
            if m.shape != full {
                return Err("the gradient of a broadcast attn_bias is not evaluated".into());
            }
            Value::Tensor(Tensor::new(full, q.dtype, ds))
        }
        _ => Value::None,
    };
    Ok(Value::Tuple(vec![
        Value::Tensor(dq),
        Value::Tensor(dk),
        Value::Tensor(dv),
        bias,
    ]))
}

/// `sdpa_fwd(q, k, v, attn_mask, dropout_p, scale)`, the target-neutral training forward:
/// `(out, logsumexp)`, what every device kernel computes (dropout from the given draws).
pub(crate) fn sdpa_fwd(a: &[Value], _: &Meta) -> Result<Value, String> {
    let m = target_bias(opt_tensor(a, 3)?);
    let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
    let drop = dropout_scale(a, 4, n_scores(&q, &k))?;
    let (o, w) = train_forward(
        &q,
        &k,
        &v,
        m.as_ref(),
        false,
        Some(number(a, 5)?),
        drop.as_deref(),
    )?;
    let lse = Tensor::new(q.shape[..3].to_vec(), DType::F64, w.lse);
    Ok(Value::Tuple(vec![Value::Tensor(o), Value::Tensor(lse)]))
}

/// `sdpa_bwd(grad_out, q, k, v, attn_mask, fwd, dropout_p, scale)`, the target-neutral
/// training backward: `(grad_q, grad_k, grad_v)` as the kernels compute them (the weights
/// recomputed from the logsumexp, see `train_backward`).
pub(crate) fn sdpa_bwd(a: &[Value], _: &Meta) -> Result<Value, String> {
    let m = target_bias(opt_tensor(a, 4)?);
    let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
    let drop = dropout_scale(a, 6, n_scores(&q, &k))?;
    let scale = Some(number(a, 7)?);
    let (dq, dk, dv, _) =
        train_backward(&g, &q, &k, &v, m.as_ref(), false, scale, drop.as_deref())?;
    Ok(Value::Tuple(vec![
        Value::Tensor(dq),
        Value::Tensor(dk),
        Value::Tensor(dv),
    ]))
}

/// `sdpa_causal_fwd(q, k, v, dropout_p, scale)`: [`sdpa_fwd`] with SDPA's causal mask
/// (`is_causal=True`: key `j` kept for query `i` where `j <= i`) and no mask tensor.
pub(crate) fn sdpa_causal_fwd(a: &[Value], _: &Meta) -> Result<Value, String> {
    let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
    let drop = dropout_scale(a, 3, n_scores(&q, &k))?;
    let (o, w) = train_forward(&q, &k, &v, None, true, Some(number(a, 4)?), drop.as_deref())?;
    let lse = Tensor::new(q.shape[..3].to_vec(), DType::F64, w.lse);
    Ok(Value::Tuple(vec![Value::Tensor(o), Value::Tensor(lse)]))
}

/// `sdpa_causal_bwd(grad_out, q, k, v, fwd, dropout_p, scale)`: [`sdpa_bwd`] with SDPA's
/// causal mask.
pub(crate) fn sdpa_causal_bwd(a: &[Value], _: &Meta) -> Result<Value, String> {
    let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
    let drop = dropout_scale(a, 5, n_scores(&q, &k))?;
    let scale = Some(number(a, 6)?);
    let (dq, dk, dv, _) = train_backward(&g, &q, &k, &v, None, true, scale, drop.as_deref())?;
    Ok(Value::Tuple(vec![
        Value::Tensor(dq),
        Value::Tensor(dk),
        Value::Tensor(dv),
    ]))
}

/// CUDA's `_scaled_dot_product_flash_attention(q, k, v, dropout_p, is_causal,
/// return_debug_mask, scale)`: `(out, logsumexp, cum_seq_q, cum_seq_k, max_q, max_k,
/// rng_state, unused, debug_attn_mask)`, the sequence bookkeeping as its meta function gives
/// it (no cumulative lengths for dense inputs, the RNG state as zeros, an empty debug mask).
pub(crate) fn cuda_flash_attention(a: &[Value], _: &Meta) -> Result<Value, String> {
    let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
    let drop = dropout_scale(a, 3, n_scores(&q, &k))?;
    let (o, w) = train_forward(
        &q,
        &k,
        &v,
        None,
        boolean(a, 4)?,
        opt_number(a, 6)?,
        drop.as_deref(),
    )?;
    let lse = Tensor::new(q.shape[..3].to_vec(), DType::F32, w.lse);
    let (l, s) = (q.shape[2] as i64, k.shape[2] as i64);
    Ok(Value::Tuple(vec![
        Value::Tensor(o),
        Value::Tensor(lse),
        Value::None,
        Value::None,
        Value::Int(l),
        Value::Int(s),
        Value::Tensor(Tensor::new(vec![2], DType::I64, vec![0.0, 0.0])),
        Value::Tensor(Tensor::scalar(0.0, DType::I64)),
        Value::Tensor(Tensor::new(vec![0], q.dtype, vec![])),
    ]))
}

/// CUDA's `_scaled_dot_product_flash_attention_backward(grad_out, q, k, v, out, logsumexp,
/// cum_seq_q, cum_seq_k, max_q, max_k, dropout_p, is_causal, philox_seed, philox_offset,
/// scale)`: `(dq, dk, dv)`, recomputed like the other kernels' backwards.
pub(crate) fn cuda_flash_attention_backward(a: &[Value], _: &Meta) -> Result<Value, String> {
    let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
    let drop = dropout_scale(a, 10, n_scores(&q, &k))?;
    let (dq, dk, dv, _) = train_backward(
        &g,
        &q,
        &k,
        &v,
        None,
        boolean(a, 11)?,
        opt_number(a, 14)?,
        drop.as_deref(),
    )?;
    Ok(Value::Tuple(vec![
        Value::Tensor(dq),
        Value::Tensor(dk),
        Value::Tensor(dv),
    ]))
}
