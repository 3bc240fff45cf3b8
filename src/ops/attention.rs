//! Canonical ops that rules create: `matmul` (batched, with equal batch dims) and
//! `scaled_dot_product_attention`. Both are real aten ops, so they lower to themselves:
//! `aten.matmul.default` and `aten.scaled_dot_product_attention.default`, which PyTorch runs on
//! CPU and CUDA alike (it dispatches to the device's fused kernel: flash/efficient/math).
//!
//! For training graphs, the target-neutral SDPA pair the rules write, `sdpa_fwd` (output and
//! row logsumexp) and `sdpa_bwd` (no aten overload: [`super::lower`] makes each the target's
//! kernel when the graph is written), the device kernels they lower to:
//! `_scaled_dot_product_flash_attention_for_cpu` (+ `_backward`) for `--target cpu`,
//! `_scaled_dot_product_efficient_attention` (+ `_backward`) for `--target cuda`; and
//! `_softmax_backward_data`, the softmax backward that AOTAutograd decomposes. Three phantom ops, `attention_weights`, `attention_scores_grad` and
//! `keep_mask`, have no aten lowering and an infinite cost: rules use them as normalised handles
//! on `softmax(q·kᵀ·scale + mask)`, on the gradient of the scores and on HF's boolean mask
//! `where(keep, 0, finfo.min)`, so that the training rules need one spelling of each.

use super::eval::attention as k;
use super::matmul::mm_shape;
use super::meta::*;
use super::{OpClass, OpTable};
use crate::ir::DType;

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
            if x.dtype == crate::ir::DType::Bool || x.dtype != y.dtype {
                return Err(format!(
                    "matmul operands have dtypes {} and {} (bool has no matmul)",
                    x.dtype, y.dtype
                ));
            }
            tensor_out(mm_shape(x, y, x.rank())?, x.dtype)
        },
    )
    .eval(super::eval::matmul::mm);
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
    )
.eval(k::scaled_dot_product_attention);
    register_training(t);
}

/// The shape rule of attention: q [B, H, L, E], k [B, H, S, E], v [B, H, S, Ev], an optional
/// float mask of q's dtype broadcasting to [B, H, L, S]. `same_head` additionally requires
/// Ev == E (the flash kernel's limit); `rank4` requires rank 4 (the training kernels').
fn check_qkv(
    q: &TMeta,
    k: &TMeta,
    v: &TMeta,
    mask: Option<&Meta>,
    same_head: bool,
) -> Result<(), String> {
    if q.rank() != 4 || k.rank() != 4 || v.rank() != 4 {
        return Err(format!(
            "training attention takes 4-D q, k, v, got {:?} {:?} {:?}",
            q.shape, k.shape, v.shape
        ));
    }
    if !q.dtype.is_float() || q.dtype != k.dtype || q.dtype != v.dtype {
        return Err("attention q, k, v need one float dtype".into());
    }
    if q.shape[3] != k.shape[3]
        || k.shape[2] != v.shape[2]
        || q.shape[..2] != k.shape[..2]
        || k.shape[..2] != v.shape[..2]
    {
        return Err(format!(
            "attention shapes do not fit: q {:?} k {:?} v {:?}",
            q.shape, k.shape, v.shape
        ));
    }
    if same_head && v.shape[3] != q.shape[3] {
        return Err("this attention kernel needs one head size for q, k and v".into());
    }
    check_mask(q, k, mask)
}

fn check_mask(q: &TMeta, k: &TMeta, mask: Option<&Meta>) -> Result<(), String> {
    match mask {
        None | Some(Meta::None) => Ok(()),
        Some(Meta::Tensor(m)) => {
            let r = q.rank();
            let scores: Vec<i64> = q.shape[..r - 1]
                .iter()
                .copied()
                .chain([k.shape[k.rank() - 2]])
                .collect();
            if m.dtype != q.dtype {
                return Err(format!(
                    "attention mask has dtype {}, q has {}",
                    m.dtype, q.dtype
                ));
            }
            if super::pointwise::broadcast(&m.shape, &scores)? != scores {
                return Err(format!(
                    "attention mask {:?} does not broadcast to {scores:?}",
                    m.shape
                ));
            }
            Ok(())
        }
        Some(other) => Err(format!("attention mask should be a tensor, got {other}")),
    }
}

