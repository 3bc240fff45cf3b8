//! Index structure of attention masks, proved by the analysis ([`MaskFact`]): masks built
//! from index comparisons (`iota`/`arange`, their views, `le(j, i)`, `tril`/`triu` as
//! AOTAutograd decomposes them, `where(keep, 0, finfo.min)`, AND-ed windows) are known to
//! keep exactly the band `lo <= j - i <= hi` of a query axis `i` and a key axis `j`. The
//! conditions of `rules/causal.rules` read it: a band that is SDPA's causal mask (`j <= i`,
//! L == S) becomes `is_causal=True`, one that keeps a key in every row fuses with its mask by
//! default (no fully masked row, so the fused backward is exact on every target).
//!
//! Axes are counted from the end (0 = last), so that broadcasting and leading unsqueezes do
//! not move them. A fact is dropped wherever it is not certain (an AND with anything the
//! analysis does not know, e.g. a key-padding mask input: rows can then be fully masked).

use super::analysis::FxEGraph;
use super::lang::Lang;
use crate::ops::{Meta, Op};
use egg::Id;

/// What is known of a mask-like tensor's elements, in its own coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskFact {
    /// An integer tensor: `value = Σ coef·index(axis) + off` (at most two axes, coef ±1).
    Index(Affine),
    /// A bool (or 0/1-valued) tensor: true (1) exactly where the band keeps.
    Keep(Band),
    /// A float tensor: 0 where the band keeps, `-inf` or at most -1e30 elsewhere (an
    /// additive mask that zeroes those weights in a row that keeps something).
    Additive(Band),
}

/// `Σ coef·index(axis) + off` over at most two axes (counted from the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Affine {
    /// `(axis, coef)`; coef 0 marks an unused slot.
    pub terms: [(u8, i8); 2],
    /// The constant.
    pub off: i64,
}

/// The elements `lo <= j - i <= hi` (bounds `None`: unbounded) of key axis `key` (index `j`)
/// and query axis `query` (index `i`), both counted from the end, `key < query`; with both
/// bounds `None`, every element (the axes then mean nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    /// Key axis (from the end).
    pub key: u8,
    /// Query axis (from the end).
    pub query: u8,
    /// Least `j - i` kept.
    pub lo: Option<i64>,
    /// Greatest `j - i` kept.
    pub hi: Option<i64>,
    /// Kept at least there (and maybe elsewhere too): enough to know that every row keeps a
    /// key, not what the mask is.
    pub at_least: bool,
}

impl Band {
    /// Every element (no bounds).
    pub const ALL: Band = Band {
        key: 0,
        query: 1,
        lo: None,
        hi: None,
        at_least: false,
    };

    /// SDPA's causal mask `j <= i` on the last two axes.
    pub const CAUSAL: Band = Band {
        key: 0,
        query: 1,
        lo: None,
        hi: Some(0),
        at_least: false,
    };

    fn is_all(&self) -> bool {
        self.lo.is_none() && self.hi.is_none()
    }

    /// The elements both keep.
    fn and(self, o: Band) -> Option<Band> {
        if self.is_all() {
            return Some(o);
        }
        if o.is_all() {
            return Some(self);
        }
        if (self.key, self.query) != (o.key, o.query) {
            return None;
        }
        let max = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        let min = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        Some(Band {
            lo: max(self.lo, o.lo),
            hi: min(self.hi, o.hi),
            at_least: self.at_least || o.at_least,
            ..self
        })
    }

    /// The elements it does not keep, when that is a band (one bound only).
    fn not(self) -> Option<Band> {
        if self.at_least {
            return None;
        }
        match (self.lo, self.hi) {
            (None, Some(h)) => Some(Band {
                lo: Some(h.checked_add(1)?),
                hi: None,
                ..self
            }),
            (Some(l), None) => Some(Band {
                lo: None,
                hi: Some(l.checked_sub(1)?),
                ..self
            }),
            _ => None,
        }
    }

