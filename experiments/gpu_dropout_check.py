#!/usr/bin/env python
"""Attention dropout on the GPU: the original joint graph (``rand > p`` dropout, decomposed
attention) against the fxsat ``--target cuda`` one (``_scaled_dot_product_efficient_attention``
+ backward with ``dropout_p = p``), both run eagerly on CUDA (``fxsat.load``).

    python3 experiments/gpu_dropout_check.py ORIG.json OPT.json [--runs 2000]
        [--int-input NAME=LO,HI] [--json OUT.json]

1. **Dropout-free run** (values): ``p`` set to 0 in both graphs (the original's ``rand > p``
   becomes ``rand > -1``, all kept, and its ``1/(1-p)`` scales 1; the fused calls get
   ``dropout_p = 0``); every output (forward outputs and gradients) is compared, fp32,
   scale-relative error ``max|a - b| / max|a|`` (must be <= 1e-4).
2. **Distribution at p** (statistics over ``--runs`` seeds, each graph with its own RNG
   draws): per element of every output, the mean of the original and of the fused graph,
   z = (mean_o - mean_f) / sqrt(var_o/N + var_f/N); and, for each gradient output j, the
   covariance over the runs of the product ``<out_0, g>·<grad_j, x_j>`` (g: the output's tangent, x_j: the input whose
   gradient it is), which depends on the forward and the backward sharing one mask (for one
   attention block, ``<out, g> = <grad_v, v>`` exactly when they do). With equal distributions the z-scores are
   standard normal: the check wants max |z| < 6 over all elements and products.
3. **Negative control**: the original graph with the backward's mask drawn by a second,
   independent ``rand`` (the forward and backward no longer share the mask; the marginal
   distribution of every output is unchanged) must fail the product test: this shows the
   test sees a wrong coupling of forward and backward.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from fxsat.load import on_device, random_inputs, to_graph_module  # noqa: E402

EFF = "aten._scaled_dot_product_efficient_attention.default"
EFF_BW = "aten._scaled_dot_product_efficient_attention_backward.default"


def _users(doc):
    users = {}

    def refs(x, out):
        if isinstance(x, dict):
            if set(x) == {"node"}:
                out.add(x["node"])
            else:
                for v in x.values():
                    refs(v, out)
        elif isinstance(x, list):
            for v in x:
                refs(v, out)
    for n in doc["nodes"]:
        r = set()
        refs(n.get("args", []), r)
        refs(n.get("kwargs", {}), r)
        for x in r:
            users.setdefault(x, []).append(n)
    return users


def without_dropout(doc: dict) -> dict:
    """``p`` set to 0: the decomposed dropout keeps everything (scale 1), fused calls get
    dropout_p = 0."""
    doc = copy.deepcopy(doc)
    by_name = {n["name"]: n for n in doc["nodes"]}
    users = _users(doc)
    for n in doc["nodes"]:
        t = n.get("target", "")
        if t == EFF:
            n["args"][5] = 0.0
        elif t == EFF_BW:
            n["args"][9] = 0.0
        elif t == "aten.gt.Scalar" and by_name[n["args"][0]["node"]].get("target") == "aten.rand.default":
            n["args"][1] = -1.0
            for u in users.get(n["name"], []):  # mul(gt, w) and convert(gt)
                for s in users.get(u["name"], []):  # · 1/(1-p)
                    if s.get("target") == "aten.mul.Tensor" and isinstance(s["args"][1], float):
                        s["args"][1] = 1.0
    return doc


def decoupled(doc: dict) -> dict:
    """The backward's dropout mask from a second, independent rand (negative control)."""
    doc = copy.deepcopy(doc)
    nodes = doc["nodes"]
    by_name = {n["name"]: n for n in nodes}
    out = []
    for n in nodes:
        if n.get("target") == "prims.convert_element_type.default":
            g = by_name.get(n["args"][0].get("node", "")) if isinstance(n["args"][0], dict) else None
            if g is not None and g.get("target") == "aten.gt.Scalar":
                r = by_name[g["args"][0]["node"]]
                r2 = copy.deepcopy(r)
                r2["name"] = r["name"] + "_bw"
                g2 = copy.deepcopy(g)
                g2["name"] = g["name"] + "_bw"
                g2["args"][0] = {"node": r2["name"]}
                out += [r2, g2]
                n = copy.deepcopy(n)
                n["args"][0] = {"node": g2["name"]}
        out.append(n)
    doc["nodes"] = out
    return doc


def projections(doc, inputs, outs, keep):
    """Weights w_j of the projections <out_j, w_j>: the first forward output's tangent for
    it, and for the gradient of a primal input the input itself (for attention, <out, g> and
    <grad_v, v> are then one number when forward and backward share the mask); a fixed
    random vector otherwise."""
    names = [n["name"] for n in doc["nodes"] if n["op"] == "placeholder"]
    primals = [i for i, n in enumerate(names) if n.startswith("primals_")]
    tangents = [i for i, n in enumerate(names) if n.startswith("tangents_")]
    nfw = doc.get("num_fwd_outputs") or 0
    g = torch.Generator(device="cpu").manual_seed(123)
    ws = []
    for i in keep:
        src = None
        if i < nfw and i < len(tangents):
            src = inputs[tangents[i]]
        elif i >= nfw and i - nfw < len(primals):
            src = inputs[primals[i - nfw]]
        if isinstance(src, torch.Tensor) and src.is_floating_point() and src.numel() == outs[i].numel():
            ws.append(src.detach().double().flatten())
        else:
            ws.append(torch.randn(outs[i].numel(), generator=g, dtype=torch.float64).to(outs[i].device))
    return ws


