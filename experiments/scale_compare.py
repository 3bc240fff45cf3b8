#!/usr/bin/env python
"""fxsat vs PyTorch, side by side, on the scaling fixtures (LLaMA-style joint graphs).

    $(python/venv.sh) experiments/scale_compare.py [--layers 1 4 16 32 64] [--runs 3]
        [--fxsat target/release/fxsat] [--markdown] [--json OUT.json]

In one run, for every ``tests/fixtures/scale/llama{N}.joint.json.gz``:

* fxsat: ``fxsat bench`` (read → build e-graph → saturate → extract → partition → export, all
  default rules, budget 1), per-phase medians over ``--runs`` runs after one warm-up;
* PyTorch: the same graph rebuilt with ``fxsat.load`` and its node metadata filled by
  fake-tensor propagation (as AOTAutograd leaves it), then Inductor's ``joint_graph_passes``
  (the pattern passes Inductor runs on the joint graph, its 30 SDPA patterns included; steady
  state: the patterns are initialised by a first untimed call) and
  ``min_cut_rematerialization_partition`` (default config, budget 1), each timed on a fresh
  copy of the graph; medians over ``--runs`` runs.

The ratio is PyTorch (passes + partition) / fxsat (whole pipeline, reading and writing
FX-JSON included), in wall-clock time and in CPU time (fxsat: its thread's; PyTorch: the
process's). Rebuilding the graph module and fake-tensor propagation are not counted for
PyTorch. On a shared machine compare medians, and prefer the CPU ratio.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "python"))

import torch  # noqa: E402
from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402
from torch.fx.passes.fake_tensor_prop import FakeTensorProp  # noqa: E402

from fxsat.fxjson import validate  # noqa: E402
from fxsat.load import random_inputs, to_graph_module  # noqa: E402

SCALE = ROOT / "tests" / "fixtures" / "scale"
LAYERS = (1, 4, 16, 32, 64)


def read_doc(path: Path) -> dict:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        doc = json.load(f)
    validate(doc)
    return doc


def prepared(doc: dict):
    """A fresh graph module with fake-tensor ``meta["val"]`` on every node, and its fake inputs."""
    gm = to_graph_module(doc)
    inputs = random_inputs(doc, seed=0)
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake = [mode.from_tensor(t) if isinstance(t, torch.Tensor) else t for t in inputs]
    FakeTensorProp(gm, mode).propagate(*fake)
    return gm, fake


def count_sdpa(gm) -> int:
    return sum(1 for n in gm.graph.nodes
               if n.op == "call_function" and "scaled_dot_product" in str(n.target))


def time_pytorch(doc: dict, runs: int) -> dict:
    from torch._functorch.partitioners import min_cut_rematerialization_partition
    from torch._inductor import config
    from torch._inductor.fx_passes.joint_graph import joint_graph_passes

    nf = doc["num_fwd_outputs"]
    passes, part, cpu, sdpa = [], [], [], 0
    for _ in range(runs):
        gm, _ = prepared(doc)
        with config.patch(pattern_matcher=True), torch.no_grad():
            c0, t0 = time.process_time(), time.perf_counter()
            gm = joint_graph_passes(gm)
            passes.append(time.perf_counter() - t0)
            c1 = time.process_time() - c0
        sdpa = count_sdpa(gm)
        gm, fake = prepared(doc)
        c0, t0 = time.process_time(), time.perf_counter()
        min_cut_rematerialization_partition(gm, fake, num_fwd_outputs=nf)
        part.append(time.perf_counter() - t0)
        cpu.append(c1 + time.process_time() - c0)
    return {"joint_graph_passes": statistics.median(passes),
            "partition": statistics.median(part),
            "total": statistics.median([a + b for a, b in zip(passes, part)]),
            "cpu": statistics.median(cpu),
            "sdpa": sdpa, "samples": {"joint_graph_passes": passes, "partition": part,
                                      "cpu": cpu}}


def warm_up_inductor(doc: dict) -> float:
    """First call: Inductor initialises its patterns (traces them). Not counted."""
    from torch._inductor import config
    from torch._inductor.fx_passes.joint_graph import joint_graph_passes

    gm, _ = prepared(doc)
    t0 = time.perf_counter()
    with config.patch(pattern_matcher=True), torch.no_grad():
        joint_graph_passes(gm)
    return time.perf_counter() - t0


def run_fxsat(binary: Path, files: list[Path], runs: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "bench.json"
        cmd = [str(binary), "bench", *map(str, files), "--runs", str(runs), "--json", str(out)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        res = json.loads(out.read_text())
    return {g["file"]: g for g in res["graphs"]}


def fmt_ms(x: float) -> str:
    return f"{x * 1e3:.0f}" if x >= 0.1 else f"{x * 1e3:.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, nargs="*", default=list(LAYERS))
    ap.add_argument("--runs", type=int, default=3, help="timed runs per graph and side")
    ap.add_argument("--fxsat", default=str(ROOT / "target" / "release" / "fxsat"))
    ap.add_argument("--dir", default=str(SCALE))
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--json", help="write every figure here")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    files = [Path(args.dir) / f"llama{n}.joint.json.gz" for n in args.layers]
    for f in files:
        if not f.exists():
            ap.error(f"{f}: missing (python/fixtures/gen_scale_fixtures.py makes it)")
    binary = Path(args.fxsat)
    if not binary.exists():
        ap.error(f"{binary}: missing (cargo build --release)")

    print(f"fxsat bench on {len(files)} graphs ...", file=sys.stderr)
    fx = run_fxsat(binary, files, args.runs)
    init = warm_up_inductor(read_doc(files[0]))
    print(f"Inductor pattern initialisation (not counted): {init:.1f} s", file=sys.stderr)
    rows = []
    for n, f in zip(args.layers, files):
        doc = read_doc(f)
        print(f"PyTorch on {f.name} ...", file=sys.stderr)
        pt = time_pytorch(doc, args.runs)
        g = fx[f.name]
        m = g["median_seconds"]
        rows.append({"layers": n, "file": f.name, "nodes": g["nodes"]["in"], "fxsat": m,
                     "fxsat_sdpa": g["attention"]["sdpa_out"], "egraph": g["egraph"],
                     "peak_rss_bytes": g["peak_rss_bytes"], "pytorch": pt,
                     "ratio": pt["total"] / m["total"], "ratio_cpu": pt["cpu"] / m["cpu"]})

    head = ["layers", "nodes", "fxsat read", "build", "saturate", "extract", "partition",
            "export", "fxsat total", "PyTorch joint passes", "PyTorch partition",
            "PyTorch total", "ratio PyTorch/fxsat", "CPU fxsat / PyTorch", "ratio CPU",
            "SDPA fxsat / PyTorch", "fxsat peak RSS"]
    lines = []
    for r in rows:
        m, p = r["fxsat"], r["pytorch"]
        rss = r["peak_rss_bytes"]
        lines.append([str(r["layers"]), str(r["nodes"]), fmt_ms(m["read"]), fmt_ms(m["build"]),
                      fmt_ms(m["saturate"]), fmt_ms(m["extract"]), fmt_ms(m["partition"]),
                      fmt_ms(m["export"]), fmt_ms(m["total"]), fmt_ms(p["joint_graph_passes"]),
                      fmt_ms(p["partition"]), fmt_ms(p["total"]), f"{r['ratio']:.1f}×",
                      f"{fmt_ms(m['cpu'])} / {fmt_ms(p['cpu'])}", f"{r['ratio_cpu']:.1f}×",
                      f"{r['fxsat_sdpa']} / {p['sdpa']}",
                      f"{rss / 2**20:.0f} MiB" if rss else "-"])
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        print("  ".join(h.rjust(w[i]) for i, h in enumerate(head)))
        for l in lines:
            print("  ".join(c.rjust(w[i]) for i, c in enumerate(l)))
    print(f"(ms, medians of {args.runs} runs; torch {torch.__version__}; ratio = PyTorch total "
          "/ fxsat total, wall clock; CPU = CPU time of the same work (fxsat: its thread; "
          "PyTorch: the process), less sensitive to other load on the machine)")
    if args.json:
        Path(args.json).write_text(json.dumps({"format": "fxsat-scale-compare", "version": 1,
                                               "torch": torch.__version__, "runs": args.runs,
                                               "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