    /// Whether every row `i < l` of an `[l, s]` mask keeps a key `j < s`.
    pub fn keeps_every_row(&self, l: i64, s: i64) -> bool {
        if l <= 0 {
            return true;
        }
        s >= 1
            && self.hi.map_or(true, |h| h >= 0)
            && self.lo.map_or(true, |lo| l - 1 + lo < s)
            && match (self.lo, self.hi) {
                (Some(lo), Some(hi)) => lo <= hi,
                _ => true,
            }
    }

    /// Whether an `[l, s]` mask keeps exactly `j <= i` (SDPA's `is_causal` for `l == s`).
    pub fn is_causal(&self, l: i64, s: i64) -> bool {
        !self.at_least && l == s && self.hi == Some(0) && self.lo.map_or(true, |lo| lo <= 1 - l)
    }
}

/// The band of a mask class of shape `[.., l, s]` on its last two axes, if it has one that
/// is about those axes (the key last, the query before it).
pub fn band_of(fact: Option<MaskFact>, additive: bool) -> Option<Band> {
    match (fact?, additive) {
        (MaskFact::Additive(b), true) | (MaskFact::Keep(b), false) => {
            (b.is_all() || (b.key, b.query) == (0, 1)).then_some(b)
        }
        _ => None,
    }
}

/// A compile-time number a class holds (a literal, `full`, `scalar_tensor` and copies).
fn const_value(eg: &FxEGraph, id: Id, depth: u8) -> Option<f64> {
    if depth > 4 {
        return None;
    }
    match eg[id].data.meta {
        Meta::Int(i) => return Some(i as f64),
        Meta::Float(x) => return Some(x),
        Meta::Bool(b) => return Some(b as u8 as f64),
        _ => {}
    }
    eg[id].nodes.iter().find_map(|n| match n {
        Lang::Call(op, ch) => match op.name() {
            "full" => ch.get(1).and_then(|&c| const_value(eg, c, depth + 1)),
            "scalar_tensor" | "lift_fresh_copy" | "alias" | "clone" | "expand" => {
                ch.first().and_then(|&c| const_value(eg, c, depth + 1))
            }
            _ => None,
        },
        _ => None,
    })
}

fn int_of(eg: &FxEGraph, id: Id) -> Option<i64> {
    match eg[id].data.meta {
        Meta::Int(i) => Some(i),
        _ => None,
    }
}

fn shape_of(eg: &FxEGraph, id: Id) -> Option<&[i64]> {
    eg[id].data.meta.tensor().map(|t| t.shape.as_slice())
}

fn size_at(shape: &[i64], axis: u8) -> Option<i64> {
    let r = shape.len();
    (usize::from(axis) < r).then(|| shape[r - 1 - usize::from(axis)])
}

/// The axes a fact speaks of.
fn axes(f: &MaskFact) -> Vec<u8> {
    match f {
        MaskFact::Index(a) => a.terms.iter().filter(|t| t.1 != 0).map(|t| t.0).collect(),
        MaskFact::Keep(b) | MaskFact::Additive(b) if b.is_all() => vec![],
        MaskFact::Keep(b) | MaskFact::Additive(b) => vec![b.key, b.query],
    }
}

/// The fact of operand `id` as seen in a result of shape `out` it broadcasts to: each axis it
/// speaks of must have the same size (> 1) in both, else its value is not what the fact says
/// along it in the result.
fn operand(eg: &FxEGraph, id: Id, out: &[i64]) -> Option<MaskFact> {
    let f = eg[id].data.facts.mask?;
    let shape = shape_of(eg, id)?;
    axes(&f)
        .iter()
        .all(|&a| size_at(shape, a).is_some_and(|n| n > 1 && size_at(out, a) == Some(n)))
        .then_some(f)
}

