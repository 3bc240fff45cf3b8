"""Run two FX-JSON graphs on identical random inputs and compare their outputs.

    python -m fxsat.compare ORIG.json NEW.json [--seed S] [--atol A] [--rtol R]
                            [--int-inputs index.json]

Inputs are built from ORIG's placeholders (``fxsat.load.random_inputs``) and passed to both
graphs by position, so both must have the same number of placeholders with the same shape,
dtype and stride (names may differ). ``--int-inputs`` takes the fixtures' ``index.json`` (the
entry whose ``file`` is ORIG's file name is used) or a JSON object
``{placeholder: [low, high)}``; integer/bool placeholders default to ``[0, 2)``.

Every output is compared with ``torch.allclose(orig, new, rtol, atol, equal_nan=True)``
(``None`` must match ``None``; shapes and dtypes must agree). One line per output with the max
absolute error. Exit status: 0 all close, 1 a mismatch, 2 bad input (unreadable/invalid
file, placeholder mismatch, a graph that fails to run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field

import math

import torch

from fxsat.fxjson import FxJsonError, read_fx_json
from fxsat.load import output_vals, placeholder_vals, random_inputs, to_graph_module

__all__ = ["compare", "compare_docs", "CompareResult", "BadInput", "int_inputs_for", "main"]


class BadInput(Exception):
    """The graphs cannot be compared (exit status 2)."""


@dataclass
class CompareResult:
    ok: bool
    lines: list[str] = field(default_factory=list)
    max_abs_err: list[float | None] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok


def int_inputs_for(spec, orig_path=None) -> dict:
    """``--int-inputs`` value (path or already-parsed JSON) -> {placeholder: [low, high)}."""
    if spec is None:
        return {}
    if isinstance(spec, (str, os.PathLike)):
        with open(spec) as f:
            spec = json.load(f)
    if isinstance(spec, dict) and "fixtures" in spec:
        spec = spec["fixtures"]
    if isinstance(spec, list):
        base = os.path.basename(str(orig_path)) if orig_path is not None else None
        for e in spec:
            if e.get("file") == base:
                return dict(e.get("int_inputs", {}))
        return {}
    if isinstance(spec, dict):
        return dict(spec)
    raise BadInput(f"--int-inputs: expected an index or an object, got {type(spec).__name__}")


def _meta(val):
    if isinstance(val, dict):
        return (tuple(val["shape"]), val["dtype"], tuple(val["stride"]))
    return val


def _run(doc, inputs, label):
    try:
        gm = to_graph_module(doc)
    except FxJsonError as e:
        raise BadInput(f"{label}: {e}") from e
    try:
        with torch.no_grad():
            out = gm(*inputs)
    except Exception as e:  # noqa: BLE001
        raise BadInput(f"{label}: graph failed to run: {type(e).__name__}: {e}") from e
    if isinstance(out, torch.Tensor):
        out = [out]
    return list(out)


_LOW_FLOATS = ("float32", "float16", "bfloat16")


def to_f64(doc: dict) -> dict:
    """A copy of ``doc`` computing in float64: every float32/float16/bfloat16 dtype (in args,
    kwargs and vals) becomes float64. Two graphs that differ only by a value-preserving rewrite
    agree in float64 to ~1e-12, so rounding noise no longer hides (or fakes) a real difference."""
    def fix(x):
        if isinstance(x, dict):
            if set(x) == {"dtype"} and x["dtype"] in _LOW_FLOATS:
                return {"dtype": "float64"}
            return {k: ("float64" if k == "dtype" and v in _LOW_FLOATS else fix(v)) for k, v in x.items()}
        if isinstance(x, list):
            return [fix(v) for v in x]
        return x
    return fix(doc)


def compare_docs(orig: dict, new: dict, *, seed: int = 0, atol: float = 1e-5,
                 rtol: float = 1e-5, int_inputs: dict | None = None,
                 scaled: bool = False, f64: bool = False) -> CompareResult:
    """Compare two FX-JSON documents; raises BadInput when they cannot be compared.

    ``scaled=False``: element-wise ``torch.allclose(orig, new, rtol, atol)``.
    ``scaled=True``: ``max|orig - new| <= atol + rtol * max|orig|`` per output, i.e. the error
    relative to the tensor's scale — the right test for rewrites that only reorder float
    arithmetic (a fused softmax), whose rounding noise is amplified in elements that cancel
    (parameter gradients summed over a batch).
    ``f64=True``: both graphs run in float64 (see :func:`to_f64`)."""
    if f64:
        orig, new = to_f64(orig), to_f64(new)
    po, pn = placeholder_vals(orig), placeholder_vals(new)
    if len(po) != len(pn):
        raise BadInput(f"placeholder count differs: {len(po)} vs {len(pn)}")
    for (a, va), (b, vb) in zip(po, pn):
        if _meta(va) != _meta(vb):
            raise BadInput(f"placeholder {a!r} vs {b!r}: metas differ: {va} vs {vb}")
    inputs = random_inputs(orig, seed=seed, int_inputs=int_inputs)
    # The same RNG state for both runs: a graph with random calls (dropout, rand) draws the
    # same numbers when fxsat kept those calls, each once and in order.
    torch.manual_seed(seed)
    out_o = _run(orig, inputs, "ORIG")
    torch.manual_seed(seed)
    out_n = _run(new, [t.clone() if isinstance(t, torch.Tensor) else t for t in inputs], "NEW")
    res = CompareResult(ok=True)
    if len(out_o) != len(out_n):
        res.ok = False
        res.lines.append(f"output count differs: {len(out_o)} vs {len(out_n)}")
    names = [o["node"] if isinstance(o, dict) else None for o in orig["nodes"][-1]["args"][0]]
    for i, (a, b) in enumerate(zip(out_o, out_n)):
        label = f"out[{i}] {names[i] if i < len(names) else ''}"
        if a is None or b is None:
            same = a is None and b is None
            res.max_abs_err.append(None)
            res.lines.append(f"{label}: {'None' if a is None else 'tensor'} vs "
                             f"{'None' if b is None else 'tensor'}: {'ok' if same else 'MISMATCH'}")
            res.ok &= same
            continue
        if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
            same = a == b
            res.max_abs_err.append(None)
            res.lines.append(f"{label}: scalar {a!r} vs {b!r}: {'ok' if same else 'MISMATCH'}")
            res.ok &= bool(same)
            continue
        if a.shape != b.shape or a.dtype != b.dtype:
            res.max_abs_err.append(None)
            res.lines.append(f"{label}: MISMATCH shape/dtype {tuple(a.shape)} {a.dtype} vs "
                             f"{tuple(b.shape)} {b.dtype}")
            res.ok = False
            continue
        if a.dtype.is_floating_point or a.dtype.is_complex:
            diff = (a.double() - b.double()).abs()
            both_nan = a.isnan() & b.isnan()
            same_inf = (a == b)  # equal infinities give nan differences
            diff = torch.where(both_nan | same_inf, torch.zeros_like(diff), diff)
            err = float(diff.max()) if diff.numel() else 0.0
            if scaled:
                finite = a[a.isfinite()]
                scale = float(finite.abs().max()) if finite.numel() else 0.0
                close = bool(torch.equal(a.isnan(), b.isnan())) and not math.isnan(err) \
                    and err <= atol + rtol * scale
            else:
                close = torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
        else:
            close = torch.equal(a, b)
            err = float((a.long() - b.long()).abs().max()) if a.numel() else 0.0
        res.max_abs_err.append(err)
        res.lines.append(f"{label}: {tuple(a.shape)} {str(a.dtype).removeprefix('torch.')} "
                         f"max_abs_err={err:.3g} {'ok' if close else 'MISMATCH'}")
        res.ok &= bool(close)
    return res


def compare(orig_path, new_path, *, seed: int = 0, atol: float = 1e-5, rtol: float = 1e-5,
            int_inputs=None, scaled: bool = False, f64: bool = False) -> CompareResult:
    """Compare two FX-JSON files. ``int_inputs``: None, a dict, or an index.json path."""
    try:
        orig = read_fx_json(orig_path)
        new = read_fx_json(new_path)
    except (OSError, ValueError) as e:
        raise BadInput(str(e)) from e
    ranges = int_inputs_for(int_inputs, orig_path)
    return compare_docs(orig, new, seed=seed, atol=atol, rtol=rtol, int_inputs=ranges,
                        scaled=scaled, f64=f64)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fxsat.compare",
                                 description="Compare two FX-JSON graphs numerically.")
    ap.add_argument("orig")
    ap.add_argument("new")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--int-inputs", default=None,
                    help="index.json of the fixtures, or a JSON object {placeholder: [lo, hi]}")
    ap.add_argument("--scaled", action="store_true",
                    help="tolerance relative to each output's largest magnitude: "
                         "max|a-b| <= atol + rtol*max|a| (default: element-wise allclose)")
    ap.add_argument("--f64", action="store_true",
                    help="run both graphs in float64 (float32/16/bf16 dtypes become float64)")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        res = compare(args.orig, args.new, seed=args.seed, atol=args.atol, rtol=args.rtol,
                      int_inputs=args.int_inputs, scaled=args.scaled, f64=args.f64)
    except (BadInput, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in res.lines:
        print(line)
    print("all outputs close" if res.ok else "MISMATCH", file=sys.stderr)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
