//! Kernels of indexing and data movement: embedding, advanced indexing, index_put (duplicates accumulate
//! when asked), gather/scatter, index_select, stack, select/slice_scatter, padding.

use super::tensor::{broadcast_shapes, Tensor};
use super::ushape;
use super::value::*;
use super::view::{concat, slice_indices, wrap_index};
use crate::ops::Meta;

/// For advanced indexing `x[indices]`: the result shape and, for every result position, the
/// flat position in `x` it reads.
fn index_map(x: &Tensor, indices: &[Value]) -> Result<(Vec<usize>, Vec<Vec<usize>>), String> {
    let mut idx: Vec<Option<Tensor>> = Vec::new();
    for (i, v) in indices.iter().enumerate() {
        idx.push(match v {
            Value::None => None,
            Value::Tensor(t) => Some(t.clone()),
            other => return Err(format!("index {i} must be a tensor or None, got {other}")),
        });
    }
    let positions: Vec<usize> = (0..idx.len()).filter(|&i| idx[i].is_some()).collect();
    let mut bshape = Vec::new();
    for &p in &positions {
        bshape = broadcast_shapes(&bshape, &idx[p].as_ref().unwrap().shape)?;
    }
    let idx: Vec<Option<Tensor>> = idx
        .into_iter()
        .map(|t| t.map(|t| t.broadcast_to(&bshape)).transpose())
        .collect::<Result<_, _>>()?;
    let rest: Vec<usize> = (0..x.rank()).filter(|i| !positions.contains(i)).collect();
    let adjacent = positions.windows(2).all(|w| w[1] == w[0] + 1);
    let first = positions.first().copied().unwrap_or(0);
    let before = rest.iter().filter(|&&i| i < first).count();
    let nb = bshape.len();
    let mut shape: Vec<usize> = Vec::new();
    if positions.is_empty() {
        shape = x.shape.clone();
    } else if adjacent {
        shape.extend(rest[..before].iter().map(|&i| x.shape[i]));
        shape.extend(&bshape);
        shape.extend(rest[before..].iter().map(|&i| x.shape[i]));
    } else {
        shape.extend(&bshape);
        shape.extend(rest.iter().map(|&i| x.shape[i]));
    }
    let n: usize = shape.iter().product();
    let mut map = Vec::with_capacity(n);
    for flat in 0..n {
        let o = super::tensor::unravel(flat, &shape);
        let (b, r): (Vec<usize>, Vec<usize>) = if positions.is_empty() {
            (Vec::new(), o.clone())
        } else if adjacent {
            let mut r = o[..before].to_vec();
            r.extend(&o[before + nb..]);
            (o[before..before + nb].to_vec(), r)
        } else {
            (o[..nb].to_vec(), o[nb..].to_vec())
        };
        let mut src = vec![0; x.rank()];
        let mut ri = r.iter();
        for (d, slot) in src.iter_mut().enumerate() {
            *slot = match idx.get(d).and_then(|t| t.as_ref()) {
                Some(t) => wrap_index(t.get(&b) as i64, x.shape[d])?,
                None => *ri.next().unwrap(),
            };
        }
        map.push(src);
    }
    Ok((shape, map))
}

fn flat(shape: &[usize], idx: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

fn put_indexed(
    x: &Tensor,
    indices: &[Value],
    values: &Tensor,
    acc: bool,
) -> Result<Tensor, String> {
    let (shape, map) = index_map(x, indices)?;
    let v = values.broadcast_to(&shape)?;
    let mut out = x.clone();
    for (k, src) in map.iter().enumerate() {
        let f = flat(&x.shape, src);
        if acc {
            out.data[f] += v.data[k];
        } else {
            out.data[f] = v.data[k];
        }
    }
    Ok(out)
}

/// `index` along `d` replaced by `i`.
fn with(idx: &[usize], d: usize, i: usize) -> Vec<usize> {
    let mut v = idx.to_vec();
    v[d] = i;
    v
}

pub(crate) fn embedding(a: &[Value], out: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor({
        let (w, i) = (tensor(a, 0)?, tensor(a, 1)?);
        let shape = ushape(out)?;
        let r = shape.len() - 1;
        let mut err = None;
        let t = Tensor::from_fn(&shape, |o| {
            match wrap_index(i.get(&o[..r]) as i64, w.shape[0]) {
                Ok(row) => w.get(&[row, o[r]]),
                Err(e) => {
                    err = Some(e);
                    0.0
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        t
    }))
}

pub(crate) fn embedding_dense_backward(a: &[Value], _: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor({
        let (g, i) = (tensor(a, 0)?, tensor(a, 1)?);
        let (num, pad, freq) = (int(a, 2)? as usize, int(a, 3)?, boolean(a, 4)?);
        let dd = *g.shape.last().unwrap();
        let mut counts = vec![0.0; num];
        for &k in &i.data {
            counts[wrap_index(k as i64, num)?] += 1.0;
        }
        let mut out = Tensor::from_fn(&[num, dd], |_| 0.0);
        for (p, &k) in i.data.iter().enumerate() {
            if k as i64 == pad {
                continue;
            }
            let row = wrap_index(k as i64, num)?;
            let scale = if freq { 1.0 / counts[row] } else { 1.0 };
            for j in 0..dd {
                out.data[row * dd + j] += g.data[p * dd + j] * scale;
            }
        }
        out
    }))
}

/// `index`, `_unsafe_index`: advanced indexing.
pub(crate) fn index(a: &[Value], _: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor({
        let x = tensor(a, 0)?;
        let (shape, map) = index_map(&x, list(a, 1)?)?;
        Tensor {
            data: map.iter().map(|s| x.get(s)).collect(),
            shape,
            dtype: x.dtype,
        }
    }))
}

/// `index_put`, `_unsafe_index_put`.
pub(crate) fn index_put(a: &[Value], _: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor({
        put_indexed(&tensor(a, 0)?, list(a, 1)?, &tensor(a, 2)?, boolean(a, 3)?)?
    }))
}

/// `_unsafe_masked_index_put_accumulate`: indices clamped, masked-off values add 0.
pub(crate) fn masked_index_put_accumulate(a: &[Value], _: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor({
        let x = tensor(a, 0)?;
        let mask = tensor(a, 1)?;
        let values = tensor(a, 3)?;
        let mut clamped = Vec::new();
        for (d, v) in list(a, 2)?.iter().enumerate() {
            clamped.push(match v {
                Value::Tensor(t) => {
                    let n = x.shape[d] as f64;
                    Value::Tensor(Tensor {
                        data: t.data.iter().map(|&i| i.clamp(-n, n - 1.0)).collect(),
                        ..t.clone()
                    })
                }
                other => other.clone(),
            });
        }
        let shape = broadcast_shapes(&mask.shape, &values.shape)?;
        let (m, v) = (mask.broadcast_to(&shape)?, values.broadcast_to(&shape)?);
        let masked = Tensor {
            data: v
                .data
                .iter()
                .zip(&m.data)
                .map(|(&v, &m)| if m != 0.0 { v } else { 0.0 })
                .collect(),
            ..v
        };
        put_indexed(&x, &clamped, &masked, true)?
    }))
}

