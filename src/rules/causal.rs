//! Conditions of the causal-mask rules (`rules/causal.rules`): they read the analysis's proof
//! of a mask's index structure ([`crate::egraph::mask`]), each with the generator
//! `check-rules` draws its arguments with (a mask input holding exactly what the drawn fact
//! says, and q, k, v, g shaped around it).

use super::cond::{Computed, Condition, Draw, DrawCtx, Drawn, FLOATS};
use super::registry::small_dim;
use crate::egraph::mask::{band_of, Band, MaskFact};
use crate::egraph::Facts;
use crate::ir::DType;
use crate::ops::{Meta, TMeta};
use crate::target::Target;

const F32_MIN: f64 = -3.4028234663852886e38;
const BF16_MIN: f64 = -3.3895313892515355e38;

/// `[L, S]`: the last two dims of `m`, if it has them.
fn last_two(m: &TMeta) -> Option<(i64, i64)> {
    let r = m.rank();
    (r >= 2).then(|| (m.shape[r - 2], m.shape[r - 1]))
}

/// The band the analysis proved of mask argument `i` (additive or keep), about its own last
/// two dims, which must be the scores' `[L, S]` (not broadcast).
fn band(
    env: &super::cond::Env,
    a: &[&Meta],
    i: usize,
    additive: bool,
    ls: (i64, i64),
) -> Option<Band> {
    let m = a.get(i)?.tensor()?;
    if last_two(m)? != ls {
        return None;
    }
    band_of(env.fact(i).mask, additive)
}

/// `(L, S)` of q `[.., L, E]` and k `[.., S, E]` (`kt`: k given transposed, `[.., E, S]`).
fn ls(q: &Meta, k: &Meta, kt: bool) -> Option<(i64, i64)> {
    let (q, k) = (q.tensor()?, k.tensor()?);
    let (r, rk) = (q.rank(), k.rank());
    if r < 2 || rk != r {
        return None;
    }
    Some((
        q.shape[r - 2],
        if kt { k.shape[r - 1] } else { k.shape[r - 2] },
    ))
}

fn causal(env: &super::cond::Env, a: &[&Meta], kt: bool) -> bool {
    ls(a[1], a[2], kt)
        .is_some_and(|(l, s)| band(env, a, 0, true, (l, s)).is_some_and(|b| b.is_causal(l, s)))
}

fn keeps_rows(env: &super::cond::Env, a: &[&Meta], kt: bool) -> bool {
    ls(a[1], a[2], kt).is_some_and(|(l, s)| {
        band(env, a, 0, true, (l, s)).is_some_and(|b| b.keeps_every_row(l, s))
    })
}

/// `(?c ?m ?gw)`: keep mask `c` and additive mask `m`, both `[.., L, S]` of the scores' gradient
/// `gw`, `m` keeping a key in every row, and `c` true exactly where `m` masks (`masked`) or
/// exactly where it keeps.
fn marks(env: &super::cond::Env, a: &[&Meta], masked: bool) -> bool {
    let Some(ls) = a[2].tensor().and_then(last_two) else {
        return false;
    };
    let (Some(bc), Some(bm)) = (band(env, a, 0, false, ls), band(env, a, 1, true, ls)) else {
        return false;
    };
    let want = if masked { not(bm) } else { Some(bm) };
    !bm.at_least && !bc.at_least && bm.keeps_every_row(ls.0, ls.1) && want == Some(bc)
}

/// `(?c ?s ?dt)`: bool `c`, over the scores `s`'s `[L, S]`, true exactly where a band that
/// keeps a key in every row masks (`masked`), or exactly where it keeps.
fn fill_rows(env: &super::cond::Env, a: &[&Meta], masked: bool) -> bool {
    let Some(ls) = a[1].tensor().and_then(last_two) else {
        return false;
    };
    let Some(bc) = band(env, a, 0, false, ls) else {
        return false;
    };
    let kept = if masked { not(bc) } else { Some(bc) };
    kept.is_some_and(|b| b.keeps_every_row(ls.0, ls.1))
}

