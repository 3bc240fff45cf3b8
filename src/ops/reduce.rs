//! Reductions and normalisations: sum, mean, amax, var_mean, any, argmax, softmax, cumsum...
//! Their kernels: `eval/reduce.rs`.

use super::eval::reduce::{self as k, Reducer};
use super::meta::*;
use super::{OpClass, OpTable};
use crate::ir::DType;

pub(super) fn register(t: &mut OpTable) {
    use OpClass::Reduction;
    t.def_op(
        "sum",
        Reduction,
        None,
        &[
            (
                "aten.sum.dim_IntList",
                "(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None)",
            ),
            (
                "aten.sum.default",
                "(Tensor self, *, ScalarType? dtype=None)",
            ),
        ],
        |a| {
            reduce(
                a,
                1,
                2,
                |d| {
                    if d.is_float() || d == DType::C64 {
                        d
                    } else {
                        DType::I64
                    }
                },
                opt_dtype(a, 3)?,
            )
        },
    )
    .eval(k::reduction(k::sum_of, true));
    t.def_op(
        "mean",
        Reduction,
        None,
        &[
            (
                "aten.mean.dim",
                "(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None)",
            ),
            (
                "aten.mean.default",
                "(Tensor self, *, ScalarType? dtype=None)",
            ),
        ],
        |a| reduce(a, 1, 2, |d| d, opt_dtype(a, 3)?),
    )
    .eval(k::reduction(k::mean_of, true));
    t.def_op(
        "prod",
        Reduction,
        Some("(Tensor self, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None)"),
        &[
            (
                "aten.prod.dim_int",
                "(Tensor self, int dim, bool keepdim=False, *, ScalarType? dtype=None)",
            ),
            (
                "aten.prod.default",
                "(Tensor self, *, ScalarType? dtype=None)",
            ),
        ],
        |a| {
            reduce(
                a,
                1,
                2,
                |d| if d.is_float() { d } else { DType::I64 },
                opt_dtype(a, 3)?,
            )
        },
    )
    .eval(k::reduction(k::prod_of, true));
    for (name, f) in [("amax", k::max_of as Reducer), ("amin", k::min_of)] {
        let target: &'static str = Box::leak(format!("aten.{name}.default").into_boxed_str());
        t.def_op(
            name,
            Reduction,
            None,
            &[(target, "(Tensor self, int[1] dim=[], bool keepdim=False)")],
            |a| reduce(a, 1, 2, |d| d, None),
        )
        .eval(k::reduction(f, false));
    }
    for (name, f) in [("any", k::any_of as Reducer), ("all", k::all_of)] {
        let ovs: Vec<(String, &str)> = vec![
            (
                format!("aten.{name}.dims"),
                "(Tensor self, int[1]? dim=None, bool keepdim=False)",
            ),
            (
                format!("aten.{name}.dim"),
                "(Tensor self, int dim, bool keepdim=False)",
            ),
            (format!("aten.{name}.default"), "(Tensor self)"),
        ];
        let ovs: Vec<(&'static str, &str)> = ovs
            .into_iter()
            .map(|(t, s)| (&*Box::leak(t.into_boxed_str()), s))
            .collect();
        t.def_op(name, Reduction, None, &ovs, |a| {
            reduce(a, 1, 2, |_| DType::Bool, None)
        })
        .eval(k::reduction(f, false));
    }
    for (name, is_max) in [("max", true), ("min", false)] {
        let target: &'static str = Box::leak(format!("aten.{name}.dim").into_boxed_str());
        let tname: &'static str = Box::leak(format!("{name}_dim").into_boxed_str());
        t.def_op(
            tname,
            Reduction,
            None,
            &[(target, "(Tensor self, int dim, bool keepdim=False)")],
            |a| {
                let v = reduce(a, 1, 2, |d| d, None)?;
                let i = match &v {
                    Meta::Tensor(t) => Meta::Tensor(TMeta {
                        shape: t.shape.clone(),
                        dtype: DType::I64,
                    }),
                    _ => unreachable!(),
                };
                Ok(Meta::Tuple(vec![v, i]))
            },
        )
        .eval(k::extreme_dim(is_max));
    }
    for (name, f) in [
        ("argmax", k::argmax_of as Reducer),
        ("argmin", k::argmin_of),
    ] {
        let target: &'static str = Box::leak(format!("aten.{name}.default").into_boxed_str());
        t.def_op(
            name,
            Reduction,
            None,
            &[(target, "(Tensor self, int? dim=None, bool keepdim=False)")],
            |a| reduce(a, 1, 2, |_| DType::I64, None),
        )
        .eval(k::reduction(f, false));
    }
    t.def_op(
        "var_mean",
        Reduction,
        None,
        &[(
            "aten.var_mean.correction",
            "(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False)",
        )],
        |a| {
            let v = reduce(a, 1, 3, |d| d, None)?;
            Ok(Meta::Tuple(vec![v.clone(), v]))
        },
    )
    .eval(k::variance(true));
    t.def_op(
        "var",
        Reduction,
        None,
        &[(
            "aten.var.correction",
            "(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False)",
        )],
        |a| reduce(a, 1, 3, |d| d, None),
    )
    .eval(k::variance(false));
    t.def_op(
        "logsumexp",
        Reduction,
        None,
        &[(
            "aten.logsumexp.default",
            "(Tensor self, int[1] dim, bool keepdim=False)",
        )],
        |a| reduce(a, 1, 2, |d| if d.is_float() { d } else { DType::F32 }, None),
    )
    .eval(k::reduction(k::logsumexp_of, false));
    t.def_op(
        "cumsum",
        Reduction,
        None,
        &[(
            "aten.cumsum.default",
            "(Tensor self, int dim, *, ScalarType? dtype=None)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            norm_dim(int(a, 1)?, x.rank())?;
            let d = opt_dtype(a, 2)?.unwrap_or(if x.dtype.is_float() {
                x.dtype
            } else {
                DType::I64
            });
            tensor_out(x.shape.clone(), d)
        },
    )
    .eval(k::cumsum);
    t.def_op(
        "_softmax",
        Reduction,
        None,
        &[(
            "aten._softmax.default",
            "(Tensor self, int dim, bool half_to_float)",
        )],
        |a| softmax_like(a, boolean(a, 2)?),
    )
    .eval(k::softmax_kernel(false, false));
    t.def_op(
        "_log_softmax",
        Reduction,
        None,
        &[(
            "aten._log_softmax.default",
            "(Tensor self, int dim, bool half_to_float)",
        )],
        |a| softmax_like(a, boolean(a, 2)?),
    )
    .eval(k::softmax_kernel(true, false));
    t.def_op(
        "_safe_softmax",
        Reduction,
        None,
        &[(
            "aten._safe_softmax.default",
            "(Tensor self, int dim, ScalarType? dtype=None)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            norm_dim(int(a, 1)?, x.rank())?;
            tensor_out(x.shape.clone(), opt_dtype(a, 2)?.unwrap_or(x.dtype))
        },
    )
    .eval(k::softmax_kernel(false, true));
    t.def_op(
        "native_layer_norm",
        Reduction,
        None,
        &[(
            "aten.native_layer_norm.default",
            "(Tensor input, SymInt[] normalized_shape, Tensor? weight, Tensor? bias, float eps)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            let ns = ints(a, 1)?;
            if ns.len() > x.rank() || x.shape[x.rank() - ns.len()..] != ns[..] {
                return Err(format!(
                    "layer_norm shape {ns:?} does not end {:?}",
                    x.shape
                ));
            }
            let mut stat = x.shape.clone();
            let r = stat.len();
            stat[r - ns.len()..].iter_mut().for_each(|d| *d = 1);
            let sd = if x.dtype.is_float() && x.dtype.size() < 4 {
                DType::F32
            } else {
                x.dtype
            };
            Ok(Meta::Tuple(vec![
                Meta::Tensor(x.clone()),
                Meta::Tensor(TMeta {
                    shape: stat.clone(),
                    dtype: sd,
                }),
                Meta::Tensor(TMeta {
                    shape: stat,
                    dtype: sd,
                }),
            ]))
        },
    )
    .eval(k::native_layer_norm);
}

fn softmax_like(a: &[Meta], half_to_float: bool) -> InferResult {
    let x = tensor(a, 0)?;
    norm_dim(int(a, 1)?, x.rank())?;
    let d = if half_to_float && x.dtype.size() == 2 && x.dtype.is_float() {
        DType::F32
    } else {
        x.dtype
    };
    tensor_out(x.shape.clone(), d)
}

/// Reduction over `dims` (argument `dim_arg`; `None` or `[]` = all) keeping dims per `keep_arg`.
fn reduce(
    a: &[Meta],
    dim_arg: usize,
    keep_arg: usize,
    dtype: impl Fn(DType) -> DType,
    explicit: Option<DType>,
) -> InferResult {
    let x = tensor(a, 0)?;
    let dims = match opt_ints(a, dim_arg)? {
        Some(ds) if !ds.is_empty() => ds
            .iter()
            .map(|&d| norm_dim(d, x.rank()))
            .collect::<Result<Vec<_>, _>>()?,
        _ => (0..x.rank()).collect(),
    };
    let keep = boolean(a, keep_arg)?;
    let shape = if x.rank() == 0 {
        Vec::new()
    } else if keep {
        x.shape
            .iter()
            .enumerate()
            .map(|(i, &n)| if dims.contains(&i) { 1 } else { n })
            .collect()
    } else {
        x.shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !dims.contains(i))
            .map(|(_, &n)| n)
            .collect()
    };
    tensor_out(shape, explicit.unwrap_or_else(|| dtype(x.dtype)))
}
