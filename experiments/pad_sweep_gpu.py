#!/usr/bin/env python
"""Measure the matmul-padding sweep of ``fxsat pad-sweep`` on a CUDA GPU (run there with the
GPU's own python; needs torch and triton only):

    python3 experiments/pad_sweep_gpu.py [--tf32] > tests/fixtures/pad/h100_measured.txt

For every case (the same 54 as ``src/pad_sweep.rs::default_cases``) it times, with Triton's
``do_bench`` (what Inductor's pad_mm benchmarks with; warmup 5, rep 50), the original op, its
padded form (zero-pad the operands to Inductor's alignment, same op, slice back) and the padded
op alone, and prints ``case | original padded op-alone ratio`` (microseconds). Inductor pads
when the case is misaligned, compute-bound and ``original > 1.1 x padded``; the Rust test
``tests/pad_sweep.rs`` applies that rule to this file and compares fxsat's decisions with it.
"""

import sys

import torch
from triton.testing import do_bench

SHAPES = [(64, 64, 64), (63, 65, 127), (511, 513, 1023), (1023, 1025, 1027), (2047, 2049, 2051),
          (4096, 4096, 4096), (4095, 4097, 4099), (4096, 4095, 4096), (4096, 4096, 4095),
          (8191, 8193, 8191), (8192, 7, 8192), (16, 4097, 16), (4097, 4097, 1), (1, 4097, 4097)]
OTHERS = [("bmm", 16, 511, 513, 515), ("bmm", 64, 127, 129, 127), ("addmm", 1, 4095, 4097, 4099),
          ("addmm", 1, 127, 129, 131)]
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}
pad = torch.nn.functional.pad


def padded_length(x, a):
    return 0 if x == 1 or x % a == 0 else (x // a + 1) * a - x


def main(argv):
    torch.backends.cuda.matmul.allow_tf32 = "--tf32" in argv
    bench = lambda f: do_bench(f, warmup=5, rep=50) * 1e3  # noqa: E731
    for d, dt in DTYPES.items():
        al = 4 if dt == torch.float32 else 8
        for op, b, M, K, N in [("mm", 1) + s for s in SHAPES] + OTHERS:
            mp, kp, np_ = padded_length(M, al), padded_length(K, al), padded_length(N, al)
            sh = (lambda x, y: (b, x, y)) if op == "bmm" else (lambda x, y: (x, y))  # noqa: E731
            a = torch.randn(sh(M, K), device="cuda", dtype=dt)
            w = torch.randn(sh(K, N), device="cuda", dtype=dt)
            z = torch.randn(N, device="cuda", dtype=dt)
            if op == "addmm":
                f = lambda x, y, c: torch.addmm(c, x, y)  # noqa: E731
            else:
                mm = torch.bmm if op == "bmm" else torch.mm
                f = lambda x, y, c: mm(x, y)  # noqa: E731
            pa = lambda: pad(a, [0, kp, 0, mp]) if kp or mp else a  # noqa: E731
            pw = lambda: pad(w, [0, np_, 0, kp]) if kp or np_ else w  # noqa: E731
            pz = lambda: pad(z, [0, np_]) if np_ else z  # noqa: E731
            A, W, Z = pa(), pw(), pz()
            t0 = bench(lambda: f(a, w, z))
            t1 = bench(lambda: f(pa(), pw(), pz())[..., :M, :N])
            t2 = bench(lambda: f(A, W, Z))
            case = f"{op} {d} {str(b) + 'x' if op == 'bmm' else ''}{M}x{K}x{N}"
            print(f"{case} | {t0:.1f} {t1:.1f} {t2:.1f} {t0 / t1:.2f}", flush=True)
            del a, w, A, W


if __name__ == "__main__":
    main(sys.argv[1:])
