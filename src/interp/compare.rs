//! Comparing values with a tolerance stated per dtype.
//!
//! | dtype | atol | rtol | why |
//! |---|---|---|---|
//! | float64 | 1e-9 | 1e-9 | summation order only |
//! | float32 | 1e-5 | 1e-5 | PyTorch accumulates in f32, the interpreter in f64 |
//! | float16 | 1e-3 | 2e-3 | two ulps (ulp = 2^-10 relative) |
//! | bfloat16 | 1e-2 | 1.6e-2 | two ulps (ulp = 2^-7 relative) |
//! | ints, bool | 0 | 0 | exact |
//!
//! An element passes when `|a - b| <= atol + rtol * |b|`; NaN only matches NaN and an
//! infinity only the same infinity.
//!
//! Rule checks ([`compare_rule`]) compare a rewritten term with the original one, which may
//! itself round intermediate results (a decomposed softmax in f16 rounds its scores; the fused
//! attention that replaces it does not). There an element also passes when the rewritten value
//! is no further from the exact result (the original evaluated on f64 inputs) than twice the
//! original's own error plus the tolerance: a rewrite may be more accurate, never much less.

use super::{Tensor, Value};
use crate::ir::DType;

/// `(atol, rtol)` for results of this dtype.
pub fn tolerance(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F64 => (1e-9, 1e-9),
        DType::F32 | DType::C64 => (1e-5, 1e-5),
        DType::F16 => (1e-3, 2e-3),
        DType::BF16 => (1e-2, 1.6e-2),
        _ => (0.0, 0.0),
    }
}

/// Compares `got` with `want` element by element. Returns the largest error
/// `|got - want| / (1 + |want|)` (absolute near zero, relative for large values) over finite pairs, or a message naming the first element outside the tolerance (or a shape,
/// dtype or structure difference).
pub fn compare(got: &Value, want: &Value) -> Result<f64, String> {
    compare_with(got, want, false)
}

/// Like [`compare`], but where `want` is NaN any `got` passes: a rewrite may define what the
/// original left undefined (e.g. fused attention gives zeros for a fully masked row where the
/// decomposed softmax gives NaN). Used by rule checks, where `want` is the left side.
pub fn compare_refining(got: &Value, want: &Value) -> Result<f64, String> {
    compare_with(got, want, true)
}

/// Compares a rewritten term's value `got` with the original's `want`, given the original
/// evaluated on f64 inputs (`exact`, when it could be): NaN in `want` accepts anything (see
/// [`compare_refining`]) and an element off by more than the tolerance still passes when it
/// is no further from `exact` than twice `want`'s distance plus the tolerance.
pub fn compare_rule(got: &Value, want: &Value, exact: Option<&Value>) -> Result<f64, String> {
    match (got, want, exact) {
        (Value::Tensor(a), Value::Tensor(b), Some(Value::Tensor(e))) if e.shape == b.shape => {
            compare_tensors_exact(a, b, Some(e))
        }
        (Value::Tuple(a), Value::Tuple(b), Some(Value::Tuple(e)))
            if a.len() == b.len() && b.len() == e.len() =>
        {
            let mut worst: f64 = 0.0;
            for i in 0..a.len() {
                worst = worst.max(
                    compare_rule(&a[i], &b[i], Some(&e[i]))
                        .map_err(|m| format!("item {i}: {m}"))?,
                );
            }
            Ok(worst)
        }
        _ => compare_refining(got, want),
    }
}

fn compare_with(got: &Value, want: &Value, refine: bool) -> Result<f64, String> {
    match (got, want) {
        (Value::Tensor(a), Value::Tensor(b)) if refine => compare_tensors_exact(a, b, None),
        (Value::Tensor(a), Value::Tensor(b)) => compare_tensors(a, b, refine),
        (Value::Tuple(a), Value::Tuple(b)) | (Value::List(a), Value::List(b))
            if a.len() == b.len() =>
        {
            let mut worst: f64 = 0.0;
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                worst =
                    worst.max(compare_with(x, y, refine).map_err(|e| format!("item {i}: {e}"))?);
            }
            Ok(worst)
        }
        (a, b) if a == b => Ok(0.0),
        (a, b) => Err(format!("got {a}, want {b}")),
    }
}

fn compare_tensors(a: &Tensor, b: &Tensor, refine: bool) -> Result<f64, String> {
    if a.shape != b.shape || a.dtype != b.dtype {
        return Err(format!("got {a}, want {b}"));
    }
    let (atol, rtol) = tolerance(b.dtype);
    let mut worst: f64 = 0.0;
    for (k, (&x, &y)) in a.data.iter().zip(&b.data).enumerate() {
        let ok = if refine && y.is_nan() {
            true
        } else if x.is_nan() || y.is_nan() {
            x.is_nan() && y.is_nan()
        } else if x.is_infinite() || y.is_infinite() {
            x == y
        } else {
            let e = (x - y).abs();
            worst = worst.max(e / (1.0 + y.abs()));
            e <= atol + rtol * y.abs()
        };
        if !ok {
            let idx = super::unravel(k, &b.shape);
            return Err(format!(
                "element {idx:?} of {b}: got {x:e}, want {y:e} (atol {atol:e}, rtol {rtol:e})"
            ));
        }
    }
    Ok(worst)
}

fn compare_tensors_exact(a: &Tensor, b: &Tensor, exact: Option<&Tensor>) -> Result<f64, String> {
    if a.shape != b.shape || a.dtype != b.dtype {
        return Err(format!("got {a}, want {b}"));
    }
    let (atol, rtol) = tolerance(b.dtype);
    let mut worst: f64 = 0.0;
    for (k, (&x, &y)) in a.data.iter().zip(&b.data).enumerate() {
        let ok = if y.is_nan() || x == y {
            true
        } else if x.is_nan() || x.is_infinite() || y.is_infinite() {
            false
        } else {
            let e = (x - y).abs();
            worst = worst.max(e / (1.0 + y.abs()));
            e <= atol + rtol * y.abs()
                || exact.map(|t| t.data[k]).is_some_and(|z| {
                    z.is_finite() && (x - z).abs() <= 2.0 * (y - z).abs() + atol + rtol * z.abs()
                })
        };
        if !ok {
            let idx = super::unravel(k, &b.shape);
            let ex = exact.map_or(String::new(), |t| format!(", exact {:e}", t.data[k]));
            return Err(format!(
                "element {idx:?} of {b}: got {x:e}, want {y:e}{ex} (atol {atol:e}, rtol {rtol:e})"
            ));
        }
    }
    Ok(worst)
}
