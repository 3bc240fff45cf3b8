#!/usr/bin/env python
"""fxsat's cost model against measured attention kernels: predicted vs measured milliseconds.

    $(bash python/venv.sh) experiments/attention_costs.py KERNELS.json [--fxsat BIN] [--markdown]

KERNELS.json is what ``experiments/gpu_attention_kernels.py --json`` wrote on a GPU. For every
row of a kernel fxsat emits on CUDA (``flash``: no mask or ``is_causal``; ``efficient``: also
with a bias) the script writes the call as fxsat writes it — forward alone, and forward then
backward — as an FX-JSON graph (traced here on fake CUDA tensors: no GPU needed) and asks
``fxsat stats --target cuda`` for its estimated time (the cost model's default CUDA profile),
then prints it beside the measured time (forward; backward = forward+backward − forward) and
their ratio. The bias of the ``pad`` rows is the bench's ``[B, 1, 1, S]`` mask expanded (a
view, as fxsat passes it); ``full`` is a ``[B, H, L, S]`` tensor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import torch  # noqa: E402

KERNELS = ("flash", "efficient")


def _fake(mode, shape, dtype):
    with torch.device("meta"):
        t = torch.empty(*shape, dtype=dtype)
    return mode.fake_tensor_converter.from_meta_and_device(mode, t, torch.device("cuda"))


def traced(kernel, shape, dtype, mask, backward):
    """The FX graph of one call of ``kernel`` (and its backward) as fxsat writes it."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx

    b, h, l, s, d = shape
    scale = d ** -0.5
    causal = mask == "causal"
    mode = FakeTensorMode()
    args = [_fake(mode, (b, h, l, d), dtype), _fake(mode, (b, h, s, d), dtype),
            _fake(mode, (b, h, s, d), dtype)]
    if mask == "pad":
        args.append(_fake(mode, (b, 1, 1, s), dtype))
    elif mask == "full":
        args.append(_fake(mode, (b, h, l, s), dtype))
    aten = torch.ops.aten

    def flash(q, k, v):
        o = aten._scaled_dot_product_flash_attention(q, k, v, 0.0, causal, False, scale=scale)
        if not backward:
            return o[0], o[1]
        g = aten._scaled_dot_product_flash_attention_backward(
            o[0], q, k, v, o[0], o[1], o[2], o[3], o[4], o[5], 0.0, causal, o[6], o[7],
            scale=scale)
        return g

    def efficient(q, k, v, *rest):
        bias = rest[0].expand(b, h, l, s) if rest else None
        o = aten._scaled_dot_product_efficient_attention(q, k, v, bias, True, 0.0, causal,
                                                          scale=scale)
        if not backward:
            return o[0], o[1]
        return aten._scaled_dot_product_efficient_attention_backward(
            o[0], q, k, v, bias, o[0], o[1], o[2], o[3], 0.0, [True, True, True, False],
            causal, scale=scale)[:3]

    with mode:
        gm = make_fx(flash if kernel == "flash" else efficient, tracing_mode="real")(*args)
    gm.graph.eliminate_dead_code()
    for n in gm.graph.nodes:  # the flash kernel's undefined cumulative-length outputs
        if n.op == "call_function":
            n.meta.setdefault("val", None)
    return gm


def predicted_ms(fxsat_bin, gm, name):
    from fxsat.export import graph_to_doc

    doc = graph_to_doc(gm, name=name, kind="forward")
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "g.json")
        with open(p, "w") as f:
            json.dump(doc, f)
        out = subprocess.run([fxsat_bin, "stats", p, "--target", "cuda"], check=True,
                             capture_output=True, text=True).stdout
    m = re.search(r"est\. time: (\S+) s", out)
    if m is None:
        raise RuntimeError(f"no estimate in `fxsat stats` output: {out[:200]}")
    return float(m.group(1)) * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kernels", help="gpu_attention_kernels.py --json output")
    ap.add_argument("--fxsat", default=str(ROOT / "target/release/fxsat"))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    data = json.load(open(args.kernels))
    rows = []
    for r in data["rows"]:
        if r.get("kernel") not in KERNELS or "unsupported" in r:
            continue
        if r["kernel"] == "flash" and r["mask"] not in ("none", "causal"):
            continue
        shape, dtype = tuple(r[k] for k in "BHLSD"), getattr(torch, r["dtype"])
        fwd = predicted_ms(args.fxsat, traced(r["kernel"], shape, dtype, r["mask"], False), "f")
        both = predicted_ms(args.fxsat, traced(r["kernel"], shape, dtype, r["mask"], True), "b")
        rows.append(dict(name=r["shape"], kernel=r["kernel"], mask=r["mask"], dtype=r["dtype"],
                         fwd_pred=fwd, fwd_meas=r["fwd_ms"], bwd_pred=both - fwd,
                         bwd_meas=r["fwd_bwd_ms"] - r["fwd_ms"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    head = ("shape", "kernel", "mask", "fwd ms predicted / measured", "ratio",
            "bwd ms predicted / measured", "ratio")
    lines = [(f"{x['name']} {x['dtype']}", x["kernel"], x["mask"],
              f"{x['fwd_pred']:.3f} / {x['fwd_meas']:.3f}", f"{x['fwd_pred'] / x['fwd_meas']:.2f}",
              f"{x['bwd_pred']:.3f} / {x['bwd_meas']:.3f}", f"{x['bwd_pred'] / x['bwd_meas']:.2f}")
             for x in rows]
    if args.markdown:
        print(f"Device: {data['meta'].get('device')}, torch {data['meta'].get('torch')}")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for ln in lines:
            print("| " + " | ".join(ln) + " |")
    else:
        for ln in lines:
            print("  ".join(ln))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
