//! Kernels of the matrix multiplies (accumulated in `f64`) and convolutions.

use super::tensor::Tensor;
use super::ushape;
use super::value::*;
use crate::ops::Meta;

/// `[.., m, k] @ [.., k, n]` with equal batch dims.
pub(super) fn batched_mm(x: &Tensor, y: &Tensor, shape: &[usize]) -> Tensor {
    let r = x.rank();
    let k = x.shape[r - 1];
    let mut xi = vec![0; r];
    let mut yi = vec![0; r];
    Tensor::from_fn(shape, |idx| {
        xi.copy_from_slice(idx);
        yi.copy_from_slice(idx);
        let mut s = 0.0;
        for j in 0..k {
            xi[r - 1] = j;
            yi[r - 2] = j;
            s += x.get(&xi) * y.get(&yi);
        }
        s
    })
}

fn conv(a: &[Value], shape: &[usize]) -> Result<Tensor, String> {
    let (x, w) = (tensor(a, 0)?, tensor(a, 1)?);
    let bias = opt_tensor(a, 2)?;
    let (stride, padding, dilation) = (ints(a, 3)?, ints(a, 4)?, ints(a, 5)?);
    if boolean(a, 6)? {
        return Err("transposed convolution is not supported by the interpreter".into());
    }
    let groups = int(a, 8)?.max(1) as usize;
    let nd = x.rank() - 2;
    let pick = |v: &[i64], i: usize| {
        if v.len() == 1 {
            v[0]
        } else {
            v.get(i).copied().unwrap_or(0)
        }
    };
    let cin_g = w.shape[1];
    let cout_g = w.shape[0] / groups;
    let ksize: Vec<usize> = w.shape[2..].to_vec();
    let kn: usize = ksize.iter().product();
    Ok(Tensor::from_fn(shape, |o| {
        let (n, oc) = (o[0], o[1]);
        let g = oc / cout_g.max(1);
        let mut s = bias.as_ref().map_or(0.0, |b| b.data[oc]);
        for ic in 0..cin_g {
            'k: for kf in 0..kn {
                let kidx = super::tensor::unravel(kf, &ksize);
                let mut xi = vec![n, g * cin_g + ic];
                for i in 0..nd {
                    let p = o[2 + i] as i64 * pick(&stride, i) - pick(&padding, i)
                        + kidx[i] as i64 * pick(&dilation, i);
                    if p < 0 || p >= x.shape[2 + i] as i64 {
                        continue 'k;
                    }
                    xi.push(p as usize);
                }
                let mut wi = vec![oc, ic];
                wi.extend(&kidx);
                s += x.get(&xi) * w.get(&wi);
            }
        }
        s
    }))
}

/// Gradients of a (non-transposed) convolution: `(grad_input, grad_weight, grad_bias)`,
/// each `None` where `output_mask` says so.
pub(crate) fn convolution_backward(a: &[Value], _: &Meta) -> Result<Value, String> {
    let (g, x, w) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
    let (stride, padding, dilation) = (ints(a, 4)?, ints(a, 5)?, ints(a, 6)?);
    if boolean(a, 7)? {
        return Err("transposed convolution is not supported by the interpreter".into());
    }
    let groups = int(a, 9)?.max(1) as usize;
    let mask: Vec<bool> = list(a, 10)?
        .iter()
        .map(|v| matches!(v, Value::Bool(true)))
        .collect();
    let nd = x.rank() - 2;
    let pick = |v: &[i64], i: usize| {
        if v.len() == 1 {
            v[0]
        } else {
            v.get(i).copied().unwrap_or(0)
        }
    };
    let (cin_g, cout_g) = (w.shape[1], w.shape[0] / groups);
    let ksize: Vec<usize> = w.shape[2..].to_vec();
    let kn: usize = ksize.iter().product();
    let mut gx = x.map(|_| 0.0);
    let mut gw = w.map(|_| 0.0);
    let mut gb = Tensor::from_fn(&[w.shape[0]], |_| 0.0);
    let xs = super::tensor::strides(&x.shape);
    let ws = super::tensor::strides(&w.shape);
    for f in 0..g.numel() {
        let o = super::tensor::unravel(f, &g.shape);
        let (n, oc) = (o[0], o[1]);
        let gv = g.data[f];
        gb.data[oc] += gv;
        let grp = oc / cout_g.max(1);
        for ic in 0..cin_g {
            'k: for kf in 0..kn {
                let kidx = super::tensor::unravel(kf, &ksize);
                let mut xf = n * xs[0] + (grp * cin_g + ic) * xs[1];
                for i in 0..nd {
                    let p = o[2 + i] as i64 * pick(&stride, i) - pick(&padding, i)
                        + kidx[i] as i64 * pick(&dilation, i);
                    if p < 0 || p >= x.shape[2 + i] as i64 {
                        continue 'k;
                    }
                    xf += p as usize * xs[2 + i];
                }
                let wf = oc * ws[0] + ic * ws[1] + kf;
                gx.data[xf] += gv * w.data[wf];
                gw.data[wf] += gv * x.data[xf];
            }
        }
    }
    let pick_out = |t: Tensor, m: bool| if m { Value::Tensor(t) } else { Value::None };
    Ok(Value::Tuple(vec![
        pick_out(gx, mask.first() == Some(&true)),
        pick_out(gw, mask.get(1) == Some(&true)),
        pick_out(gb, mask.get(2) == Some(&true)),
    ]))
}

/// `mm`, `bmm`.
pub(crate) fn mm(a: &[Value], out: &Meta) -> Result<Value, String> {
    let (x, y) = (tensor(a, 0)?, tensor(a, 1)?);
    Ok(Value::Tensor(batched_mm(&x, &y, &ushape(out)?)))
}

/// `addmm`, `baddbmm`: `beta·self + alpha·(mat1 @ mat2)` (`self` ignored where `beta = 0`).
pub(crate) fn addmm(a: &[Value], out: &Meta) -> Result<Value, String> {
    let shape = ushape(out)?;
    let (x, y) = (tensor(a, 1)?, tensor(a, 2)?);
    let (beta, alpha) = (number(a, 3)?, number(a, 4)?);
    let mut p = batched_mm(&x, &y, &shape);
    let bias = tensor(a, 0)?.broadcast_to(&shape)?;
    for (v, &b) in p.data.iter_mut().zip(&bias.data) {
        *v = if beta == 0.0 {
            alpha * *v
        } else {
            beta * b + alpha * *v
        };
    }
    Ok(Value::Tensor(p))
}

pub(crate) fn convolution(a: &[Value], out: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor(conv(a, &ushape(out)?)?))
}
