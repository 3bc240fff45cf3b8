//! Matrix multiplies and convolutions. Their kernels: `eval/matmul.rs`.

use super::eval::matmul as k;
use super::meta::*;
use super::pointwise::{broadcast, result_type};
use super::{OpClass, OpTable};

pub(super) fn register(t: &mut OpTable) {
    use OpClass::Matmul;
    t.def_op(
        "mm",
        Matmul,
        None,
        &[("aten.mm.default", "(Tensor self, Tensor mat2)")],
        |a| {
            let (x, y) = (tensor(a, 0)?, tensor(a, 1)?);
            mm_shape(x, y, 2).and_then(|s| tensor_out(s, same_dtype(x, y)?))
        },
    )
    .eval(k::mm);
    t.def_op(
        "bmm",
        Matmul,
        None,
        &[("aten.bmm.default", "(Tensor self, Tensor mat2)")],
        |a| {
            let (x, y) = (tensor(a, 0)?, tensor(a, 1)?);
            mm_shape(x, y, 3).and_then(|s| tensor_out(s, same_dtype(x, y)?))
        },
    )
    .eval(k::mm);
    t.def_op(
        "addmm",
        Matmul,
        None,
        &[(
            "aten.addmm.default",
            "(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1)",
        )],
        |a| add_mm(a, 2),
    )
    .eval(k::addmm);
    t.def_op(
        "baddbmm",
        Matmul,
        None,
        &[(
            "aten.baddbmm.default",
            "(Tensor self, Tensor batch1, Tensor batch2, *, Scalar beta=1, Scalar alpha=1)",
        )],
        |a| add_mm(a, 3),
    )
    .eval(k::addmm);
    t.def_op(
        "convolution",
        Matmul,
        None,
        &[(
            "aten.convolution.default",
            "(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, SymInt[] dilation, bool transposed, SymInt[] output_padding, SymInt groups)",
        )],
        infer_conv,
    )
.eval(k::convolution);
    t.def_op(
        "convolution_backward",
        Matmul,
        None,
        &[(
            "aten.convolution_backward.default",
            "(Tensor grad_output, Tensor input, Tensor weight, SymInt[]? bias_sizes, SymInt[] stride, SymInt[] padding, SymInt[] dilation, bool transposed, SymInt[] output_padding, SymInt groups, bool[] output_mask)",
        )],
        |a| {
            let (g, x, w) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
            let mask = match a.get(10) {
                Some(Meta::List(m)) if m.len() == 3 => m.iter().map(|b| matches!(b, Meta::Bool(true))).collect::<Vec<_>>(),
                _ => return Err("convolution_backward needs a 3-element output_mask".into()),
            };
            let bias = opt_ints(a, 3)?.unwrap_or_else(|| vec![w.shape[0]]);
            let outs = [x.shape.clone(), w.shape.clone(), bias];
            Ok(Meta::Tuple(
                outs.into_iter()
                    .zip(mask)
                    .map(|(s, m)| if m { Meta::Tensor(TMeta { shape: s, dtype: g.dtype }) } else { Meta::None })
                    .collect(),
            ))
        },
    )
.eval(k::convolution_backward);
}

fn same_dtype(x: &TMeta, y: &TMeta) -> Result<crate::ir::DType, String> {
    if x.dtype == crate::ir::DType::Bool || y.dtype == crate::ir::DType::Bool {
        return Err("matmul is not defined on bool tensors".into());
    }
    if x.dtype != y.dtype {
        return Err(format!(
            "matmul operands have dtypes {} and {}",
            x.dtype, y.dtype
        ));
    }
    Ok(x.dtype)
}

/// `[.., m, k] @ [.., k, n]` for rank-`rank` operands with equal batch dims.
pub(crate) fn mm_shape(x: &TMeta, y: &TMeta, rank: usize) -> Result<Vec<i64>, String> {
    if x.rank() != rank || y.rank() != rank {
        return Err(format!(
            "expected rank-{rank} operands, got {:?} and {:?}",
            x.shape, y.shape
        ));
    }
    let (k1, k2) = (x.shape[rank - 1], y.shape[rank - 2]);
    if k1 != k2 || x.shape[..rank - 2] != y.shape[..rank - 2] {
        return Err(format!("cannot multiply {:?} by {:?}", x.shape, y.shape));
    }
    let mut s = x.shape[..rank - 1].to_vec();
    s.push(y.shape[rank - 1]);
    Ok(s)
}

fn add_mm(a: &[Meta], rank: usize) -> InferResult {
    let (bias, x, y) = (&a[0], tensor(a, 1)?, tensor(a, 2)?);
    let s = mm_shape(x, y, rank)?;
    let d = same_dtype(x, y)?;
    if let Meta::Tensor(b) = bias {
        if broadcast(&b.shape, &s)? != s {
            return Err(format!("bias {:?} does not broadcast to {s:?}", b.shape));
        }
    }
    let _ = result_type(&[bias])?;
    tensor_out(s, d)
}

fn infer_conv(a: &[Meta]) -> InferResult {
    let (x, w) = (tensor(a, 0)?, tensor(a, 1)?);
    let (stride, padding, dilation) = (ints(a, 3)?, ints(a, 4)?, ints(a, 5)?);
    let transposed = boolean(a, 6)?;
    let out_pad = ints(a, 7)?;
    let groups = int(a, 8)?;
    let nd = x
        .rank()
        .checked_sub(2)
        .ok_or("convolution input needs batch and channel dims")?;
    let pick = |v: &[i64], i: usize| {
        if v.len() == 1 {
            v[0]
        } else {
            v.get(i).copied().unwrap_or(0)
        }
    };
    let mut shape = vec![
        x.shape[0],
        if transposed {
            w.shape[1] * groups
        } else {
            w.shape[0]
        },
    ];
    for i in 0..nd {
        // in i128: attributes may be absurd, the result is checked by `tensor_out`
        let (n, k) = (x.shape[2 + i] as i128, w.shape[2 + i] as i128);
        let (s, p, d) = (
            pick(&stride, i) as i128,
            pick(&padding, i) as i128,
            pick(&dilation, i) as i128,
        );
        if s <= 0 {
            return Err(format!("convolution stride {s} is not positive"));
        }
        let o = if transposed {
            (n - 1) * s - 2 * p + d * (k - 1) + pick(&out_pad, i) as i128 + 1
        } else {
            (n + 2 * p - d * (k - 1) - 1).div_euclid(s) + 1
        };
        shape.push(i64::try_from(o).map_err(|_| format!("convolution output size {o} overflows"))?);
    }
    tensor_out(shape, x.dtype)
}
