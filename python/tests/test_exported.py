"""torch.export input: ``fxsat.from_exported_program(ep)`` gives an FX-JSON document that
loads and runs like the program, fxsat optimises it (attention fused), and ``fxsat optimize
model.pt2`` converts the file through ``python -m fxsat.exported`` (``$FXSAT_PYTHON``) to the
same bytes; without a Python that can convert it the error is one line, exit 2."""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

torch = pytest.importorskip("torch")

import fxsat  # noqa: E402
from fxsat.fxjson import dumps_fx_json  # noqa: E402
from fxsat.load import to_graph_module  # noqa: E402

BIN = Path(os.environ.get("FXSAT_BIN", ROOT / "target" / "release" / "fxsat"))
if not BIN.is_absolute():
    BIN = ROOT / BIN


class Attention(torch.nn.Module):
    """One attention block written out by hand (softmax(q k^T / sqrt(d)) v), a buffer, a
    0-d constant."""

    def __init__(self, d=16, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.register_buffer("shift", torch.linspace(0, 1, d))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / (d // self.heads) ** 0.5
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        return self.out(a) + self.shift * torch.tensor(0.5)


@pytest.fixture(scope="module")
def program():
    torch.manual_seed(0)
    m = Attention().eval()
    x = torch.randn(2, 8, 16)
    ep = torch.export.export(m, (x,))
    return m, x, ep


def _run(doc, ep, x):
    gm = to_graph_module(doc)
    # placeholders: parameters, buffers, then the user's input (the program's order); the
    # 0-d constant became an aten.full node
    specs = {s.arg.name: s for s in ep.graph_signature.input_specs}
    state = {**ep.state_dict, **ep.constants}
    phs = [n["name"] for n in doc["nodes"] if n["op"] == "placeholder"]
    assert len(phs) == len(specs) - 1
    return gm(*[x if specs[p].target is None else state[specs[p].target] for p in phs])


def test_from_exported_program(program):
    m, x, ep = program
    doc = fxsat.from_exported_program(ep, name="attention")
    assert doc["kind"] == "forward" and doc["name"] == "attention"
    targets = {n.get("target") for n in doc["nodes"]}
    # Inductor's decompositions ran: no composite linear / softmax left
    assert "aten.linear.default" not in targets and "aten._softmax.default" not in targets
    want = m(x)
    got = _run(doc, ep, x)
    got = got[0] if isinstance(got, (tuple, list)) else got
    torch.testing.assert_close(got, want)
    out, rep = fxsat.optimize(doc, cache=False)
    assert rep["attention"]["fused"] == 1, rep["attention"]
    res = _run(out, ep, x)
    res = res[0] if isinstance(res, (tuple, list)) else res
    torch.testing.assert_close(res, want, rtol=1e-4, atol=1e-5)


def test_cli_reads_pt2(program, tmp_path):
    _m, _x, ep = program
    pt2 = tmp_path / "attention.pt2"
    torch.export.save(ep, str(pt2))
    env = {**os.environ, "FXSAT_PYTHON": str(Path(os.sys.executable))}
    r = subprocess.run([str(BIN), "optimize", str(pt2), "-o", str(tmp_path / "o.json")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    doc = fxsat.from_exported_program(torch.export.load(str(pt2)), name="attention")
    want, _ = fxsat.optimize(doc, cache=False)
    assert (tmp_path / "o.json").read_text() == dumps_fx_json(want)

    # no interpreter: one line, exit 2, naming the file and FXSAT_PYTHON
    env["FXSAT_PYTHON"] = str(tmp_path / "no-python")
    r = subprocess.run([str(BIN), "optimize", str(pt2), "-o", str(tmp_path / "o2.json")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and str(pt2) in r.stderr and "FXSAT_PYTHON" in r.stderr
    assert not (tmp_path / "o2.json").exists()

    # not a program: the converter's one line
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip")
    env["FXSAT_PYTHON"] = str(Path(os.sys.executable))
    r = subprocess.run([str(BIN), "optimize", str(bad), "-o", str(tmp_path / "o3.json")],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "not a torch.export program" in r.stderr, r.stderr
