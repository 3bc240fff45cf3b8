#!/usr/bin/env python
"""Measure the matmul-padding sweep on a real GPU: for every case of ``fxsat pad-sweep``'s
table, time the original op and its padded form (pad both operands with zeros, same op, slice
back) with Triton's ``do_bench`` (what Inductor's pad_mm benchmarks with), and apply
Inductor's full decision: misaligned, compute-bound (``is_mm_compute_bound`` with this GPU's
TFLOPS and DRAM bandwidth) and ``original > 1.1 x padded``.

    fxsat pad-sweep > sweep.txt
    python python/pad_sweep_gpu.py sweep.txt          # on a CUDA machine

Prints one line per case: fxsat's and Inductor's static decisions (from the table), the
measured times (us), the measured ratio, and Inductor's benchmarked decision.
"""

import re
import sys

import torch
from triton.testing import do_bench

DT = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}
ALIGN = {torch.float16: 8, torch.bfloat16: 8, torch.float32: 4}


def padded(x, a):
    return 0 if x == 1 or x % a == 0 else (x // a + 1) * a - x


def main(path):
    from torch._inductor.utils import get_device_tflops, get_gpu_dram_gbps
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = []
    for line in open(path):
        m = re.match(r"^(mm|bmm|addmm) (f16|bf16|f32) (?:(\d+)x)?(\d+)x(\d+)x(\d+)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)\s+(\S+)", line)
        if m and not (m.group(1) != "bmm" and m.group(3)):
            rows.append(m.groups())
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'case':<27} {'fxsat':>5} {'ind.rule':>8} {'orig us':>8} {'padded':>8} {'op only':>8} {'ratio':>6} {'ind.bench':>9}")
    for op, d, b, M, K, N, fx, ind in rows:
        dt = DT[d]
        B = int(b) if b else 1
        M, K, N = int(M), int(K), int(N)
        al = ALIGN[dt]
        mp, kp, np_ = padded(M, al), padded(K, al), padded(N, al)
        g = torch.Generator(device="cuda").manual_seed(0)
        sh = (lambda x, y: (B, x, y)) if op == "bmm" else (lambda x, y: (x, y))
        a = torch.randn(sh(M, K), device="cuda", dtype=dt, generator=g)
        w = torch.randn(sh(K, N), device="cuda", dtype=dt, generator=g)
        bias = torch.randn(N, device="cuda", dtype=dt, generator=g)
        f = {"mm": torch.mm, "bmm": torch.bmm}.get(op)
        call = (lambda x, y, c: torch.addmm(c, x, y)) if op == "addmm" else (lambda x, y, c: f(x, y))
        pa = lambda: torch.nn.functional.pad(a, [0, kp, 0, mp]) if kp or mp else a
        pw = lambda: torch.nn.functional.pad(w, [0, np_, 0, kp]) if kp or np_ else w
        pb = lambda: torch.nn.functional.pad(bias, [0, np_]) if np_ else bias

        def padded_fn():
            r = call(pa(), pw(), pb())
            return r[..., :M, :N]
        A, W, C = pa(), pw(), pb()
        t_ori = do_bench(lambda: call(a, w, bias), warmup=5, rep=50) * 1e3
        t_pad = do_bench(padded_fn, warmup=5, rep=50) * 1e3
        t_op = do_bench(lambda: call(A, W, C), warmup=5, rep=50) * 1e3
        ai = M * N * K / (M * K + N * K + M * N)
        balance = 0.5 * 1000 * get_device_tflops(dt) / get_gpu_dram_gbps()
        mis = (mp + kp + np_) > 0
        bench = mis and ai > balance and t_ori > 1.1 * t_pad
        case = f"{op} {d} {str(B) + 'x' if op == 'bmm' else ''}{M}x{K}x{N}"
        print(f"{case:<27} {fx:>5} {ind:>8} {t_ori:>8.1f} {t_pad:>8.1f} {t_op:>8.1f} {t_ori / t_pad:>6.2f} {'pad' if bench else '-':>9}", flush=True)
        del a, w, A, W
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main(sys.argv[1])
