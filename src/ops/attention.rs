//! Canonical ops that rules create: `matmul` (batched, with equal batch dims) and
//! `scaled_dot_product_attention`. Both are real aten ops, so they lower to themselves:
//! `aten.matmul.default` and `aten.scaled_dot_product_attention.default`, which PyTorch runs on
//! CPU and CUDA alike (it dispatches to the device's fused kernel: flash/efficient/math).

use super::matmul::mm_shape;
use super::meta::*;
use super::{OpClass, OpTable};

pub(super) fn register(t: &mut OpTable) {
    t.def_op(
        "matmul",
        OpClass::Matmul,
        None,
        &[("aten.matmul.default", "(Tensor self, Tensor other)")],
        |a| {
            let (x, y) = (tensor(a, 0)?, tensor(a, 1)?);
            if x.rank() < 2 || x.rank() != y.rank() {
                return Err(format!(
                    "matmul here takes operands of one rank >= 2, got {:?} and {:?}",
                    x.shape, y.shape
                ));
            }
            if x.dtype != y.dtype {
                return Err(format!(
                    "matmul operands have dtypes {} and {}",
                    x.dtype, y.dtype
                ));
            }
            tensor_out(mm_shape(x, y, x.rank())?, x.dtype)
        },
    );
    t.def_op(
        "scaled_dot_product_attention",
        OpClass::Attention,
        None,
        &[(
            "aten.scaled_dot_product_attention.default",
            "(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None, float dropout_p=0.0, bool is_causal=False, *, float? scale=None, bool enable_gqa=False)",
        )],
        |a| {
            let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
            let r = q.rank();
            if r < 2 || k.rank() != r || v.rank() != r {
                return Err(format!("sdpa operands {:?} {:?} {:?} need one rank >= 2", q.shape, k.shape, v.shape));
            }
            if q.dtype != k.dtype || q.dtype != v.dtype {
                return Err("sdpa q, k, v need one dtype".into());
            }
            if q.shape[r - 1] != k.shape[r - 1] || k.shape[r - 2] != v.shape[r - 2] || q.shape[..r - 2] != k.shape[..r - 2] || k.shape[..r - 2] != v.shape[..r - 2] {
                return Err(format!("sdpa shapes do not fit: q {:?} k {:?} v {:?}", q.shape, k.shape, v.shape));
            }
            let mut s = q.shape[..r - 1].to_vec();
            s.push(v.shape[r - 1]);
            if let Meta::Tensor(m) = &a[3] {
                let scores: Vec<i64> = q.shape[..r - 1].iter().copied().chain([k.shape[r - 2]]).collect();
                if super::pointwise::broadcast(&m.shape, &scores)? != scores {
                    return Err(format!("sdpa mask {:?} does not broadcast to {scores:?}", m.shape));
                }
            }
            tensor_out(s, q.dtype)
        },
    );
}
