"""Run PyTorch's own ``min_cut_rematerialization_partition`` on the joint fixtures and record
what it saves, for fxsat's partitioner tests to compare against.

    python experiments/pytorch_partition.py [--out tests/fixtures/pytorch_partition.json]

For every ``tests/fixtures/*.joint.json`` and every budget in 1.0, 0.5, 0.1
(``torch._functorch.config.activation_memory_budget``), the joint graph is rebuilt with
``fxsat.load`` (fake-tensor ``meta["val"]`` from the FX-JSON shapes), partitioned, and the
saved values (the forward module's outputs after the forward outputs) are recorded with their
bytes: ``saved_bytes`` (the storages the saved tensors keep alive, each counted once: a value
and its views share one), ``activation_bytes`` (those storages that are not a forward
placeholder's: fxsat's definition), and the backward's forward nodes
(``recomputed``: call nodes of the backward that do not depend on tangents).

Also, under ``partition_tests``: PyTorch's memory-budget tests re-expressed as fixtures
(``tests/fixtures/partition/*.joint.json``, ``python/fixtures/gen_partition_fixtures.py``), each at the
budgets its ``index.json`` lists, with the same fields plus ``budget``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.fx
from torch._functorch import config as fconfig
from torch._functorch.partitioners import get_default_op_list, min_cut_rematerialization_partition
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.fake_tensor_prop import FakeTensorProp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
from fxsat.compare import int_inputs_for  # noqa: E402
from fxsat.fxjson import read_fx_json  # noqa: E402
from fxsat.load import random_inputs, to_graph_module  # noqa: E402

FIXTURES = HERE.parent / "tests" / "fixtures"
PARTITION_TESTS = FIXTURES / "partition"
BUDGETS = (1.0, 0.5, 0.1)


def _nbytes(v) -> int:
    if isinstance(v, torch.Tensor):
        return v.numel() * v.element_size()
    if isinstance(v, (list, tuple)):
        return sum(_nbytes(x) for x in v)
    return 0


def _prepare(path: Path):
    doc = read_fx_json(path)
    gm = to_graph_module(doc)
    inputs = random_inputs(doc, seed=0, int_inputs=int_inputs_for(FIXTURES / "index.json", path))
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake = [mode.from_tensor(t) if isinstance(t, torch.Tensor) else t for t in inputs]
    FakeTensorProp(gm, mode).propagate(*fake)
    return doc, gm, fake


def _storage_roots(gm: torch.fx.GraphModule) -> dict[str, torch.fx.Node]:
    """Per node name, the node owning its storage: itself, or for a view (PyTorch's own view
    ops) its first input's owner (fxsat's rule)."""
    views = get_default_op_list().view_ops
    root: dict[str, torch.fx.Node] = {}
    for n in gm.graph.nodes:
        root[n.name] = n
        if n.op == "call_function" and getattr(n.target, "overloadpacket", None) in views:
            base = n.args[0] if n.args else None
            if isinstance(base, torch.fx.Node):
                root[n.name] = root[base.name]
    return root


def _storage_bytes(saved_nodes, root) -> tuple[int, int]:
    """(saved, activation) bytes counting each storage once at its owner's size; activation
    bytes leave out placeholders' storages."""
    seen, total, act = set(), 0, 0
    for n in saved_nodes:
        r = root[n.name]
        if r.name in seen:
            continue
        seen.add(r.name)
        b = _nbytes(r.meta.get("val"))
        total += b
        if r.op != "placeholder":
            act += b
    return total, act


def _tangent_dependent(gm: torch.fx.GraphModule) -> set[str]:
    dep: set[str] = set()
    for n in gm.graph.nodes:
        if n.op == "placeholder" and n.name.startswith("tangents"):
            dep.add(n.name)
        elif any(a.name in dep for a in n.all_input_nodes):
            dep.add(n.name)
    return dep


def partition_one(path: Path, budget: float) -> dict:
    doc, gm, fake = _prepare(path)
    nf = doc["num_fwd_outputs"]
    with fconfig.patch(activation_memory_budget=budget):
        t0 = time.perf_counter()
        fw, bw = min_cut_rematerialization_partition(gm, fake, num_fwd_outputs=nf)
        seconds = time.perf_counter() - t0
    out = next(n for n in fw.graph.nodes if n.op == "output")
    saved_nodes = [a for a in out.args[0][nf:] if isinstance(a, torch.fx.Node)]
    root = _storage_roots(fw)
    saved = []
    for n in saved_nodes:
        saved.append({"name": n.name, "bytes": _nbytes(n.meta.get("val")),
                      "input": root[n.name].op == "placeholder"})
    saved_bytes, activation_bytes = _storage_bytes(saved_nodes, root)
    dep = _tangent_dependent(bw)
    recomputed = [n.name for n in bw.graph.nodes
                  if n.op == "call_function" and n.name not in dep]
    return {
        "saved": saved,
        "saved_bytes": saved_bytes,
        "activation_bytes": activation_bytes,
        "recomputed": recomputed,
        "fw_nodes": sum(1 for n in fw.graph.nodes if n.op not in ("output",)),
        "bw_nodes": sum(1 for n in bw.graph.nodes if n.op not in ("output",)),
        "seconds": seconds,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(FIXTURES / "pytorch_partition.json"))
    a = ap.parse_args(argv)
    res = {
        "format": "fxsat-pytorch-partition",
        "version": 1,
        "generator": "experiments/pytorch_partition.py",
        "torch": torch.__version__,
        "notes": "PyTorch's min_cut_rematerialization_partition (default config) per joint "
                 "fixture and activation_memory_budget; saved_bytes counts the storages the saved "
                 "tensors keep alive, once each (views share their base's); activation_bytes "
                 "those that are not a forward placeholder's; seconds is wall time of the partitioner "
                 "on this machine (not stable)",
        "fixtures": {},
    }
    for path in sorted(FIXTURES.glob("*.joint.json")):
        per = {}
        for b in BUDGETS:
            per[str(b)] = partition_one(path, b)
            r = per[str(b)]
            print(f"{path.name} budget {b}: {len(r['saved'])} saved, "
                  f"{r['activation_bytes']} activation bytes, {len(r['recomputed'])} recomputed",
                  file=sys.stderr)
        res["fixtures"][path.name] = per
    with open(PARTITION_TESTS / "index.json") as f:
        tests = json.load(f)["fixtures"]
    res["partition_tests"] = {}
    for e in tests:
        path = PARTITION_TESTS / e["file"]
        rows = []
        for b in e["budgets"]:
            r = partition_one(path, b["budget"])
            rows.append({"budget": b["budget"], **r})
            print(f"partition/{path.name} budget {b['budget']:.3f}: "
                  f"{r['activation_bytes']} activation bytes, recomputed "
                  f"{[n for n in r['recomputed'] if n.startswith(('mm', '_scaled'))]}",
                  file=sys.stderr)
        res["partition_tests"][e["file"]] = rows
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
