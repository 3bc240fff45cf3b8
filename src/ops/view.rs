//! Views and metadata ops: view/reshape, expand, permute, transpose, squeeze, slice, select,
//! split, identity-like ops (alias, clone, detach), cat. Their kernels: `eval/view.rs`.

use super::eval::view as k;
use super::meta::*;
use super::{OpClass, OpTable};

pub(super) fn register(t: &mut OpTable) {
    use OpClass::View;
    t.def_op(
        "view",
        View,
        None,
        &[
            ("aten.view.default", "(Tensor self, SymInt[] size)"),
            ("aten._unsafe_view.default", "(Tensor self, SymInt[] size)"),
            ("aten.reshape.default", "(Tensor self, SymInt[] shape)"),
        ],
        infer_view,
    )
    .eval(k::reshape);
    t.def_op(
        "expand",
        View,
        None,
        &[(
            "aten.expand.default",
            "(Tensor self, SymInt[] size, *, bool implicit=False)",
        )],
        infer_expand,
    )
    .eval(k::expand);
    t.def_op(
        "permute",
        View,
        None,
        &[("aten.permute.default", "(Tensor self, int[] dims)")],
        infer_permute,
    )
    .eval(k::permute);
    t.def_op(
        "transpose",
        View,
        None,
        &[("aten.transpose.int", "(Tensor self, int dim0, int dim1)")],
        |a| {
            let x = tensor(a, 0)?;
            let (d0, d1) = (
                norm_dim(int(a, 1)?, x.rank())?,
                norm_dim(int(a, 2)?, x.rank())?,
            );
            let mut s = x.shape.clone();
            if !s.is_empty() {
                s.swap(d0, d1);
            }
            tensor_out(s, x.dtype)
        },
    )
    .eval(k::transpose);
    t.def_op(
        "t",
        View,
        None,
        &[("aten.t.default", "(Tensor self)")],
        |a| {
            let x = tensor(a, 0)?;
            if x.rank() > 2 {
                return Err(format!(
                    "t() expects a tensor of rank <= 2, got {:?}",
                    x.shape
                ));
            }
            tensor_out(x.shape.iter().rev().copied().collect(), x.dtype)
        },
    )
    .eval(k::t);
    t.def_op(
        "unsqueeze",
        View,
        None,
        &[("aten.unsqueeze.default", "(Tensor self, int dim)")],
        |a| {
            let x = tensor(a, 0)?;
            let d = norm_dim(int(a, 1)?, x.rank() + 1)?;
            let mut s = x.shape.clone();
            s.insert(d, 1);
            tensor_out(s, x.dtype)
        },
    )
    .eval(k::reshape);
    t.def_op(
        "squeeze",
        View,
        // `.dim` first: one dim is written `squeeze.dim(x, d)`, as PyTorch traces it
        Some("(Tensor self, int[] dim)"),
        &[
            ("aten.squeeze.dim", "(Tensor self, int dim)"),
            ("aten.squeeze.dims", "(Tensor self, int[] dim)"),
            ("aten.squeeze.default", "(Tensor self)"),
        ],
        |a| {
            let x = tensor(a, 0)?;
            let dims = match opt_ints(a, 1)? {
                Some(ds) => ds
                    .iter()
                    .map(|&d| norm_dim(d, x.rank()))
                    .collect::<Result<Vec<_>, _>>()?,
                None => (0..x.rank()).collect(),
            };
            let s = x
                .shape
                .iter()
                .enumerate()
                .filter(|(i, &n)| !(n == 1 && dims.contains(i)))
                .map(|(_, &n)| n)
                .collect();
            tensor_out(s, x.dtype)
        },
    )
    .eval(k::reshape);
    t.def_op(
        "slice",
        View,
        None,
        &[(
            "aten.slice.Tensor",
            "(Tensor self, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            if x.rank() == 0 {
                return Err("slice() cannot be applied to a 0-dim tensor".into());
            }
            let d = norm_dim(int(a, 1)?, x.rank())?;
            let n = x.shape[d];
            let (start, end) = slice_bounds(opt_int(a, 2)?, opt_int(a, 3)?, n);
            let step = int(a, 4)?;
            if step <= 0 {
                return Err(format!("slice step must be positive, got {step}"));
            }
            let mut s = x.shape.clone();
            s[d] = if end > start {
                (end - start + step - 1) / step
            } else {
                0
            };
            tensor_out(s, x.dtype)
        },
    )
    .eval(k::slice);
    t.def_op(
        "select",
        View,
        None,
        &[("aten.select.int", "(Tensor self, int dim, SymInt index)")],
        |a| {
            let x = tensor(a, 0)?;
            let d = norm_dim(int(a, 1)?, x.rank())?;
            let i = int(a, 2)?;
            if i < -x.shape[d] || i >= x.shape[d] {
                return Err(format!(
                    "select index {i} out of range for size {}",
                    x.shape[d]
                ));
            }
            let mut s = x.shape.clone();
            s.remove(d);
            tensor_out(s, x.dtype)
        },
    )
    .eval(k::select);
    for (name, target, sig) in [
        ("alias", "aten.alias.default", "(Tensor self)"),
        ("detach", "aten.detach.default", "(Tensor self)"),
        (
            "clone",
            "aten.clone.default",
            "(Tensor self, *, MemoryFormat? memory_format=None)",
        ),
        (
            "lift_fresh_copy",
            "aten.lift_fresh_copy.default",
            "(Tensor self)",
        ),
    ] {
        let class = if name == "clone" || name == "lift_fresh_copy" {
            OpClass::Copy
        } else {
            View
        };
        t.def_op(name, class, None, &[(target, sig)], |a| {
            Ok(Meta::Tensor(tensor(a, 0)?.clone()))
        })
        .eval(k::reshape);
    }
    t.def_op(
        "split",
        View,
        None,
        &[(
            "aten.split.Tensor",
            "(Tensor self, SymInt split_size, int dim=0)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            let d = norm_dim(int(a, 2)?, x.rank())?;
            let size = int(a, 1)?;
            if size <= 0 {
                return Err("split size must be positive".into());
            }
            let n = x.shape[d];
            let pieces = (n / size + i64::from(n % size != 0)).max(1);
            let sizes = (0..pieces)
                .map(|i| size.min(n - i * size))
                .collect::<Vec<_>>();
            split_out(x, d, &sizes)
        },
    )
    .eval(k::split);
    t.def_op(
        "split_with_sizes",
        View,
        None,
        &[(
            "aten.split_with_sizes.default",
            "(Tensor self, SymInt[] split_sizes, int dim=0)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            let d = norm_dim(int(a, 2)?, x.rank())?;
            let sizes = ints(a, 1)?;
            if sizes.iter().sum::<i64>() != x.shape[d] {
                return Err(format!(
                    "split sizes {sizes:?} do not sum to {}",
                    x.shape[d]
                ));
            }
            split_out(x, d, &sizes)
        },
    )
    .eval(k::split);
    t.def_op(
        "unbind",
        View,
        None,
        &[("aten.unbind.int", "(Tensor self, int dim=0)")],
        |a| {
            let x = tensor(a, 0)?;
            let d = norm_dim(int(a, 1)?, x.rank())?;
            let mut s = x.shape.clone();
            s.remove(d);
            Ok(Meta::Tuple(
                (0..x.shape[d])
                    .map(|_| {
                        Meta::Tensor(TMeta {
                            shape: s.clone(),
                            dtype: x.dtype,
                        })
                    })
                    .collect(),
            ))
        },
    )
    .eval(k::unbind);
    t.def_op(
        "cat",
        OpClass::Copy,
        None,
        &[("aten.cat.default", "(Tensor[] tensors, int dim=0)")],
        infer_cat,
    )
    .eval(k::cat);
}

/// Python-style slice bounds clamped to `[0, n]`.
pub(crate) fn slice_bounds(start: Option<i64>, end: Option<i64>, n: i64) -> (i64, i64) {
    let fix = |v: i64| if v < 0 { (v + n).max(0) } else { v.min(n) };
    (fix(start.unwrap_or(0)), fix(end.unwrap_or(n)))
}

fn split_out(x: &TMeta, d: usize, sizes: &[i64]) -> InferResult {
    Ok(Meta::Tuple(
        sizes
            .iter()
            .map(|&n| {
                let mut s = x.shape.clone();
                s[d] = n;
                Meta::Tensor(TMeta {
                    shape: s,
                    dtype: x.dtype,
                })
            })
            .collect(),
    ))
}

/// Resolves a view size with at most one `-1`.
pub(crate) fn resolve_size(numel: u64, size: &[i64]) -> Result<Vec<i64>, String> {
    let mut out = size.to_vec();
    let holes = size.iter().filter(|&&d| d == -1).count();
    if holes > 1 || size.iter().any(|&d| d < -1) {
        return Err(format!("invalid view size {size:?}"));
    }
    let known: i64 = size
        .iter()
        .filter(|&&d| d != -1)
        .try_fold(1i64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("view size {size:?} overflows"))?;
    if holes == 1 {
        if known == 0 || numel as i64 % known != 0 {
            return Err(format!("view size {size:?} does not fit {numel} elements"));
        }
        let i = size.iter().position(|&d| d == -1).unwrap();
        out[i] = numel as i64 / known;
    }
    if out.iter().product::<i64>() as u64 != numel {
        return Err(format!("view size {size:?} does not fit {numel} elements"));
    }
    Ok(out)
}

fn infer_view(a: &[Meta]) -> InferResult {
    let x = tensor(a, 0)?;
    tensor_out(resolve_size(x.numel(), &ints(a, 1)?)?, x.dtype)
}

fn infer_expand(a: &[Meta]) -> InferResult {
    let x = tensor(a, 0)?;
    let size = ints(a, 1)?;
    if size.len() < x.rank() {
        return Err(format!(
            "expand to {size:?} has fewer dims than {:?}",
            x.shape
        ));
    }
    let lead = size.len() - x.rank();
    let mut out = size.clone();
    for (i, &n) in x.shape.iter().enumerate() {
        let want = size[lead + i];
        out[lead + i] = match (n, want) {
            (_, -1) => n,
            (1, w) => w,
            (n, w) if n == w => n,
            _ => return Err(format!("cannot expand {:?} to {size:?}", x.shape)),
        };
    }
    if out[..lead].iter().any(|&d| d < 0) {
        return Err(format!("expand size {size:?} has -1 in a new dimension"));
    }
    tensor_out(out, x.dtype)
}

/// Checks that `dims` is a permutation of `0..rank` (negative dims allowed) and normalises it.
pub(crate) fn permutation(dims: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    let ds = dims
        .iter()
        .map(|&d| norm_dim(d, rank))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = vec![false; rank];
    for &d in &ds {
        if std::mem::replace(&mut seen[d], true) {
            return Err(format!("{dims:?} is not a permutation"));
        }
    }
    if ds.len() != rank {
        return Err(format!("permutation {dims:?} does not match rank {rank}"));
    }
    Ok(ds)
}

fn infer_permute(a: &[Meta]) -> InferResult {
    let x = tensor(a, 0)?;
    let p = permutation(&ints(a, 1)?, x.rank())?;
    tensor_out(p.iter().map(|&d| x.shape[d]).collect(), x.dtype)
}

fn infer_cat(a: &[Meta]) -> InferResult {
    let items = match a.first() {
        Some(Meta::List(items)) => items,
        _ => return Err("cat expects a list of tensors".into()),
    };
    let ts: Vec<&TMeta> = items
        .iter()
        .map(|m| {
            m.tensor()
                .ok_or_else(|| format!("cat expects tensors, got {m}"))
        })
        .collect::<Result<_, _>>()?;
    // Legacy behaviour: 1-D empty tensors are skipped.
    let real: Vec<&TMeta> = ts
        .iter()
        .copied()
        .filter(|t| !(t.rank() == 1 && t.shape[0] == 0))
        .collect();
    let first = real.first().or(ts.first()).ok_or("cat of an empty list")?;
    let d = norm_dim(int(a, 1)?, first.rank())?;
    let mut shape = first.shape.clone();
    let mut dtype = first.dtype;
    shape[d] = 0;
    for t in &real {
        if t.rank() != shape.len()
            || t.shape
                .iter()
                .enumerate()
                .any(|(i, &n)| i != d && n != shape[i])
        {
            return Err(format!(
                "cat: shapes {:?} and {:?} do not fit along dim {d}",
                first.shape, t.shape
            ));
        }
        shape[d] += t.shape[d];
        dtype = dtype.promote(t.dtype);
    }
    tensor_out(shape, dtype)
}