/// Moves a fact's axes with `map` (`None`: the fact is lost).
fn remap(f: MaskFact, map: impl Fn(u8) -> Option<u8>) -> Option<MaskFact> {
    Some(match f {
        MaskFact::Index(mut a) => {
            for t in a.terms.iter_mut().filter(|t| t.1 != 0) {
                t.0 = map(t.0)?;
            }
            MaskFact::Index(a)
        }
        MaskFact::Keep(b) | MaskFact::Additive(b) => {
            let b = if b.is_all() {
                b
            } else {
                let (key, query) = (map(b.key)?, map(b.query)?);
                if key >= query {
                    return None;
                }
                Band { key, query, ..b }
            };
            if matches!(f, MaskFact::Keep(_)) {
                MaskFact::Keep(b)
            } else {
                MaskFact::Additive(b)
            }
        }
    })
}

/// The axis map of a view-like op from `ins` to `outs` that only adds or drops size-1 dims
/// (view, unsqueeze, squeeze): the k-th dim > 1 from the end stays the k-th.
fn size_one_map(ins: &[i64], outs: &[i64]) -> Option<impl Fn(u8) -> Option<u8>> {
    let big = |s: &[i64]| -> Vec<(usize, i64)> {
        s.iter()
            .rev()
            .enumerate()
            .filter(|(_, &d)| d != 1)
            .map(|(a, &d)| (a, d))
            .collect()
    };
    let (bi, bo) = (big(ins), big(outs));
    if bi.iter().map(|x| x.1).ne(bo.iter().map(|x| x.1)) {
        return None;
    }
    Some(move |a: u8| {
        let k = bi.iter().position(|x| x.0 == usize::from(a))?;
        u8::try_from(bo[k].0).ok()
    })
}

fn affine_add(a: Affine, b: Affine, sign: i8) -> Option<Affine> {
    let mut terms: Vec<(u8, i8)> = a.terms.iter().copied().filter(|t| t.1 != 0).collect();
    for &(ax, c) in b.terms.iter().filter(|t| t.1 != 0) {
        let c = c * sign;
        match terms.iter_mut().find(|t| t.0 == ax) {
            Some(t) => t.1 += c,
            None => terms.push((ax, c)),
        }
    }
    terms.retain(|t| t.1 != 0);
    if terms.len() > 2 || terms.iter().any(|t| t.1.abs() != 1) {
        return None;
    }
    let mut out = [(0u8, 0i8); 2];
    out[..terms.len()].copy_from_slice(&terms);
    let off = if sign > 0 {
        a.off.checked_add(b.off)?
    } else {
        a.off.checked_sub(b.off)?
    };
    Some(Affine { terms: out, off })
}

/// `d <= t` for an affine `d` of two axes with opposite coefs, as a band.
fn at_most(d: Affine, t: i64) -> Option<Band> {
    let [(a1, c1), (a2, c2)] = d.terms;
    if c1 == 0 || c2 == 0 || c1 != -c2 || a1 == a2 {
        return None;
    }
    let (key, query, s) = if a1 < a2 { (a1, a2, c1) } else { (a2, a1, c2) };
    let bound = t.checked_sub(d.off)?;
    // s·(j - i) + off <= t
    Some(if s > 0 {
        Band {
            key,
            query,
            lo: None,
            hi: Some(bound),
            at_least: false,
        }
    } else {
        Band {
            key,
            query,
            lo: Some(bound.checked_neg()?),
            hi: None,
            at_least: false,
        }
    })
}

fn as_affine(eg: &FxEGraph, id: Id, out: &[i64]) -> Option<Affine> {
    if let Some(c) = int_of(eg, id) {
        return Some(Affine {
            terms: [(0, 0); 2],
            off: c,
        });
    }
    match operand(eg, id, out)? {
        MaskFact::Index(a) => Some(a),
        _ => None,
    }
}