pub(crate) fn gather(a: &[Value], _: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor({
        let x = tensor(a, 0)?;
        let d = dim(int(a, 1)?, x.rank())?;
        let i = tensor(a, 2)?;
        let mut err = None;
        let t = Tensor::from_fn(&i.shape, |o| {
            match wrap_index(i.get(o) as i64, x.shape[d]) {
                Ok(k) => x.get(&with(o, d, k)),
                Err(e) => {
                    err = Some(e);
                    0.0
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        t
    }))
}

/// `scatter` (`with_value`: `scatter_value`, a number for `src`; `add`: `scatter_add`).
pub(crate) fn scatter(
    with_value: bool,
    add: bool,
) -> impl Fn(&[Value], &Meta) -> Result<Value, String> {
    move |a, _| {
        Ok(Value::Tensor({
            let mut x = tensor(a, 0)?;
            let d = dim(int(a, 1)?, x.rank())?;
            let i = tensor(a, 2)?;
            let src = if with_value {
                None
            } else {
                Some(tensor(a, 3)?)
            };
            let value = if with_value { number(a, 3)? } else { 0.0 };
            for f in 0..i.numel() {
                let o = super::tensor::unravel(f, &i.shape);
                let k = wrap_index(i.data[f] as i64, x.shape[d])?;
                let v = src.as_ref().map_or(value, |s| s.get(&o));
                let t = flat(&x.shape, &with(&o, d, k));
                if add {
                    x.data[t] += v;
                } else {
                    x.data[t] = v;
                }
            }
            x
        }))
    }
}

pub(crate) fn index_select(a: &[Value], _: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor({
        let x = tensor(a, 0)?;
        let d = dim(int(a, 1)?, x.rank())?;
        let i = tensor(a, 2)?;
        let n = if x.rank() == 0 { 1 } else { x.shape[d] };
        let ks = i
            .data
            .iter()
            .map(|&k| wrap_index(k as i64, n))
            .collect::<Result<Vec<_>, _>>()?;
        if x.rank() == 0 {
            x
        } else {
            x.take_along(d, &ks)
        }
    }))
}

pub(crate) fn stack(a: &[Value], out: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor({
        let shape = ushape(out)?;
        let d = dim(int(a, 1)?, shape.len())?;
        let items = list(a, 0)?
            .iter()
            .map(|v| {
                let t = v.tensor().ok_or("stack expects tensors")?;
                let mut s = t.shape.clone();
                s.insert(d, 1);
                t.reshape(&s)
            })
            .collect::<Result<Vec<_>, String>>()?;
        concat(&items, d, &shape)
    }))
}

/// `select_scatter` (`select`) and `slice_scatter`.
pub(crate) fn scatter_into(select: bool) -> impl Fn(&[Value], &Meta) -> Result<Value, String> {
    move |a, _| {
        Ok(Value::Tensor({
            let (mut x, src) = (tensor(a, 0)?, tensor(a, 1)?);
            let d = dim(int(a, 2)?, x.rank())?;
            let ks = if select {
                vec![wrap_index(int(a, 3)?, x.shape[d])?]
            } else {
                slice_indices(x.shape[d], opt_int(a, 3)?, opt_int(a, 4)?, int(a, 5)?)
            };
            let mut sshape = x.shape.clone();
            sshape[d] = ks.len();
            let src = src.reshape(&sshape)?;
            for f in 0..src.numel() {
                let o = super::tensor::unravel(f, &sshape);
                let t = flat(&x.shape, &with(&o, d, ks[o[d]]));
                x.data[t] = src.data[f];
            }
            x
        }))
    }
}

pub(crate) fn constant_pad_nd(a: &[Value], out: &Meta) -> Result<Value, String> {
    Ok(Value::Tensor({
        let x = tensor(a, 0)?;
        let pad = ints(a, 1)?;
        let value = number(a, 2)?;
        let shape = ushape(out)?;
        let r = x.rank();
        Tensor::from_fn(&shape, |o| {
            let mut src = o.to_vec();
            for (i, p) in pad.chunks(2).enumerate() {
                let d = r - 1 - i;
                let s = o[d] as i64 - p[0];
                if s < 0 || s >= x.shape[d] as i64 {
                    return value;
                }
                src[d] = s as usize;
            }
            x.get(&src)
        })
    }))
}
