#!/usr/bin/env python
"""The CUDA memory-efficient SDPA kernel with dropout against the decomposed dropout that the
training-dropout rules replace (``rules/attention_train.rules``, ``sdpa-train-dropout-*``),
one attention block, fp32, on the GPU:

    python3 experiments/gpu_dropout_kernel_check.py [RUNS]      (default 2000)

* ``ref``: softmax(q·kᵀ·s), dropout ``rand > p`` times ``1/(1-p)``, ·v, and the backward as
  AOTAutograd's joint graph computes it (the same mask scales the weights' gradient);
* ``fus``: ``_scaled_dot_product_efficient_attention(q, k, v, None, True, p, False, scale=s)``
  and its backward fed the forward's out, logsumexp, philox seed and offset, as the rules
  emit them.

p = 0: values (max relative error). p = 0.1 and 0.5, RUNS seeds each: per element of
out/dq/dk/dv, z = (mean_ref - mean_fus) / sqrt(var_ref/N + var_fus/N) (max over 6144
elements; about 3.8 expected for standard normal z); and the covariance over the runs of
<out, g> with <dq, q>, <dk, k>, <dv, v>, which sees whether forward and backward share one
mask. Control: ``ref`` with the backward's mask drawn independently (same marginals): its
dq/dk covariance z must be large. Results: experiments/results/dropout_kernel_h100.txt."""

import sys

import torch

A = torch.ops.aten
DEV = "cuda"
B, H, L, S, E = 2, 4, 8, 16, 16
SCALE = 0.25


def inputs():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(B, H, n, E, generator=g).to(DEV) for n in (L, S, S, L)]


Q, K, V, T = inputs()  # q, k, v and the output's gradient


def ref(seed, p, independent=False):
    """Decomposed attention with ``rand > p`` dropout; forward and backward (independent:
    the backward's mask from a second rand, the negative control)."""
    torch.manual_seed(seed)
    w = torch.softmax(Q @ K.transpose(-2, -1) * SCALE, -1)
    m = torch.rand(B, H, L, S, device=DEV) > p
    m2 = torch.rand(B, H, L, S, device=DEV) > p if independent else m
    d = m * w / (1 - p)
    gw = (T @ V.transpose(-2, -1)) * m2 / (1 - p)
    gs = w * (gw - (gw * w).sum(-1, keepdim=True)) * SCALE
    return d @ V, gs @ K, gs.transpose(-2, -1) @ Q, d.transpose(-2, -1) @ T


def fus(seed, p):
    """The efficient kernel's forward and backward, wired as the rules emit them."""
    torch.manual_seed(seed)
    o, lse, seed_t, offset = A._scaled_dot_product_efficient_attention(
        Q, K, V, None, True, p, False, scale=SCALE)
    dq, dk, dv, _ = A._scaled_dot_product_efficient_attention_backward(
        T, Q, K, V, None, o, lse, seed_t, offset, p, [True, True, True, False], False,
        scale=SCALE)
    return o, dq, dk, dv


def stats(f, n):
    """Per-element means and variances over n runs, and the covariances of <out, g> with
    <dq, q>, <dk, k>, <dv, v> (means and variances of the centred products)."""
    xs, ps = [], []
    for r in range(n):
        o = [x.double().flatten() for x in f(r)]
        xs.append(torch.cat(o))
        ps.append(torch.stack([(a * w.double().flatten()).sum() for a, w in zip(o, (T, Q, K, V))]))
    x, pr = torch.stack(xs), torch.stack(ps)
    pr = pr - pr.mean(0)
    c = pr[:, :1] * pr[:, 1:]
    return x.mean(0), x.var(0), c.mean(0), c.var(0)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    e = max(((x - y).abs().max() / x.abs().max()).item() for x, y in zip(ref(0, 0.0), fus(0, 0.0)))
    print("p=0 max rel err %.2e" % e)
    for p in (0.1, 0.5):
        r = stats(lambda i: ref(i, p), n)
        for name, f in (("fused", lambda i: fus(i + 10**6, p)),
                        ("indep-mask control", lambda i: ref(i + 2 * 10**6, p, True))):
            o = stats(f, n)
            z = (r[0] - o[0]).abs() / ((r[1] + o[1]) / n).sqrt().clamp_min(1e-9)
            zc = (r[2] - o[2]).abs() / ((r[3] + o[3]) / n).sqrt()
            print("p=%.1f %s: means max|z| %.2f over %d elems; cov(<o,g>,<dq,q>/<dk,k>/<dv,v>) |z| %s"
                  % (p, name, z.max(), z.numel(), [round(x, 1) for x in zc.tolist()]))


if __name__ == "__main__":
    main()