fn not(b: Band) -> Option<Band> {
    match (b.lo, b.hi) {
        (None, Some(h)) => Some(Band {
            lo: Some(h + 1),
            hi: None,
            ..b
        }),
        (Some(l), None) => Some(Band {
            lo: None,
            hi: Some(l - 1),
            ..b
        }),
        _ => None,
    }
}

/// Causal-mask conditions.
pub const CONDITIONS: &[Condition] = &[
    Condition {
        name: "mask-causal",
        arity: None,
        doc: "(?m ?q ?k ?v [?g]): the analysis proved that mask ?m [.., L, S] (additive: 0 kept, -inf or <= -1e30 masked) keeps exactly key j <= query i, with L == S: SDPA's is_causal mask (top-left), so the block is the causal kernel's with no mask tensor",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_causal_kernel),
        test: |env, a| a.len() >= 4 && causal(env, a, false),
    },
    Condition {
        name: "mask-causal-scores",
        arity: Some(3),
        doc: "(?m ?q ?kt): as `mask-causal`, for q [.., L, E] and kᵀ [.., E, S] (the inference rules' operands)",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_causal_scores),
        test: |env, a| causal(env, a, true),
    },
    Condition {
        name: "mask-keeps-every-row",
        arity: None,
        doc: "(?m ?q ?k ?v [?g]): the analysis proved that additive mask ?m [.., L, S] keeps a band lo <= j - i <= hi that leaves a key in every row (a causal mask, a sliding window): no fully masked row, so the fused kernels, forward and backward, equal the decomposed block on every target",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_rows_kernel),
        test: |env, a| a.len() >= 4 && keeps_rows(env, a, false),
    },
    Condition {
        name: "mask-keeps-every-row-scores",
        arity: Some(3),
        doc: "(?m ?q ?kt): as `mask-keeps-every-row`, for q [.., L, E] and kᵀ [.., E, S]",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_rows_scores),
        test: |env, a| keeps_rows(env, a, true),
    },
    Condition {
        name: "fill-leaves-every-row",
        arity: Some(3),
        doc: "(?c ?s ?dt): the analysis proved that bool ?c [.., L, S] (the scores ?s's last two dims) is true exactly outside a band that keeps a key in every row: a -inf fill where ?c masks no whole row (?dt: the fill's dtype, for check-rules)",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_fill_rows),
        test: |env, a| fill_rows(env, a, true),
    },
    Condition {
        name: "keep-leaves-every-row",
        arity: Some(3),
        doc: "(?c ?s ?dt): the analysis proved that bool ?c [.., L, S] (the scores ?s's last two dims) is true exactly on a band that keeps a key in every row: keeping the scores where ?c holds masks no whole row (?dt: the fill's dtype, for check-rules)",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_keep_rows),
        test: |env, a| fill_rows(env, a, false),
    },
    Condition {
        name: "marks-masked",
        arity: Some(3),
        doc: "(?c ?m ?gw): bool ?c is true exactly where additive mask ?m masks (both proved by the analysis, both [.., L, S] of the scores' gradient ?gw), and ?m keeps a key in every row: the softmax weights, and so their gradient, are exactly 0 where ?c holds",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_marks_masked),
        test: |env, a| marks(env, a, true),
    },
    Condition {
        name: "marks-kept",
        arity: Some(3),
        doc: "(?c ?m ?gw): bool ?c is true exactly where additive mask ?m keeps (proved by the analysis, both [.., L, S] of ?gw), and ?m keeps a key in every row: the weights are exactly 0 where ?c does not hold",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_marks_kept),
        test: |env, a| marks(env, a, false),
    },
    Condition {
        name: "mask-adds-nothing",
        arity: Some(2),
        doc: "(?m ?s): the analysis proved additive mask ?m is 0 everywhere (a mask that keeps every key, e.g. transformers' bidirectional mask of an unpadded batch, `where(q_idx >= 0, 0, finfo.min)`); ?m broadcasts into ?s without growing it, in ?s's dtype",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_adds_nothing),
        test: |env, a| adds_nothing(env, a),
    },
    Condition {
        name: "all-true-and",
        arity: Some(2),
        doc: "(?t ?x): the analysis proved bool ?t true everywhere (e.g. transformers' `q_idx >= 0` term of a bidirectional mask); ?x is a bool tensor broadcasting with ?t: `?t & ?x` is ?x broadcast to their joint shape",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_all_true_and),
        test: |env, a| all_true_and(env, a),
    },
];

