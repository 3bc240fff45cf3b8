#!/usr/bin/env python
"""The causal-mask fusions on the GPU (rules/causal.rules): every fixture of
tests/fixtures/causal/ (python/fixtures/gen_causal_fixtures.py; float32 and bfloat16, forward
and joint) is optimised with ``--target cuda`` and the default options, and the optimised graph
runs on CUDA against the decomposed one on the same random inputs (two seeds):

    python3 experiments/gpu_causal_check.py [--fxsat target/release/fxsat] [--only hf,gpt2]
        [--glob 'train_forms/*bf16*.json,...']  (other fixtures, checked the same way)

(without ``--fxsat`` and without ``target/release/fxsat``, the installed ``fxsat`` package
optimises). For each fixture it prints the fused kernels the optimised graph calls and, per
output (the attention output, and in joint graphs the gradients of q, k, v), the max error of
the decomposed and of the optimised graph against the decomposed graph in float64 on the
same device, scaled by ``1 + max|truth|``. A fixture passes when the optimised error is at
most ``max(2 × decomposed error, tol)`` (tol 1e-4 float32, 3e-2 bfloat16): fusing may round
differently, never much worse. Exit status 1 when any fixture fails or fails to run.

``--device cpu --target cpu`` runs the same path on the CPU (the test suite does, on a few
fixtures)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from fxsat.compare import to_f64  # noqa: E402
from fxsat.load import on_device, random_inputs, to_graph_module  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "causal"
KERNELS = (
    "aten.scaled_dot_product_attention.default",
    "aten._scaled_dot_product_flash_attention_for_cpu.default",
    "aten._scaled_dot_product_flash_attention_for_cpu_backward.default",
    "aten._scaled_dot_product_flash_attention.default",
    "aten._scaled_dot_product_flash_attention_backward.default",
    "aten._scaled_dot_product_efficient_attention.default",
    "aten._scaled_dot_product_efficient_attention_backward.default",
)


def optimize(path: Path, target: str, fxsat_bin: str | None) -> dict:
    if fxsat_bin:
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "out.json"
            r = subprocess.run([fxsat_bin, "optimize", str(path), "-o", str(out), "--target",
                                target], capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                raise RuntimeError(f"fxsat optimize failed: {r.stderr.strip()}")
            return json.loads(out.read_text())
    import fxsat

    doc, _ = fxsat.optimize(json.loads(path.read_text()), target=target, cache=False)
    return doc


def run(doc: dict, inputs: list, device: str) -> list[torch.Tensor]:
    gm = to_graph_module(on_device(doc, device))
    with torch.no_grad():
        out = gm(*inputs)
    return [out] if isinstance(out, torch.Tensor) else list(out)


def output_names(doc: dict) -> list[str]:
    n = len(next(x for x in doc["nodes"] if x["op"] == "output")["args"][0])
    if doc.get("kind") == "joint" and n == 4:
        return ["out", "grad_q", "grad_k", "grad_v"]
    return [f"out{i}" for i in range(n)]


def check(path: Path, args) -> tuple[bool, list[str]]:
    orig = json.loads(path.read_text())
    new = optimize(path, args.target, args.fxsat)
    kernels = sorted({n["target"].split(".")[1] for n in new["nodes"]
                      if n.get("target") in KERNELS})
    tol = 3e-2 if "bf16" in path.name else 1e-4
    lines, ok = [f"{path.name}: kernels {', '.join(kernels) or 'none'}"], True
    for seed in range(args.seeds):
        ins = [t.to(args.device) if isinstance(t, torch.Tensor) else t
               for t in random_inputs(orig, seed=seed)]
        ins64 = [t.double() if isinstance(t, torch.Tensor) and t.is_floating_point() else t
                 for t in ins]
        truth = run(to_f64(orig), ins64, args.device)
        dec = run(orig, ins, args.device)
        fus = run(new, ins, args.device)
        for name, t, d, f in zip(output_names(orig), truth, dec, fus):
            if t is None:  # the gradient of a bool input
                ok &= d is None and f is None
                continue
            scale = 1.0 + t.abs().max().item()
            e_dec = (d.double() - t).abs().max().item() / scale
            e_fus = (f.double() - t).abs().max().item() / scale
            good = e_fus <= max(2 * e_dec, tol) and f.shape == d.shape
            ok &= good
            lines.append(f"  seed {seed} {name:7s} decomposed {e_dec:.2e}  fused {e_fus:.2e}"
                         f"{'' if good else '  MISMATCH'}")
    return ok, lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fxsat", help="the fxsat binary (default target/release/fxsat if built, "
                    "else the installed fxsat package)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--target", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--only", help="comma-separated fixture names (hf, gpt2, tril, window, "
                    "pad, shifted, rect)")
    ap.add_argument("--glob", help="instead: comma-separated globs of fixtures under tests/fixtures "
                    "(e.g. 'train_forms/*bf16*.json'): any fixture, checked the same way")
    args = ap.parse_args(argv)
    if args.fxsat is None:
        default = ROOT / "target" / "release" / "fxsat"
        args.fxsat = str(default) if default.is_file() and os.access(default, os.X_OK) else None
    files = sorted(FIXTURES.glob("causal_*.json"))
    if args.glob:
        files = sorted({f for g in args.glob.split(",") for f in FIXTURES.parent.glob(g)
                        if not f.name.endswith(".opt.json")})
    elif args.only:
        names = {f"causal_{n}_" for n in args.only.split(",")}
        files = [f for f in files if any(f.name.startswith(n) for n in names)]
    if not files:
        print("no fixtures selected", file=sys.stderr)
        return 1
    failed = []
    for f in files:
        try:
            ok, lines = check(f, args)
        except Exception as e:  # noqa: BLE001 -- report every fixture, fail at the end
            ok, lines = False, [f"{f.name}: error: {type(e).__name__}: {e}"]
        print("\n".join(lines), flush=True)
        if not ok:
            failed.append(f.name)
    print(f"{len(files) - len(failed)} of {len(files)} fixtures match"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
