//! Kernels of the tensor factories. `empty*` and `new_empty` are evaluated as zeros (their
//! contents are unspecified in PyTorch; rules must not depend on them).

use super::tensor::Tensor;
use super::ushape;
use super::value::*;
use crate::ops::Meta;

/// A tensor of the inferred shape filled with `v`.
fn fill(v: f64, out: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor(Tensor::from_fn(&ushape(out)?, |_| v)))
}

/// A tensor filled with the number argument `i` (`full`, `full_like`, `scalar_tensor`).
pub(crate) fn full_with(i: usize) -> impl Fn(&[Value], &Meta) -> Result<Value, String> {
    move |a, out| fill(number(a, i)?, out)
}

/// A tensor filled with the constant `v` (`zeros`, `ones`, `empty`...).
pub(crate) fn constant(v: f64) -> impl Fn(&[Value], &Meta) -> Result<Value, String> {
    move |_, out| fill(v, out)
}

/// `start + step·i` with `start`, `step` the number arguments at `start_at`, `step_at`
/// (`iota`: 1, 2; `arange`: 0, 2).
pub(crate) fn range(
    start_at: usize,
    step_at: usize,
) -> impl Fn(&[Value], &Meta) -> Result<Value, String> {
    move |a, out| {
        let (start, step) = (number(a, start_at)?, number(a, step_at)?);
        Ok(Value::Tensor(Tensor::from_fn(&ushape(out)?, |i| {
            start + step * i[0] as f64
        })))
    }
}
