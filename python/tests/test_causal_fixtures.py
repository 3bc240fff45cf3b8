"""Causal fixtures (tests/fixtures/causal/, python/fixtures/gen_causal_fixtures.py) keep their
numbers when optimized for the CPU with the default options: the causal blocks become the CPU
flash kernel with ``is_causal=True`` (no mask tensor), windows and rectangles the kernel with
their mask, and the traps (a key-padding mask AND-ed in, a shifted diagonal) are left alone in
training. On random inputs (two seeds; bool inputs drawn in [0, 2), so padding rows may be
fully masked):

1. both graphs in float64 agree to atol 1e-10, rtol 1e-9;
2. in their own dtype, max|orig - out| <= tol * (1 + max|orig|) per output (1e-4 float32,
   3e-2 bfloat16: the decomposed bf16 graph rounds the weights to bf16 before the second
   matmul, the kernel does not).

The CUDA lowering is checked on the device by experiments/gpu_causal_check.py."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, FIXTURES
from fxsat.compare import compare

CAUSAL = FIXTURES / "causal"
FILES = sorted(p.name for p in CAUSAL.glob("causal_*.json"))


def _binary():
    if not (Path(BIN).is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"fxsat binary not found at {BIN}: run `cargo build --release`",
                    pytrace=False)


def test_the_fixtures_are_there():
    assert len(FILES) >= 28, FILES


@pytest.mark.parametrize("file", FILES)
def test_causal_fixture_matches_on_cpu(file, tmp_path):
    _binary()
    out = tmp_path / file
    r = subprocess.run([str(BIN), "optimize", str(CAUSAL / file), "-o", str(out),
                        "--target", "cpu"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"fxsat optimize failed:\n{r.stdout}\n{r.stderr}"
    text = out.read_text()
    causal_block = any(n in file for n in ("_hf_", "_hf5_", "_gpt2_", "_tril_", "_div_", "_unscaled_",
                                           "_keepinf_"))
    if causal_block and "f32" in file:
        # fused as the causal kernel: is_causal=True and no mask tensor
        doc = json.loads(text)
        calls = [n for n in doc["nodes"]
                 if "_scaled_dot_product_flash_attention_for_cpu" in str(n.get("target"))]
        assert calls, "no fused call"
        for n in calls:
            pos = 7 if n["target"].endswith("_backward.default") else 4
            assert n["args"][pos] is True, n
            assert n.get("kwargs", {}).get("attn_mask") is None, n
    tol = 3e-2 if "bf16" in file else 1e-4
    for seed in (0, 1):
        res = compare(CAUSAL / file, out, seed=seed, atol=1e-10, rtol=1e-9, f64=True)
        assert res.ok, f"float64, seed {seed}:\n" + "\n".join(res.lines)
        res = compare(CAUSAL / file, out, seed=seed, atol=tol, rtol=tol, scaled=True)
        assert res.ok, f"own dtype, seed {seed}:\n" + "\n".join(res.lines)


def test_gpu_causal_check_runs_on_cpu(capsys):
    """experiments/gpu_causal_check.py's path (optimise, run decomposed and fused, compare with
    float64), on the CPU target and device: the real run is on a GPU (``--target cuda``)."""
    _binary()
    import gpu_causal_check

    rc = gpu_causal_check.main(["--device", "cpu", "--target", "cpu", "--only", "hf,pad",
                                "--seeds", "1", "--fxsat", str(BIN)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "8 of 8 fixtures match" in out
    assert "grad_q" in out and "_scaled_dot_product_flash_attention_for_cpu_backward" in out
