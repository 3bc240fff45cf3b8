"""Fully masked rows in SDPA's fused backward, on the device's kernels.

HF masks are where(keep, 0, finfo.min). In a row with no kept key the decomposed softmax gives
uniform weights 1/S, but the fused kernels recompute the weights from the logsumexp, which
rounds to finfo.min: they get 1 instead of 1/S and every gradient of that row comes out S
times too large. fxsat's `-keep` rules (rules/attention_train.rules) pass the output's
gradient divided by S in those rows; this script measures, per kernel and dtype, the largest
gradient error against the decomposed float64 reference, with and without that correction,
and with the mask halved as well (CUDA's memory-efficient kernel treats scores below about
-2.36e38 as -inf, so finfo.min rows come out 0 there; finfo.min/2 is still absorbing).

    python experiments/gpu_fully_masked_rows.py [--out experiments/results/fully_masked_rows.json]
"""

import argparse
import json
import platform

import torch


def reference(q, k, v, m, s, g):
    q, k, v = (t.detach().double().requires_grad_(True) for t in (q, k, v))
    m, g = m.double(), g.double()
    o = torch.softmax((q @ k.transpose(-1, -2)) * s + m, -1) @ v
    return [x.float() for x in torch.autograd.grad(o, (q, k, v), g)]


def fused(kernel, q, k, v, m, s, g):
    if kernel == "efficient":
        out, lse, seed, off = torch.ops.aten._scaled_dot_product_efficient_attention(
            q, k, v, m, True, 0.0, False, scale=s)
        r = torch.ops.aten._scaled_dot_product_efficient_attention_backward(
            g, q, k, v, m, out, lse, seed, off, 0.0, [True, True, True, False], False, scale=s)
    else:
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, False, attn_mask=m, scale=s)
        r = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            g, q, k, v, out, lse, 0.0, False, attn_mask=m, scale=s)
    return [x.float() for x in r[:3]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    kernel = "efficient" if dev == "cuda" else "flash_cpu"
    rows = []
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        B, H, L, S, E = 2, 4, 64, 64, 64
        q, k, v = (torch.randn(B, H, n, E, device=dev, dtype=dtype) for n in (L, S, S))
        keep = torch.rand(B, 1, L, S, device=dev) > 0.3
        keep[0, 0, :5] = False     # fully masked rows
        keep[1, 0, 10] = False
        fmin = torch.finfo(dtype).min
        m = torch.where(keep, torch.tensor(0.0, dtype=dtype, device=dev),
                        torch.tensor(fmin, dtype=dtype, device=dev)).expand(B, H, L, S)
        s = E ** -0.5
        g = torch.randn(B, H, L, E, device=dev, dtype=dtype)
        want = reference(q, k, v, m, s, g)
        scale = max(w.abs().max().item() for w in want)
        plain = fused(kernel, q, k, v, m, s, g)
        g_fix = torch.where(keep.any(-1, keepdim=True), g, g / S)
        fixed = fused(kernel, q, k, v, m, s, g_fix)
        # The mask halved: still absorbing, but no longer below -2.36e38 (see the rules).
        halved = fused(kernel, q, k, v, m * 0.5, s, g_fix)
        err = lambda got: max((a - b).abs().max().item() for a, b in zip(got, want)) / scale
        rows.append({"dtype": str(dtype).replace("torch.", ""), "kernel": kernel,
                     "fully_masked_rows": int((~keep.any(-1)).sum()),
                     "rel_error_uncorrected": err(plain), "rel_error_corrected": err(fixed),
                     "rel_error_halved_mask_corrected": err(halved)})
        print(rows[-1])
    res = {"device": torch.cuda.get_device_name() if dev == "cuda" else platform.processor(),
           "torch": torch.__version__, "rows": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
