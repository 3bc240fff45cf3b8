"""fxsat.compare: identical graphs pass, a perturbed constant fails, bad input exits 2."""

import json
import os
import subprocess
import sys

from conftest import FIXTURES, PYDIR
from fxsat.compare import compare
from fxsat.fxjson import read_fx_json, write_fx_json

SRC = FIXTURES / "attn_mul_scale.forward.json"


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(PYDIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "fxsat.compare", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def _perturbed(tmp_path, target="aten.mul.Tensor", old=0.25, new=0.26):
    doc = read_fx_json(SRC)
    hits = 0
    for n in doc["nodes"]:
        if n.get("target") == target and n["args"][1] == old:
            n["args"][1] = new
            hits += 1
    assert hits == 1
    path = tmp_path / "perturbed.json"
    write_fx_json(doc, path)
    return path


def test_same_graph_is_close():
    r = _cli(SRC, SRC, "--int-inputs", FIXTURES / "index.json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "max_abs_err=0" in r.stdout
    assert compare(SRC, SRC)


def test_perturbed_constant_is_detected(tmp_path):
    bad = _perturbed(tmp_path)
    r = _cli(SRC, bad, "--seed", 1)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "MISMATCH" in r.stdout
    assert not compare(SRC, bad)
    # a loose enough tolerance accepts it
    assert compare(SRC, bad, atol=10.0, rtol=10.0)


def test_joint_none_outputs(tmp_path):
    src = FIXTURES / "attn_div_mask.joint.json"
    assert compare(src, src, int_inputs=FIXTURES / "index.json")
    doc = read_fx_json(src)
    outs = doc["nodes"][-1]["args"][0]
    i = outs.index(None)
    outs[i] = outs[0]  # a tensor where None was
    write_fx_json(doc, tmp_path / "x.json")
    r = _cli(src, tmp_path / "x.json")
    assert r.returncode == 1, r.stdout + r.stderr


def test_bad_input_exits_2(tmp_path):
    other = FIXTURES / "attn_bshd.forward.json"  # different placeholder metas
    r = _cli(SRC, other)
    assert r.returncode == 2, r.stdout + r.stderr
    (tmp_path / "junk.json").write_text(json.dumps({"format": "nope"}))
    assert _cli(SRC, tmp_path / "junk.json").returncode == 2
    assert _cli(SRC, tmp_path / "missing.json").returncode == 2
    assert _cli(SRC).returncode == 2
