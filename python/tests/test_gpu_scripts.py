"""The GPU validation scripts' code paths, on CPU with tiny sizes (``--device cpu --tiny``):
``gpu_validate.py`` captures, optimizes, partitions (fxsat and PyTorch), runs and times a tiny
LLaMA (forward and joint); ``gpu_matmul_sweep.py`` runs its sweep and fits a profile. The real
runs are on a GPU (docs/gpu-results.md)."""

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT

BIN = Path(os.environ.get("FXSAT_BIN", ROOT / "target" / "release" / "fxsat"))
if not BIN.is_absolute():
    BIN = ROOT / BIN


def test_gpu_validate_tiny_cpu(tmp_path, capsys):
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"fxsat binary not found at {BIN}: run `cargo build --release`",
                    pytrace=False)
    import gpu_validate

    out = tmp_path / "v.json"
    rc = gpu_validate.main(["--device", "cpu", "--tiny", "--models", "llama", "--runs", "2",
                            "--warmup", "0", "--budgets", "1.0,0.1", "--fxsat", str(BIN),
                            "--json", str(out),
                            "--workdir", str(tmp_path / "w")])
    assert rc == 0
    res = json.loads(out.read_text())
    fw, joint = res["models"]["llama"]["forward"], res["models"]["llama"]["joint"]
    assert "error" not in fw and "error" not in joint, (fw.get("error"), joint.get("error"))
    assert set(fw["variants"]) == {"original", "fxsat", "inductor_passes"}
    assert fw["variants"]["fxsat"]["sdpa_calls"] == 1
    assert fw["variants"]["fxsat"]["rel_err_vs_original"]["max"] < 1e-4
    assert fw["predicted_speedup"] > 0 and fw["measured_speedup"] > 0
    assert not joint["errors"], joint["errors"]
    for b in ("1.0", "0.1"):
        for label in ("pytorch", "inductor_passes+pytorch", "fxsat_partition", "fxsat"):
            v = joint["variants"][f"{label}@{b}"]
            assert v["rel_err_vs_original"]["max"] < 1e-4, (label, b, v["rel_err_vs_original"])
            assert v["activation_bytes"] > 0 and v["time"]["median_ms"] > 0
        # fxsat's partition of the unoptimized graph reproduces the joint graph bit for bit
        assert joint["variants"][f"fxsat_partition@{b}"]["rel_err_vs_original"]["max"] == 0.0
    table = capsys.readouterr().out
    assert "| llama.forward |" in table and "fxsat optimize + partition" in table


def test_gpu_matmul_sweep_tiny_cpu(tmp_path):
    import gpu_matmul_sweep

    prof = tmp_path / "h100.json"
    shutil.copy(ROOT / "profiles" / "h100.json", prof)
    before = json.loads(prof.read_text())
    out = tmp_path / "s.json"
    assert gpu_matmul_sweep.main(["--device", "cpu", "--tiny", "--runs", "2", "--json", str(out),
                                  "--profile-out", str(prof)]) == 0
    res = json.loads(out.read_text())
    assert {c["which"] for c in res["matmul"]} == {"aligned", "M", "K", "N"}
    for c in res["matmul"]:
        assert c["abs_err_padded_vs_plain"] < 1e-2 * (c["k"] ** 0.5) * 8
    after = json.loads(prof.read_text())
    # existing keys kept with their meaning; calibration recorded
    assert set(before) <= set(after)
    assert after["matmul_alignment"] == before["matmul_alignment"]
    assert 0 < after["misaligned_matmul_efficiency"] <= 1
    assert after["calibration"]["script"] == "experiments/gpu_matmul_sweep.py"
    assert "gpu_matmul_sweep.py" in after["source"]