def run(gm, inputs):
    return [o for o in gm(*inputs)]


def rel_err(a, b):
    a, b = a.double(), b.double()
    scale = a.abs().max().item() or 1.0
    return (a - b).abs().max().item() / scale


class Stats:
    """Running sums per element of every output, and the projections <out_j, w_j> per run."""

    def __init__(self):
        self.n = 0
        self.s = self.ss = None
        self.p = None

    def add(self, outs, ws):
        x = [o.detach().double().flatten() for o in outs]
        proj = torch.stack([(xi * wi).sum() for xi, wi in zip(x, ws)])
        flat = torch.cat(x)
        if self.s is None:
            self.s, self.ss = torch.zeros_like(flat), torch.zeros_like(flat)
            self.p = []
        self.n += 1
        self.s += flat
        self.ss += flat * flat
        self.p.append(proj.cpu())

    @staticmethod
    def _mv(s, ss, n):
        m = s / n
        return m, (ss / n - m * m).clamp_min(0) * n / max(n - 1, 1)


def zscores(a: Stats, b: Stats):
    ma, va = Stats._mv(a.s, a.ss, a.n)
    mb, vb = Stats._mv(b.s, b.ss, b.n)
    scale = max(ma.abs().max().item(), 1e-30)
    den = (va / a.n + vb / b.n).sqrt() + 1e-5 * scale  # deterministic elements: fp noise
    z_el = ((ma - mb) / den).abs()
    z_pr = (cov0(a) - cov0(b)).abs()
    z_pr = z_pr / (cov0_se(a) ** 2 + cov0_se(b) ** 2).sqrt().clamp_min(1e-30)
    return z_el, z_pr


def _centered(st: Stats):
    p = torch.stack(st.p)  # [runs, outputs]
    return p - p.mean(0)


def cov0(st: Stats):
    """Sample covariance of <out_0, w_0> with each other projection."""
    c = _centered(st)
    return (c[:, :1] * c[:, 1:]).mean(0)


def cov0_se(st: Stats):
    c = _centered(st)
    prod = c[:, :1] * c[:, 1:]
    return prod.std(0) / math.sqrt(st.n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("orig")
    ap.add_argument("opt")
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--int-input", action="append", default=[])
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    dev = args.device
    ints = {}
    for s in args.int_input:
        k, v = s.split("=")
        ints[k] = [int(x) for x in v.split(",")]
    orig = on_device(json.loads(Path(args.orig).read_text()), dev)
    opt = on_device(json.loads(Path(args.opt).read_text()), dev)
    assert any(n.get("target") == EFF for n in opt["nodes"]), "no fused attention in OPT"
    inputs = [t.to(dev) if isinstance(t, torch.Tensor) else t
              for t in random_inputs(orig, seed=0, int_inputs=ints)]
    res = {"orig": args.orig, "opt": args.opt, "runs": args.runs,
           "device": torch.cuda.get_device_name() if dev == "cuda" else dev,
           "torch": torch.__version__}

    # 1. dropout-free run
    a = run(to_graph_module(without_dropout(orig)).to(dev), inputs)
    b = run(to_graph_module(without_dropout(opt)).to(dev), inputs)
    errs = [rel_err(x, y) for x, y in zip(a, b) if isinstance(x, torch.Tensor)]
    res["p0_max_rel_err"] = max(errs)
    res["p0_ok"] = max(errs) <= 1e-4
    print(f"p = 0: {len(errs)} outputs, max scale-relative error {max(errs):.3g} "
          f"({'ok' if res['p0_ok'] else 'FAIL'})")

    # 2./3. distributions at p
    gms = {k: to_graph_module(d).to(dev) for k, d in
           [("orig", orig), ("opt", opt), ("decoupled", decoupled(orig))]}
    outs0 = run(gms["orig"], inputs)
    keep = [i for i, o in enumerate(outs0) if isinstance(o, torch.Tensor) and o.is_floating_point()]
    ws = projections(orig, inputs, outs0, keep)
    stats = {k: Stats() for k in gms}
    for k, gm in gms.items():
        base = {"orig": 0, "opt": 10**6, "decoupled": 2 * 10**6}[k]
        for r in range(args.runs):
            torch.manual_seed(base + r)
            outs = run(gm, inputs)
            stats[k].add([outs[i] for i in keep], ws)
    for k in ("opt", "decoupled"):
        z_el, z_pr = zscores(stats["orig"], stats[k])
        res[k] = {"max_z_elements": z_el.max().item(), "elements": z_el.numel(),
                  "frac_z_gt_4": (z_el > 4).double().mean().item(),
                  "z_products": [round(x, 2) for x in z_pr.tolist()]}
        print(f"{k} vs orig over {args.runs} runs: elements max |z| {z_el.max().item():.2f} "
              f"({z_el.numel()} elements, {(z_el > 4).double().mean().item():.2e} with |z| > 4); "
              f"cov(<out0,g>, <out_j,x_j>) |z| = {[round(x, 2) for x in z_pr.tolist()]}")
    res["dist_ok"] = res["opt"]["max_z_elements"] < 6 and max(res["opt"]["z_products"]) < 6
    res["control_detected"] = max(res["decoupled"]["z_products"]) >= 6
    print(f"fused graph equal in distribution: {'ok' if res['dist_ok'] else 'FAIL'}; "
          f"decoupled control detected: {res['control_detected']}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0 if res["p0_ok"] and res["dist_ok"] and res["control_detected"] else 1


if __name__ == "__main__":
    sys.exit(main())
