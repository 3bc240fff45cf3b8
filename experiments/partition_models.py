#!/usr/bin/env python
"""fxsat's partitioner against Inductor's on real models' joint graphs (CPU, no timing):

    python3 experiments/partition_models.py [--models vit,bert,gpt2,llama] [--batch 2] [--budget 1]

Each model of ``gpu_models.py`` (2 layers, its real width, bfloat16, batch cut to ``--batch``)
is compiled for one training step five ways, and AOTAutograd's extraction
(``_extract_fwd_bwd_modules``, which both partitioners call) records what each saves:

* ``inductor``: ``backend="inductor"`` (Inductor's min-cut partitioner);
* ``fxsat-norules-ipart``: fxsat's backend without rewrites, Inductor's partitioner;
* ``fxsat-norules``: fxsat's backend without rewrites, fxsat's partitioner at ``--budget``;
* ``fxsat-ipart`` and ``fxsat``: the same with fxsat's rewrites (attention fused).

Per variant: saved values and their MiB (all, and those that are not primals), backward nodes
and the forward nodes it recomputes. Each ``-ipart`` variant and the one without the suffix
see the same joint graph, so they compare the partitioners alone (rewritten graphs are
compiled with ``min_gain=0``, so that every one goes through fxsat)."""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_models as G  # noqa: E402


def nbytes(n) -> int:
    v = n.meta.get("val")
    return v.numel() * v.element_size() if isinstance(v, torch.Tensor) else 0


def summary(saved, bw) -> dict:
    acts = [s for s in saved if not s.name.startswith("primals")]
    dep = set()
    for n in bw.graph.nodes:
        if (n.op == "placeholder" and n.name.startswith("tangents")) or (
                n.op == "call_function" and any(a in dep for a in n.all_input_nodes)):
            dep.add(n)
    calls = [n for n in bw.graph.nodes if n.op == "call_function"]
    return {"saved": len(saved), "saved_mib": sum(map(nbytes, saved)) / 2**20,
            "activations": len(acts), "activation_mib": sum(map(nbytes, acts)) / 2**20,
            "bw_nodes": len(calls), "recomputed": sum(1 for n in calls if n not in dep),
            "saved_names": sorted(s.name for s in saved)}


VARIANTS = ("inductor", "fxsat-norules-ipart", "fxsat-norules", "fxsat-ipart", "fxsat")


def run(name: str, batch: int, budget: float) -> list[dict]:
    import fxsat
    import torch._functorch.partitioners as P

    captured = []
    real = P._extract_fwd_bwd_modules

    def spy(joint, saved_values, saved_sym_nodes, *a, **k):
        fw, bw = real(joint, saved_values, saved_sym_nodes, *a, **k)
        captured.append(summary(list(saved_values), bw))
        return fw, bw

    base = G.build(name, 2, torch.bfloat16, "cpu", False)
    data = {k: v[:batch] for k, v in G.inputs(name, "cpu", torch.bfloat16, False).items()}
    norules = G.no_rules_dir()
    rows = []
    P._extract_fwd_bwd_modules = spy
    # no cached compile: every variant partitions its graph in this process
    import torch._functorch.config as fcfg
    import torch._inductor.config as icfg
    caches = icfg.patch(fx_graph_cache=False), fcfg.patch(enable_autograd_cache=False)
    for c in caches:
        c.__enter__()
    try:
        for variant in VARIANTS:
            torch._dynamo.reset()
            captured.clear()
            ipart = variant.endswith("ipart")
            be = "inductor" if variant == "inductor" else fxsat.backend(
                rules=norules if "norules" in variant else None, min_gain=0.0,
                budget=1.0 if ipart else budget, partitioner="inductor" if ipart else "fxsat")
            G.train_step(torch.compile(copy.deepcopy(base).train(), backend=be), data)
            for i, s in enumerate(captured):
                rows.append(dict(s, model=name, variant=variant, graph=i))
    finally:
        P._extract_fwd_bwd_modules = real
        for c in caches:
            c.__exit__(None, None, None)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="vit,bert")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--budget", type=float, default=1.0)
    a = ap.parse_args()
    print("| model | graph | variant | saved (MiB) | activations (MiB) | backward nodes | recomputed | same saved set as Inductor's partitioner on this graph |")
    print("|---|---|---|---|---|---|---|---|")
    for name in a.models.split(","):
        rows = run(name, a.batch, a.budget)
        ref = {(r["variant"].removesuffix("-ipart"), r["graph"]): r["saved_names"]
               for r in rows if r["variant"].endswith("-ipart")}
        for r in rows:
            key = (r["variant"], r["graph"])
            same = ("yes" if r["saved_names"] == ref[key] else "no") if key in ref else ""
            print(f"| {name} | {r['graph']} | {r['variant']} | {r['saved']} ({r['saved_mib']:.2f}) "
                  f"| {r['activations']} ({r['activation_mib']:.2f}) | {r['bw_nodes']} | {r['recomputed']} | {same} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
