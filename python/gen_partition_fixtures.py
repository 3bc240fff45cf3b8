#!/usr/bin/env python
"""PyTorch's memory-budget tests (``test/functorch/test_ac.py``, reference §6.2) as joint-graph
fixtures under ``tests/fixtures/partition/`` (deterministic: same bytes on re-run).

    $(bash python/venv.sh) python/gen_partition_fixtures.py [--out tests/fixtures/partition]

Each case is the test's function captured in joint mode with ``fxsat.export.capture`` (fp32,
CPU, the test's shapes: every 512×512 fp32 value is 1 MiB). ``index.json`` lists, per fixture,
the budgets the test asks for and its expected outcome there: ``mem_mib`` (activation MiB
saved) and ``recompute`` (which matmuls the backward recomputes, by the test's naming).
``python/pytorch_partition.py`` runs PyTorch's own partitioner at those budgets too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from fxsat.export import capture  # noqa: E402
from fxsat.fxjson import write_fx_json  # noqa: E402

U = 512  # one 512×512 fp32 value = 1 MiB


def even_chain(x, w1, w2, w3, w4, w5):
    x = x.cos()
    for w in (w1, w2, w3, w4, w5):
        x = torch.mm(x, w).cos()
    return x.sum()


def independent_pairs(*xw):
    # test_matmul_uneven_chain / test_prioritize_cheaper_matmul{,2}: sum of mm(x_i, w_i).cos()
    xs, ws = xw[: len(xw) // 2], xw[len(xw) // 2:]
    ys = [torch.mm(x, w).cos() for x, w in zip(xs, ws)]
    return sum(y.sum() for y in ys)


def attention_linear(x, w):
    s = x.shape
    y = x.reshape(1, 1, s[0], s[1])
    y = torch.nn.functional.scaled_dot_product_attention(y, y, y, is_causal=False).reshape(*s)
    return torch.mm(y, w).cos().sum()


def rnd(*shape):
    return torch.randn(*shape).requires_grad_(True)


def cases():
    """name -> (fn, inputs, description, [(budget, expected)])."""
    out = {}
    even = [(b / 10, {"mem_mib": b if b <= 5 else (5 if b < 10 else 10),
                      "recomputed_mm": max(0, 5 - b)}) for b in range(11)]
    out["even_chain"] = (even_chain, [rnd(U, U)] + [rnd(U, U) for _ in range(5)],
                         "test_matmul_even_chain: cos, then 5 x mm(., w).cos(); 1 MiB each",
                         even)
    for tag, dims, sums in (("a", [11, 3, 4, 2], [18, 17, 16, 15, 14, 13, 11, 7, 6, 5]),
                            ("b", [3, 5, 11, 17, 14], [42, 30, 19, 8, 3])):
        total = sum(dims)
        x = rnd(U, U)
        ws = [rnd(U, d * U) for d in dims]
        out[f"uneven_chain_{tag}"] = (
            lambda x, *ws: independent_pairs(*([x] * len(ws)), *ws), [x] + ws,
            f"test_matmul_uneven_chain: sum of mm(x, w_i).cos(), w_i 512 x {dims} x 512",
            [(s / total, {"mem_mib": s}) for s in sums])
    for name, pairs, budgets in (
            ("cheaper_matmul", [(1, 4), (2, 2)], [(0.5, {"mem_mib": 4, "recomputed_mm": ["mm"]})]),
            ("cheaper_matmul2", [(4, 4), (6, 2), (2, 6)],
             [(28 / 40, {"mem_mib": 28, "recomputed_mm": ["mm_2"]}),
              (16 / 40, {"mem_mib": 12, "recomputed_mm": ["mm", "mm_2"]})])):
        xs = [rnd(b * U, b * U) for b, _ in pairs]
        ws = [rnd(b * U, o * U) for b, o in pairs]
        out[name] = (independent_pairs, xs + ws,
                     f"test_prioritize_{name}: sum of mm(x_i, w_i).cos(), (B_I, O) = {pairs}",
                     budgets)
    for s, d, which in ((1, 1, "mm"), (1, 3, "attn"), (2, 2, "mm"), (2, 1, "mm"), (2, 5, "attn"),
                        (4, 7, "mm"), (4, 9, "attn")):
        out[f"attn_vs_linear_s{s}_d{d}"] = (
            attention_linear, [rnd(s * U, d * U), rnd(d * U, d * U)],
            f"test_attention_vs_linear (S, D) = ({s}, {d}): sdpa(x, x, x) then mm(., w).cos()",
            [(0.6, {"mem_mib": s * d, "recomputed": which})])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE.parent / "tests" / "fixtures" / "partition"))
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    entries = []
    for name, (fn, inputs, desc, budgets) in cases().items():
        file = f"{name}.joint.json"
        entries.append({"file": file, "description": desc,
                        "budgets": [{"budget": b, "expected": e} for b, e in budgets]})
        if a.only and name not in a.only:
            continue
        (doc,) = capture(fn, inputs, mode="joint", name=name)
        write_fx_json(doc, out / file)
        print(f"{file}: {len(doc['nodes'])} nodes", file=sys.stderr)
    if not a.only:
        with open(out / "index.json", "w") as f:
            json.dump({"format": "fxsat-partition-fixtures", "version": 1,
                       "generator": "python/gen_partition_fixtures.py",
                       "source": "pytorch test/functorch/test_ac.py (MemoryBudgetTest)",
                       "fixtures": entries}, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
