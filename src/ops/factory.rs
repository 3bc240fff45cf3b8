//! Tensor factories: full, scalar_tensor, iota, arange, empty, *_like. Their kernels:
//! `eval/factory.rs`.

use super::eval::factory as k;
use super::meta::*;
use super::{OpClass, OpTable};
use crate::ir::DType;

const OPTS: &str =
    "ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None";

fn fill_dtype(v: &Meta) -> DType {
    match v {
        Meta::Int(_) => DType::I64,
        Meta::Bool(_) => DType::Bool,
        _ => DType::F32,
    }
}

pub(super) fn register(t: &mut OpTable) {
    use OpClass::Factory;
    let sig = |s: &str| -> &'static str { Box::leak(s.replace("OPTS", OPTS).into_boxed_str()) };
    t.def_op(
        "full",
        Factory,
        None,
        &[(
            "aten.full.default",
            sig("(SymInt[] size, Scalar fill_value, *, OPTS)"),
        )],
        |a| {
            tensor_out(
                ints(a, 0)?,
                opt_dtype(a, 2)?.unwrap_or_else(|| fill_dtype(&a[1])),
            )
        },
    )
    .eval(k::full_with(1));
    t.def_op(
        "scalar_tensor",
        Factory,
        None,
        &[("aten.scalar_tensor.default", sig("(Scalar s, *, OPTS)"))],
        |a| tensor_out(Vec::new(), opt_dtype(a, 1)?.unwrap_or(DType::F32)),
    )
    .eval(k::full_with(0));
    for (name, value) in [("zeros", 0.0), ("ones", 1.0)] {
        let target: &'static str = Box::leak(format!("aten.{name}.default").into_boxed_str());
        t.def_op(
            name,
            Factory,
            None,
            &[(target, sig("(SymInt[] size, *, OPTS)"))],
            |a| tensor_out(ints(a, 0)?, opt_dtype(a, 1)?.unwrap_or(DType::F32)),
        )
        .eval(k::constant(value));
    }
    t.def_op(
        "empty",
        Factory,
        None,
        &[(
            "aten.empty.memory_format",
            sig("(SymInt[] size, *, OPTS, MemoryFormat? memory_format=None)"),
        )],
        |a| tensor_out(ints(a, 0)?, opt_dtype(a, 1)?.unwrap_or(DType::F32)),
    )
    .eval(k::constant(0.0));
    t.def_op(
        "iota",
        Factory,
        None,
        &[("prims.iota.default", "(SymInt length, *, SymInt start, SymInt step, ScalarType dtype, Device device, bool requires_grad)")],
        |a| tensor_out(vec![int(a, 0)?], opt_dtype(a, 3)?.unwrap_or(DType::I64)),
    )
.eval(k::range(1, 2));
    t.def_op(
        "arange",
        Factory,
        Some(sig("(Scalar start=0, Scalar end, Scalar step=1, *, OPTS)")),
        &[
            (
                "aten.arange.start_step",
                sig("(Scalar start, Scalar end, Scalar step=1, *, OPTS)"),
            ),
            (
                "aten.arange.start",
                sig("(Scalar start, Scalar end, *, OPTS)"),
            ),
            ("aten.arange.default", sig("(Scalar end, *, OPTS)")),
        ],
        |a| {
            let num = |m: &Meta| match m {
                Meta::Int(i) => Ok(*i as f64),
                Meta::Float(x) => Ok(*x),
                other => Err(format!("arange bound must be a number, got {other}")),
            };
            let (s, e, st) = (num(&a[0])?, num(&a[1])?, num(&a[2])?);
            if st == 0.0 {
                return Err("arange step is zero".into());
            }
            let n = ((e - s) / st).ceil().max(0.0) as i64;
            let int_args = a[..3].iter().all(|m| matches!(m, Meta::Int(_)));
            tensor_out(
                vec![n],
                opt_dtype(a, 3)?.unwrap_or(if int_args { DType::I64 } else { DType::F32 }),
            )
        },
    )
    .eval(k::range(0, 2));
    let like = sig("OPTS, MemoryFormat? memory_format=None");
    for (name, value) in [("zeros_like", 0.0), ("ones_like", 1.0), ("empty_like", 0.0)] {
        let target: &'static str = Box::leak(format!("aten.{name}.default").into_boxed_str());
        let s: &'static str = Box::leak(format!("(Tensor self, *, {like})").into_boxed_str());
        t.def_op(name, Factory, None, &[(target, s)], |a| {
            let x = tensor(a, 0)?;
            tensor_out(x.shape.clone(), opt_dtype(a, 1)?.unwrap_or(x.dtype))
        })
        .eval(k::constant(value));
    }
    let s: &'static str =
        Box::leak(format!("(Tensor self, Scalar fill_value, *, {like})").into_boxed_str());
    t.def_op(
        "full_like",
        Factory,
        None,
        &[("aten.full_like.default", s)],
        |a| {
            let x = tensor(a, 0)?;
            tensor_out(x.shape.clone(), opt_dtype(a, 2)?.unwrap_or(x.dtype))
        },
    )
    .eval(k::full_with(1));
    for (name, value) in [("new_zeros", 0.0), ("new_ones", 1.0), ("new_empty", 0.0)] {
        let target: &'static str = Box::leak(format!("aten.{name}.default").into_boxed_str());
        t.def_op(
            name,
            Factory,
            None,
            &[(target, sig("(Tensor self, SymInt[] size, *, OPTS)"))],
            |a| {
                let x = tensor(a, 0)?;
                tensor_out(ints(a, 1)?, opt_dtype(a, 2)?.unwrap_or(x.dtype))
            },
        )
        .eval(k::constant(value));
    }
}
