#!/usr/bin/env python
"""Matmul alignment sweep and device-profile calibration.

    python3 experiments/gpu_matmul_sweep.py [--device cuda|cpu] [--tiny]
        [--json OUT.json] [--profile-out PROFILE.json] [--runs 30]

Measures, on the device as found (no clock or power changes):

* ``bandwidth``: a large device-to-device copy, bytes read + bytes written over time;
* ``peak_flops``: large aligned ``mm`` per dtype (bfloat16, float16, float32 with PyTorch's
  default ``allow_tf32=False``, and tf32 for reference);
* ``launch_overhead``: the time per kernel of a long chain of tiny ``aten.add`` calls
  replayed as a CUDA graph (the device's own per-kernel cost); the same chain run eagerly
  gives the host's dispatch + launch cost per op, recorded as ``eager_dispatch_overhead``;
* alignment: for bfloat16 and float32, ``C = A @ B`` with A (M, K), B (K, N) at aligned sizes
  and with one of M, K, N off by one (and N = 50257, GPT-2's vocabulary), timing (a) the
  misaligned mm, (b) the mm of operands already padded to the alignment (8 elements for
  16-bit types, 4 for float32: 16 bytes), and (c) pad copies + padded mm + slice copy
  (``constant_pad_nd`` then ``mm`` then a contiguous slice), which is what a padding rewrite
  costs when nothing is padded ahead. The efficiency of a misaligned mm is its achieved
  flop rate over the padded mm's (b).

The fit: ``misaligned_matmul_efficiency`` is the median efficiency over the misaligned cases
of the tensor-core dtypes with K or N misaligned (those change the operands' row alignment;
M only changes tiling); medians per dtype (float32 too) and per dim are recorded beside it. With
``--profile-out`` the measured numbers are written into that profile JSON (existing keys kept,
``source`` and ``calibration`` updated). Results (every timing) go to ``--json``; a markdown
table is printed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ALIGN = {torch.bfloat16: 8, torch.float16: 8, torch.float32: 4}


def dname(dt) -> str:
    return str(dt).removeprefix("torch.")


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def bench(fn, dev, runs: int, warmup: int = 3) -> float:
    """Median seconds of fn() (CUDA events on a GPU)."""
    for _ in range(warmup):
        fn()
    sync(dev)
    ts = []
    for _ in range(runs):
        if dev.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            ts.append(a.elapsed_time(b) * 1e-3)
        else:
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def rup(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def measure_bandwidth(dev, nbytes: int, runs: int) -> dict:
    src = torch.randn(nbytes // 4, device=dev)
    dst = torch.empty_like(src)
    t = bench(lambda: dst.copy_(src), dev, runs)
    return {"bytes": 2 * nbytes, "seconds": t, "bandwidth": 2 * nbytes / t}


def measure_peak(dev, n: int, dtype, runs: int, tf32: bool = False) -> dict:
    g = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, device=dev, generator=g).to(dtype)
    b = torch.randn(n, n, device=dev, generator=g).to(dtype)
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        t = bench(lambda: torch.mm(a, b), dev, runs)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    return {"n": n, "dtype": dname(dtype) + ("(tf32)" if tf32 else ""), "seconds": t,
            "flops": 2 * n ** 3 / t}


def measure_launch(dev, n_ops: int, runs: int) -> dict:
    x = torch.ones(1, device=dev)
    add = torch.ops.aten.add.Tensor

    def chain():
        y = x
        for _ in range(n_ops):
            y = add(y, x)
        return y

    res = {"ops": n_ops, "eager_per_op": bench(chain, dev, runs) / n_ops}
    if dev.type == "cuda":
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            chain()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            chain()
        res["graph_per_op"] = bench(g.replay, dev, runs) / n_ops
    return res


def mm_case(dev, dtype, m: int, k: int, n: int, runs: int) -> dict:
    al = ALIGN[dtype]
    gen = torch.Generator(device=dev).manual_seed(m * 7 + k * 3 + n)
    a = torch.randn(m, k, device=dev, generator=gen).to(dtype)
    b = torch.randn(k, n, device=dev, generator=gen).to(dtype)
    mp, kp, np_ = rup(m, al), rup(k, al), rup(n, al)
    ap = F.pad(a, (0, kp - k, 0, mp - m))
    bp = F.pad(b, (0, np_ - n, 0, kp - k))
    t_mis = bench(lambda: torch.mm(a, b), dev, runs)
    t_pad_mm = bench(lambda: torch.mm(ap, bp), dev, runs)

    def padded():
        x = F.pad(a, (0, kp - k, 0, mp - m)) if (kp, mp) != (k, m) else a
        y = F.pad(b, (0, np_ - n, 0, kp - k)) if (np_, kp) != (n, k) else b
        c = torch.mm(x, y)
        return c[:m, :n].contiguous() if (mp, np_) != (m, n) else c

    t_pad_all = bench(padded, dev, runs)
    err = (padded().double() - torch.mm(a, b).double()).norm().item()
    flops, flops_p = 2 * m * k * n, 2 * mp * kp * np_
    return {"dtype": dname(dtype), "m": m, "k": k, "n": n, "padded": [mp, kp, np_],
            "t_misaligned": t_mis, "t_padded_mm": t_pad_mm, "t_pad_copies_mm_slice": t_pad_all,
            "tflops_misaligned": flops / t_mis / 1e12, "tflops_padded": flops_p / t_pad_mm / 1e12,
            "efficiency": (flops / t_mis) / (flops_p / t_pad_mm),
            "speedup_pad_with_copies": t_mis / t_pad_all,
            "speedup_pad_ahead": t_mis / t_pad_mm, "abs_err_padded_vs_plain": err}


def cases(tiny: bool):
    """(dtype, m, k, n, which dim is misaligned or 'aligned')."""
    out = []
    if tiny:
        for dt in (torch.bfloat16, torch.float32):
            out += [(dt, 64, 64, 64, "aligned"), (dt, 65, 64, 64, "M"), (dt, 64, 65, 64, "K"),
                    (dt, 64, 64, 65, "N")]
        return out
    for dt, bases in ((torch.bfloat16, (2048, 4096, 8192)), (torch.float32, (2048, 4096))):
        for s in bases:
            out += [(dt, s, s, s, "aligned"), (dt, s + 1, s, s, "M"), (dt, s, s + 1, s, "K"),
                    (dt, s, s, s + 1, "N"), (dt, s, s - 1, s, "K")]
        # GPT-2's LM head: tokens x hidden @ hidden x vocab(50257)
        out += [(dt, 8192, 1024, 50257, "N"), (dt, 8192, 1024, 50264, "aligned"),
                # a ViT with 1025 tokens: activations (batch*1025) x hidden
                (dt, 4 * 1025, 1024, 4096, "M"), (dt, 4096, 1025, 1024, "K")]
    return out


TENSOR_CORE = ("bfloat16", "float16")


def fit(res: dict) -> dict:
    """Profile numbers from the measurements (see the module docstring)."""
    mis = [c for c in res["matmul"] if c["which"] in ("K", "N")]
    by_dt = {}
    for dt in sorted({c["dtype"] for c in mis}):
        by_dt[dt] = statistics.median(c["efficiency"] for c in mis if c["dtype"] == dt)
    by_dim = {}
    for w in ("M", "K", "N"):
        es = [c["efficiency"] for c in res["matmul"] if c["which"] == w
              and c["dtype"] in TENSOR_CORE]
        if es:
            by_dim[w] = statistics.median(es)
    peak = {}
    for p in res["peak"]:
        if "(tf32)" not in p["dtype"]:
            peak[p["dtype"]] = max(peak.get(p["dtype"], 0.0), p["flops"])
    tc = [c["efficiency"] for c in mis if c["dtype"] in TENSOR_CORE]
    launch = res["launch"]
    return {
        "bandwidth": res["bandwidth"]["bandwidth"],
        "peak_flops": peak,
        # the device's per-kernel cost (CUDA-graph replay); eager dispatch is recorded apart
        "launch_overhead": launch.get("graph_per_op", launch["eager_per_op"]),
        "eager_dispatch_overhead": launch["eager_per_op"],
        # the tensor-core dtypes: alignment is a tensor-core matter (float32 without TF32
        # runs on the CUDA cores and is recorded per dtype)
        "misaligned_matmul_efficiency": min(1.0, statistics.median(tc)) if tc else 1.0,
        "misaligned_matmul_efficiency_by_dtype": by_dt,
        "misaligned_matmul_efficiency_by_dim": by_dim,
    }


def update_profile(path: Path, res: dict) -> dict:
    """Write the fit into the profile at ``path``: existing keys keep their meaning (and the
    datasheet's float64/int peaks, which were not measured); ``source`` says where each number
    comes from; ``calibration`` holds the rest (per dtype and per dim efficiencies, TF32 rate,
    eager dispatch cost)."""
    prof = json.loads(path.read_text())
    f = res["fit"]
    tf32 = next((p["flops"] for p in res["peak"] if "(tf32)" in p["dtype"]), 0.0)
    launch = res["launch"]
    prof["bandwidth"] = float(f"{f['bandwidth']:.3g}")
    for dt, v in f["peak_flops"].items():
        prof["peak_flops"][dt] = float(f"{v:.3g}")
    prof["launch_overhead"] = float(f"{f['launch_overhead']:.3g}")
    prof["misaligned_matmul_efficiency"] = round(f["misaligned_matmul_efficiency"], 2)
    prof["source"] = (
        f"Measured {res['date'][:10]} on {res['device_name']} (torch {res['torch']}), fit by "
        "experiments/gpu_matmul_sweep.py (raw: experiments/results/matmul_sweep.json). bandwidth: "
        "1 GiB device-to-device copy, bytes read + written. peak_flops: 8192^3 mm per dtype on "
        "random data (float32 without TF32, PyTorch's default); float64 and int from the "
        "datasheet. launch_overhead: per-kernel time of a chain of tiny kernels replayed as a "
        "CUDA graph (the device's cost; eager PyTorch adds host dispatch, "
        "calibration.eager_dispatch_overhead). misaligned_matmul_efficiency: bfloat16 mm with "
        "K or N not a multiple of 8, achieved flop rate over that of the mm on operands padded "
        "to 16 bytes (median over the sweep's shapes); float32 without TF32 showed no penalty "
        "(calibration.misaligned_matmul_efficiency_by_dtype), M misaligned none either.")
    prof["calibration"] = {
        "date": res["date"], "device": res["device_name"], "torch": res["torch"],
        "script": "experiments/gpu_matmul_sweep.py",
        "misaligned_matmul_efficiency_by_dtype": {
            k: round(v, 3) for k, v in f["misaligned_matmul_efficiency_by_dtype"].items()},
        "misaligned_matmul_efficiency_by_dim": {
            k: round(v, 3) for k, v in f["misaligned_matmul_efficiency_by_dim"].items()},
        "tf32_flops": float(f"{tf32:.3g}"),
        "eager_dispatch_overhead": float(f"{launch['eager_per_op']:.3g}"),
    }
    path.write_text(json.dumps(prof, indent=2) + "\n")
    return prof


def rounded(d: dict) -> str:
    return json.dumps({k: round(v, 2) for k, v in d.items()})


def table(res: dict) -> str:
    f = res["fit"]
    lines = [f"Device: {res['device_name']} (torch {res['torch']}), medians of {res['runs']} runs.",
             "", f"bandwidth (D2D copy, read+write): {f['bandwidth'] / 1e12:.2f} TB/s; "
             f"per-op cost: eager dispatch+launch {res['launch']['eager_per_op'] * 1e6:.1f} µs"
             + (f", kernel in a CUDA graph {res['launch']['graph_per_op'] * 1e6:.2f} µs"
                if "graph_per_op" in res["launch"] else "") + "; peak: "
             + ", ".join(f"{p['dtype']} {p['flops'] / 1e12:.0f} TFLOP/s" for p in res["peak"]),
             "", "| dtype | M×K×N | misaligned | mis. mm | padded mm | pad+mm+slice | "
             "efficiency | speedup pad (copies incl.) | speedup pad (ahead) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in res["matmul"]:
        lines.append(f"| {c['dtype']} | {c['m']}×{c['k']}×{c['n']} | {c['which']} | "
                     f"{c['t_misaligned'] * 1e3:.3f} ms | {c['t_padded_mm'] * 1e3:.3f} ms | "
                     f"{c['t_pad_copies_mm_slice'] * 1e3:.3f} ms | {c['efficiency']:.2f} | "
                     f"{c['speedup_pad_with_copies']:.2f}× | {c['speedup_pad_ahead']:.2f}× |")
    lines += ["", f"fit: launch_overhead = {f['launch_overhead'] * 1e6:.2f} µs; "
              f"misaligned_matmul_efficiency = {f['misaligned_matmul_efficiency']:.2f} "
              f"(by dtype {rounded(f['misaligned_matmul_efficiency_by_dtype'])}, "
              f"by dim {rounded(f['misaligned_matmul_efficiency_by_dim'])})"]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (CPU test)")
    ap.add_argument("--json", help="write raw results here")
    ap.add_argument("--profile-out", help="update this profile JSON with the fit")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--refit", metavar="RESULTS.json",
                    help="measure nothing: re-fit (and --profile-out) from saved raw results")
    a = ap.parse_args(argv)
    if a.refit:
        res = json.loads(Path(a.refit).read_text())
        return finish(res, a)
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    res = {"format": "fxsat-matmul-sweep", "version": 1, "generator": "experiments/gpu_matmul_sweep.py",
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "device": a.device,
           "device_name": (torch.cuda.get_device_name() if dev.type == "cuda"
                           else platform.processor() or "cpu"),
           "torch": torch.__version__, "runs": a.runs}
    res["bandwidth"] = measure_bandwidth(dev, (1 << 20) if a.tiny else (1 << 30), a.runs)
    peak_n = 128 if a.tiny else 8192
    res["peak"] = [measure_peak(dev, peak_n, dt, a.runs)
                   for dt in (torch.bfloat16, torch.float16, torch.float32)]
    if dev.type == "cuda":
        res["peak"].append(measure_peak(dev, peak_n, torch.float32, a.runs, tf32=True))
    res["launch"] = measure_launch(dev, 20 if a.tiny else 200, a.runs)
    res["matmul"] = []
    for dt, m, k, n, which in cases(a.tiny):
        c = mm_case(dev, dt, m, k, n, a.runs)
        c["which"] = which
        res["matmul"].append(c)
        print(f"{c['dtype']} {m}x{k}x{n} {which}: eff {c['efficiency']:.2f}", file=sys.stderr,
              flush=True)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return finish(res, a)


def finish(res: dict, a) -> int:
    res["fit"] = fit(res)
    res.pop("profile", None)
    if a.profile_out:
        res["profile"] = update_profile(Path(a.profile_out), res)
    res["table"] = table(res)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    print(res["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