def test_capture_inlines_scalar_constants():
    """A 0-d tensor constant (transformers' masks: ``torch.where(m, torch.tensor(0.0), min)``)
    is lifted by dynamo to a ``get_attr`` in joint graphs; the exporter writes it as
    ``aten.full.default`` with its value, so the FX-JSON is self-contained (a get_attr would be
    loaded as zeros, and fxsat's partitioner cannot recompute from one)."""
    import torch

    from fxsat.export import capture
    from fxsat.load import to_graph_module

    def f(x, m):
        return torch.where(m, torch.tensor(0.5, dtype=x.dtype), torch.finfo(x.dtype).min) * x

    x = torch.randn(4, 4, requires_grad=True)
    m = torch.rand(4, 4) > 0.5
    (doc,) = capture(f, [x, m], mode="joint", name="t")
    assert not [n for n in doc["nodes"] if n["op"] == "get_attr"]
    full = [n for n in doc["nodes"] if n.get("target") == "aten.full.default"]
    assert len(full) == 1 and full[0]["args"] == [[], 0.5]
    out = to_graph_module(doc)(x.detach(), m, torch.ones(4, 4))
    assert torch.equal(out[0], f(x, m).detach())


def test_gpu_models_tiny_cpu(tmp_path):
    """``gpu_models.py`` (the GPU benchmark of issue 18) on a tiny BERT on CPU: every variant
    runs, the in-process rows come back through the subprocess, fxsat's inference runs the fused
    kernel, gradients and outputs agree with eager as closely as Inductor's; then the
    partitioner sweep path at one budget."""
    import subprocess
    import sys

    out = tmp_path / "m.json"
    script = ROOT / "experiments" / "gpu_models.py"
    p = subprocess.run([sys.executable, str(script), "--tiny", "--models", "bert", "--runs", "1",
                        "--rounds", "1", "--json", str(out), "--markdown"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 1 and "error" not in rows[0], rows
    r = rows[0]
    for v in ("eager", "inductor", "fxsat"):
        assert r[f"{v}_train_ms"] > 0 and r[f"{v}_infer_ms"] > 0
    assert r["fxsat_infer_attn"] >= 2, r["fxsat_infer_attn_kernels"]  # 2 layers fused
    assert r["fxsat_grad_err"] <= 2 * r["inductor_grad_err"] + 1e-6
    assert 0 < r["fxsat_grad_err64"] <= 2 * r["inductor_grad_err64"] + 1e-6
    assert r["fxsat_infer_err"] <= 2 * r["inductor_infer_err"] + 1e-6
    assert r["fallbacks"] == []
    assert r["interleaved"] == {"rounds": 1, "runs": 1}  # timed again, variants interleaved
    assert all(r[f"{v}_train_ms_first"] > 0 for v in ("eager", "inductor", "fxsat"))
    assert "| bert |" in p.stdout
    p = subprocess.run([sys.executable, str(script), "--tiny", "--models", "bert", "--runs", "1",
                        "--sweep", "0.5", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["budget"] for r in rows] == [0.5]
    assert all(r["fxsat_train_ms"] > 0 and r["inductor_train_ms"] > 0 for r in rows)


def test_attention_kernels_and_their_predicted_costs_tiny_cpu(tmp_path):
    """``gpu_attention_kernels.py`` times the kernels of one tiny shape on CPU (the efficient
    kernel refuses: recorded as unsupported), and ``attention_costs.py`` prices each flash call
    it measured with fxsat's cost model (``fxsat stats --target cuda`` on the call as fxsat
    writes it): a causal call costs no more than the same call without a mask, a backward
    more than its forward."""
    import subprocess
    import sys

    out = tmp_path / "k.json"
    p = subprocess.run([sys.executable, str(ROOT / "experiments" / "gpu_attention_kernels.py"),
                        "--tiny", "--runs", "1", "--masks", "none,causal,pad", "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert {r["mask"] for r in rows} == {"none", "causal", "pad"}
    assert any(r["kernel"] == "efficient" and "unsupported" in r for r in rows)
    p = subprocess.run([sys.executable, str(ROOT / "experiments" / "attention_costs.py"), str(out),
                        "--fxsat", str(BIN), "--json", str(tmp_path / "c.json")],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    got = {(r["kernel"], r["mask"]): r for r in json.loads((tmp_path / "c.json").read_text())}
    assert set(got) == {("flash", "none"), ("flash", "causal")}, sorted(got)
    none, causal = got["flash", "none"], got["flash", "causal"]
    assert 0 < causal["fwd_pred"] <= none["fwd_pred"]  # (at this size: memory-bound, equal)
    assert none["bwd_pred"] > none["fwd_pred"] and none["fwd_meas"] > 0