/// `(?t ?x)`: ?t a bool tensor proven true everywhere, ?x a bool tensor, the two broadcasting.
fn all_true_and(env: &super::cond::Env, a: &[&Meta]) -> bool {
    let (Some(t), Some(x)) = (a[0].tensor(), a[1].tensor()) else {
        return false;
    };
    matches!(env.fact(0).mask, Some(MaskFact::Keep(b)) if b == Band::ALL)
        && t.dtype == DType::Bool
        && x.dtype == DType::Bool
        && crate::ops::broadcast(&t.shape, &x.shape).is_ok()
}

/// `(?t ?x)`: ?t an all-true bool `[L, 1]` or `[1, 1, L, 1]` with the fact that says so (the
/// query term of a bidirectional mask); ?x a key-padding-like bool `[B, 1, 1, S]` or `[S]`
/// (or, ?t drawn first, `[B, 1, L, S]` / `[L, S]`).
fn gen_all_true_and(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 => {
            let l = d.pick(&[1i64, 2, 3, 4]);
            let shape = if d.chance(0.5) {
                vec![l, 1]
            } else {
                vec![1, 1, l, 1]
            };
            let n = shape.iter().product::<i64>() as usize;
            Some(Drawn::Values {
                shape,
                dtype: DType::Bool,
                data: vec![1.0; n],
                facts: Facts {
                    mask: Some(MaskFact::Keep(Band::ALL)),
                    ..Facts::default()
                },
            })
        }
        1 => {
            // (?t may not be drawn yet: the pattern may name ?x first)
            let s = d.pick(&[2i64, 3, 5]);
            let shape = match (c.tensor(0).map(|t| t.shape), d.chance(0.5)) {
                (Some(t), true) if t.len() == 4 => vec![small_dim(d), 1, t[2], s],
                (Some(t), true) if t.len() == 2 => vec![t[0], s],
                (_, true) => vec![s],
                _ => vec![small_dim(d), 1, 1, s],
            };
            Some(Drawn::Tensor(shape, DType::Bool))
        }
        _ => None,
    }
}

/// `(?m ?s)`: additive mask ?m proven 0 everywhere, broadcasting into ?s without growing it,
/// of ?s's dtype: `s + m` is `s` (equal in every element; at most a -0.0 becomes +0.0).
fn adds_nothing(env: &super::cond::Env, a: &[&Meta]) -> bool {
    let (Some(m), Some(s)) = (a[0].tensor(), a[1].tensor()) else {
        return false;
    };
    matches!(env.fact(0).mask, Some(MaskFact::Additive(b)) if b.lo.is_none() && b.hi.is_none())
        && m.dtype == s.dtype
        && m.rank() <= s.rank()
        && crate::ops::broadcast(&m.shape, &s.shape).is_ok_and(|b| b == s.shape)
}

