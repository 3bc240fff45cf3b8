//! Kernels of the views and metadata ops (evaluated as copies), split/unbind, cat.

use super::tensor::Tensor;
use super::ushape;
use super::value::*;
use crate::ops::{permutation, slice_bounds, Meta};

/// Shape-only ops (view, squeeze, clone...): the same elements in the inferred shape.
pub(crate) fn reshape(a: &[Value], out: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor(tensor(a, 0)?.reshape(&ushape(out)?)?))
}

pub(crate) fn expand(a: &[Value], out: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor(tensor(a, 0)?.broadcast_to(&ushape(out)?)?))
}

pub(crate) fn permute(a: &[Value], _: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    Ok(Value::Tensor(
        x.permute(&permutation(&ints(a, 1)?, x.rank())?),
    ))
}

pub(crate) fn transpose(a: &[Value], _: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    if x.rank() == 0 {
        return Ok(Value::Tensor(x));
    }
    let (d0, d1) = (dim(int(a, 1)?, x.rank())?, dim(int(a, 2)?, x.rank())?);
    let mut p: Vec<usize> = (0..x.rank()).collect();
    p.swap(d0, d1);
    Ok(Value::Tensor(x.permute(&p)))
}

pub(crate) fn t(a: &[Value], _: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    Ok(Value::Tensor(if x.rank() < 2 {
        x
    } else {
        x.permute(&[1, 0])
    }))
}

pub(crate) fn slice(a: &[Value], _: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    let d = dim(int(a, 1)?, x.rank())?;
    let idx = slice_indices(x.shape[d], opt_int(a, 2)?, opt_int(a, 3)?, int(a, 4)?);
    Ok(Value::Tensor(x.take_along(d, &idx)))
}

pub(crate) fn select(a: &[Value], out: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    let d = dim(int(a, 1)?, x.rank())?;
    let i = wrap_index(int(a, 2)?, x.shape[d])?;
    Ok(Value::Tensor(x.take_along(d, &[i]).reshape(&ushape(out)?)?))
}

/// `split` and `split_with_sizes`: the parts the inferred tuple's shapes say.
pub(crate) fn split(a: &[Value], out: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    let d = dim(int(a, 2)?, x.rank())?;
    let Meta::Tuple(parts) = out else {
        return Err("split result is not a tuple".into());
    };
    let mut start = 0;
    let mut items = Vec::new();
    for p in parts {
        let n = ushape(p)?[d];
        let idx: Vec<usize> = (start..start + n).collect();
        items.push(Value::Tensor(x.take_along(d, &idx)));
        start += n;
    }
    Ok(Value::Tuple(items))
}

pub(crate) fn unbind(a: &[Value], _: &Meta) -> Result<Value, String> {
    let x = tensor(a, 0)?;
    let d = dim(int(a, 1)?, x.rank())?;
    let mut s = x.shape.clone();
    s.remove(d);
    (0..x.shape[d])
        .map(|i| Ok(Value::Tensor(x.take_along(d, &[i]).reshape(&s)?)))
        .collect::<Result<_, String>>()
        .map(Value::Tuple)
}

pub(crate) fn cat(a: &[Value], out: &Meta) -> Result<Value, String> {
    let items: Vec<Tensor> = list(a, 0)?
        .iter()
        .filter_map(Value::tensor)
        .filter(|t| !(t.rank() == 1 && t.shape[0] == 0))
        .cloned()
        .collect();
    let shape = ushape(out)?;
    let d = dim(int(a, 1)?, shape.len())?;
    Ok(Value::Tensor(concat(&items, d, &shape)))
}

/// Concatenates tensors of equal shape but along `d` into `shape`.
pub(super) fn concat(items: &[Tensor], d: usize, shape: &[usize]) -> Tensor {
    let mut owner = Vec::new();
    for (k, t) in items.iter().enumerate() {
        for i in 0..t.shape[d] {
            owner.push((k, i));
        }
    }
    Tensor::from_fn(shape, |idx| {
        let (k, i) = owner[idx[d]];
        let mut src = idx.to_vec();
        src[d] = i;
        items[k].get(&src)
    })
}

/// A Python index into a dim of size `n`, wrapped and checked.
pub(super) fn wrap_index(i: i64, n: usize) -> Result<usize, String> {
    let k = if i < 0 { i + n as i64 } else { i };
    if k < 0 || k >= n as i64 {
        return Err(format!("index {i} is out of bounds for size {n}"));
    }
    Ok(k as usize)
}

/// The indices a slice picks.
pub(super) fn slice_indices(
    n: usize,
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
) -> Vec<usize> {
    let (s, e) = slice_bounds(start, end, n as i64);
    let step = step.max(1) as usize;
    if e <= s {
        return Vec::new();
    }
    (s as usize..e as usize).step_by(step).collect()
}