/// The shape `[.., L, S]` of the scores of q `[.., L, E]` and k `[.., S, E]`: rank >= 3,
/// equal batch dims, one float dtype.
pub(crate) fn scores_shape(q: &TMeta, k: &TMeta) -> Result<Vec<i64>, String> {
    let r = q.rank();
    if r < 3
        || k.rank() != r
        || q.shape[r - 1] != k.shape[r - 1]
        || q.shape[..r - 2] != k.shape[..r - 2]
    {
        return Err(format!(
            "attention scores: q {:?} and k {:?} do not fit",
            q.shape, k.shape
        ));
    }
    if !q.dtype.is_float() || q.dtype != k.dtype {
        return Err("attention scores: q and k need one float dtype".into());
    }
    Ok([&q.shape[..r - 1], &k.shape[r - 2..r - 1]].concat())
}

/// The logsumexp's dtype: float32 for half inputs, else the input's.
fn lse_dtype(d: DType) -> DType {
    if d.size() == 2 {
        DType::F32
    } else {
        d
    }
}

fn register_training(t: &mut OpTable) {
    register_neutral(t);
    t.def_op(
        "_softmax_backward_data",
        OpClass::Reduction,
        None,
        &[(
            "aten._softmax_backward_data.default",
            "(Tensor grad_output, Tensor output, int dim, ScalarType input_dtype)",
        )],
        |a| {
            let (g, y) = (tensor(a, 0)?, tensor(a, 1)?);
            if g.shape != y.shape {
                return Err(format!(
                    "softmax backward: grad {:?} and output {:?} differ",
                    g.shape, y.shape
                ));
            }
            norm_dim(int(a, 2)?, g.rank())?;
            let d = match &a[3] {
                Meta::Dtype(d) => *d,
                other => return Err(format!("input_dtype should be a dtype, got {other}")),
            };
            tensor_out(g.shape.clone(), d)
        },
    )
    .eval(k::softmax_backward_data);
    t.def_op(
        "attention_weights",
        OpClass::Phantom,
        Some("(Tensor query, Tensor key, Tensor? attn_mask, float scale)"),
        &[],
        |a| {
            let (q, k) = (tensor(a, 0)?, tensor(a, 1)?);
            let s = scores_shape(q, k)?;
            check_mask(q, k, a.get(2))?;
            tensor_out(s, q.dtype)
        },
    )
    .eval(k::attention_weights);
    t.def_op(
        "keep_mask",
        OpClass::Phantom,
        Some("(Tensor keep, float fill_value, Tensor fill)"),
        &[],
        |a| {
            let (c, f) = (tensor(a, 0)?, tensor(a, 2)?);
            if c.dtype != DType::Bool {
                return Err(format!("keep_mask: keep should be bool, got {}", c.dtype));
            }
            if f.rank() != 0 {
                return Err(format!("keep_mask: fill should be 0-d, got {:?}", f.shape));
            }
            tensor_out(c.shape.clone(), f.dtype)
        },
    )
    .eval(k::keep_mask);
    t.def_op(
        "attention_scores_grad",
        OpClass::Phantom,
        Some("(Tensor grad_weights, Tensor query, Tensor key, Tensor? attn_mask, float scale)"),
        &[],
        |a| {
            let (g, q, k) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
            let s = scores_shape(q, k)?;
            if g.shape != s || g.dtype != q.dtype {
                return Err(format!(
                    "attention_scores_grad: grad {:?} is not the scores' {s:?}",
                    g.shape
                ));
            }
            check_mask(q, k, a.get(3))?;
            tensor_out(s, q.dtype)
        },
    )
    .eval(k::attention_scores_grad);
    t.def_op(
        "_scaled_dot_product_flash_attention_for_cpu",
        OpClass::Attention,
        None,
        &[(
            "aten._scaled_dot_product_flash_attention_for_cpu.default",
            "(Tensor query, Tensor key, Tensor value, float dropout_p=0.0, bool is_causal=False, *, Tensor? attn_mask=None, float? scale=None)",
        )],
        |a| {
            let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
            check_qkv(q, k, v, a.get(5), true)?;
            Ok(Meta::Tuple(vec![
                Meta::Tensor(TMeta { shape: q.shape.clone(), dtype: q.dtype }),
                Meta::Tensor(TMeta { shape: q.shape[..3].to_vec(), dtype: lse_dtype(q.dtype) }),
            ]))
        },
    )
.eval(k::flash_attention_for_cpu);
    t.def_op(
        "_scaled_dot_product_flash_attention_for_cpu_backward",
        OpClass::AttentionBackward,
        None,
        &[(
            "aten._scaled_dot_product_flash_attention_for_cpu_backward.default",
            "(Tensor grad_out, Tensor query, Tensor key, Tensor value, Tensor out, Tensor logsumexp, float dropout_p, bool is_causal, *, Tensor? attn_mask=None, float? scale=None)",
        )],
        |a| {
            let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
            check_qkv(q, k, v, a.get(8), true)?;
            let (o, lse) = (tensor(a, 4)?, tensor(a, 5)?);
            if g.shape != q.shape || o.shape != q.shape || lse.shape[..] != q.shape[..3] {
                return Err("flash backward: grad_out/out/logsumexp do not fit q".into());
            }
            Ok(Meta::Tuple(vec![
                Meta::Tensor(q.clone()),
                Meta::Tensor(k.clone()),
                Meta::Tensor(v.clone()),
            ]))
        },
    )
.eval(k::flash_attention_for_cpu_backward);
    t.def_op(
        "_scaled_dot_product_efficient_attention",
        OpClass::Attention,
        None,
        &[(
            "aten._scaled_dot_product_efficient_attention.default",
            "(Tensor query, Tensor key, Tensor value, Tensor? attn_bias, bool compute_log_sumexp, float dropout_p=0.0, bool is_causal=False, *, float? scale=None)",
        )],
        |a| {
            let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
            check_qkv(q, k, v, a.get(3), false)?;
            let lse_len = if boolean(a, 4)? { (q.shape[2] + 31) / 32 * 32 } else { 0 };
            let mut out = q.shape.clone();
            out[3] = v.shape[3];
            Ok(Meta::Tuple(vec![
                Meta::Tensor(TMeta { shape: out, dtype: q.dtype }),
                Meta::Tensor(TMeta { shape: vec![q.shape[0], q.shape[1], lse_len], dtype: DType::F32 }),
                Meta::Tensor(TMeta { shape: vec![], dtype: DType::I64 }),
                Meta::Tensor(TMeta { shape: vec![], dtype: DType::I64 }),
            ]))
        },
    )
.eval(k::efficient_attention);
    t.def_op(
        "_scaled_dot_product_efficient_attention_backward",
        OpClass::AttentionBackward,
        None,
        &[(
            "aten._scaled_dot_product_efficient_attention_backward.default",
            "(Tensor grad_out_, Tensor query, Tensor key, Tensor value, Tensor? attn_bias, Tensor out, Tensor logsumexp, Tensor philox_seed, Tensor philox_offset, float dropout_p, bool[4] grad_input_mask, bool is_causal=False, *, float? scale=None)",
        )],
        |a| {
            let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
            check_qkv(q, k, v, a.get(4), false)?;
            let o = tensor(a, 5)?;
            if g.shape != o.shape || o.shape[..3] != q.shape[..3] || o.shape[3] != v.shape[3] {
                return Err("efficient backward: grad_out/out do not fit q, v".into());
            }
            tensor(a, 6)?;
            let bias = match (&a[4], &a[10]) {
                (Meta::Tensor(m), Meta::List(mask)) if matches!(mask.get(3), Some(Meta::Bool(true))) => Meta::Tensor(m.clone()),
                _ => Meta::None,
            };
            Ok(Meta::Tuple(vec![
                Meta::Tensor(q.clone()),
                Meta::Tensor(k.clone()),
                Meta::Tensor(v.clone()),
                bias,
            ]))
        },
    )
.eval(k::efficient_attention_backward);
}

