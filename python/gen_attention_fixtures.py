#!/usr/bin/env python
"""Generate the attention-fusion fixtures under tests/fixtures/attention/ (issue 4).

    PYTHONPATH=python $(bash python/venv.sh) python/gen_attention_fixtures.py \
        [--out tests/fixtures/attention] [--only SUBSTRING...]

Inference graphs only (``capture(..., mode="forward")``, canonical writer, deterministic: same
bytes on re-run). Four groups:

* ``inductor``: the inference form of each of Inductor's 30 ``_sfdp_pattern_N`` functions
  (torch/_inductor/fx_passes/fuse_attention.py). The pattern functions are not copied by hand:
  their source is read from the installed torch (``inspect.getsource``) and re-executed here,
  so the graph is the one Inductor's pattern was traced from. Scalars are Python numbers
  (``inv_scale`` 4.0, ``scale_factor`` 0.25, sqrt-split scale 0.5) and ``dropout_p = 0.0``
  (the inference variants). Shapes follow the registration (§2.2 of inductor-passes.md):
  ``g`` (2,4,8,16), ``g_bs1`` (1,4,8,16), ``gn`` (2,6,16,8) non-contiguous, ``gp`` (2,8,4,16),
  masks ``b`` (1,1,8,8), ``m`` (2,1,1,4) / (1,1,1,4), ``m_2d`` (2,4); 3-D pattern 13 uses
  (8,8,16) instead of (1024,128,128). fp32 for all 30, bf16 for all but 7-10 (which hard-code
  fp16: those are generated in fp16), batch 1 and batch 2 for 1, 5, 11, 14, 16, 18, 21-27, 29,
  30 (fp32). Files ``sfdp_NN_<dtype>_b<batch>[_<variant>].forward.json``.
* ``model``: eager attention of tiny ``transformers`` models (random weights, seed 0, 2 layers,
  hidden 64, 4 heads, vocab 128, seq 16, no cache, dropout 0): T5Model (encoder self-attention
  with position bias and no scale; decoder self- and cross-attention), OPTModel, Qwen2Model and
  MistralModel (GQA 4 query / 2 kv heads).
* ``extra``: attention forms outside Inductor's list (scale on k, sqrt split, einsum,
  hand-written softmax, pre-transposed k, baddbmm, GQA via repeat_interleave / expand+reshape,
  two blocks sharing k/v).
* ``trap``: graphs that look like attention but where a naive fusion is wrong; each entry says
  whether an exact fusion exists (``expected_sdpa`` = block count) or not (0).

``index.json``: a JSON list, one entry per fixture (one per line): file, group, description,
attention_blocks (softmax·v blocks), expected_sdpa, why, dtype (of q), int_inputs
({placeholder: [low, high)} for every integer/bool placeholder).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fxsat.export import capture  # noqa: E402
from fxsat.fxjson import write_fx_json  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "attention"

F32, BF16, F16 = torch.float32, torch.bfloat16, torch.float16
DT_NAME = {F32: "fp32", BF16: "bf16", F16: "fp16"}

SOFTMAX_TARGETS = ("aten.amax.default", "aten.max.dim", "aten._softmax.default",
                   "aten._safe_softmax.default", "aten.softmax.int")


def count_softmax(doc) -> int:
    """Softmax-like groups: each decomposed softmax has one amax (hand-written ones may use
    max.dim); undecomposed softmax ops count too."""
    return sum(1 for n in doc["nodes"] if n.get("target") in SOFTMAX_TARGETS)


# --------------------------------------------------------------------------- Inductor patterns


def _load_sfdp_patterns() -> dict[int, object]:
    """Re-execute the source of every ``_sfdp_pattern_N`` of the installed torch in a plain
    namespace (so dynamo traces it like user code)."""
    import torch._inductor.fx_passes.fuse_attention as fa

    ns = {"torch": torch, "F": F, "math": math}
    pats = {}
    for i in range(1, 31):
        fn = getattr(fa, f"_sfdp_pattern_{i}")
        exec(compile(inspect.getsource(fn), f"<fuse_attention._sfdp_pattern_{i}>", "exec"), ns)
        pats[i] = ns[f"_sfdp_pattern_{i}"]
    return pats


INV_SCALE = 4.0  # sqrt(16): divide patterns
SCALE = 0.25  # multiply patterns
SQRT_SCALE = 0.5  # 29/30: sqrt(0.25) on q and on k^T

# pattern -> (input kinds after q/k/v, constant kwargs, description)
# input kinds: "b" (1,1,8,8) additive mask in the loop dtype, "b_bool", "b_float",
#              "m" (B,1,1,4) loop dtype, "m_float", "m_bool", "m_2d" (B,4) int64 0/1.
SFDP = {
    1: ([], dict(inv_scale=INV_SCALE), "matmul(q,k^T).div(inv_scale).softmax(-1).matmul(v), BHSD"),
    2: ([], dict(scale_factor=SCALE), "matmul(q,k^T).mul(scale_factor).softmax(-1).matmul(v), BHSD"),
    3: ([], dict(inv_scale_factor=INV_SCALE, dropout_p=0.0), "#1 + F.dropout(p=0) on the weights"),
    4: ([], dict(scale_factor=SCALE, dropout_p=0.0), "#2 + F.dropout(p=0) on the weights"),
    5: (["b"], dict(inv_scale=INV_SCALE), "softmax(q@k^T/inv_scale + attn_mask(1,1,8,8))@v"),
    6: (["b"], dict(inv_scale=INV_SCALE, dropout_p=0.0), "#5 + torch.dropout(p=0, train=True)"),
    7: ([], dict(inv_scale=INV_SCALE, dropout_p=0.0),
        "BSHD permute; (q@k^T/inv_scale).to(fp32).softmax; torch.dropout(p=0); .to(fp16); v.to(fp16)"),
    8: ([], dict(inv_scale=INV_SCALE), "#7 without dropout (fp32 softmax, fp16 weights)"),
    9: ([], dict(inv_scale=INV_SCALE, dropout_p=0.0),
        "BSHD permute; q/inv_scale pre-scaled; fp32 softmax; dropout(p=0); .to(fp16)"),
    10: ([], dict(inv_scale=INV_SCALE), "#9 without dropout"),
    11: ([], dict(inv_scale=INV_SCALE), "BSHD permute(0,2,1,3); matmul(q,k^T).div.softmax.matmul(v)"),
    12: ([], dict(inv_scale_factor=INV_SCALE, dropout_p=0.0), "#11 + F.dropout(p=0) on the weights"),
    13: ([], dict(dropout_p=0.0), "3-D bmm(q,k^T).softmax -> F.dropout(p=0) -> bmm(v), no scale"),
    14: (["m"], dict(inv_scale=INV_SCALE),
         "BERT: BSHD permute; (matmul(q,k^T).div(inv_scale) + mask(B,1,1,Sk)).softmax.matmul(v)"),
    15: (["m_2d"], dict(inv_scale=INV_SCALE),
         "DistilBERT: masked_fill((mask==0).view(B,1,1,Sk).expand_as, -inf); mask int64 (B,Sk) in {0,1}"),
    16: (["m"], dict(inv_scale=INV_SCALE, dropout_p=0.0),
         "#14 + F.dropout(p=0) + .to(query.dtype) before matmul(v)"),
    17: (["m_2d"], dict(inv_scale=INV_SCALE, dropout_p=0.0), "#15 + F.dropout(p=0)"),
    18: (["m_bool"], dict(inv_scale=INV_SCALE, dropout_p=0.0),
         "GPT-2: BSHD permute; q@k.permute(0,1,3,2) / full((),inv_scale); where(causal, w, finfo.min);"
         " softmax; dropout(p=0); @v; also returns permuted k, v"),
    19: (["b_bool", "b_float"], dict(inv_scale=INV_SCALE, dropout_p=0.0),
         "GPT-2 BHSD: /full((),inv_scale); where(causal, w, finfo.min) + attn_mask;"
         " softmax.type(v.dtype); dropout(p=0); @v"),
    20: (["m_2d"], dict(inv_scale=INV_SCALE, dropout_p=0.0),
         "DistilBERT 4.44: q.div(inv_scale) pre-scaled; masked_fill(mask==0, -inf); dropout(p=0)"),
    21: (["m_float"], {}, "T5: BSHD permute; q@k.permute(0,1,3,2) + mask(fp32); .type_as(q);"
                          " .float().softmax.type_as(q) @ v; no scale"),
    22: (["m_float"], {}, "#21 also returning the permuted k, v"),
    23: ([], {}, "T5 with zero mask folded: score.float().type_as(q).float().softmax.type_as(q)@v;"
                 " returns k, v; no scale"),
    24: (["b_float"], {}, "MBart: view/reshape to (B*H,S,D); bmm; view 4-D + mask(fp32 1,1,8,8);"
                          " view 3-D; softmax; bmm; view; no scale"),
    25: (["m"], dict(dropout_p=0.0), "T5: score + mask; F.dropout(score.float().softmax.type_as(q), p=0)@v"),
    26: (["m"], dict(dropout_p=0.0), "#25 also returning the permuted k, v"),
    27: ([], dict(dropout_p=0.0), "#26 without mask (zero mask removed)"),
    28: ([], dict(scale_factor=SCALE, dropout_p=0.0),
         "Visformer: #4 on non-contiguous q/k/v (2,6,16,8) strides (2304,128,1,16)"),
    29: (["b"], dict(inv_scale=SQRT_SCALE),
         "decomposed SDPA math: BSHD permute; mul.Scalar(q, s), mul.Scalar(k^T, s); + mask;"
         " aten._safe_softmax; @v"),
    30: ([], dict(inv_scale=SQRT_SCALE), "#29 without mask"),
}
SFDP_BS1 = {1, 5, 11, 14, 16, 18, 21, 22, 23, 24, 25, 26, 27, 29, 30}
FP16_ONLY = {7, 8, 9, 10}


def _mk_fn(fn, arg_names, consts, name):
    """A function with named tensor arguments (dynamo names its inputs l_<arg>_) calling
    ``fn(*args, **consts)``."""
    src = f"def {name}({', '.join(arg_names)}):\n    return _fn({', '.join(arg_names)}, **_consts)\n"
    ns = {"_fn": fn, "_consts": consts}
    exec(src, ns)
    return ns[name]


def _qkv_shape(i, batch):
    if i == 13:
        return (batch * 4, 8, 16)
    if i in (29, 30):
        return (batch, 8, 4, 16)
    return (batch, 4, 8, 16)


def sfdp_cases():
    pats = _load_sfdp_patterns()
    cases = []
    for i, (extra, consts, desc) in SFDP.items():
        variants = []
        for dt in ([F32, F16] if i in FP16_ONLY else [F32, BF16]):
            variants.append((dt, 2))
        if i in SFDP_BS1:
            variants.append((F32, 1))
        if i == 16:
            variants.append((BF16, 2, "maskfp32"))  # Inductor's _half_mask_fp32 variant
        for var in variants:
            dt, batch = var[0], var[1]
            tag = var[2] if len(var) > 2 else None

            def make_inputs(i=i, dt=dt, batch=batch, extra=extra, tag=tag):
                g = torch.Generator().manual_seed(1000 + i)
                shape = _qkv_shape(i, batch)
                if i == 28:
                    def nc():
                        base = torch.randn(batch * 2304, generator=g).to(dt)
                        return base.as_strided((batch, 6, 16, 8), (2304, 128, 1, 16))
                    ins = [nc(), nc(), nc()]
                else:
                    ins = [torch.randn(*shape, generator=g).to(dt) for _ in range(3)]
                for kind in extra:
                    if kind == "b":
                        ins.append(torch.randn(1, 1, 8, 8, generator=g).to(dt))
                    elif kind == "b_float":
                        # #24 only casts the weights back for fp16: a bf16 model's mask is bf16
                        mdt = dt if (i == 24 and dt == BF16) else F32
                        ins.append(torch.randn(1, 1, 8, 8, generator=g).to(mdt))
                    elif kind == "b_bool":
                        ins.append(torch.ones(8, 8, dtype=torch.bool).tril().view(1, 1, 8, 8))
                    elif kind == "m":
                        mdt = F32 if tag == "maskfp32" else dt
                        ins.append(torch.randn(batch, 1, 1, 4, generator=g).to(mdt))
                    elif kind == "m_float":
                        ins.append(torch.randn(batch, 1, 1, 4, generator=g))
                    elif kind == "m_bool":
                        m = torch.ones(batch, 1, 1, 4, dtype=torch.bool)
                        m[..., -1] = False
                        ins.append(m)
                    elif kind == "m_2d":
                        m = torch.ones(batch, 4, dtype=torch.long)
                        m[-1, -1] = 0
                        ins.append(m)
                    else:
                        raise ValueError(kind)
                return ins

            names = ["query", "key", "value"] + [
                {"b": "attn_mask", "b_float": "attn_mask", "b_bool": "causal_mask", "m": "attn_mask",
                 "m_float": "attn_mask", "m_bool": "causal_mask", "m_2d": "attn_mask"}[k]
                for k in extra]
            fn = _mk_fn(pats[i], names, consts, f"sfdp_{i:02d}")
            int_ranges = {"causal_mask": [0, 2], "attn_mask": [0, 2]}
            fname = f"sfdp_{i:02d}_{DT_NAME[dt]}_b{batch}" + (f"_{tag}" if tag else "")
            why = "Inductor pattern %d (inference form); SDPA replacement exists" % i
            if i in (18,):
                why += ("; the finfo.min fill must become an additive finfo.min mask (not a -inf"
                        " bool mask): random keep-masks fully mask rows")
            if i in (15, 17, 20):
                why += ("; mask values are 0/1, keep-mask = (mask != 0) (== (mask == 1) here); a"
                        " random mask can zero a whole batch row (p=1/16): the original gives NaN"
                        " there, which a fused graph must reproduce or the comparison must allow")
            if i in FP16_ONLY and dt == F32:
                why += "; the pattern casts the weights and v to fp16, so the output is fp16"
            d = desc + f"; {DT_NAME[dt]}, q/k/v {list(_qkv_shape(i, batch)) if i != 28 else [batch, 6, 16, 8]}"
            if tag:
                d += ", fp32 mask"
            if i == 24 and dt == BF16:
                d += ", bf16 mask (an fp32 mask would promote the weights and break bmm)"
            cases.append(dict(name=fname, group="inductor", fn=fn, make_inputs=make_inputs,
                              arg_names=names, int_ranges=int_ranges, blocks=1, expected=1,
                              why=why, description=d, dtype=dt))
    return cases


# --------------------------------------------------------------------------- extra forms

B, H, S, D = 2, 4, 8, 16


def x_scale_on_k(q, k, v):
    return torch.softmax(q @ (k * 0.25).transpose(-2, -1), dim=-1) @ v


def x_sqrt_split(q, k, v):
    return torch.softmax((q * 0.5) @ (k.transpose(-2, -1) * 0.5), dim=-1) @ v


def x_scale_on_q_div(q, k, v):
    return torch.softmax((q / 4.0) @ k.transpose(-2, -1), dim=-1) @ v


def x_einsum(q, k, v):
    s = torch.einsum("bhqd,bhkd->bhqk", q, k) * 0.25
    return torch.einsum("bhqk,bhkd->bhqd", torch.softmax(s, dim=-1), v)


def x_handwritten_softmax(q, k, v):
    s = q @ k.transpose(-2, -1) * 0.25
    e = torch.exp(s - s.amax(dim=-1, keepdim=True))
    return (e / e.sum(dim=-1, keepdim=True)) @ v


def x_handwritten_softmax_max(q, k, v, mask):
    s = q @ k.transpose(-2, -1) / 4.0 + mask
    e = torch.exp(s - s.max(dim=-1, keepdim=True).values)
    return (e / e.sum(dim=-1, keepdim=True)) @ v


def x_pretransposed_k(q, kt, v):
    return torch.softmax(q @ kt * 0.25, dim=-1) @ v


def x_baddbmm_bloom(q, k, v, alibi, mask):
    # BLOOM: q (B*H,S,D), k^T (B*H,D,S), alibi (B*H,1,S); scores = beta*alibi + alpha*q@k^T
    bh, s, d = q.shape
    scores = alibi.baddbmm(batch1=q, batch2=k.transpose(1, 2), beta=1.0, alpha=0.25)
    w = scores.view(bh // H, H, s, s) + mask
    w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
    w = w.view(bh, s, s)
    return torch.bmm(w, v).view(bh // H, H, s, d)


def x_baddbmm_beta(q, k, v, bias):
    scores = torch.baddbmm(bias, q, k.transpose(1, 2), beta=0.5, alpha=0.25)
    return torch.bmm(torch.softmax(scores, dim=-1), v)


def x_gqa_repeat_interleave(q, k, v):
    k = k.repeat_interleave(2, dim=1)
    v = v.repeat_interleave(2, dim=1)
    return torch.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-1) @ v


def x_gqa_expand_reshape(q, k, v, mask):
    b, hkv, s, d = k.shape
    k = k[:, :, None].expand(b, hkv, 2, s, d).reshape(b, hkv * 2, s, d)
    v = v[:, :, None].expand(b, hkv, 2, s, d).reshape(b, hkv * 2, s, d)
    w = torch.matmul(q, k.transpose(2, 3)) * 0.25 + mask
    w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(w, v).transpose(1, 2).contiguous()


def x_shared_kv(q1, q2, k, v):
    kt = k.transpose(-2, -1)
    o1 = torch.softmax(q1 @ kt * 0.25, dim=-1) @ v
    o2 = torch.softmax(q2 @ kt / 4.0, dim=-1) @ v
    return o1, o2


def x_masked_fill_bool(q, k, v, keep):
    s = (q @ k.transpose(-2, -1)) * 0.25
    return torch.softmax(s.masked_fill(~keep, float("-inf")), dim=-1) @ v


# --------------------------------------------------------------------------- traps


def t_tensor_scale(q, k, v, scale):
    # scale (4,1,1): one factor per head, broadcasting over (H, Sq, Sk)
    return torch.softmax((q @ k.transpose(-2, -1)) / scale, dim=-1) @ v


def t_tensor_scale_mul(q, k, v, scale):
    return torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1) @ v


def t_runtime_scalar_scale(q, k, v, scale):
    # scale: 0-d tensor graph input
    return torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1) @ v


def t_softmax_dim2(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-2) @ v


def t_weights_returned(q, k, v):
    w = torch.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-1)
    return w @ v, w


def t_k_permute_0231(q, k, v):
    # q, v (2,8,8,8) BHSD; k (2,8,8,8) laid out (B,S,H,D): k.permute(0,2,3,1) is K^T of
    # k.permute(0,2,1,3), not of k.
    return torch.softmax(q @ k.permute(0, 2, 3, 1) * 0.25, dim=-1) @ v


def t_k_permute_pair(q, k, v):
    o1 = torch.softmax(q @ k.permute(0, 1, 3, 2) * 0.25, dim=-1) @ v
    o2 = torch.softmax(q @ k.permute(0, 2, 3, 1) * 0.25, dim=-1) @ v
    return o1, o2


def t_fully_masked_finfo_min(q, k, v, keep):
    s = q.shape[-2]
    row_ok = torch.arange(s, device=q.device).view(s, 1) != 3  # query row 3 sees nothing
    keep = keep & row_ok
    w = (q @ k.transpose(-2, -1)) * 0.25
    w = w.masked_fill(~keep, torch.finfo(w.dtype).min)
    return torch.softmax(w, dim=-1) @ v


def t_mask_eq0_values012(q, k, v, mask):
    # mask int64 (B,1,1,Sk) with values in {0,1,2}: excluded where mask == 0
    w = (q @ k.transpose(-2, -1)) * 0.25
    w = w.masked_fill(mask == 0, float("-inf"))
    return torch.softmax(w, dim=-1) @ v


def t_reshape_after_output(q, k, v):
    o = torch.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-1) @ v
    return o.reshape(q.shape[0] * q.shape[1], q.shape[2], v.shape[3])


def t_transpose_reshape_after_output(q, k, v):
    o = torch.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-1) @ v
    return o.transpose(1, 2).reshape(q.shape[0], q.shape[2], q.shape[1] * v.shape[3])


def _fn_cases():
    def r(g, *shape, dt=F32):
        return torch.randn(*shape, generator=g).to(dt)

    def qkv(g, dt=F32, shape=(B, H, S, D)):
        return [r(g, *shape, dt=dt) for _ in range(3)]

    cases = []

    def add(name, group, fn, make, blocks, expected, why, desc, dtype=F32, int_ranges=None):
        cases.append(dict(name=name, group=group, fn=fn, make_inputs=make,
                          arg_names=list(inspect.signature(fn).parameters), int_ranges=int_ranges or {},
                          blocks=blocks, expected=expected, why=why, description=desc, dtype=dtype))

    def gen(seed):
        return torch.Generator().manual_seed(seed)

    # ---- extra (all positive)
    pos = "exact SDPA form"
    for dt in (F32, BF16):
        sfx = DT_NAME[dt]
        add(f"x_scale_on_k_{sfx}_b2", "extra", x_scale_on_k, lambda dt=dt: qkv(gen(1), dt), 1, 1,
            pos + ": q@(k*s)^T == (q@k^T)*s, SDPA scale=0.25",
            "softmax(q @ (k*0.25)^T) @ v, BHSD (2,4,8,16)", dt)
        add(f"x_sqrt_split_{sfx}_b2", "extra", x_sqrt_split, lambda dt=dt: qkv(gen(2), dt), 1, 1,
            pos + ": (q*0.5)@(k^T*0.5), SDPA scale=0.25",
            "softmax((q*0.5) @ (k^T*0.5)) @ v (mul.Tensor by Python scalars), BHSD (2,4,8,16)", dt)
        add(f"x_einsum_{sfx}_b2", "extra", x_einsum, lambda dt=dt: qkv(gen(3), dt), 1, 1,
            pos + ": einsum is q@k^T and w@v",
            "einsum('bhqd,bhkd->bhqk')*0.25, softmax, einsum('bhqk,bhkd->bhqd'), (2,4,8,16)", dt)
    add("x_scale_on_q_div_fp32_b2", "extra", x_scale_on_q_div, lambda: qkv(gen(4)), 1, 1,
        pos + ": (q/4)@k^T, SDPA scale=0.25", "softmax((q/4.0) @ k^T) @ v, (2,4,8,16)")
    add("x_einsum_fp32_b1", "extra", x_einsum, lambda: qkv(gen(5), shape=(1, H, S, D)), 1, 1,
        pos, "einsum attention, batch 1 (1,4,8,16)")
    add("x_handwritten_softmax_fp32_b2", "extra", x_handwritten_softmax, lambda: qkv(gen(6)), 1, 1,
        pos + ": exp(x-amax)/sum is softmax",
        "e = exp(s - s.amax(-1, keepdim)); (e / e.sum(-1, keepdim)) @ v, s = q@k^T*0.25")
    add("x_handwritten_softmax_max_fp32_b2", "extra", x_handwritten_softmax_max,
        lambda: qkv(gen(7)) + [r(gen(8), B, 1, S, S)], 1, 1,
        pos + ": exp(x-max)/sum is softmax; additive mask",
        "s = q@k^T/4 + mask(2,1,8,8); e = exp(s - s.max(-1, keepdim).values); e/e.sum @ v")
    add("x_pretransposed_k_fp32_b2", "extra", x_pretransposed_k,
        lambda: [r(gen(9), B, H, S, D), r(gen(10), B, H, D, S), r(gen(11), B, H, S, D)], 1, 1,
        pos + ": key = kt.transpose(-2,-1)",
        "softmax(q @ kt * 0.25) @ v with kt given as (B,H,D,S) = (2,4,16,8)")
    add("x_baddbmm_bloom_fp32_b2", "extra", x_baddbmm_bloom,
        lambda: [r(gen(12), B * H, S, D) for _ in range(3)] + [r(gen(13), B * H, 1, S),
                                                               r(gen(14), B, 1, S, S)], 1, 1,
        pos + ": mask = alibi.view(B,H,1,S) + mask, scale=alpha",
        "BLOOM: alibi(8,1,8).baddbmm(q(8,8,16), k^T, beta=1, alpha=0.25).view(2,4,8,8) + mask(2,1,8,8);"
        " softmax(dtype=fp32).to; view (8,8,8); bmm(v); view (2,4,8,16)")
    add("x_baddbmm_beta_fp32_b2", "extra", x_baddbmm_beta,
        lambda: [r(gen(15), B * H, S, D) for _ in range(3)] + [r(gen(16), B * H, S, S)], 1, 1,
        pos + ": 3-D; mask = 0.5*bias, scale=alpha=0.25",
        "softmax(baddbmm(bias(8,8,8), q, k^T, beta=0.5, alpha=0.25)) then bmm(v), 3-D (8,8,16)")
    add("x_baddbmm_beta_bf16_b2", "extra", x_baddbmm_beta,
        lambda: [r(gen(15), B * H, S, D, dt=BF16) for _ in range(3)] + [r(gen(16), B * H, S, S, dt=BF16)],
        1, 1, pos + ": 3-D; mask = 0.5*bias, scale=alpha=0.25", "as x_baddbmm_beta_fp32_b2 in bf16", BF16)
    for dt in (F32, BF16):
        add(f"x_gqa_repeat_interleave_{DT_NAME[dt]}_b2", "extra", x_gqa_repeat_interleave,
            lambda dt=dt: [r(gen(17), B, H, S, D, dt=dt), r(gen(18), B, 2, S, D, dt=dt),
                           r(gen(19), B, 2, S, D, dt=dt)], 1, 1,
            pos + ": key/value = repeat_interleave(2, dim=1) (SDPA with enable_gqa, or repeated k/v)",
            "GQA: q (2,4,8,16), k/v (2,2,8,16) repeat_interleave(2, dim=1); softmax(q@k^T*0.25)@v", dt)
        add(f"x_gqa_expand_reshape_{DT_NAME[dt]}_b2", "extra", x_gqa_expand_reshape,
            lambda dt=dt: [r(gen(20), B, H, S, D, dt=dt), r(gen(21), B, 2, S, D, dt=dt),
                           r(gen(22), B, 2, S, D, dt=dt), r(gen(23), B, 1, S, S, dt=dt)], 1, 1,
            pos + ": LLaMA repeat_kv (expand+reshape), additive mask, fp32 softmax",
            "GQA: k/v (2,2,8,16) [:, :, None].expand(2,2,2,8,16).reshape(2,4,8,16); matmul*0.25 + "
            "mask(2,1,8,8); softmax(dtype=fp32).to; matmul(v).transpose(1,2).contiguous()", dt)
    add("x_shared_kv_fp32_b2", "extra", x_shared_kv,
        lambda: [r(gen(24), B, H, S, D) for _ in range(4)], 2, 2,
        pos + " twice: two queries share k^T and v",
        "two blocks softmax(q1@k^T*0.25)@v and softmax(q2@k^T/4)@v sharing k^T, v; returns both")
    add("x_masked_fill_bool_fp32_b1", "extra", x_masked_fill_bool,
        lambda: qkv(gen(25), shape=(1, H, S, D)) + [torch.ones(S, S, dtype=torch.bool).tril().view(1, 1, S, S)],
        1, 1, pos + ": bool keep-mask via masked_fill(~keep, -inf) == SDPA bool mask"
        " (a random keep may fully mask a row: NaN in the original)",
        "softmax(masked_fill(q@k^T*0.25, ~keep, -inf))@v, keep bool (1,1,8,8), batch 1",
        int_ranges={"keep": [0, 2]})

    # ---- traps
    add("trap_tensor_scale_fp32_b2", "trap", t_tensor_scale,
        lambda: qkv(gen(30)) + [torch.rand(4, 1, 1, generator=gen(31)) + 1.0], 1, 1,
        "exact fusion exists: the per-head scale (4,1,1) folds into q (q/scale) then SDPA scale=1.0;"
        " SDPA's own scale argument cannot take it (Inductor refuses, #99124)",
        "softmax((q@k^T) / scale) @ v with a tensor scale (4,1,1) input broadcasting over heads")
    add("trap_tensor_scale_mul_fp32_b2", "trap", t_tensor_scale_mul,
        lambda: qkv(gen(42)) + [torch.rand(4, 1, 1, generator=gen(43)) * 0.5], 1, 1,
        "exact fusion exists: the per-head scale (4,1,1) folds into q (q*scale) then SDPA scale=1.0;"
        " SDPA's own scale argument cannot take it (Inductor refuses, #99124)",
        "softmax((q@k^T) * scale) @ v with a tensor scale (4,1,1) input broadcasting over heads")
    add("trap_runtime_scalar_scale_fp32_b2", "trap", t_runtime_scalar_scale,
        lambda: qkv(gen(32)) + [torch.tensor(0.25)], 1, 1,
        "exact fusion exists: the runtime 0-d scale folds into q (q*scale) then SDPA scale=1.0;"
        " it must not become a constant",
        "softmax((q@k^T) * scale) @ v with scale a 0-d fp32 graph input")
    add("trap_softmax_dim2_fp32_b2", "trap", t_softmax_dim2, lambda: qkv(gen(33)), 1, 0,
        "no fusion: softmax over the query dim (-2) is not attention",
        "softmax(q@k^T*0.25, dim=-2) @ v")
    add("trap_weights_returned_fp32_b2", "trap", t_weights_returned, lambda: qkv(gen(34)), 1, 0,
        "no fusion: the softmax weights are also an output, so SDPA would not remove the softmax"
        " (Inductor's user-count rule)",
        "w = softmax(q@k^T*0.25); returns (w@v, w)")
    add("trap_k_permute_0231_fp32_b2", "trap", t_k_permute_0231,
        lambda: [r(gen(35), 2, 8, 8, 8) for _ in range(3)], 1, 1,
        "exact fusion exists only with key = k.permute(0,2,1,3): k.permute(0,2,3,1) is not k^T"
        " (Inductor #195320 took it for k^T); all dims 8 so a wrong key type-checks",
        "softmax(q @ k.permute(0,2,3,1) * 0.25) @ v, q/k/v (2,8,8,8)")
    add("trap_k_permute_pair_fp32_b2", "trap", t_k_permute_pair,
        lambda: [r(gen(36), 2, 8, 8, 8) for _ in range(3)], 2, 2,
        "exact fusions exist: block 1 key = k, block 2 key = k.permute(0,2,1,3); they must not be"
        " merged",
        "two blocks on the same k: q @ k.permute(0,1,3,2) and q @ k.permute(0,2,3,1), (2,8,8,8)")
    add("trap_fully_masked_finfo_min_fp32_b2", "trap", t_fully_masked_finfo_min,
        lambda: qkv(gen(37)) + [torch.ones(S, S, dtype=torch.bool).tril().view(1, 1, S, S)], 1, 1,
        "exact fusion exists only as additive float mask where(keep, 0, finfo.min): row 3 is fully"
        " masked and must stay uniform; a bool / -inf mask gives NaN or 0 there",
        "masked_fill(q@k^T*0.25, ~(keep & (arange(8)[:,None] != 3)), finfo.min); softmax; @v;"
        " keep bool (1,1,8,8) input",
        int_ranges={"keep": [0, 2]})
    add("trap_mask_eq0_values012_fp32_b2", "trap", t_mask_eq0_values012,
        lambda: qkv(gen(38)) + [torch.randint(0, 3, (B, 1, 1, S), generator=gen(39))], 1, 1,
        "exact fusion exists only with keep = (mask != 0): mask values are {0,1,2}, Inductor's"
        " keep = (mask == 1) rewrite is wrong for 2",
        "masked_fill(q@k^T*0.25, mask == 0, -inf); softmax; @v; mask int64 (2,1,1,8) in [0,3)",
        int_ranges={"mask": [0, 3]})
    add("trap_reshape_after_output_fp32_b2", "trap", t_reshape_after_output, lambda: qkv(gen(40)), 1, 1,
        "exact fusion exists: SDPA output (2,4,8,16) then the reshape to (8,8,16); the match must"
        " stop at the attention output (Inductor #195589)",
        "(softmax(q@k^T*0.25)@v).reshape(8, 8, 16)")
    add("trap_transpose_reshape_after_output_fp32_b2", "trap", t_transpose_reshape_after_output,
        lambda: qkv(gen(41)), 1, 1,
        "exact fusion exists: SDPA then transpose(1,2).reshape(2,8,64); the match must stop at the"
        " attention output",
        "(softmax(q@k^T*0.25)@v).transpose(1,2).reshape(2, 8, 64)")
    return cases


# --------------------------------------------------------------------------- transformers models

VOCAB, SEQ, MBATCH = 128, 16, 2

MODELS = {
    "t5": ("T5Model", "T5Config",
           dict(vocab_size=VOCAB, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2,
                num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=16,
                dropout_rate=0.0, use_cache=False, pad_token_id=0, eos_token_id=1,
                decoder_start_token_id=0),
           6, "encoder self-attention x2 (scores * 1.0 + relative position bias + padding mask),"
              " decoder self-attention x2 (* 1.0 + position bias + causal mask), cross-attention x2"
              " (* 1.0 + zeros position bias + padding mask); fp32 softmax"),
    "opt": ("OPTModel", "OPTConfig",
            dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, ffn_dim=128,
                 num_attention_heads=4, max_position_embeddings=64, word_embed_proj_dim=64,
                 dropout=0.0, attention_dropout=0.0, layerdrop=0.0, use_cache=False,
                 pad_token_id=1, bos_token_id=2, eos_token_id=2),
            2, "causal self-attention x2: q_proj(x) * head_dim**-0.5, scores * 1.0 + causal/padding"
               " mask, softmax(dtype=fp32)"),
    "qwen2": ("Qwen2Model", "Qwen2Config",
              dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                   attention_dropout=0.0, use_cache=False, use_sliding_window=False,
                   pad_token_id=None, bos_token_id=0, eos_token_id=0),
              2, "GQA (4 q heads, 2 kv heads, repeat_kv) causal self-attention x2, RoPE"),
    "mistral": ("MistralModel", "MistralConfig",
                dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                     attention_dropout=0.0, use_cache=False, sliding_window=None,
                     pad_token_id=None, bos_token_id=0, eos_token_id=0),
                2, "GQA (4 q heads, 2 kv heads, repeat_kv) causal self-attention x2, RoPE"),
}


class _ModelWrap(torch.nn.Module):
    """Calls a transformers model and returns plain tensors (last_hidden_state)."""

    def __init__(self, name, model):
        super().__init__()
        self.name, self.m = name, model

    def forward(self, input_ids, attention_mask, decoder_input_ids=None):
        if self.name == "t5":
            o = self.m(input_ids=input_ids, attention_mask=attention_mask,
                       decoder_input_ids=decoder_input_ids)
            return o.last_hidden_state, o.encoder_last_hidden_state
        return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def build_model(name):
    import transformers

    cls_name, cfg_name, cfg, _, _ = MODELS[name]
    config = getattr(transformers, cfg_name)(**cfg, attn_implementation="eager")
    torch.manual_seed(0)
    model = getattr(transformers, cls_name)(config).eval()
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    return _ModelWrap(name, model).eval()


def model_inputs(name):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, VOCAB, (MBATCH, SEQ), generator=g)
    mask = torch.ones(MBATCH, SEQ, dtype=torch.long)
    mask[1, 12:] = 0  # right padding on the second sequence
    ins = [ids, mask]
    if name == "t5":
        ins.append(torch.randint(3, VOCAB, (MBATCH, SEQ), generator=g))
    return ins


def model_cases():
    cases = []
    for name, (cls_name, _, cfg, blocks, what) in MODELS.items():
        def make(name=name):
            return model_inputs(name)
        cases.append(dict(
            name=f"model_{name}_fp32_b2", group="model", module=name, make_inputs=make,
            int_ranges={"input_ids": [0, VOCAB], "decoder_input_ids": [0, VOCAB],
                        "attention_mask": [0, 2]},
            blocks=blocks, expected=blocks,
            why=f"every eager attention block of {cls_name} is an exact SDPA form",
            description=(f"transformers {cls_name} (eager attention, random weights seed 0, 2 layers,"
                         f" hidden 64, 4 heads, vocab 128, batch 2, seq 16, padding on row 1): {what};"
                         " outputs: last_hidden_state" + (", encoder_last_hidden_state"
                                                          if name == "t5" else "")),
            dtype=F32))
    return cases


# --------------------------------------------------------------------------- driver


def _is_int_val(val) -> bool:
    return isinstance(val, dict) and (val["dtype"] == "bool" or val["dtype"].startswith(("int", "uint")))


def _int_inputs(doc, int_ranges, fname):
    res = {}
    for n in doc["nodes"]:
        if n["op"] != "placeholder" or not _is_int_val(n["val"]):
            continue
        src = (doc["_sources"].get(n["name"]) or "").lower()
        rng = None
        # longest argument name first (decoder_input_ids before input_ids)
        for arg in sorted(int_ranges, key=len, reverse=True):
            if src == f"l_{arg}_" or (src.startswith("l_") and arg in src):
                rng = int_ranges[arg]
                break
        if rng is None:
            raise RuntimeError(f"{fname}: no [low, high) range for integer placeholder "
                               f"{n['name']} (source {src!r})")
        res[n["name"]] = list(rng)
    return res


def run_case(case, out: Path) -> dict:
    file = case["name"] + ".forward.json"
    torch.manual_seed(0)
    if "module" in case:
        fn = build_model(case["module"])
    else:
        fn = case["fn"]
    ins = case["make_inputs"]()
    (doc,) = capture(fn, ins, mode="forward", name=case["name"])
    found = count_softmax(doc)
    if found != case["blocks"]:
        raise RuntimeError(f"{file}: expected {case['blocks']} softmax groups, found {found}")
    bad = [n["target"] for n in doc["nodes"]
           if n.get("target", "").split(".")[1:2] and n["target"].split(".")[1] in
           ("rand", "rand_like", "bernoulli", "native_dropout", "scaled_dot_product_attention",
            "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_attention_math")]
    if bad:
        raise RuntimeError(f"{file}: unexpected ops {bad}")
    int_inputs = _int_inputs(doc, case["int_ranges"], file)
    write_fx_json(doc, out / file)
    size = (out / file).stat().st_size
    print(f"{file}: {len(doc['nodes'])} nodes, {size} bytes", file=sys.stderr)
    return {"file": file, "group": case["group"], "description": case["description"],
            "attention_blocks": case["blocks"], "expected_sdpa": case["expected"],
            "why": case["why"], "dtype": str(case["dtype"]).removeprefix("torch."),
            "int_inputs": int_inputs}


def all_cases():
    return sfdp_cases() + model_cases() + _fn_cases()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--only", nargs="*", help="regenerate only fixtures whose name contains one of"
                    " these substrings (index.json is not rewritten)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cases = all_cases()
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names), "duplicate fixture names"
    if args.only:
        cases = [c for c in cases if any(s in c["name"] for s in args.only)]
    entries = [run_case(c, out) for c in cases]
    if args.only:
        return 0
    keep = {e["file"] for e in entries}
    for p in out.glob("*.forward.json"):
        if p.name not in keep:
            p.unlink()
    with open(out / "index.json", "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n")
    json.loads((out / "index.json").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
