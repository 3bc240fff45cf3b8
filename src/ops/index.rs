//! Indexing and data movement: embedding, index, index_put, gather, scatter, index_select,
//! stack, constant_pad_nd. Their kernels: `eval/index.rs`.

use super::eval::index as k;
use super::meta::*;
use super::pointwise::broadcast;
use super::{OpClass, OpTable};
use crate::ir::DType;

pub(super) fn register(t: &mut OpTable) {
    use OpClass::Copy;
    t.def_op(
        "embedding",
        Copy,
        None,
        &[("aten.embedding.default", "(Tensor weight, Tensor indices, SymInt padding_idx=-1, bool scale_grad_by_freq=False, bool sparse=False)")],
        |a| {
            let (w, i) = (tensor(a, 0)?, tensor(a, 1)?);
            if w.rank() != 2 {
                return Err(format!("embedding weight must be 2-D, got {:?}", w.shape));
            }
            let mut s = i.shape.clone();
            s.push(w.shape[1]);
            tensor_out(s, w.dtype)
        },
    )
.eval(k::embedding);
    t.def_op(
        "embedding_dense_backward",
        Copy,
        None,
        &[(
            "aten.embedding_dense_backward.default",
            "(Tensor grad_output, Tensor indices, SymInt num_weights, SymInt padding_idx, bool scale_grad_by_freq)",
        )],
        |a| {
            let g = tensor(a, 0)?;
            tensor_out(vec![int(a, 2)?, *g.shape.last().ok_or("grad_output is 0-d")?], g.dtype)
        },
    )
.eval(k::embedding_dense_backward);
    for (name, target) in [
        ("index", "aten.index.Tensor"),
        ("_unsafe_index", "aten._unsafe_index.Tensor"),
    ] {
        t.def_op(
            name,
            Copy,
            None,
            &[(target, "(Tensor self, Tensor?[] indices)")],
            infer_index,
        )
        .eval(k::index);
    }
    for (name, target) in [
        ("index_put", "aten.index_put.default"),
        ("_unsafe_index_put", "aten._unsafe_index_put.default"),
    ] {
        t.def_op(
            name,
            Copy,
            None,
            &[(
                target,
                "(Tensor self, Tensor?[] indices, Tensor values, bool accumulate=False)",
            )],
            |a| {
                let x = tensor(a, 0)?;
                infer_index(a)?;
                tensor_out(x.shape.clone(), x.dtype)
            },
        )
        .eval(k::index_put);
    }
    t.def_op(
        "gather",
        Copy,
        None,
        &[(
            "aten.gather.default",
            "(Tensor self, int dim, Tensor index, *, bool sparse_grad=False)",
        )],
        |a| {
            let (x, i) = (tensor(a, 0)?, tensor(a, 2)?);
            norm_dim(int(a, 1)?, x.rank())?;
            tensor_out(i.shape.clone(), x.dtype)
        },
    )
    .eval(k::gather);
    // (name, target, signature, a number for `src`, accumulate)
    for (name, target, sig, with_value, add) in [
        (
            "scatter",
            "aten.scatter.src",
            "(Tensor self, int dim, Tensor index, Tensor src)",
            false,
            false,
        ),
        (
            "scatter_value",
            "aten.scatter.value",
            "(Tensor self, int dim, Tensor index, Scalar value)",
            true,
            false,
        ),
        (
            "scatter_add",
            "aten.scatter_add.default",
            "(Tensor self, int dim, Tensor index, Tensor src)",
            false,
            true,
        ),
    ] {
        t.def_op(name, Copy, None, &[(target, sig)], |a| {
            let x = tensor(a, 0)?;
            norm_dim(int(a, 1)?, x.rank())?;
            tensor_out(x.shape.clone(), x.dtype)
        })
        .eval(k::scatter(with_value, add));
    }
    t.def_op(
        "index_select",
        Copy,
        None,
        &[(
            "aten.index_select.default",
            "(Tensor self, int dim, Tensor index)",
        )],
        |a| {
            let (x, i) = (tensor(a, 0)?, tensor(a, 2)?);
            let d = norm_dim(int(a, 1)?, x.rank())?;
            let mut s = x.shape.clone();
            if !s.is_empty() {
                s[d] = i.numel() as i64;
            }
            tensor_out(s, x.dtype)
        },
    )
    .eval(k::index_select);
    t.def_op(
        "stack",
        Copy,
        None,
        &[("aten.stack.default", "(Tensor[] tensors, int dim=0)")],
        |a| {
            let items = match &a[0] {
                Meta::List(items) if !items.is_empty() => items,
                _ => return Err("stack expects a non-empty list of tensors".into()),
            };
            let first = items[0].tensor().ok_or("stack expects tensors")?;
            let mut dtype = first.dtype;
            for m in items {
                let t = m.tensor().ok_or("stack expects tensors")?;
                if t.shape != first.shape {
                    return Err(format!(
                        "stack: shapes {:?} and {:?} differ",
                        first.shape, t.shape
                    ));
                }
                dtype = dtype.promote(t.dtype);
            }
            let d = norm_dim(int(a, 1)?, first.rank() + 1)?;
            let mut s = first.shape.clone();
            s.insert(d, items.len() as i64);
            tensor_out(s, dtype)
        },
    )
    .eval(k::stack);
    t.def_op(
        "select_scatter",
        Copy,
        None,
        &[(
            "aten.select_scatter.default",
            "(Tensor self, Tensor src, int dim, SymInt index)",
        )],
        |a| {
            let (x, src) = (tensor(a, 0)?, tensor(a, 1)?);
            let d = norm_dim(int(a, 2)?, x.rank())?;
            let mut s = x.shape.clone();
            s.remove(d);
            if s != src.shape {
                return Err(format!(
                    "select_scatter: src {:?} does not fit {:?} at dim {d}",
                    src.shape, x.shape
                ));
            }
            tensor_out(x.shape.clone(), x.dtype)
        },
    )
    .eval(k::scatter_into(true));
    t.def_op(
        "slice_scatter",
        Copy,
        None,
        &[("aten.slice_scatter.default", "(Tensor self, Tensor src, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1)")],
        |a| {
            let (x, src) = (tensor(a, 0)?, tensor(a, 1)?);
            let d = norm_dim(int(a, 2)?, x.rank())?;
            let (start, end) = super::view::slice_bounds(opt_int(a, 3)?, opt_int(a, 4)?, x.shape[d]);
            let step = int(a, 5)?.max(1);
            let mut s = x.shape.clone();
            s[d] = if end > start { (end - start + step - 1) / step } else { 0 };
            if s != src.shape {
                return Err(format!("slice_scatter: src {:?} does not fit slice {s:?}", src.shape));
            }
            tensor_out(x.shape.clone(), x.dtype)
        },
    )
.eval(k::scatter_into(false));
    t.def_op(
        "_unsafe_masked_index_put_accumulate",
        Copy,
        None,
        &[(
            "aten._unsafe_masked_index_put_accumulate.default",
            "(Tensor self, Tensor mask, Tensor?[] indices, Tensor values)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            tensor(a, 1)?;
            tensor(a, 3)?;
            tensor_out(x.shape.clone(), x.dtype)
        },
    )
    .eval(k::masked_index_put_accumulate);
    t.def_op(
        "constant_pad_nd",
        Copy,
        None,
        &[(
            "aten.constant_pad_nd.default",
            "(Tensor self, SymInt[] pad, Scalar value=0)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            let pad = ints(a, 1)?;
            if pad.len() % 2 != 0 || pad.len() / 2 > x.rank() {
                return Err(format!("bad padding {pad:?} for {:?}", x.shape));
            }
            let mut s = x.shape.clone();
            for (i, p) in pad.chunks(2).enumerate() {
                let d = x.rank() - 1 - i;
                s[d] += p[0] + p[1];
                if s[d] < 0 {
                    return Err(format!("padding {pad:?} makes dim {d} negative"));
                }
            }
            tensor_out(s, x.dtype)
        },
    )
    .eval(k::constant_pad_nd);
}

/// Advanced indexing: `x[i0, None, i2]`.
fn infer_index(a: &[Meta]) -> InferResult {
    let x = tensor(a, 0)?;
    let idx = match &a[1] {
        Meta::List(items) => items,
        other => return Err(format!("indices must be a list, got {other}")),
    };
    if idx.len() > x.rank() {
        return Err(format!(
            "too many indices ({}) for {:?}",
            idx.len(),
            x.shape
        ));
    }
    let mut bshape: Vec<i64> = Vec::new();
    let mut positions = Vec::new();
    for (i, m) in idx.iter().enumerate() {
        match m {
            Meta::None => {}
            Meta::Tensor(t) => {
                if matches!(t.dtype, DType::Bool | DType::U8) {
                    return Err("boolean mask indices give data-dependent shapes".into());
                }
                bshape = broadcast(&bshape, &t.shape)?;
                positions.push(i);
            }
            other => return Err(format!("index {i} must be a tensor or None, got {other}")),
        }
    }
    if positions.is_empty() {
        return Ok(Meta::Tensor(x.clone()));
    }
    let adjacent = positions.windows(2).all(|w| w[1] == w[0] + 1);
    let rest = |range: std::ops::Range<usize>| -> Vec<i64> {
        range
            .filter(|i| !positions.contains(i))
            .map(|i| x.shape[i])
            .collect()
    };
    let shape = if adjacent {
        let mut s = rest(0..positions[0]);
        s.extend(&bshape);
        s.extend(rest(positions[0]..x.rank()));
        s
    } else {
        let mut s = bshape.clone();
        s.extend(rest(0..x.rank()));
        s
    };
    tensor_out(shape, x.dtype)
}