fn as_keep(eg: &FxEGraph, id: Id, out: &[i64]) -> Option<Band> {
    match operand(eg, id, out) {
        Some(MaskFact::Keep(b)) => Some(b),
        Some(MaskFact::Index(a)) if a.terms.iter().all(|t| t.1 == 0) && a.off != 0 => {
            Some(Band::ALL)
        }
        Some(_) => None,
        None => match const_value(eg, id, 0) {
            Some(x) if x != 0.0 && !x.is_nan() => Some(Band::ALL),
            _ => None,
        },
    }
}

fn masking(x: f64) -> bool {
    x == f64::NEG_INFINITY || (x.is_finite() && x <= -1e30)
}

/// The mask fact of one e-node's value, from its children's (see [`MaskFact`]).
pub fn mask_fact(eg: &FxEGraph, op: Op, ch: &[Id], meta: &Meta) -> Option<MaskFact> {
    let out = meta.tensor()?;
    let shape = out.shape.as_slice();
    let child = |i: usize| ch.get(i).copied();
    let first = || child(0).and_then(|c| eg[c].data.facts.mask);
    let name = op.name();
    match name {
        "iota" => {
            let (start, step) = (int_of(eg, child(1)?)?, int_of(eg, child(2)?)?);
            (step == 1 && shape.len() == 1 && shape[0] > 1).then_some(MaskFact::Index(Affine {
                terms: [(0, 1), (0, 0)],
                off: start,
            }))
        }
        "arange" => {
            let (start, step) = (int_of(eg, child(0)?)?, int_of(eg, child(2)?)?);
            (step == 1 && shape.len() == 1 && shape[0] > 1).then_some(MaskFact::Index(Affine {
                terms: [(0, 1), (0, 0)],
                off: start,
            }))
        }
        "alias" | "clone" | "lift_fresh_copy" => first(),
        "convert_element_type" => match first()? {
            // indices stay exact in float32/64, not in half types
            MaskFact::Index(_) if out.dtype.is_float() && out.dtype.size() < 4 => None,
            MaskFact::Additive(_) if !out.dtype.is_float() => None,
            f => Some(f),
        },
        "unsqueeze" | "squeeze" | "view" | "_unsafe_view" | "reshape" => {
            let ins = shape_of(eg, child(0)?)?;
            let f = first()?;
            if !axes(&f)
                .iter()
                .all(|&a| size_at(ins, a).is_some_and(|n| n > 1))
            {
                return None;
            }
            remap(f, size_one_map(ins, shape)?)
        }
        "expand" => {
            let ins = shape_of(eg, child(0)?)?;
            let f = first()?;
            axes(&f)
                .iter()
                .all(|&a| size_at(ins, a).is_some_and(|n| n > 1 && size_at(shape, a) == Some(n)))
                .then_some(f)
        }
        "slice" => {
            // slice(self, dim, start, end, step)
            let ins = shape_of(eg, child(0)?)?;
            let f = first()?;
            let r = ins.len() as i64;
            let dim = int_of(eg, child(1)?)?;
            let dim = if dim < 0 { dim + r } else { dim };
            if !(0..r).contains(&dim) {
                return None;
            }
            let axis = u8::try_from(r - 1 - dim).ok()?;
            if !axes(&f).contains(&axis) {
                return Some(f);
            }
            if child(4).and_then(|c| int_of(eg, c)) != Some(1) {
                return None;
            }
            let start = match child(2).map(|c| &eg[c].data.meta) {
                Some(Meta::Int(s)) => *s,
                Some(Meta::None) | None => 0,
                _ => return None,
            };
            let n = ins[dim as usize];
            let start = if start < 0 {
                (start + n).max(0)
            } else {
                start.min(n)
            };
            if shape[dim as usize] < 1 {
                return None;
            }
            if shape[dim as usize] == 1 {
                // one element along the axis: the index there is `start`, a constant
                return match f {
                    MaskFact::Index(a) => Some(MaskFact::Index(pin(a, axis, start)?)),
                    _ => None,
                };
            }
            match f {
                MaskFact::Index(mut a) => {
                    let c = a.terms.iter().find(|t| t.0 == axis && t.1 != 0)?.1;
                    a.off = a.off.checked_add(i64::from(c) * start)?;
                    Some(MaskFact::Index(a))
                }
                MaskFact::Keep(b) | MaskFact::Additive(b) => {
                    let sh = |x: Option<i64>, d: i64| match x {
                        Some(v) => v.checked_add(d).map(Some),
                        None => Some(None),
                    };
                    // j = j' + start (key axis) or i = i' + start (query axis)
                    let d = if axis == b.key { -start } else { start };
                    let nb = Band {
                        lo: sh(b.lo, d)?,
                        hi: sh(b.hi, d)?,
                        ..b
                    };
                    Some(if matches!(f, MaskFact::Keep(_)) {
                        MaskFact::Keep(nb)
                    } else {
                        MaskFact::Additive(nb)
                    })
                }
            }
        }
        "add" | "sub" => {
            // add(self, other, alpha)
            if child(2)
                .is_some_and(|c| int_of(eg, c) != Some(1) && const_value(eg, c, 0) != Some(1.0))
            {
                return None;
            }
            let sign = if name == "add" { 1 } else { -1 };
            if !out.dtype.is_float() || matches!(first(), Some(MaskFact::Index(_))) {
                let a = as_affine(eg, child(0)?, shape)?;
                let b = as_affine(eg, child(1)?, shape)?;
                // two literals make a number, not a tensor the analysis follows
                if int_of(eg, child(0)?).is_some() && int_of(eg, child(1)?).is_some() {
                    return None;
                }
                return affine_add(a, b, sign).map(MaskFact::Index);
            }
            // two additive masks: kept where both keep
            match (
                operand(eg, child(0)?, shape)?,
                operand(eg, child(1)?, shape)?,
            ) {
                (MaskFact::Additive(a), MaskFact::Additive(b)) if sign > 0 => {
                    a.and(b).map(MaskFact::Additive)
                }
                _ => None,
            }
        }
        "le" | "lt" | "ge" | "gt" => {
            let a = as_affine(eg, child(0)?, shape)?;
            let b = as_affine(eg, child(1)?, shape)?;
            let d = affine_add(a, b, -1)?;
            // decided by the range of a - b over the result (e.g. `q_idx >= 0`: all true)
            if let Some((lo, hi)) = range(d, shape) {
                let (always, never) = match name {
                    "le" => (hi <= 0, lo > 0),
                    "lt" => (hi < 0, lo >= 0),
                    "ge" => (lo >= 0, hi < 0),
                    _ => (lo > 0, hi <= 0),
                };
                if always || never {
                    return Some(constant(always));
                }
            }
            let band = match name {
                "le" => at_most(d, 0),
                "lt" => at_most(d, -1),
                // d >= t  <=>  -d <= -t
                "ge" => at_most(affine_add(zero(), d, -1)?, 0),
                _ => at_most(affine_add(zero(), d, -1)?, -1),
            }?;
            Some(MaskFact::Keep(band))
        }
        "eq" | "ne" if is_index(eg, child(0)?) => {
            // two index tensors whose difference is a constant: all true or all false
            let a = as_affine(eg, child(0)?, shape)?;
            let b = as_affine(eg, child(1)?, shape)?;
            let d = affine_add(a, b, -1)?;
            if d.terms.iter().any(|t| t.1 != 0) {
                return None;
            }
            Some(constant((d.off == 0) == (name == "eq")))
        }
        "eq" | "ne" => {
            if name == "eq" {
                if let Some(b) = same_read(eg, child(0)?, child(1)?, shape) {
                    return Some(MaskFact::Keep(b));
                }
            }
            let b = as_keep(eg, child(0)?, shape).filter(|b| !b.is_all())?;
            let v = const_value(eg, child(1)?, 0)?;
            let same = match (name, v) {
                ("eq", 1.0) | ("ne", 0.0) => true,
                ("eq", 0.0) | ("ne", 1.0) => false,
                _ => return None,
            };
            let b = if same { b } else { b.not()? };
            Some(MaskFact::Keep(b))
        }
        "logical_and" | "bitwise_and" => {
            if out.dtype != crate::ir::DType::Bool {
                return None;
            }
            let a = as_keep(eg, child(0)?, shape)?;
            let b = as_keep(eg, child(1)?, shape)?;
            a.and(b).map(MaskFact::Keep)
        }
        "logical_not" | "bitwise_not" => {
            if out.dtype != crate::ir::DType::Bool {
                return None;
            }
            match operand(eg, child(0)?, shape)? {
                MaskFact::Keep(b) if !b.is_all() => b.not().map(MaskFact::Keep),
                _ => None,
            }
        }
        "where" | "keep_mask" => {
            let (x, y) = if name == "where" {
                (
                    const_value(eg, child(1)?, 0)?,
                    const_value(eg, child(2)?, 0)?,
                )
            } else {
                (0.0, const_value(eg, child(1)?, 0)?)
            };
            let c = as_keep(eg, child(0)?, shape)?;
            if c.is_all() {
                // every element kept: the mask is `x` everywhere
                return (out.dtype.is_float() && x == 0.0 && !y.is_nan())
                    .then_some(MaskFact::Additive(Band::ALL));
            }
            if out.dtype == crate::ir::DType::Bool
                || (x == 1.0 && y == 0.0)
                || (x == 0.0 && y == 1.0)
            {
                return match (x == 0.0, y == 0.0) {
                    (false, true) => Some(MaskFact::Keep(c)),
                    (true, false) => c.not().map(MaskFact::Keep),
                    _ => None,
                };
            }
            if !out.dtype.is_float() {
                return None;
            }
            if x == 0.0 && masking(y) {
                Some(MaskFact::Additive(c))
            } else if masking(x) && y == 0.0 {
                c.not().map(MaskFact::Additive)
            } else {
                None
            }
        }
        // a running sum of zeros
        "cumsum" => match first()? {
            MaskFact::Index(a) if a == zero() => Some(MaskFact::Index(zero())),
            _ => None,
        },
        "cat" => cat_fact(eg, child(0)?, child(1)?, shape),
        "index" => index_fact(eg, child(0)?, child(1)?, shape),
        _ => None,
    }
}

