#!/usr/bin/env python
"""CUDA checks behind rules/bias.rules (issue 19, part 2), which the CPU cannot run. Prints the
max errors and exits non-zero on any mismatch:

1. ``-inf`` rows: the memory-efficient kernel (``_scaled_dot_product_efficient_attention`` and
   its backward, what ``sdpa_fwd``/``sdpa_bwd`` lower to with ``--target cuda``) on a mask with
   rows that are ``-inf`` everywhere gives 0 there in the forward and no gradient from them,
   i.e. it equals the safe softmax (what the ``-ninf`` rules state), float32/float16/bfloat16.
2. DistilBERT joint graphs (``tests/fixtures/train_forms/train_form_distilbert_fp32_{tangent,loss}.joint.json``)
   optimised with ``--target cuda`` and run on the GPU against the original graph: NaN in the
   same places (fully masked rows: batch 1's key mask all False), finite values within
   1e-4 · (1 + max|orig|).
3. Dropout kept in an inference graph (``train_form_dropout_fp32.forward.json``, ``--target
   cuda``: the kernel's ``dropout_p``): equal in distribution, checked on the first two moments
   over ``--seeds`` seeds: per element, the mean of the fused output against the decomposed
   graph's mean (z-scores from the decomposed graph's spread), and the mean of squares likewise.
4. The bias gradient the efficient backward returns with ``grad_input_mask[3]`` (for a future
   fused learned-bias backward): against the softmax backward in float64.

    python experiments/gpu_bias_check.py [--fxsat target/release/fxsat] [--seeds 400]"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
FORMS = ROOT / "tests" / "fixtures" / "train_forms"


def kernel_neg_inf_rows(dev) -> list[str]:
    bad = []
    B, H, L, S, E = 2, 2, 16, 32, 16
    for dt, tol in ((torch.float32, 1e-4), (torch.float16, 2e-2), (torch.bfloat16, 6e-2)):
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(B, H, n, E, generator=g) for n in (L, S, S))
        c = torch.rand(B, 1, L, S, generator=g) < 0.3
        c[0, 0, 3] = True  # a row masked everywhere
        c[1, 0, 7] = True
        m = torch.zeros(B, 1, L, S).masked_fill(c, -math.inf).expand(B, H, L, S)
        do = torch.randn(B, H, L, E, generator=g)
        qd, kd, vd, md, dod = (t.to(dev, dt) for t in (q, k, v, m, do))
        out, lse, seed, off = torch.ops.aten._scaled_dot_product_efficient_attention(
            qd, kd, vd, md, True, 0.0, False, scale=0.25)
        dq, dk, dv, _ = torch.ops.aten._scaled_dot_product_efficient_attention_backward(
            dod, qd, kd, vd, md, out, lse, seed, off, 0.0, [True, True, True, False], False,
            scale=0.25)
        # reference: the safe softmax in float64
        q64, k64, v64, do64 = (t.double().requires_grad_(True) for t in (q, k, v, do))
        # (rows masked everywhere: weights 0 and no gradient; computed without a NaN, whose
        # backward would poison dq and dk of the reference)
        full = torch.isinf(m).all(-1, keepdim=True)
        p = torch.softmax(q64 @ k64.transpose(-1, -2) * 0.25 + m.double().masked_fill(full, 0.0),
                          -1).masked_fill(full, 0.0)
        ref = p @ v64
        rq, rk, rv = torch.autograd.grad(ref, (q64, k64, v64), do64)
        for name, a, b in (("out", out, ref), ("dq", dq, rq), ("dk", dk, rk), ("dv", dv, rv)):
            a = a.double().cpu()
            finite = bool(a.isfinite().all())
            err = float((a - b.detach()).abs().max()) / (1 + float(b.abs().max()))
            ok = finite and err <= tol
            print(f"  -inf rows {str(dt).removeprefix('torch.'):9s} {name}: rel err {err:.3g}"
                  f"{'' if finite else ' (NaN/inf!)'} {'ok' if ok else 'MISMATCH'}")
            if not ok:
                bad.append(f"-inf rows {dt} {name}")
    return bad


def _run(doc, inputs):
    from fxsat.load import on_device, to_graph_module
    dev = next((t.device.type for t in inputs if isinstance(t, torch.Tensor)), "cpu")
    with torch.no_grad():
        out = to_graph_module(on_device(doc, dev))(*inputs)
    return [out] if isinstance(out, torch.Tensor) else list(out)


def _inputs(doc, dev, seed):
    from fxsat.load import placeholder_vals
    g = torch.Generator().manual_seed(seed)
    res = []
    for _, val in placeholder_vals(doc):
        dt = getattr(torch, val["dtype"])
        if dt == torch.bool:
            m = torch.rand(val["shape"], generator=g) > 0.3
            m[..., 0] = True
            m[1] = False  # batch 1: every key masked, fully masked rows
            res.append(m.to(dev))
        else:
            res.append(torch.randn(val["shape"], generator=g).to(dev, dt))
    return res


def _optimize(fxsat, name, tmp):
    out = Path(tmp) / name
    subprocess.run([fxsat, "optimize", str(FORMS / name), "-o", str(out), "--target", "cuda"],
                   check=True, capture_output=True)
    return json.loads((FORMS / name).read_text()), json.loads(out.read_text())


def distilbert_graphs(fxsat, dev, tmp) -> list[str]:
    bad = []
    for name in ("train_form_distilbert_fp32_tangent.joint.json",
                 "train_form_distilbert_fp32_loss.joint.json"):
        orig, opt = _optimize(fxsat, name, tmp)
        fused = json.dumps(opt).count("_scaled_dot_product_efficient_attention")
        ins = _inputs(orig, dev, 0)
        o, n = _run(orig, ins), _run(opt, ins)
        for i, (a, b) in enumerate(zip(o, n)):
            if a is None:
                continue
            same_nan = torch.equal(a.isnan(), b.isnan())
            diff = (a.double() - b.double()).abs().nan_to_num(0.0)
            err = float(diff.max())
            scale = float(a.double().abs().nan_to_num(0.0).max())
            ok = same_nan and err <= 1e-4 * (1 + scale)
            print(f"  {name} out[{i}] (kernel calls {fused}): max err {err:.3g}, NaN "
                  f"{int(a.isnan().sum())}/{int(b.isnan().sum())} {'ok' if ok else 'MISMATCH'}")
            if not ok:
                bad.append(f"{name} out[{i}]")
    return bad


def dropout_inference(fxsat, dev, tmp, seeds) -> list[str]:
    bad = []
    name = "train_form_dropout_fp32.forward.json"
    orig, opt = _optimize(fxsat, name, tmp)
    assert "_scaled_dot_product_efficient_attention" in json.dumps(opt), "not fused"
    ins = _inputs(orig, dev, 0)
    stats = {}
    for label, doc in (("decomposed", orig), ("fused", opt)):
        s1 = s2 = s4 = 0.0
        for seed in range(seeds):
            torch.manual_seed(seed)
            (y,) = _run(doc, ins)
            y = y.double()
            s1, s2, s4 = s1 + y, s2 + y * y, s4 + y ** 4
        stats[label] = (s1 / seeds, s2 / seeds, s4 / seeds)
    (m0, q0, f0), (m1, q1, _) = stats["decomposed"], stats["fused"]
    var_y = (q0 - m0 * m0).clamp_min(1e-12)
    var_y2 = (f0 - q0 * q0).clamp_min(1e-12)
    z_mean = float(((m1 - m0).abs() / (2 * var_y / seeds).sqrt()).max())
    z_sq = float(((q1 - q0).abs() / (2 * var_y2 / seeds).sqrt()).max())
    ok = z_mean < 5.5 and z_sq < 5.5  # 5.5 sigma over B·H·L·E = 65536 elements: a false alarm ~3e-3
    print(f"  dropout p=0.1 inference, {seeds} seeds: max |z| of per-element means {z_mean:.2f}, "
          f"of mean squares {z_sq:.2f} {'ok' if ok else 'MISMATCH'}")
    if not ok:
        bad.append("dropout inference")
    return bad


def bias_gradient(dev) -> list[str]:
    B, H, L, S, E = 2, 2, 16, 32, 16
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(B, H, n, E, generator=g) for n in (L, S, S))
    bias = torch.randn(1, H, L, S, generator=g)
    do = torch.randn(B, H, L, E, generator=g)
    qd, kd, vd, dod = (t.to(dev) for t in (q, k, v, do))
    bd = bias.to(dev).expand(B, H, L, S)
    out, lse, seed, off = torch.ops.aten._scaled_dot_product_efficient_attention(
        qd, kd, vd, bd, True, 0.0, False, scale=0.25)
    *_, db = torch.ops.aten._scaled_dot_product_efficient_attention_backward(
        dod, qd, kd, vd, bd, out, lse, seed, off, 0.0, [True, True, True, True], False, scale=0.25)
    b64 = bias.double().requires_grad_(True)
    ref = torch.softmax(q.double() @ k.double().transpose(-1, -2) * 0.25 + b64, -1) @ v.double()
    (rb,) = torch.autograd.grad(ref, b64, do.double())
    got = db.double().cpu().sum(0, keepdim=True)
    err = float((got - rb).abs().max()) / (1 + float(rb.abs().max()))
    ok = err <= 1e-4
    print(f"  grad_bias of the efficient backward (summed over the batch): rel err {err:.3g} "
          f"{'ok' if ok else 'MISMATCH'}")
    return [] if ok else ["grad_bias"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fxsat", default=str(ROOT / "target" / "release" / "fxsat"))
    ap.add_argument("--seeds", type=int, default=400)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_bias_check: no CUDA device")
        return 2
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    bad = kernel_neg_inf_rows(dev)
    with tempfile.TemporaryDirectory() as tmp:
        bad += distilbert_graphs(args.fxsat, dev, tmp)
        bad += dropout_inference(args.fxsat, dev, tmp, args.seeds)
    bad += bias_gradient(dev)
    print("FAILED: " + ", ".join(bad) if bad else "all ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
