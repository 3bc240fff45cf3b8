//! Tensor factories. `empty*` and `new_empty` are evaluated as zeros (their contents are
//! unspecified in PyTorch; rules must not depend on them).

use super::tensor::Tensor;
use super::ushape;
use super::value::*;
use crate::ops::Meta;

pub(super) fn eval(name: &str, a: &[Value], out: &Meta) -> Option<Result<Value, String>> {
    let fill = |v: f64| -> Result<Value, String> {
        Ok(Value::Tensor(Tensor::from_fn(&ushape(out)?, |_| v)))
    };
    let r = match name {
        "full" => number(a, 1).and_then(fill),
        "full_like" => number(a, 1).and_then(fill),
        "scalar_tensor" => number(a, 0).and_then(fill),
        "zeros" | "empty" | "zeros_like" | "empty_like" | "new_zeros" | "new_empty" => fill(0.0),
        "ones" | "ones_like" | "new_ones" => fill(1.0),
        "iota" => (|| {
            let (start, step) = (number(a, 1)?, number(a, 2)?);
            Ok(Value::Tensor(Tensor::from_fn(&ushape(out)?, |i| {
                start + step * i[0] as f64
            })))
        })(),
        "arange" => (|| {
            let (start, step) = (number(a, 0)?, number(a, 2)?);
            Ok(Value::Tensor(Tensor::from_fn(&ushape(out)?, |i| {
                start + step * i[0] as f64
            })))
        })(),
        _ => return None,
    };
    Some(r)
}
