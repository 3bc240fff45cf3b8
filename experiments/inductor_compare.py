#!/usr/bin/env python
"""Blocks fused by Inductor's own pattern passes vs by fxsat, per fixture.

    $(python/venv.sh) experiments/inductor_compare.py [--fxsat target/release/fxsat] [--markdown]

For every inference fixture (and, with ``--joint``, every joint graph): the graph is rebuilt with fxsat.load, its node metadata is filled
by fake-tensor propagation (as AOTAutograd leaves it), and Inductor's
``joint_graph_passes`` (the pass that holds its 30 SDPA patterns) runs on it; fused blocks are
counted as the SDPA calls in the resulting graph (and cross-checked with Inductor's
``fuse_attention`` counter). fxsat's count is the number of
``aten.scaled_dot_product_attention`` calls in ``fxsat optimize``'s output. The table goes
into docs/attention.md and docs/training.md.

``--joint``: the joint (forward + backward) fixtures. Inductor's passes run with grad enabled,
so its training patterns (which match a block's forward and backward together) may apply;
counted are SDPA forward calls and SDPA backward calls (``*_backward``) in the result. fxsat is
run as by default (masked blocks stay unfused) and with ``--assume no-fully-masked-rows``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "python"))

import torch  # noqa: E402
from torch._dynamo.utils import counters  # noqa: E402
from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402
from torch.fx.passes.fake_tensor_prop import FakeTensorProp  # noqa: E402

from fxsat.compare import int_inputs_for  # noqa: E402
from fxsat.fxjson import read_fx_json  # noqa: E402
from fxsat.load import random_inputs, to_graph_module  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
SDPA_TARGETS = ("scaled_dot_product", "_scaled_dot_product")


def count_sdpa_gm(gm: torch.fx.GraphModule, backward: bool = False) -> int:
    return sum(1 for n in gm.graph.nodes
               if n.op == "call_function" and any(t in str(n.target) for t in SDPA_TARGETS)
               and ("backward" in str(n.target)) == backward)


def inductor_fused(path: Path, int_inputs=None, joint: bool = False):
    """(SDPA calls after Inductor's joint_graph_passes, its fuse_attention counter); for a
    joint graph (``joint=True``), ((forward calls, backward calls), counter)."""
    from torch._inductor import config
    from torch._inductor.fx_passes.joint_graph import joint_graph_passes

    doc = read_fx_json(path)
    gm = to_graph_module(doc)
    if int_inputs is None:
        int_inputs = int_inputs_for(FIXTURES / "index.json", path)
    inputs = random_inputs(doc, 0, int_inputs)
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        fake = [mode.from_tensor(t) if isinstance(t, torch.Tensor) else t for t in inputs]
        FakeTensorProp(gm, mode).propagate(*fake)
    counters.clear()
    from torch._inductor.virtualized import V

    if joint:
        # V.fake_mode: Inductor's replace_random pass needs it on graphs with random ops.
        with config.patch(pattern_matcher=True), torch.enable_grad(), V.set_fake_mode(mode):
            gm = joint_graph_passes(gm)
        return ((count_sdpa_gm(gm), count_sdpa_gm(gm, backward=True)),
                counters["inductor"]["fuse_attention"])
    with config.patch(pattern_matcher=True), torch.no_grad():
        gm = joint_graph_passes(gm)
    return count_sdpa_gm(gm), counters["inductor"]["fuse_attention"]


DROPOUT_JOINT = [("train/attn_dropout.joint.json", 1, {}),
                 ("train/gpt2_dropout.joint.json", 2, {"primals_1": [0, 128]})]


def fxsat_fused(path: Path, binary: Path, extra=(), backward: bool = False) -> int:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.json"
        subprocess.run([str(binary), "optimize", str(path), "-o", str(out), *extra], check=True,
                       capture_output=True)
        doc = read_fx_json(out)
    return sum(1 for n in doc["nodes"] if "scaled_dot_product" in str(n.get("target", ""))
               and ("backward" in str(n.get("target", ""))) == backward)


def joint_table(binary: Path, markdown: bool) -> int:
    index = json.loads((FIXTURES / "index.json").read_text())
    rows = []
    for e in index["fixtures"]:
        if e["kind"] != "joint":
            continue
        path = FIXTURES / e["file"]
        try:
            (f, b), _ = inductor_fused(path, joint=True)
            ind = f"{f} / {b}"
        except Exception as ex:  # noqa: BLE001 - report, do not hide
            ind = f"error: {type(ex).__name__}"
        plain = (fxsat_fused(path, binary), fxsat_fused(path, binary, backward=True))
        assume = ("--assume", "no-fully-masked-rows")
        assumed = (fxsat_fused(path, binary, assume), fxsat_fused(path, binary, assume, True))
        rows.append((e["file"], e["attention_blocks"], ind, plain, assumed))
    # Training dropout on the attention weights (tests/fixtures/train/): fxsat replaces it by
    # the CUDA efficient kernel's dropout_p (the CPU flash kernel has no dropout), so these
    # rows run fxsat with --target cuda.
    for file, blocks, ints in DROPOUT_JOINT:
        path = FIXTURES / file
        try:
            (f, b), _ = inductor_fused(path, ints, joint=True)
            ind = f"{f} / {b}"
        except Exception as ex:  # noqa: BLE001 - report, do not hide
            ind = f"error: {type(ex).__name__}"
        cuda = ("--target", "cuda")
        assume = (*cuda, "--assume", "no-fully-masked-rows")
        plain = (fxsat_fused(path, binary, cuda), fxsat_fused(path, binary, cuda, True))
        assumed = (fxsat_fused(path, binary, assume), fxsat_fused(path, binary, assume, True))
        rows.append((f"{file} (dropout 0.1, `--target cuda`)", blocks, ind, plain, assumed))
    if markdown:
        print("| joint fixture | attention blocks | Inductor fwd / bwd | fxsat fwd / bwd | "
              "fxsat, `--assume no-fully-masked-rows` |")
        print("|---|---|---|---|---|")
        for f, b, i, p, a in rows:
            print(f"| {f} | {b} | {i} | {p[0]} / {p[1]} | {a[0]} / {a[1]} |")
    else:
        for f, b, i, p, a in rows:
            print(f"{f:32s} blocks={b}  inductor={i}  fxsat={p[0]}/{p[1]}  assumed={a[0]}/{a[1]}")
    print(f"\ntotal: blocks={sum(r[1] for r in rows)} "
          f"fxsat pairs={sum(min(r[3]) for r in rows)} assumed={sum(min(r[4]) for r in rows)}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fxsat", default=str(ROOT / "target" / "release" / "fxsat"))
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--attention-set", action="store_true",
                    help="the attention fixture set (tests/fixtures/attention) instead of the "
                         "main fixtures; prints per-group totals")
    ap.add_argument("--joint", action="store_true",
                    help="the joint (training) fixtures: SDPA forward and backward calls")
    args = ap.parse_args(argv)
    if args.joint:
        return joint_table(Path(args.fxsat), args.markdown)
    if args.attention_set:
        return attention_set(Path(args.fxsat))
    index = json.loads((FIXTURES / "index.json").read_text())
    rows = []
    for e in index["fixtures"]:
        if e["kind"] != "forward":
            continue
        path = FIXTURES / e["file"]
        try:
            ind, counter = inductor_fused(path)
            ind_s = str(ind)
        except Exception as ex:  # noqa: BLE001 - report, do not hide
            ind_s, counter = f"error: {type(ex).__name__}", "-"
        fx = fxsat_fused(path, Path(args.fxsat))
        rows.append((e["file"], e["attention_blocks"], ind_s, counter, fx))
    if args.markdown:
        print("| fixture | attention blocks | Inductor fused | fxsat fused |")
        print("|---|---|---|---|")
        for f, b, i, _, x in rows:
            print(f"| {f} | {b} | {i} | {x} |")
    else:
        for f, b, i, c, x in rows:
            print(f"{f:36s} blocks={b}  inductor={i} (counter {c})  fxsat={x}")
    blocks = sum(r[1] for r in rows)
    ind = sum(int(r[2]) for r in rows if r[2].isdigit())
    errors = sum(1 for r in rows if not r[2].isdigit())
    print(f"\ntotal: blocks={blocks} inductor={ind}{f' ({errors} errors)' if errors else ''} "
          f"fxsat={sum(r[4] for r in rows)}")
    return 0


def attention_set(binary: Path) -> int:
    """Per group of tests/fixtures/attention: fixtures where the SDPA count equals the expected
    one, for Inductor and for fxsat."""
    att = FIXTURES / "attention"
    idx = json.loads((att / "index.json").read_text())
    idx = idx if isinstance(idx, list) else idx["fixtures"]
    groups: dict[str, list[int]] = {}
    for e in idx:
        path = att / e["file"]
        try:
            ind, _ = inductor_fused(path, e.get("int_inputs") or {})
        except Exception:  # noqa: BLE001 - counted as not fused
            ind = -1
        fx = fxsat_fused(path, binary)
        g = groups.setdefault(e["group"], [0, 0, 0])
        g[0] += 1
        g[1] += ind == e["expected_sdpa"]
        g[2] += fx == e["expected_sdpa"]
        print(f"{e['file']:48s} expected={e['expected_sdpa']} inductor={ind} fxsat={fx}")
    print("\n| group | fixtures | Inductor right | fxsat right |\n|---|---|---|---|")
    for name, (n, i, f) in groups.items():
        print(f"| {name} | {n} | {i} | {f} |")
    tot = [sum(g[k] for g in groups.values()) for k in range(3)]
    print(f"| all | {tot[0]} | {tot[1]} | {tot[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
