//! Elementwise ops: broadcasting, PyTorch's type promotion (with wrapped numbers), casts.
//! Their kernels: `eval/pointwise.rs`.

use super::eval::pointwise::{self as k, Kernel};
use super::meta::*;
use super::{OpClass, OpTable};
use crate::ir::dtype::Category;
use crate::ir::DType;

/// The kernel of a unary op.
#[derive(Clone, Copy)]
enum Unary {
    /// `f` on each element, converted to the result dtype.
    Elementwise(fn(f64) -> f64),
    /// A kernel of its own (`isnan`, `bitwise_not`: the elements as they are).
    Raw(Kernel),
}
use Unary::{Elementwise, Raw};

/// How a pointwise op's result dtype follows from its operands.
#[derive(Clone, Copy)]
enum Rule {
    /// `torch.result_type` of the operands.
    Promote,
    /// Promote, then integral/bool results become float32 (exp, true division...).
    PromoteFloat,
    /// Always bool (comparisons, logical ops).
    Bool,
    /// The first operand's dtype.
    First,
}

/// `(name, dtype rule, overloads, canonical signature, kernel)`.
type Binary<'a> = (
    &'a str,
    Rule,
    &'a [(&'a str, &'a str)],
    Option<&'a str>,
    Kernel,
);

pub(super) fn register(t: &mut OpTable) {
    let pw = |flops: f64| OpClass::Pointwise { flops };
    let binary: &[Binary] = &[
        (
            "add",
            Rule::Promote,
            &[
                (
                    "aten.add.Tensor",
                    "(Tensor self, Tensor other, *, Scalar alpha=1)",
                ),
                (
                    "aten.add.Scalar",
                    "(Tensor self, Scalar other, Scalar alpha=1)",
                ),
            ],
            None,
            k::add,
        ),
        (
            "sub",
            Rule::Promote,
            &[
                (
                    "aten.sub.Tensor",
                    "(Tensor self, Tensor other, *, Scalar alpha=1)",
                ),
                (
                    "aten.sub.Scalar",
                    "(Tensor self, Scalar other, Scalar alpha=1)",
                ),
            ],
            None,
            k::sub,
        ),
        (
            "rsub",
            Rule::Promote,
            &[
                (
                    "aten.rsub.Tensor",
                    "(Tensor self, Tensor other, *, Scalar alpha=1)",
                ),
                (
                    "aten.rsub.Scalar",
                    "(Tensor self, Scalar other, Scalar alpha=1)",
                ),
            ],
            None,
            k::rsub,
        ),
        (
            "mul",
            Rule::Promote,
            &[
                ("aten.mul.Tensor", "(Tensor self, Tensor other)"),
                ("aten.mul.Scalar", "(Tensor self, Scalar other)"),
            ],
            None,
            k::mul,
        ),
        (
            "div",
            Rule::PromoteFloat,
            &[
                ("aten.div.Tensor", "(Tensor self, Tensor other)"),
                (
                    "aten.div.Tensor_mode",
                    "(Tensor self, Tensor other, *, str? rounding_mode)",
                ),
                ("aten.div.Scalar", "(Tensor self, Scalar other)"),
            ],
            Some("(Tensor self, Tensor other, *, str? rounding_mode=None)"),
            k::div,
        ),
        (
            "pow",
            Rule::Promote,
            &[
                ("aten.pow.Tensor_Scalar", "(Tensor self, Scalar exponent)"),
                ("aten.pow.Tensor_Tensor", "(Tensor self, Tensor exponent)"),
                ("aten.pow.Scalar", "(Scalar self, Tensor exponent)"),
            ],
            Some("(Tensor self, Tensor exponent)"),
            k::pow,
        ),
        (
            "maximum",
            Rule::Promote,
            &[("aten.maximum.default", "(Tensor self, Tensor other)")],
            None,
            k::maximum,
        ),
        (
            "minimum",
            Rule::Promote,
            &[("aten.minimum.default", "(Tensor self, Tensor other)")],
            None,
            k::minimum,
        ),
        (
            "bitwise_and",
            Rule::Promote,
            &[
                ("aten.bitwise_and.Tensor", "(Tensor self, Tensor other)"),
                ("aten.bitwise_and.Scalar", "(Tensor self, Scalar other)"),
            ],
            None,
            k::bitwise_and,
        ),
        (
            "bitwise_or",
            Rule::Promote,
            &[
                ("aten.bitwise_or.Tensor", "(Tensor self, Tensor other)"),
                ("aten.bitwise_or.Scalar", "(Tensor self, Scalar other)"),
            ],
            None,
            k::bitwise_or,
        ),
        (
            "bitwise_xor",
            Rule::Promote,
            &[("aten.bitwise_xor.Tensor", "(Tensor self, Tensor other)")],
            None,
            k::bitwise_xor,
        ),
        (
            "logical_and",
            Rule::Bool,
            &[("aten.logical_and.default", "(Tensor self, Tensor other)")],
            None,
            k::logical_and,
        ),
        (
            "logical_or",
            Rule::Bool,
            &[("aten.logical_or.default", "(Tensor self, Tensor other)")],
            None,
            k::logical_or,
        ),
        (
            "logical_xor",
            Rule::Bool,
            &[("aten.logical_xor.default", "(Tensor self, Tensor other)")],
            None,
            k::logical_xor,
        ),
        (
            "fma",
            Rule::Promote,
            &[("prims.fma.default", "(Tensor a, Tensor b, Tensor c)")],
            None,
            k::fma,
        ),
        (
            "where",
            Rule::Promote,
            &[
                (
                    "aten.where.self",
                    "(Tensor condition, Tensor self, Tensor other)",
                ),
                (
                    "aten.where.ScalarOther",
                    "(Tensor condition, Tensor self, Scalar other)",
                ),
                (
                    "aten.where.ScalarSelf",
                    "(Tensor condition, Scalar self, Tensor other)",
                ),
                (
                    "aten.where.Scalar",
                    "(Tensor condition, Scalar self, Scalar other)",
                ),
            ],
            None,
            k::where_,
        ),
        (
            "tanh_backward",
            Rule::First,
            &[(
                "aten.tanh_backward.default",
                "(Tensor grad_output, Tensor output)",
            )],
            None,
            k::tanh_backward,
        ),
        (
            "sigmoid_backward",
            Rule::First,
            &[(
                "aten.sigmoid_backward.default",
                "(Tensor grad_output, Tensor output)",
            )],
            None,
            k::sigmoid_backward,
        ),
        (
            "threshold_backward",
            Rule::First,
            &[(
                "aten.threshold_backward.default",
                "(Tensor grad_output, Tensor self, Scalar threshold)",
            )],
            None,
            k::threshold_backward,
        ),
        (
            "gelu_backward",
            Rule::First,
            &[(
                "aten.gelu_backward.default",
                "(Tensor grad_output, Tensor self, *, str approximate=\"none\")",
            )],
            None,
            k::gelu_backward_kernel,
        ),
    ];
    for (cmp, kernel) in [
        ("eq", k::eq as Kernel),
        ("ne", k::ne),
        ("lt", k::lt),
        ("le", k::le),
        ("gt", k::gt),
        ("ge", k::ge),
    ] {
        let targets = [format!("aten.{cmp}.Tensor"), format!("aten.{cmp}.Scalar")];
        let ovs = [
            (targets[0].as_str(), "(Tensor self, Tensor other)"),
            (targets[1].as_str(), "(Tensor self, Scalar other)"),
        ];
        t.def_op(leak(cmp), pw(1.0), None, &ovs, move |a| {
            pointwise(a, Rule::Bool, 2)
        })
        .eval(kernel);
    }
    for &(name, rule, ovs, canonical, kernel) in binary {
        let n_tensors = match name {
            "fma" | "where" => 3,
            _ => 2,
        };
        let div_mode = name == "div";
        let is_where = name == "where";
        t.def_op(name, pw(1.0), canonical, ovs, move |a| {
            if div_mode && !matches!(a.get(2), Some(Meta::None) | None) {
                return pointwise(a, Rule::Promote, 2);
            }
            if is_where {
                return infer_where(a);
            }
            pointwise(a, rule, n_tensors)
        })
        .eval(kernel);
    }
    // (name, dtype rule, flops per element, kernel)
    let unary: &[(&str, Rule, f64, Unary)] = &[
        ("neg", Rule::First, 1.0, Elementwise(|x| -x)),
        ("abs", Rule::First, 1.0, Elementwise(f64::abs)),
        ("relu", Rule::First, 1.0, Elementwise(k::relu)),
        ("sign", Rule::First, 1.0, Elementwise(k::sign)),
        ("floor", Rule::First, 1.0, Elementwise(f64::floor)),
        ("ceil", Rule::First, 1.0, Elementwise(f64::ceil)),
        ("round", Rule::First, 1.0, Elementwise(f64::round_ties_even)),
        ("trunc", Rule::First, 1.0, Elementwise(f64::trunc)),
        ("bitwise_not", Rule::First, 1.0, Raw(k::bitwise_not)),
        ("logical_not", Rule::Bool, 1.0, Raw(k::logical_not)),
        ("isnan", Rule::Bool, 1.0, Raw(k::isnan)),
        ("isinf", Rule::Bool, 1.0, Raw(k::isinf)),
        ("exp", Rule::PromoteFloat, 4.0, Elementwise(f64::exp)),
        ("exp2", Rule::PromoteFloat, 4.0, Elementwise(f64::exp2)),
        ("log", Rule::PromoteFloat, 4.0, Elementwise(f64::ln)),
        ("log2", Rule::PromoteFloat, 4.0, Elementwise(f64::log2)),
        ("log1p", Rule::PromoteFloat, 4.0, Elementwise(f64::ln_1p)),
        ("expm1", Rule::PromoteFloat, 4.0, Elementwise(f64::exp_m1)),
        ("tanh", Rule::PromoteFloat, 4.0, Elementwise(f64::tanh)),
        ("sigmoid", Rule::PromoteFloat, 4.0, Elementwise(k::sigmoid)),
        (
            "rsqrt",
            Rule::PromoteFloat,
            2.0,
            Elementwise(|x| 1.0 / x.sqrt()),
        ),
        ("sqrt", Rule::PromoteFloat, 2.0, Elementwise(f64::sqrt)),
        (
            "reciprocal",
            Rule::PromoteFloat,
            1.0,
            Elementwise(|x| 1.0 / x),
        ),
        ("erf", Rule::PromoteFloat, 4.0, Elementwise(k::erf)),
        ("sin", Rule::PromoteFloat, 4.0, Elementwise(f64::sin)),
        ("cos", Rule::PromoteFloat, 4.0, Elementwise(f64::cos)),
        ("silu", Rule::PromoteFloat, 4.0, Elementwise(k::silu)),
    ];
    for &(name, rule, flops, kernel) in unary {
        let target = leak(&format!("aten.{name}.default"));
        let def = t.def_op(
            name,
            pw(flops),
            None,
            &[(target, "(Tensor self)")],
            move |a| pointwise(a, rule, 1),
        );
        match kernel {
            Unary::Elementwise(f) => def.eval(move |a, out| k::unary(a, out, f)),
            Unary::Raw(kernel) => def.eval(kernel),
        };
    }
    t.def_op(
        "gelu",
        pw(8.0),
        None,
        &[(
            "aten.gelu.default",
            "(Tensor self, *, str approximate=\"none\")",
        )],
        |a| pointwise(a, Rule::PromoteFloat, 1),
    )
    .eval(k::gelu_kernel);
    t.def_op(
        "clamp",
        pw(1.0),
        Some("(Tensor self, Scalar? min=None, Scalar? max=None)"),
        &[
            (
                "aten.clamp.default",
                "(Tensor self, Scalar? min=None, Scalar? max=None)",
            ),
            ("aten.clamp_min.default", "(Tensor self, Scalar min)"),
            ("aten.clamp_max.default", "(Tensor self, Scalar max)"),
        ],
        |a| pointwise(a, Rule::Promote, 3),
    )
    .eval(k::clamp);
    t.def_op(
        "masked_fill",
        pw(1.0),
        None,
        &[
            (
                "aten.masked_fill.Scalar",
                "(Tensor self, Tensor mask, Scalar value)",
            ),
            (
                "aten.masked_fill.Tensor",
                "(Tensor self, Tensor mask, Tensor value)",
            ),
        ],
        |a| {
            let x = tensor(a, 0)?;
            let shape = broadcast(&x.shape, &tensor(a, 1)?.shape)?;
            if shape != x.shape {
                return Err(format!(
                    "masked_fill mask does not broadcast to {:?}",
                    x.shape
                ));
            }
            tensor_out(shape, x.dtype)
        },
    )
    .eval(k::masked_fill);
    t.def_op(
        "convert_element_type",
        pw(1.0),
        None,
        &[(
            "prims.convert_element_type.default",
            "(Tensor a, ScalarType dtype)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            let d = opt_dtype(a, 1)?.ok_or("convert_element_type needs a dtype")?;
            tensor_out(x.shape.clone(), d)
        },
    )
    .eval(k::cast);
    t.def_op(
        "_to_copy",
        OpClass::Copy,
        None,
        &[(
            "aten._to_copy.default",
            "(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, bool non_blocking=False, MemoryFormat? memory_format=None)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            tensor_out(x.shape.clone(), opt_dtype(a, 1)?.unwrap_or(x.dtype))
        },
    )
.eval(k::cast);
    t.def_op(
        "copy",
        OpClass::Copy,
        None,
        &[(
            "aten.copy.default",
            "(Tensor self, Tensor src, bool non_blocking=False)",
        )],
        |a| {
            let x = tensor(a, 0)?;
            let src = tensor(a, 1)?;
            if broadcast(&x.shape, &src.shape)? != x.shape {
                return Err(format!(
                    "copy: {:?} does not broadcast to {:?}",
                    src.shape, x.shape
                ));
            }
            tensor_out(x.shape.clone(), x.dtype)
        },
    )
    .eval(k::copy);
}

fn infer_where(a: &[Meta]) -> InferResult {
    let mut shape = Vec::new();
    for m in &a[..3] {
        if let Meta::Tensor(t) = m {
            shape = broadcast(&shape, &t.shape)?;
        }
    }
    if !matches!(&a[0], Meta::Tensor(t) if t.dtype == DType::Bool)
        && !matches!(&a[0], Meta::Bool(_))
    {
        return Err(format!(
            "where: condition must be a bool tensor, got {}",
            a[0]
        ));
    }
    tensor_out(shape, result_type(&[&a[1], &a[2]])?)
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// Broadcasts two shapes.
pub fn broadcast(a: &[i64], b: &[i64]) -> Result<Vec<i64>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let x = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let y = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

/// `torch.result_type` over tensors and wrapped numbers (dim>0 tensors, then 0-d tensors, then
/// python scalars; a higher category from a lower-priority group still lifts the result).
pub fn result_type(operands: &[&Meta]) -> Result<DType, String> {
    let mut groups: [Option<DType>; 3] = [None, None, None];
    for m in operands {
        let (g, d) = match m {
            Meta::Tensor(t) if t.rank() > 0 => (0, t.dtype),
            Meta::Tensor(t) => (1, t.dtype),
            Meta::Float(_) => (2, DType::F32),
            Meta::Int(_) => (2, DType::I64),
            Meta::Bool(_) => (2, DType::Bool),
            Meta::None => continue,
            other => return Err(format!("operand {other} is not a tensor or a number")),
        };
        groups[g] = Some(groups[g].map_or(d, |e| e.promote(d)));
    }
    let combine = |higher: Option<DType>, lower: Option<DType>| -> Option<DType> {
        match (higher, lower) {
            (None, l) => l,
            (h, None) => h,
            (Some(h), Some(l)) => {
                if h.category() >= l.category() {
                    Some(h)
                } else if h.category() == Category::Int && l.is_float() {
                    Some(l)
                } else {
                    Some(h.promote(l))
                }
            }
        }
    };
    combine(groups[0], combine(groups[1], groups[2])).ok_or_else(|| "no tensor operands".into())
}

fn pointwise(a: &[Meta], rule: Rule, n_operands: usize) -> InferResult {
    let operands: Vec<&Meta> = a.iter().take(n_operands).collect();
    let mut shape: Vec<i64> = Vec::new();
    let mut any_tensor = false;
    for m in &operands {
        if let Meta::Tensor(t) = m {
            shape = broadcast(&shape, &t.shape)?;
            any_tensor = true;
        }
    }
    if !any_tensor {
        return Err("a pointwise op needs at least one tensor operand".into());
    }
    let promoting = &operands;
    let dtype = match rule {
        Rule::Bool => DType::Bool,
        Rule::First => tensor(a, 0)?.dtype,
        Rule::Promote => result_type(promoting)?,
        Rule::PromoteFloat => {
            let d = result_type(promoting)?;
            if d.is_float() || d == DType::C64 {
                d
            } else {
                DType::F32
            }
        }
    };
    tensor_out(shape, dtype)
}
