#!/usr/bin/env python
"""Attention kernels side by side on one GPU: which SDPA kernel, at what cost, for which mask.

    python3 experiments/gpu_attention_kernels.py [--json OUT.json] [--runs 20] [--tiny]

For each shape (the attention of the models in the GPU benchmark: GPT-2, LLaMA with GQA
expanded, BERT, T5/OPT-like, ViT), each dtype and each mask form it times the forward alone
and forward + backward of every SDPA kernel PyTorch has (cuDNN, flash, memory-efficient, math,
chosen with ``torch.nn.attention.sdpa_kernel``) and of the decomposed spelling
(``softmax(q·kᵀ·s + m)·v`` run eagerly), and records the peak memory the call adds.
Mask forms: ``none``; ``causal`` (``is_causal=True``, no tensor); ``causal-tensor`` (the same
causal mask as an additive ``[L, S]`` tensor broadcast over batch and heads); ``pad`` (an
additive key-padding mask ``[B, 1, 1, S]``); ``full`` (an additive ``[B, H, L, S]`` tensor).
A kernel that refuses a case is recorded as unsupported with PyTorch's reason.

Timing: CUDA events around each call, medians of ``--runs`` after 3 warm-ups; the flop
counts (``4·B·H·L·S·D`` forward, 2.5× that backward, halved for causal) let a cost model be
fitted per kernel kind. Nothing is changed on the device (no clock or power settings).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys

import torch
import torch.nn.functional as F

SHAPES = {
    # name: (B, H, L, S, D)
    "gpt2": (8, 16, 1024, 1024, 64),
    "llama": (4, 16, 2048, 2048, 128),
    "bert": (8, 16, 512, 512, 64),
    "t5": (8, 16, 512, 512, 64),
    "vit": (32, 12, 197, 197, 64),
}
TINY = {"tiny": (2, 2, 64, 64, 32)}
MASKS = ["none", "causal", "causal-tensor", "pad", "full"]
KERNELS = ["cudnn", "flash", "efficient", "math", "decomposed"]


def make_mask(kind, b, h, l, s, dtype, device):
    if kind in ("none", "causal"):
        return None
    neg = torch.finfo(dtype).min
    if kind == "causal-tensor":
        keep = torch.ones(l, s, dtype=torch.bool, device=device).tril()
        return torch.zeros(l, s, dtype=dtype, device=device).masked_fill(~keep, neg)
    if kind == "pad":
        keep = torch.ones(b, 1, 1, s, dtype=torch.bool, device=device)
        keep[: b // 2, ..., s - s // 8:] = False  # half the batch padded by an eighth
        return torch.zeros(b, 1, 1, s, dtype=dtype, device=device).masked_fill(~keep, neg)
    if kind == "full":
        return torch.randn(b, h, l, s, dtype=dtype, device=device)
    raise ValueError(kind)


def decomposed(q, k, v, mask, causal, scale):
    w = (q @ k.transpose(-2, -1)) * scale
    if causal:
        l, s = w.shape[-2:]
        keep = torch.ones(l, s, dtype=torch.bool, device=q.device).tril()
        w = w.masked_fill(~keep, torch.finfo(w.dtype).min)
    if mask is not None:
        w = w + mask
    return torch.softmax(w.float(), dim=-1).to(q.dtype) @ v


def call(kernel, q, k, v, mask, causal, scale):
    if kernel == "decomposed":
        return decomposed(q, k, v, mask, causal, scale)
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backend = {
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "math": SDPBackend.MATH,
    }[kernel]
    with sdpa_kernel([backend]):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)


def time_it(fn, runs, device):
    if device != "cuda":
        import time
        for _ in range(2):
            fn()
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts) * 1e3
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(runs):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def measure(name, shape, dtype, mask_kind, kernel, runs, device):
    b, h, l, s, d = shape
    g = torch.Generator(device=device).manual_seed(0)
    q, k, v = (torch.randn(b, h, n, d, dtype=dtype, device=device, generator=g).requires_grad_()
               for n in (l, s, s))
    mask = make_mask(mask_kind, b, h, l, s, dtype, device)
    causal = mask_kind == "causal"
    scale = 1.0 / math.sqrt(d)
    flops = 4.0 * b * h * l * s * d * (0.5 if mask_kind.startswith("causal") else 1.0)
    row = {"shape": name, "B": b, "H": h, "L": l, "S": s, "D": d, "dtype": str(dtype).removeprefix("torch."),
           "mask": mask_kind, "kernel": kernel, "fwd_flops": flops, "bwd_flops": 2.5 * flops}
    try:
        out = call(kernel, q, k, v, mask, causal, scale)
        grad = torch.randn_like(out)
        out.backward(grad)
    except RuntimeError as e:  # the kernel refuses this case
        row["unsupported"] = str(e).splitlines()[0][:200]
        return row

    def fwd():
        with torch.no_grad():
            call(kernel, q, k, v, mask, causal, scale)

    def fwd_bwd():
        q.grad = k.grad = v.grad = None
        call(kernel, q, k, v, mask, causal, scale).backward(grad)

    row["fwd_ms"] = time_it(fwd, runs, device)
    row["fwd_bwd_ms"] = time_it(fwd_bwd, runs, device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fwd_bwd()
        torch.cuda.synchronize()
        row["peak_extra_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write every row here")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--tiny", action="store_true", help="one tiny shape (CPU smoke test)")
    ap.add_argument("--dtypes", default="bfloat16")
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated: " + ", ".join(SHAPES))
    ap.add_argument("--masks", default=",".join(MASKS), help="comma-separated: " + ", ".join(MASKS))
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shapes = TINY if args.tiny else {n: SHAPES[n] for n in args.shapes.split(",")}
    rows = []
    for name, shape in shapes.items():
        for dt in args.dtypes.split(","):
            dtype = getattr(torch, dt)
            for mask_kind in args.masks.split(","):
                for kernel in KERNELS:
                    row = measure(name, shape, dtype, mask_kind, kernel, args.runs, device)
                    rows.append(row)
                    if "unsupported" in row:
                        print(f"{name:6} {dt:9} {mask_kind:14} {kernel:10} unsupported: {row['unsupported'][:70]}",
                              flush=True)
                    else:
                        tf = (row["fwd_flops"] + row["bwd_flops"]) / row["fwd_bwd_ms"] / 1e9
                        print(f"{name:6} {dt:9} {mask_kind:14} {kernel:10} fwd {row['fwd_ms']:8.3f} ms  "
                              f"fwd+bwd {row['fwd_bwd_ms']:8.3f} ms  {tf:7.1f} TFLOP/s  "
                              f"+{row.get('peak_extra_mib', 0):8.1f} MiB", flush=True)
                    if device == "cuda":
                        torch.cuda.empty_cache()
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "torch": torch.__version__, "runs": args.runs, "script": "experiments/gpu_attention_kernels.py"}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
