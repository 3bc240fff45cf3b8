"""Matmul padding and randperm index rewrites keep PyTorch's numbers.

* ``tests/fixtures/pad/``: ``fxsat optimize --target cpu --device h100-tf32`` (the h100-tf32 profile's
  alignment, a graph PyTorch runs on CPU) pads exactly the fixtures ``cases.json`` marks
  ``pad``; the padded graph gives the original's outputs in float32 (allclose atol/rtol 1e-5,
  inputs of unit-variance rows scaled by 1/sqrt(K) so outputs are O(1)) and, run in float64,
  agrees to 1e-12 (zero padding adds exact zeros; only the summation order may change).
* ``tests/fixtures/index/``: ``fxsat optimize`` rewrites the fixtures marked ``match`` to
  ``_unsafe_index`` / ``_unsafe_index_put`` (no accumulation), keeps the near misses, keeps one
  randperm, and with the same seeded generator both graphs give bit-identical outputs (the
  permutation included).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import FIXTURES, ROOT
from fxsat.compare import to_f64
from fxsat.load import placeholder_vals, to_graph_module

BIN = Path(os.environ.get("FXSAT_BIN", ROOT / "target" / "release" / "fxsat"))
if not BIN.is_absolute():
    BIN = ROOT / BIN


def cases(sub):
    with open(FIXTURES / sub / "cases.json") as f:
        return json.load(f)["cases"]


def optimize(src: Path, out: Path, *extra: str) -> dict:
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"fxsat binary not found at {BIN}: run `cargo build --release`", pytrace=False)
    r = subprocess.run([str(BIN), "optimize", str(src), "-o", str(out), *extra],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"fxsat optimize failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    with open(out) as f:
        return json.load(f)


def targets(doc):
    return [n["target"] for n in doc["nodes"] if n["op"] == "call_function"]


def run(doc, inputs, seed=None):
    gm = to_graph_module(doc)
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        out = gm(*[t.clone() for t in inputs])
    return [out] if isinstance(out, torch.Tensor) else list(out)


def scaled_inputs(doc, seed, dtype=None):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _, v in placeholder_vals(doc):
        shape = v["shape"]
        t = torch.randn(*shape, generator=g, dtype=torch.float64)
        t = t / max(shape[-1], 1) ** 0.5
        out.append(t.to(dtype or getattr(torch, v["dtype"])))
    return out


@pytest.mark.parametrize("case", cases("pad"), ids=lambda c: c["file"])
def test_padded_matmul_matches(case, tmp_path):
    src = FIXTURES / "pad" / case["file"]
    with open(src) as f:
        orig = json.load(f)
    new = optimize(src, tmp_path / "out.json", "--target", "cpu", "--device", "h100-tf32")
    padded = "aten.constant_pad_nd.default" in targets(new)
    assert padded == (case["expect"] == "pad"), f"{case['file']}: {case['why']}"
    for seed in (0, 1):
        xs = scaled_inputs(orig, seed)
        for a, b in zip(run(orig, xs), run(new, xs)):
            assert a.shape == b.shape and a.dtype == b.dtype
            err = (a - b).abs().max().item()
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), f"float32 max error {err}"
    xs = scaled_inputs(orig, 0, torch.float64)
    for a, b in zip(run(to_f64(orig), xs), run(to_f64(new), xs)):
        assert torch.allclose(a, b, atol=1e-12, rtol=1e-12), (a - b).abs().max().item()


@pytest.mark.parametrize("case", cases("index"), ids=lambda c: c["file"])
def test_index_rewrite_is_bit_exact(case, tmp_path):
    src = FIXTURES / "index" / case["file"]
    with open(src) as f:
        orig = json.load(f)
    new = optimize(src, tmp_path / "out.json")
    t_new, t_orig = targets(new), targets(orig)
    rewritten = any(t.startswith("aten._unsafe_index") for t in t_new)
    assert rewritten == (case["expect"] == "match"), f"{case['file']}: {case['why']}"
    if rewritten:
        assert "aten.index_put.default" not in t_new and "aten.index.Tensor" not in t_new
    else:
        assert sorted(t_new) == sorted(t_orig)
    assert t_new.count("aten.randperm.default") == t_orig.count("aten.randperm.default")
    for seed in range(5):
        xs = scaled_inputs(orig, seed)
        a, b = run(orig, xs, seed=seed), run(new, xs, seed=seed)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x.dtype == y.dtype and torch.equal(x, y), f"seed {seed}: outputs differ"
