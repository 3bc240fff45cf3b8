//! Reference evaluation of the op table's entries: the values and small dense tensors the
//! interpreter computes with, and the numeric kernels each entry's eval fn is (see
//! [`OpDef::eval`](super::OpDef::eval)).
//!
//! One file per op family, as in the table: `pointwise.rs` holds `add`, `exp`, ...; the
//! family file of the table (`ops/pointwise.rs`) registers each op with its kernel. Values are
//! computed in `f64`; [`eval_op`] rounds the result to the dtype the entry's shape rule gives.

pub(super) mod attention;
pub(super) mod factory;
pub(super) mod index;
pub(super) mod matmul;
pub(super) mod pointwise;
pub(super) mod reduce;
mod tensor;
mod value;
pub(super) mod view;

pub use attention::{with_dropout_uniform, with_kernel_target};
pub use tensor::{broadcast_shapes, round_to, strides, unravel, Tensor};
pub use value::Value;

use super::{Meta, Op};

/// Reference evaluation of an op: its argument values (one per canonical parameter) and the
/// result meta its shape rule inferred, to the result value (any float dtype: [`eval_op`]
/// rounds it to the meta's).
pub type EvalFn = Box<dyn Fn(&[Value], &Meta) -> Result<Value, String> + Send + Sync>;

/// Evaluates `op` on argument values (one per canonical parameter): its shape rule types the
/// result, its eval fn computes it, and the value is rounded to the result dtype.
pub fn eval_op(op: Op, args: &[Value]) -> Result<Value, String> {
    let def = op.def();
    let wrap = |e: String| format!("{}: {e}", def.name);
    let metas: Vec<Meta> = args.iter().map(Value::meta).collect();
    let out = (def.infer)(&metas).map_err(|e| wrap(format!("ill-typed arguments: {e}")))?;
    let eval = def
        .eval
        .as_ref()
        .ok_or_else(|| wrap("the interpreter cannot evaluate this op".into()))?;
    let raw = eval(args, &out).map_err(wrap)?;
    raw.conform(&out).map_err(wrap)
}

/// Shape of a value's tensor as `usize`s (helper for the kernels).
fn ushape(m: &Meta) -> Result<Vec<usize>, String> {
    match m {
        Meta::Tensor(t) => Ok(t.shape.iter().map(|&d| d as usize).collect()),
        other => Err(format!(
            "expected a tensor result, the op table says {other}"
        )),
    }
}
