#!/usr/bin/env python
"""Regenerate the matmul-padding and randperm-index fixtures (deterministic).

    $(python/venv.sh) python/gen_pad_index_fixtures.py [--out tests/fixtures]

``pad/<name>.forward.json``: inference graphs of mm / bmm / addmm / 4-D matmul in float32 with
M, K or N not a multiple of 4 (the float32 alignment), compute-bound on an H100 with TF32
(fxsat pads them with ``--device h100-tf32``; with ``h100``, float32 on CUDA cores, misalignment
costs nothing and nothing is padded), plus one memory-bound misaligned mm it must leave alone. ``index/<name>.forward.json``: Inductor's four randperm forms (index_add of a prefix
slice and of the full permutation, indexing by the full permutation and by a prefix), alpha != 1,
a view of the permutation, and near misses that must not match (randperm of another n, a slice
that is not a prefix, indices from randint). ``pad/cases.json`` and ``index/cases.json`` say,
per fixture, what fxsat must do (``expect``) and why.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from fxsat.export import capture  # noqa: E402
from fxsat.fxjson import write_fx_json  # noqa: E402


def f32(*shape):
    return torch.zeros(*shape)


# name -> (function, example inputs, expect, why)
PAD = {
    "mm_misaligned": (lambda a, b: a @ b, (f32(1791, 1793), f32(1793, 1795)), "pad",
                      "M, K, N all odd: 11.5 GFLOP, compute-bound"),
    "mm_k_only": (lambda a, b: a @ b, (f32(1792, 1790), f32(1790, 1792)), "pad",
                  "only K misaligned: both operands padded in K, nothing sliced back"),
    "mm_m_only": (lambda a, b: a @ b, (f32(1790, 1792), f32(1792, 1792)), "pad",
                  "only M misaligned: mat2 not padded, only rows sliced back"),
    "bmm_misaligned": (lambda a, b: torch.bmm(a, b), (f32(4, 1535, 1537), f32(4, 1537, 1539)), "pad",
                       "batched, batch dim never padded"),
    "addmm_bias": (lambda x, w, b: torch.nn.functional.linear(x, w, b),
                   (f32(1791, 1793), f32(1795, 1793), f32(1795)), "pad",
                   "linear with a 1-D bias: bias padded along N only"),
    "matmul_4d": (lambda a, b: a @ b, (f32(2, 2, 1535, 1537), f32(2, 2, 1537, 1539)), "pad",
                  "4-D matmul: expand/view/bmm/view becomes matmul, padded in its last two dims"),
    "mm_memory_bound": (lambda a, b: a @ b, (f32(4096, 7), f32(7, 4096)), "keep",
                        "K = 7 misaligned but memory-bound: padding cannot pay"),
}


def add_sliced(x, y):
    idx = torch.randperm(x.shape[0], device=x.device)[: y.shape[0]]
    return torch.index_add(x, 0, idx, y), idx


def add_full(x, y):
    idx = torch.randperm(x.shape[0], device=x.device)
    return torch.index_add(x, 0, idx, y), idx


def index_full(x):
    idx = torch.randperm(x.shape[0], device=x.device)
    return x[idx], idx


def index_sliced(x):
    idx = torch.randperm(x.shape[0], device=x.device)[:5]
    return x[idx], idx


def add_alpha(x, y):
    idx = torch.randperm(x.shape[0], device=x.device)[: y.shape[0]]
    return torch.index_add(x, 0, idx, y, alpha=2.5), idx


def index_view(x):
    idx = torch.randperm(x.shape[0], device=x.device)[:6]
    return x[idx.view(2, 3)], idx


def miss_other_n(x, y):
    idx = torch.randperm(x.shape[0] - 2, device=x.device)[: y.shape[0]]
    return torch.index_add(x, 0, idx, y), idx


def miss_not_prefix(x, y):
    idx = torch.randperm(x.shape[0], device=x.device)[2: 2 + y.shape[0]]
    return torch.index_add(x, 0, idx, y), idx


def miss_randint(x, y):
    idx = torch.randint(0, x.shape[0], (y.shape[0],), device=x.device)
    return torch.index_add(x, 0, idx, y), idx


def miss_randint_index(x):
    idx = torch.randint(0, x.shape[0], (5,), device=x.device)
    return x[idx], idx


X, Y5, Y8 = f32(8, 4), f32(5, 4), f32(8, 4)
INDEX = {
    "add_sliced": (add_sliced, (X, Y5), "match", "Inductor form 1: index_add of randperm(n)[:k]"),
    "add_full": (add_full, (X, Y8), "match", "Inductor form 2: index_add of randperm(n)"),
    "index_full": (index_full, (X,), "match", "Inductor form 3: x[randperm(n)]"),
    "index_sliced": (index_sliced, (X,), "match", "Inductor form 4: x[randperm(n)[:k]]"),
    "add_alpha": (add_alpha, (X, Y5), "match", "alpha = 2.5, folded into y by the decomposition"),
    "index_view": (index_view, (X,), "match", "a view of the prefix keeps the fact"),
    "miss_other_n": (miss_other_n, (X, Y5), "keep", "randperm(n - 2): n is not x.shape[0]"),
    "miss_not_prefix": (miss_not_prefix, (X, Y5), "keep", "randperm(n)[2:7] is not a prefix"),
    "miss_randint": (miss_randint, (X, Y5), "keep", "randint indices may repeat"),
    "miss_randint_index": (miss_randint_index, (X,), "keep", "randint indices may repeat"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    for sub, table in (("pad", PAD), ("index", INDEX)):
        (out / sub).mkdir(parents=True, exist_ok=True)
        cases = []
        for name, (fn, ins, expect, why) in table.items():
            torch.manual_seed(0)
            doc = capture(fn, ins, name=f"{sub}_{name}")[0]
            file = f"{name}.forward.json"
            write_fx_json(doc, out / sub / file)
            cases.append({"file": file, "expect": expect, "why": why})
        with open(out / sub / "cases.json", "w") as f:
            json.dump({"cases": cases}, f, indent=1)
            f.write("\n")
        print(f"wrote {len(cases)} fixtures to {out / sub}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
