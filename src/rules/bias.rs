//! Conditions of the rules for attention with a `-inf` bool mask (`rules/bias.rules`),
//! registered beside [`super::training`]'s, each with the generator `check-rules` draws its
//! arguments with.

use super::cond::{condition, Computed, Condition, Draw, DrawCtx, Drawn, Env};
use crate::egraph::Facts;
use crate::ir::DType;
use crate::ops::{Meta, TMeta};

/// The float mask `where(c, fill, 0)` of q's dtype that a bool `c` makes: its meta.
fn fill_mask(c: &Meta, q: &Meta) -> Option<Meta> {
    let (c, q) = (c.tensor()?, q.tensor()?);
    (c.dtype == DType::Bool && c.rank() >= 2).then(|| {
        Meta::Tensor(TMeta {
            shape: c.shape.clone(),
            dtype: q.dtype,
        })
    })
}

/// `sdpa-kernel-takes` with its mask argument replaced.
fn kernel_takes(env: &Env, a: &[&Meta], mask: &Meta) -> bool {
    let Some(takes) = condition("sdpa-kernel-takes") else {
        return false;
    };
    let mut args: Vec<&Meta> = a.to_vec();
    args[3] = mask;
    (takes.test)(env, &args)
}

/// Conditions of `rules/bias.rules`.
pub const CONDITIONS: &[Condition] = &[
    Condition {
        name: "dropout-no-backward",
        arity: None,
        doc: "(?r ?q ?k [?g]): `dropout-uniform`, and the dropout has no backward in the input graph (no `convert(rand > p)`: an inference graph keeping training-mode dropout; the analysis's `dropout_no_backward` fact)",
        sees_env: true,
        sees_target: false,
        gen: Some(gen_no_backward),
        test: |env, a| {
            env.fact(0).dropout_no_backward
                && condition("dropout-uniform").is_some_and(|c| (c.test)(env, a))
        },
    },
    Condition {
    name: "sdpa-kernel-takes-fill",
    arity: None,
    doc: "(?q ?k ?v ?c [?g]): `sdpa-kernel-takes` for the float mask where(?c, -inf, 0) of q's dtype that the bool tensor ?c (rank >= 2, broadcasting to the scores [B, H, L, S]) makes; the kernels give 0 (forward) and no gradient in a row that ?c masks everywhere",
    sees_env: false,
    sees_target: true,
    gen: Some(gen_fill_kernel),
    test: |env, a| {
        a.len() >= 4
            && fill_mask(a[3], a[0]).is_some_and(|m| kernel_takes(env, a, &m))
    },
    },
];

/// `dropout-uniform`'s draws, ?r with the `dropout_no_backward` fact too.
fn gen_no_backward(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let drawn = (condition("dropout-uniform")?.gen?)(d, c)?;
    Some(match drawn {
        Drawn::Values {
            shape,
            dtype,
            data,
            mut facts,
        } if c.pos == 0 => {
            facts.dropout_no_backward = true;
            Drawn::Values {
                shape,
                dtype,
                data,
                facts,
            }
        }
        other => other,
    })
}

/// Computed attributes of `rules/bias.rules` (none).
pub const COMPUTED: &[Computed] = &[];

/// q, k, v and g as `sdpa-kernel-takes` draws them, fitting the bool `c` when it is drawn
/// first; `c` with some rows masked everywhere (`true` = masked), of the scores' shape or
/// broadcast over heads and queries.
fn gen_fill_kernel(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    let efficient = c.target == crate::target::Target::Cuda;
    let gen = condition("sdpa-kernel-takes")?.gen?;
    if c.pos != 3 {
        // Before q or k is drawn, take their batch, head, query and key dims from `c`.
        let mut args: Vec<Option<Meta>> = c.args.to_vec();
        if let (Some(m), true) = (c.tensor(3), args.len() > 3) {
            if m.rank() == 4 {
                let dim = |d: &mut dyn Draw, x: i64| if x > 1 { x } else { d.pick(&[1i64, 2, 3]) };
                let q = match c.tensor(0) {
                    Some(q) => q,
                    None => {
                        let (b, h, l) = (m.shape[0], dim(d, m.shape[1]), dim(d, m.shape[2]));
                        let e = if efficient {
                            d.pick(&[8i64, 16])
                        } else {
                            d.pick(&[1i64, 2, 3, 4])
                        };
                        let dtype = if efficient {
                            d.pick(&[DType::F32, DType::F16, DType::BF16])
                        } else {
                            d.pick(&super::cond::FLOATS)
                        };
                        TMeta {
                            shape: vec![b, h, l, e],
                            dtype,
                        }
                    }
                };
                if q.rank() == 4 && c.tensor(1).is_none() {
                    args[1] = Some(Meta::Tensor(TMeta {
                        shape: vec![q.shape[0], q.shape[1], m.shape[3], q.shape[3]],
                        dtype: q.dtype,
                    }));
                }
                args[0] = Some(Meta::Tensor(q));
            }
        }
        let ctx = DrawCtx {
            pos: c.pos,
            args: &args,
            rank: c.rank,
            keep_fill: c.keep_fill,
            target: c.target,
        };
        return gen(d, &ctx);
    }
    let shape = match (c.tensor(0), c.tensor(1)) {
        (Some(q), Some(k)) if q.rank() == 4 && k.rank() == 4 => {
            let (b, h, l, s) = (q.shape[0], q.shape[1], q.shape[2], k.shape[2]);
            if d.chance(0.5) {
                vec![b, h, l, s]
            } else {
                vec![b, 1, 1, s]
            }
        }
        (Some(q), None) if q.rank() == 4 => {
            let s = if efficient {
                d.pick(&[16i64, 32])
            } else {
                d.pick(&[1i64, 2, 3, 4])
            };
            if d.chance(0.5) {
                vec![q.shape[0], q.shape[1], q.shape[2], s]
            } else {
                vec![q.shape[0], 1, 1, s]
            }
        }
        (None, None) => {
            let s = if efficient {
                d.pick(&[16i64, 32])
            } else {
                d.pick(&[1i64, 2, 3, 4])
            };
            let b = d.pick(&[1i64, 2]);
            if d.chance(0.5) {
                vec![b, d.pick(&[1i64, 2, 3]), d.pick(&[1i64, 2, 5]), s]
            } else {
                vec![b, 1, 1, s]
            }
        }
        _ => return None,
    };
    let rows = (shape[0] * shape[1] * shape[2]) as usize;
    let s = shape[3] as usize;
    let mut data = Vec::with_capacity(rows * s);
    for _ in 0..rows {
        let all = d.chance(0.3);
        for _ in 0..s {
            data.push(if all || d.chance(0.3) { 1.0 } else { 0.0 });
        }
    }
    Some(Drawn::Values {
        shape,
        dtype: DType::Bool,
        data,
        facts: Facts::default(),
    })
}