/// `(?m ?s)`: ?m first, an all-zero additive mask over a fresh `[L, S]` (maybe with size-1
/// leading dims), then the scores ?s `[B, H, L, S]` of its dtype.
fn gen_adds_nothing(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    match c.pos {
        0 => {
            let (l, s) = (d.pick(&[1i64, 2, 3, 4]), d.pick(&[2i64, 3, 4, 5]));
            let lead = if d.chance(0.5) { vec![] } else { vec![1, 1] };
            let dt = d.pick(&FLOATS);
            let mut drawn = band_values(d, lead, l, s, Band::ALL, Some(dt));
            if let Drawn::Values { data, .. } = &mut drawn {
                // every element kept: zeros (the fill never appears)
                data.iter_mut().for_each(|x| *x = 0.0);
            }
            Some(drawn)
        }
        1 => {
            let m = c.tensor(0)?;
            let (l, s) = last_two(&m)?;
            Some(Drawn::Tensor(
                vec![small_dim(d), small_dim(d), l, s],
                m.dtype,
            ))
        }
        _ => None,
    }
}

/// Causal-mask computed attributes.
pub const COMPUTED: &[Computed] = &[Computed {
    name: "broadcast-shape",
    arity: 2,
    doc: "the shape tensors ?a and ?b broadcast to",
    sees_env: false,
    sees_target: false,
    eval: |_, a| {
        let shape = crate::ops::broadcast(&a[0].tensor()?.shape, &a[1].tensor()?.shape).ok()?;
        Some(crate::ir::Arg::List(
            shape.into_iter().map(crate::ir::Arg::Int).collect(),
        ))
    },
}];

// Generators.

/// A band mask input `[.., l, s]` (additive of `dt`, or bool) holding exactly `b`, with the
/// fact that says so. `lead`: the dims before `[l, s]`.
fn band_values(
    d: &mut dyn Draw,
    lead: Vec<i64>,
    l: i64,
    s: i64,
    b: Band,
    additive: Option<DType>,
) -> Drawn {
    let fill = match additive {
        Some(DType::BF16) => d.pick(&[BF16_MIN, f64::NEG_INFINITY]),
        Some(DType::F32 | DType::F64) => d.pick(&[F32_MIN, f64::NEG_INFINITY]),
        _ => f64::NEG_INFINITY,
    };
    let reps: i64 = lead.iter().product();
    let mut data = Vec::new();
    for _ in 0..reps {
        for i in 0..l {
            for j in 0..s {
                let keep =
                    b.lo.map_or(true, |lo| j - i >= lo) && b.hi.map_or(true, |hi| j - i <= hi);
                data.push(match additive {
                    Some(_) => {
                        if keep {
                            0.0
                        } else {
                            fill
                        }
                    }
                    None => keep as u8 as f64,
                });
            }
        }
    }
    let mut shape = lead;
    shape.extend([l, s]);
    let fact = match additive {
        Some(_) => MaskFact::Additive(b),
        None => MaskFact::Keep(b),
    };
    Drawn::Values {
        shape,
        dtype: additive.unwrap_or(DType::Bool),
        data,
        facts: Facts {
            mask: Some(fact),
            ..Facts::default()
        },
    }
}

/// Dims before `[L, S]` of a mask broadcasting to scores `[B, H, L, S]`.
fn lead_dims(d: &mut dyn Draw, scores_lead: &[i64]) -> Vec<i64> {
    match d.below(3) {
        0 => vec![],
        1 => vec![1; scores_lead.len()],
        _ => {
            let mut v = vec![1; scores_lead.len()];
            if let Some(first) = v.first_mut() {
                *first = scores_lead[0];
            }
            v
        }
    }
}