/// A bool tensor that is everywhere `value` (all true: every element kept).
fn constant(value: bool) -> MaskFact {
    if value {
        MaskFact::Keep(Band::ALL)
    } else {
        MaskFact::Index(zero())
    }
}

/// Whether a class is a tensor whose fact is an index (an integer, or a constant).
fn is_index(eg: &FxEGraph, id: Id) -> bool {
    matches!(eg[id].data.facts.mask, Some(MaskFact::Index(_)))
}

/// `a` with the index along `axis` fixed to `at` (its term folded into the constant).
fn pin(mut a: Affine, axis: u8, at: i64) -> Option<Affine> {
    for t in a.terms.iter_mut().filter(|t| t.0 == axis && t.1 != 0) {
        a.off = a.off.checked_add(i64::from(t.1).checked_mul(at)?)?;
        *t = (0, 0);
    }
    Some(a)
}

/// `a` read at index `k - at` along `axis`, as a form of `k`.
fn shift(mut a: Affine, axis: u8, at: i64) -> Option<Affine> {
    for t in a.terms.iter().filter(|t| t.0 == axis && t.1 != 0) {
        a.off = a.off.checked_sub(i64::from(t.1).checked_mul(at)?)?;
    }
    Some(a)
}

/// The items of a list class.
fn list_items(eg: &FxEGraph, id: Id) -> Option<&[Id]> {
    eg[id].nodes.iter().find_map(|n| match n {
        Lang::Call(op, items) if *op == Op::LIST => Some(&items[..]),
        _ => None,
    })
}