/// The target-neutral SDPA training pair the training rules write (never emitted as-is:
/// [`super::lower`] turns each into the target's kernel call). `sdpa_fwd` returns the output
/// and the row logsumexp (`[B, H, L]`, float32 for half inputs); `sdpa_bwd` takes the
/// forward's result whole and returns `(grad_q, grad_k, grad_v)`. No causal flag: the rules
/// never need one.
fn register_neutral(t: &mut OpTable) {
    t.def_op(
        "sdpa_fwd",
        OpClass::Phantom,
        Some("(Tensor query, Tensor key, Tensor value, Tensor? attn_mask, float dropout_p, float scale)"),
        &[],
        |a| {
            let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
            check_qkv(q, k, v, a.get(3), false)?;
            let mut out = q.shape.clone();
            out[3] = v.shape[3];
            Ok(Meta::Tuple(vec![
                Meta::Tensor(TMeta { shape: out, dtype: q.dtype }),
                Meta::Tensor(TMeta { shape: q.shape[..3].to_vec(), dtype: lse_dtype(q.dtype) }),
            ]))
        },
    )
    .eval(k::sdpa_fwd);
    t.def_op(
        "sdpa_bwd",
        OpClass::Phantom,
        Some("(Tensor grad_out, Tensor query, Tensor key, Tensor value, Tensor? attn_mask, Tensor fwd, float dropout_p, float scale)"),
        &[],
        |a| {
            let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
            check_qkv(q, k, v, a.get(4), false)?;
            let out = match &a[5] {
                Meta::Tuple(items) => items.first().and_then(Meta::tensor),
                _ => None,
            };
            if out != Some(g) || g.shape[..3] != q.shape[..3] || g.shape[3] != v.shape[3] {
                return Err("sdpa_bwd: grad_out and the forward's output do not fit q, v".into());
            }
            Ok(Meta::Tuple(vec![
                Meta::Tensor(q.clone()),
                Meta::Tensor(k.clone()),
                Meta::Tensor(v.clone()),
            ]))
        },
    )
    .eval(k::sdpa_bwd);
    register_causal(t);
}