/// q, k, v, g of a block (roles 1..=4 of `(?m ?q ?k ?v [?g])`), S == L when `square`, from
/// whichever are drawn; the mask (role 0) with band `b` of `[L, S]`.
fn kernel_roles(d: &mut dyn Draw, c: &DrawCtx, square: bool, causal_band: bool) -> Option<Drawn> {
    let known = |i: usize| c.tensor(i).filter(|m| m.rank() == 4);
    let (q, k, v, g) = (known(1), known(2), known(3), known(4));
    let cuda = c.target == Target::Cuda;
    if c.pos == 0 {
        let q = q?;
        let k = k?;
        let (l, s) = (q.shape[2], k.shape[2]);
        let b = if causal_band {
            Band::CAUSAL
        } else {
            window(d, l, s)
        };
        let lead = lead_dims(d, &q.shape[..2]);
        return Some(band_values(d, lead, l, s, b, Some(q.dtype)));
    }
    let any = q.clone().or(k.clone()).or(v.clone()).or(g.clone());
    let head = |d: &mut dyn Draw| {
        if cuda {
            d.pick(&[8i64, 16])
        } else {
            small_dim(d)
        }
    };
    let b = any.as_ref().map_or_else(|| small_dim(d), |m| m.shape[0]);
    let h = any.as_ref().map_or_else(|| small_dim(d), |m| m.shape[1]);
    let lq = q.as_ref().or(g.as_ref()).map(|m| m.shape[2]);
    let sk = k.as_ref().or(v.as_ref()).map(|m| m.shape[2]);
    let (l, s) = match (lq, sk, square) {
        (Some(l), _, true) | (None, Some(l), true) => (l, l),
        (None, None, true) => {
            let l = d.pick(&[1i64, 2, 3, 4, 5]);
            (l, l)
        }
        (l, s, false) => {
            let s = s.unwrap_or_else(|| {
                if cuda {
                    d.pick(&[16i64, 32])
                } else {
                    small_dim(d) + 1
                }
            });
            (l.unwrap_or_else(|| d.pick(&[1i64, 2, 3, 4, 5])), s)
        }
    };
    let e = q
        .as_ref()
        .or(k.as_ref())
        .map_or_else(|| head(d), |m| m.shape[3]);
    let ev = if cuda {
        v.as_ref()
            .or(g.as_ref())
            .map_or_else(|| head(d), |m| m.shape[3])
    } else {
        e
    };
    let dt = any.map_or_else(
        || {
            if cuda {
                d.pick(&[DType::F32, DType::F16, DType::BF16])
            } else {
                d.pick(&FLOATS)
            }
        },
        |m| m.dtype,
    );
    let shape = match c.pos {
        1 => vec![b, h, l, e],
        2 => vec![b, h, s, e],
        3 => vec![b, h, s, ev],
        4 => vec![b, h, l, ev],
        _ => return None,
    };
    Some(Drawn::Tensor(shape, dt))
}

/// A band `lo <= j - i <= hi` keeping a key in every row of `[l, s]`: causal, a sliding
/// window, or a shifted diagonal.
fn window(d: &mut dyn Draw, l: i64, s: i64) -> Band {
    let hi = d.pick(&[0i64, 0, 1, 2]);
    let lo = if d.chance(0.5) {
        Some(-d.pick(&[0i64, 1, 2]))
    } else {
        None
    };
    let b = Band {
        key: 0,
        query: 1,
        lo,
        hi: Some(hi),
        at_least: false,
    };
    if b.keeps_every_row(l, s) {
        b
    } else {
        Band { lo: None, ..b }
    }
}

fn gen_causal_kernel(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    kernel_roles(d, c, true, true)
}

fn gen_rows_kernel(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    kernel_roles(d, c, false, false)
}

/// `(?m ?q ?kt)`: kᵀ `[.., E, L]` from q (square for the causal mask), the mask from both;
/// q itself is left to the other conditions.
fn scores_roles(d: &mut dyn Draw, c: &DrawCtx, causal_band: bool) -> Option<Drawn> {
    let q = c.tensor(1)?;
    let r = q.rank();
    if r < 2 {
        return None;
    }
    match c.pos {
        2 => {
            let mut s = q.shape.clone();
            s[r - 2] = q.shape[r - 1];
            s[r - 1] = if causal_band {
                q.shape[r - 2]
            } else {
                small_dim(d) + 1
            };
            Some(Drawn::Tensor(s, q.dtype))
        }
        0 => {
            let kt = c.tensor(2)?;
            let (l, s) = (q.shape[r - 2], kt.shape[r - 1]);
            let b = if causal_band {
                Band::CAUSAL
            } else {
                window(d, l, s)
            };
            let lead = lead_dims(d, &q.shape[..r - 2]);
            Some(band_values(d, lead, l, s, b, Some(q.dtype)))
        }
        _ => None,
    }
}

