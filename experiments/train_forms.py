#!/usr/bin/env python
"""Training vs inference, per attention form (issue 19): the table of docs/attention.md
("Training vs inference"), from the fixtures ``tests/fixtures/train_forms/train_form_*``.

    $(bash python/venv.sh) experiments/train_forms.py [--fxsat target/release/fxsat]
        [--no-inductor] [--write FILE]

Fixtures are grouped by the naming convention ``train_form_<form>_<dtype>[_<variant>].<kind>.json``
(``<dtype>`` one of fp32, bf16, fp16, fp64; ``<kind>`` forward or joint); any generator may add
forms to that folder and they become rows here. Per (form, dtype), out of the attention blocks
of its graphs (a block: one softmax, ``_softmax``/``_safe_softmax``/``amax``, of the forward):

* inference: blocks fused (SDPA calls, kernels included) in ``fxsat optimize`` of the forward
  graphs, ``--target cpu`` / ``--target cuda``;
* training: blocks of the joint graphs fused forward *and* backward (per graph the least of
  the SDPA forward calls, the backward calls, and the blocks whose softmax and softmax
  backward are both gone), by default and with ``--assume no-fully-masked-rows``, on each
  target;
* Inductor: the joint graphs after Inductor's ``joint_graph_passes`` with grad enabled (its
  training patterns), as ``experiments/inductor_compare.py --joint`` counts them.

The table is deterministic; ``tests/train_forms.rs`` (``docs_table_matches_the_fixtures``)
recomputes its fxsat columns from the fixtures and compares them with the table in
docs/attention.md, which is this script's output pasted there."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIR = ROOT / "tests" / "fixtures" / "train_forms"
NAME = re.compile(r"^train_form_(?P<form>.+?)_(?P<dt>fp32|bf16|fp16|fp64)(?:_(?P<var>[^.]+))?"
                  r"\.(?P<kind>forward|joint)\.json$")
SOFTMAX = ("aten._softmax.default", "aten._safe_softmax.default", "aten.amax.default")
SOFTMAX_BWD = ("aten._softmax_backward_data.default", "prims.fma.default")
ASSUME = ["--assume", "no-fully-masked-rows"]


def fixtures(d: Path = DIR):
    """{(form, dtype): {"forward": [paths], "joint": [paths]}}, sorted."""
    out = defaultdict(lambda: {"forward": [], "joint": []})
    for p in sorted(d.glob("train_form_*.json")):
        m = NAME.match(p.name)
        if m:
            out[(m["form"], m["dt"])][m["kind"]].append(p)
    return dict(sorted(out.items()))


def _targets(doc):
    return [n.get("target", "") for n in doc["nodes"] if n.get("op") == "call_function"]


def blocks(path: Path) -> int:
    """Attention blocks of a graph: the softmaxes of its forward (a joint graph's backward
    has none: its softmax backward is `_softmax_backward_data` or its decomposition)."""
    return sum(t in SOFTMAX for t in _targets(json.loads(path.read_text())))


def sdpa_calls(doc) -> tuple[int, int]:
    ts = _targets(doc)
    f = sum("scaled_dot_product" in t and "backward" not in t for t in ts)
    b = sum("scaled_dot_product" in t and "backward" in t for t in ts)
    return f, b


def fxsat_fused(binary: str, path: Path, target: str, assume: bool) -> int:
    """Blocks fused by fxsat: SDPA calls (inference), or min(forward, backward) calls (joint)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [binary, "optimize", str(path), "-o", str(out), "--target", target]
        subprocess.run(cmd + (ASSUME if assume else []), check=True, capture_output=True)
        doc = json.loads(out.read_text())
    f, b = sdpa_calls(doc)
    if path.name.endswith(".forward.json"):
        return f
    # A block is fused when its forward and its backward are: the SDPA pair, and no softmax
    # (forward or backward) of it left decomposed beside the pair.
    ts = _targets(doc)
    left = max(sum(t in SOFTMAX for t in ts), sum(t in SOFTMAX_BWD for t in ts))
    return max(0, min(f, b, blocks(path) - left))


def inductor_fused(path: Path) -> int:
    sys.path.insert(0, str(HERE))
    from inductor_compare import inductor_fused as ind

    (f, b), _ = ind(path, int_inputs={}, joint=True)
    return min(f, b)


def table(binary: str, inductor: bool, d: Path = DIR) -> list[str]:
    head = ("| form | dtype | blocks (fwd / joint) | inference cpu / cuda | training default cpu / cuda"
            " | training assumed cpu / cuda |" + (" Inductor training |" if inductor else ""))
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    tot = defaultdict(int)
    for (form, dt), g in fixtures(d).items():
        nf = sum(blocks(p) for p in g["forward"])
        nj = sum(blocks(p) for p in g["joint"])
        cols = {
            "inf": [sum(fxsat_fused(binary, p, t, False) for p in g["forward"]) for t in ("cpu", "cuda")],
            "def": [sum(fxsat_fused(binary, p, t, False) for p in g["joint"]) for t in ("cpu", "cuda")],
            "ass": [sum(fxsat_fused(binary, p, t, True) for p in g["joint"]) for t in ("cpu", "cuda")],
        }
        tot["nf"] += nf
        tot["nj"] += nj
        for k, (a, b) in cols.items():
            tot[k + "c"] += a
            tot[k + "g"] += b
        row = (f"| {form} | {dt} | {nf} / {nj} | {cols['inf'][0]} / {cols['inf'][1]} |"
               f" {cols['def'][0]} / {cols['def'][1]} | {cols['ass'][0]} / {cols['ass'][1]} |")
        if inductor:
            ind = sum(inductor_fused(p) for p in g["joint"])
            tot["ind"] += ind
            row += f" {ind} |"
        rows.append(row)
    total = (f"| **all** | | {tot['nf']} / {tot['nj']} | {tot['infc']} / {tot['infg']} |"
             f" {tot['defc']} / {tot['defg']} | {tot['assc']} / {tot['assg']} |")
    if inductor:
        total += f" {tot['ind']} |"
    rows.append(total)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fxsat", default=str(ROOT / "target" / "release" / "fxsat"))
    ap.add_argument("--no-inductor", action="store_true", help="leave out the Inductor column")
    ap.add_argument("--dir", default=str(DIR))
    ap.add_argument("--write", help="also write the table to this file")
    a = ap.parse_args(argv)
    rows = table(a.fxsat, not a.no_inductor, Path(a.dir))
    text = "\n".join(rows) + "\n"
    sys.stdout.write(text)
    if a.write:
        Path(a.write).write_text(text)


if __name__ == "__main__":
    main()