/// The axis (from the end) of dim `dim` (negative: from the end) of a rank-`r` tensor.
fn axis_of(dim: i64, r: usize) -> Option<u8> {
    let r = i64::try_from(r).ok()?;
    let dim = if dim < 0 { dim + r } else { dim };
    if !(0..r).contains(&dim) {
        return None;
    }
    u8::try_from(r - 1 - dim).ok()
}

/// `cat(pieces, dim)` of index tensors that continue one affine form along `dim` (e.g.
/// `diff(pos, prepend=pos[:, :1] - 1)` of an `arange`: one form `k - 1`).
fn cat_fact(eg: &FxEGraph, list: Id, dim: Id, out: &[i64]) -> Option<MaskFact> {
    let axis = axis_of(int_of(eg, dim)?, out.len())?;
    let mut at = 0i64;
    let mut placed = Vec::new();
    let mut form: Option<Affine> = None;
    for &p in list_items(eg, list)? {
        let shape = shape_of(eg, p)?;
        let MaskFact::Index(a) = eg[p].data.facts.mask? else {
            return None;
        };
        let n = size_at(shape, axis)?;
        let fits = shape.len() == out.len()
            && axes(&MaskFact::Index(a)).iter().all(|&ax| {
                if ax == axis {
                    n > 1
                } else {
                    size_at(shape, ax) == size_at(out, ax)
                }
            });
        if !fits {
            return None;
        }
        if n > 1 {
            // index k of the result is k - at in the piece
            let a = shift(a, axis, at)?;
            if form.is_some_and(|f| f != a) {
                return None;
            }
            form = Some(a);
        }
        placed.push((a, n, at));
        at = at.checked_add(n)?;
    }
    let form = form?;
    placed
        .iter()
        .all(|&(a, n, at)| n > 1 || pin(form, axis, at) == Some(a))
        .then_some(MaskFact::Index(form))
}

