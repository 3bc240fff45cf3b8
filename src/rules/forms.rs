//! Conditions and computed attributes of `rules/forms.rules` (attention forms fused in
//! training: einsum, hand-written softmax, 3-D `bmm`, bf16 softmax upcast; issue 19).

use super::cond::{Computed, Condition, Draw, DrawCtx, Drawn};
use crate::ir::Arg;
use crate::ops::{Meta, TMeta};
use crate::target::Target;

/// A 3-D tensor meta `[N, L, E]` as the 4-D `[1, N, L, E]` the kernels take; `None` stays.
fn as_4d(m: &Meta) -> Option<Meta> {
    match m {
        Meta::None => Some(Meta::None),
        Meta::Tensor(t) if t.rank() == 3 => {
            let mut shape = t.shape.clone();
            shape.insert(0, 1);
            Some(Meta::Tensor(TMeta {
                shape,
                dtype: t.dtype,
            }))
        }
        _ => None,
    }
}

/// `squeeze(x, dims)`'s shape, given `x`'s (`shape`): without the listed dims of size 1.
fn squeezed(shape: &[i64], d: &Meta) -> Option<Vec<i64>> {
    let r = shape.len() as i64;
    let norm = |d: i64| {
        let n = if d < 0 { d + r } else { d };
        (0..r.max(1)).contains(&n).then_some(n)
    };
    let dims: Vec<i64> = match d {
        Meta::Int(i) => vec![norm(*i)?],
        Meta::List(items) => items
            .iter()
            .map(|x| match x {
                Meta::Int(i) => norm(*i),
                _ => None,
            })
            .collect::<Option<_>>()?,
        _ => return None,
    };
    Some(
        shape
            .iter()
            .enumerate()
            .filter(|(i, &n)| !(n == 1 && dims.contains(&(*i as i64))))
            .map(|(_, &n)| n)
            .collect(),
    )
}

/// Forms conditions.
pub const CONDITIONS: &[Condition] = &[Condition {
    name: "sdpa-kernel-takes-3d",
    arity: None,
    doc: "(?q ?k ?v ?m [?g]): 3-D q, k, v [N, ·, E] (and the gradient [N, L, Ev]) that the target's SDPA training kernel takes once viewed as [1, N, ·, E] (see `sdpa-kernel-takes`)",
    sees_env: false,
    sees_target: true,
    gen: Some(gen_kernel_shapes_3d),
    test: |env, a| {
        let Some(m4) = a.iter().map(|m| as_4d(m)).collect::<Option<Vec<Meta>>>() else {
            return false;
        };
        if a.iter().take(3).any(|m| m.tensor().is_none()) {
            return false;
        }
        let refs: Vec<&Meta> = m4.iter().collect();
        match env.target {
            Target::Cpu => super::training::flash_takes(&refs),
            Target::Cuda => super::training::efficient_takes(&refs),
        }
    },
}];

/// Forms computed attributes.
pub const COMPUTED: &[Computed] = &[Computed {
    name: "squeezed-shape",
    arity: 2,
    doc: "the shape of squeeze(x, ?d) for x of shape ?s (an int list, or a tensor's shape; ?d an int or an int list)",
    sees_env: false,
    sees_target: false,
    eval: |_, a| {
        let shape = match a[0] {
            Meta::Tensor(t) => t.shape.clone(),
            Meta::List(items) => items
                .iter()
                .map(|x| if let Meta::Int(i) = x { Some(*i) } else { None })
                .collect::<Option<Vec<i64>>>()?,
            _ => return None,
        };
        // A -1 size is only known from the viewed tensor: no answer.
        if shape.iter().any(|&n| n < 0) {
            return None;
        }
        let s = squeezed(&shape, a[1])?;
        Some(Arg::List(s.into_iter().map(Arg::Int).collect()))
    },
}];

/// Draws the 3-D q, k, v and gradient of `sdpa-kernel-takes-3d`: the 4-D shapes
/// `sdpa-kernel-takes` draws, with B = 1 dropped.
fn gen_kernel_shapes_3d(d: &mut dyn Draw, c: &DrawCtx) -> Option<Drawn> {
    if c.pos == 3 {
        return Some(Drawn::None);
    }
    let args4: Vec<Option<Meta>> = c.args.iter().map(|m| m.as_ref().and_then(as_4d)).collect();
    let c4 = DrawCtx { args: &args4, ..*c };
    match super::training::kernel_shapes(d, &c4, c.target == Target::Cuda)? {
        Drawn::Tensor(mut s, dt) => {
            s.remove(0);
            Some(Drawn::Tensor(s, dt))
        }
        other => Some(other),
    }
}
