"""fxsat's partitioner keeps the joint graph's numbers: for every joint fixture and a few
budgets, ``fxsat partition JOINT -o PREFIX``, then ``fw`` followed by ``bw`` (saved values
passed along) must reproduce the joint graph's forward outputs and gradients exactly
(``fxsat.partition_check``). Also: fxsat's activation bytes at budget 1.0 are not above
PyTorch's own partitioner's (``tests/fixtures/pytorch_partition.json``, made by
``experiments/pytorch_partition.py``).

The binary is ``$FXSAT_BIN`` or ``target/release/fxsat``; a missing binary is a failure."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, fixture_files
from fxsat.partition_check import check_partition

BIN = Path(os.environ.get("FXSAT_BIN", ROOT / "target" / "release" / "fxsat"))
if not BIN.is_absolute():
    BIN = ROOT / BIN

JOINTS = [f for f in fixture_files() if f.endswith(".joint.json")]


def _partition(file, tmp_path, budget, extra=()):
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"fxsat binary not found at {BIN}: run `cargo build --release` "
                    "(or set FXSAT_BIN)", pytrace=False)
    prefix = tmp_path / file.replace(".joint.json", f".b{budget}")
    report = tmp_path / "report.json"
    r = subprocess.run([str(BIN), "partition", str(FIXTURES / file), "-o", str(prefix),
                        "--budget", str(budget), "--report", str(report), *extra],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"fxsat partition failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    with open(report) as f:
        return prefix, json.load(f), r


def test_there_are_joint_fixtures():
    assert len(JOINTS) >= 5


@pytest.mark.parametrize("budget", [1.0, 0.5, 0.1, 0.0])
@pytest.mark.parametrize("file", JOINTS)
def test_fw_then_bw_reproduces_joint(file, budget, tmp_path):
    prefix, report, _ = _partition(file, tmp_path, budget)
    for seed in (0, 1):
        res = check_partition(FIXTURES / file, f"{prefix}.fw.json", f"{prefix}.bw.json",
                              seed=seed, int_inputs=FIXTURES / "index.json")
        assert res.ok, f"budget {budget}, seed {seed}:\n" + "\n".join(res.lines)
        assert res.num_saved == len(report["saved"])


@pytest.mark.parametrize("file", JOINTS)
def test_activation_bytes_not_above_pytorch(file, tmp_path):
    with open(FIXTURES / "pytorch_partition.json") as f:
        theirs = json.load(f)["fixtures"][file]["1.0"]["activation_bytes"]
    _, report, _ = _partition(file, tmp_path, 1.0)
    assert report["activation_bytes"] <= theirs, (report["activation_bytes"], theirs)


def test_sweep_prints_20_points_and_writes_svg(tmp_path):
    """--sweep: 20 budgets; with --peak-rule strict the peak never rises as the budget falls;
    with the default rule every budget is honoured."""
    prefix, _, r = _partition("gpt2.joint.json", tmp_path, 1.0, ["--sweep", "--peak-rule",
                                                                  "strict"])
    rows = [line.split("\t") for line in r.stdout.strip().splitlines()[1:]]
    assert len(rows) == 20
    peaks = [int(row[4]) for row in rows]
    assert all(a >= b for a, b in zip(peaks, peaks[1:])), peaks
    assert Path(f"{prefix}.sweep.svg").read_text().startswith("<svg")
    _, _, r = _partition("gpt2.joint.json", tmp_path, 1.0, ["--sweep"])
    rows = [line.split("\t") for line in r.stdout.strip().splitlines()[1:]]
    full = int(rows[0][1])
    for row in rows:
        assert int(row[1]) <= float(row[0]) * full + 1, row


def test_bad_inputs_exit_2(tmp_path):
    if not BIN.is_file():
        pytest.fail(f"fxsat binary not found at {BIN}", pytrace=False)
    r = subprocess.run([str(BIN), "partition", str(FIXTURES / "gpt2.forward.json"), "-o",
                        str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 2 and "joint" in r.stderr, r.stderr
    r = subprocess.run([str(BIN), "partition", str(FIXTURES / "gpt2.joint.json"), "-o",
                        str(tmp_path / "x"), "--budget", "1.5"], capture_output=True, text=True)
    assert r.returncode == 2 and "[0, 1]" in r.stderr, r.stderr


@pytest.mark.parametrize("file", JOINTS)
def test_optimize_then_partition_reproduces_optimized_joint(file, tmp_path):
    """The training pipeline: ``fxsat optimize`` a joint graph, then ``fxsat partition`` it;
    fw then bw reproduce the optimised joint graph exactly."""
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"fxsat binary not found at {BIN}", pytrace=False)
    opt = tmp_path / file
    r = subprocess.run([str(BIN), "optimize", str(FIXTURES / file), "-o", str(opt)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    prefix = tmp_path / "opt"
    r = subprocess.run([str(BIN), "partition", str(opt), "-o", str(prefix), "--budget", "0.5"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with open(FIXTURES / "index.json") as f:
        entries = json.load(f)["fixtures"]
    ints = next((e.get("int_inputs", {}) for e in entries if e["file"] == file), {})
    res = check_partition(opt, f"{prefix}.fw.json", f"{prefix}.bw.json", seed=0,
                          int_inputs=ints)
    assert res.ok, "\n".join(res.lines)


@pytest.mark.parametrize("file,budget", [("even_chain.joint.json", 0.3),
                                         ("even_chain.joint.json", 0.7),
                                         ("cheaper_matmul.joint.json", 0.5),
                                         ("attn_vs_linear_s1_d1.joint.json", 0.6)])
def test_memory_budget_fixtures_reproduce_joint(file, budget, tmp_path):
    """PyTorch's memory-budget test graphs (tests/fixtures/partition/): fw then bw, with the
    recomputed matmuls / attention, reproduce the joint graph exactly."""
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"fxsat binary not found at {BIN}", pytrace=False)
    path = FIXTURES / "partition" / file
    prefix = tmp_path / "p"
    report = tmp_path / "r.json"
    r = subprocess.run([str(BIN), "partition", str(path), "-o", str(prefix), "--budget",
                        str(budget), "--report", str(report)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with open(report) as f:
        rep = json.load(f)
    # PyTorch's limit: budget × (its budget-1 saved bytes, inputs included, − all input bytes)
    assert rep["budget_bytes"] == int(budget * rep["budget_scale_bytes"] * (1 + 1e-12))
    assert rep["activation_bytes"] <= rep["budget_bytes"]
    res = check_partition(path, f"{prefix}.fw.json", f"{prefix}.bw.json", seed=0, int_inputs={})
    assert res.ok, "\n".join(res.lines)
    assert res.num_saved == len(rep["saved"])