/// The least and greatest value of `a` over a tensor of shape `out`.
fn range(a: Affine, out: &[i64]) -> Option<(i64, i64)> {
    let (mut lo, mut hi) = (a.off, a.off);
    for &(ax, c) in a.terms.iter().filter(|t| t.1 != 0) {
        let span = size_at(out, ax)?.checked_sub(1)?;
        if c > 0 {
            hi = hi.checked_add(span)?;
        } else {
            lo = lo.checked_sub(span)?;
        }
    }
    Some((lo, hi))
}

/// `index(self, [i0, i1, ..])` with every dim of `self` indexed by an integer tensor: an
/// affine `self` read at affine positions (each in range, so no negative wrap-around).
fn index_fact(eg: &FxEGraph, src: Id, list: Id, out: &[i64]) -> Option<MaskFact> {
    let MaskFact::Index(a) = eg[src].data.facts.mask? else {
        return None;
    };
    let shape = shape_of(eg, src)?;
    let idx = list_items(eg, list)?;
    if idx.len() != shape.len() {
        return None;
    }
    let mut acc = Affine {
        terms: [(0, 0); 2],
        off: a.off,
    };
    for (d, &i) in idx.iter().enumerate() {
        let t = eg[i].data.meta.tensor()?;
        if t.dtype.is_float() || t.dtype == crate::ir::DType::Bool {
            return None;
        }
        let axis = u8::try_from(shape.len() - 1 - d).ok()?;
        let Some(&(_, c)) = a.terms.iter().find(|t| t.0 == axis && t.1 != 0) else {
            continue;
        };
        let pos = as_affine(eg, i, out)?;
        let (lo, hi) = range(pos, out)?;
        if lo < 0 || hi >= shape[d] {
            return None;
        }
        acc = affine_add(acc, pos, c)?;
    }
    Some(MaskFact::Index(acc))
}