fn gen_causal_scores(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    scores_roles(d, c, true)
}

fn gen_rows_scores(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    scores_roles(d, c, false)
}

/// The kept band of the `marks-*` draws over `[l, s]`, a function of the shape so that ?m
/// (drawn after ?c, whose values a generator cannot read) gets the same band: `j - i <= h`,
/// h = 0 or 1.
fn marks_band(l: i64, s: i64) -> Band {
    Band {
        key: 0,
        query: 1,
        lo: None,
        hi: Some((s - l).clamp(0, 1)),
        at_least: false,
    }
}

/// `(?c ?m ?gw)`: ?c first (a bool band over a fresh `[L, S]`), then the scores' gradient
/// around it, then ?m keeping the band ?c marks (or its complement).
fn marks_roles(d: &mut dyn Draw, c: &DrawCtx, masked: bool) -> Option<Drawn> {
    match c.pos {
        0 => {
            let (l, s) = (d.pick(&[1i64, 2, 3, 4]), d.pick(&[2i64, 3, 4, 5]));
            let kept = marks_band(l, s);
            let b = if masked { not(kept)? } else { kept };
            let lead = if d.chance(0.5) { vec![] } else { vec![1, 1] };
            Some(band_values(d, lead, l, s, b, None))
        }
        2 => {
            let (l, s) = last_two(&c.tensor(0)?)?;
            let dt = d.pick(&FLOATS);
            Some(Drawn::Tensor(vec![small_dim(d), small_dim(d), l, s], dt))
        }
        1 => {
            let (l, s) = last_two(&c.tensor(0)?)?;
            let gw = c.tensor(2)?;
            let lead = if d.chance(0.5) { vec![] } else { vec![1, 1] };
            Some(band_values(d, lead, l, s, marks_band(l, s), Some(gw.dtype)))
        }
        _ => None,
    }
}

/// `(?c ?s ?dt)`: ?c first (a bool band keeping a key in every row of a fresh `[L, S]`, or
/// its complement), then the scores around it, of the fill's dtype ?dt where it is drawn.
fn fill_roles(d: &mut dyn Draw, c: &DrawCtx, masked: bool) -> Option<Drawn> {
    match c.pos {
        0 => {
            let (l, s) = (d.pick(&[1i64, 2, 3, 4]), d.pick(&[2i64, 3, 4, 5]));
            let kept = window(d, l, s);
            let kept = if masked && not(kept).is_none() {
                Band { lo: None, ..kept }
            } else {
                kept
            };
            let b = if masked { not(kept)? } else { kept };
            let lead = if d.chance(0.5) { vec![] } else { vec![1, 1] };
            Some(band_values(d, lead, l, s, b, None))
        }
        1 => {
            let (l, s) = last_two(&c.tensor(0)?)?;
            let dt = match c.arg(2) {
                Some(Meta::Dtype(t)) if t.is_float() => *t,
                _ => d.pick(&FLOATS),
            };
            Some(Drawn::Tensor(vec![small_dim(d), small_dim(d), l, s], dt))
        }
        _ => None,
    }
}

fn gen_fill_rows(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    fill_roles(d, c, true)
}

fn gen_keep_rows(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    fill_roles(d, c, false)
}

fn gen_marks_masked(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    marks_roles(d, c, true)
}

fn gen_marks_kept(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    marks_roles(d, c, false)
}