/// The causal training pair (`rules/causal.rules`): [`register_neutral`]'s ops with SDPA's
/// causal mask (`is_causal=True`, key `j` kept for query `i` where `j <= i`, L == S) and no
/// mask tensor: `sdpa_causal_fwd(q, k, v, dropout_p, scale)` = `(out, logsumexp)`,
/// `sdpa_causal_bwd(g, q, k, v, fwd, dropout_p, scale)` = `(grad_q, grad_k, grad_v)`. They
/// lower to the CPU flash kernel, or on CUDA to the flash kernel (half types, head size a
/// multiple of 8 up to 256) or the memory-efficient one, each with `is_causal=True`
/// ([`super::lower`]). Also CUDA's flash kernel pair itself.
fn register_causal(t: &mut OpTable) {
    let causal_qkv = |q: &TMeta, k: &TMeta, v: &TMeta| -> Result<(), String> {
        check_qkv(q, k, v, None, false)?;
        if q.shape[2] != k.shape[2] {
            return Err(format!(
                "causal attention takes as many queries as keys, got {} and {}",
                q.shape[2], k.shape[2]
            ));
        }
        Ok(())
    };
    t.def_op(
        "sdpa_causal_fwd",
        OpClass::Phantom,
        Some("(Tensor query, Tensor key, Tensor value, float dropout_p, float scale)"),
        &[],
        move |a| {
            let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
            causal_qkv(q, k, v)?;
            let mut out = q.shape.clone();
            out[3] = v.shape[3];
            Ok(Meta::Tuple(vec![
                Meta::Tensor(TMeta {
                    shape: out,
                    dtype: q.dtype,
                }),
                Meta::Tensor(TMeta {
                    shape: q.shape[..3].to_vec(),
                    dtype: lse_dtype(q.dtype),
                }),
            ]))
        },
    )
    .eval(k::sdpa_causal_fwd);
    t.def_op(
        "sdpa_causal_bwd",
        OpClass::Phantom,
        Some("(Tensor grad_out, Tensor query, Tensor key, Tensor value, Tensor fwd, float dropout_p, float scale)"),
        &[],
        move |a| {
            let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
            causal_qkv(q, k, v)?;
            let out = match &a[4] {
                Meta::Tuple(items) => items.first().and_then(Meta::tensor),
                _ => None,
            };
            if out != Some(g) || g.shape[..3] != q.shape[..3] || g.shape[3] != v.shape[3] {
                return Err("sdpa_causal_bwd: grad_out and the forward's output do not fit q, v".into());
            }
            Ok(Meta::Tuple(vec![
                Meta::Tensor(q.clone()),
                Meta::Tensor(k.clone()),
                Meta::Tensor(v.clone()),
            ]))
        },
    )
    .eval(k::sdpa_causal_bwd);
    t.def_op(
        "_scaled_dot_product_flash_attention",
        OpClass::Attention,
        None,
        &[(
            "aten._scaled_dot_product_flash_attention.default",
            "(Tensor query, Tensor key, Tensor value, float dropout_p=0.0, bool is_causal=False, bool return_debug_mask=False, *, float? scale=None)",
        )],
        |a| {
            let (q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?);
            check_qkv(q, k, v, None, true)?;
            if !matches!(q.dtype, DType::F16 | DType::BF16) {
                return Err(format!("the CUDA flash kernel takes float16/bfloat16, got {}", q.dtype));
            }
            // the RNG state: uint64 seed [2] and offset [] (PyTorch's meta for CUDA)
            let u64_t = |shape: Vec<i64>| Meta::Tensor(TMeta { shape, dtype: DType::U64 });
            Ok(Meta::Tuple(vec![
                Meta::Tensor(q.clone()),
                Meta::Tensor(TMeta { shape: q.shape[..3].to_vec(), dtype: DType::F32 }),
                Meta::None,
                Meta::None,
                Meta::Int(q.shape[2]),
                Meta::Int(k.shape[2]),
                u64_t(vec![2]),
                u64_t(vec![]),
                Meta::Tensor(TMeta { shape: vec![0], dtype: q.dtype }),
            ]))
        },
    )
    .eval(k::cuda_flash_attention);
    t.def_op(
        "_scaled_dot_product_flash_attention_backward",
        OpClass::AttentionBackward,
        None,
        &[(
            "aten._scaled_dot_product_flash_attention_backward.default",
            // cum_seq_q/k: `Tensor` in PyTorch's schema, but the dense forward returns them
            // undefined and traced graphs pass None (which PyTorch accepts): typed `Tensor?`
            "(Tensor grad_out, Tensor query, Tensor key, Tensor value, Tensor out, Tensor logsumexp, Tensor? cum_seq_q, Tensor? cum_seq_k, SymInt max_q, SymInt max_k, float dropout_p, bool is_causal, Tensor philox_seed, Tensor philox_offset, *, float? scale=None)",
        )],
        |a| {
            let (g, q, k, v) = (tensor(a, 0)?, tensor(a, 1)?, tensor(a, 2)?, tensor(a, 3)?);
            check_qkv(q, k, v, None, true)?;
            let (o, lse) = (tensor(a, 4)?, tensor(a, 5)?);
            if g.shape != q.shape || o.shape != q.shape || lse.shape[..] != q.shape[..3] {
                return Err("flash backward: grad_out/out/logsumexp do not fit q".into());
            }
            Ok(Meta::Tuple(vec![
                Meta::Tensor(q.clone()),
                Meta::Tensor(k.clone()),
                Meta::Tensor(v.clone()),
            ]))
        },
    )
    .eval(k::cuda_flash_attention_backward);
}