/// The `index(src, list)` e-nodes of a class.
fn index_reads(eg: &FxEGraph, id: Id) -> impl Iterator<Item = (Id, Id)> + '_ {
    eg[id].nodes.iter().filter_map(|n| match n {
        Lang::Call(op, ch) if op.name() == "index" && ch.len() == 2 => Some((ch[0], ch[1])),
        _ => None,
    })
}

/// `eq(src[p], src[p'])` of one integer tensor read at positions that differ in one dim only,
/// `i + o` there against `j + o'` (a query and a key axis): true at least where those
/// positions meet, the band `j - i = o - o'` (HF's packed-sequence overlay
/// `seq[b, q] == seq[b, kv]` keeps the diagonal).
fn same_read(eg: &FxEGraph, a: Id, b: Id, out: &[i64]) -> Option<Band> {
    index_reads(eg, a).find_map(|(src, la)| {
        let t = eg[src].data.meta.tensor()?;
        if t.dtype.is_float() {
            return None; // NaN != NaN
        }
        index_reads(eg, b)
            .filter(|&(s2, _)| eg.find(s2) == eg.find(src))
            .find_map(|(_, lb)| diff_band(eg, list_items(eg, la)?, list_items(eg, lb)?, out))
    })
}

/// Where two index lists name the same positions: every item alike but one, whose forms
/// differ by `±(j - i) + c`.
fn diff_band(eg: &FxEGraph, la: &[Id], lb: &[Id], out: &[i64]) -> Option<Band> {
    if la.len() != lb.len() {
        return None;
    }
    let mut band = None;
    for (&x, &y) in la.iter().zip(lb) {
        if eg.find(x) == eg.find(y) {
            continue;
        }
        let d = affine_add(as_affine(eg, x, out)?, as_affine(eg, y, out)?, -1)?;
        if d == zero() {
            continue;
        }
        if band.is_some() {
            return None;
        }
        // d == 0  <=>  d <= 0 and -d <= 0
        let b = at_most(d, 0)?.and(at_most(affine_add(zero(), d, -1)?, 0)?)?;
        band = Some(Band {
            at_least: true,
            ..b
        });
    }
    band
}

fn zero() -> Affine {
    Affine {
        terms: [(0, 0); 2],
        off: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(lo: Option<i64>, hi: Option<i64>) -> Band {
        Band {
            key: 0,
            query: 1,
            lo,
            hi,
            at_least: false,
        }
    }

    #[test]
    fn rows_kept_and_causal() {
        let causal = band(None, Some(0));
        assert!(causal.keeps_every_row(8, 8) && causal.is_causal(8, 8));
        assert!(causal.keeps_every_row(8, 12) && !causal.is_causal(8, 12));
        let shifted = band(None, Some(-1));
        assert!(!shifted.keeps_every_row(8, 8), "row 0 keeps nothing");
        let window = band(Some(-2), Some(0));
        assert!(window.keeps_every_row(8, 8) && !window.is_causal(8, 8));
        assert!(band(Some(-7), Some(0)).is_causal(8, 8));
        // rows past the keys' end: i - j <= -lo needs j >= i + lo
        assert!(!band(Some(0), None).keeps_every_row(8, 4));
        assert_eq!(band(None, Some(0)).not(), Some(band(Some(1), None)));
        assert_eq!(band(Some(-2), Some(0)).not(), None);
        assert_eq!(
            band(None, Some(0)).and(band(Some(-2), None)),
            Some(band(Some(-2), Some(0)))
        );
        // kept at least on the diagonal: every row keeps a key, but it is no causal mask, its
        // complement is unknown, and a strict causal band leaves row 0 nothing
        let diag = Band {
            at_least: true,
            ..band(Some(0), Some(0))
        };
        let d = diag.and(causal).unwrap();
        assert!(d.keeps_every_row(8, 8) && !d.is_causal(8, 8) && d.not().is_none());
        assert!(!diag.and(shifted).unwrap().keeps_every_row(8, 8));
    }
}
