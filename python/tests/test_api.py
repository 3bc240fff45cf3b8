"""The installed package's in-process API (``pip install .``, ``make install``): the same bytes
as the command line for the same input and options, the command line's error messages as
``fxsat.FxsatError``, GraphModule input, the GIL released while it works, and an import that
stays cheap. The binary is ``$FXSAT_BIN`` or ``target/release/fxsat``."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_cli as cli

import fxsat
from fxsat.fxjson import dumps_fx_json


try:
    from fxsat import _native
except ImportError:  # pragma: no cover
    pytest.fail("fxsat's native extension is not installed: run `make install` "
                "(pip install . into the venv)", pytrace=False)

FORWARD = ["gpt2.forward.json", "example_attention.forward.json", "llama.forward.json"]
JOINT = ["gpt2.joint.json", "bert.joint.json"]


def read(p):
    return Path(p).read_text()


@pytest.mark.parametrize("name", FORWARD + JOINT)
def test_optimize_is_the_clis_bytes(name, tmp_path):
    src = FIXTURES / name
    cli("optimize", src, "-o", tmp_path / "out.json")
    want = read(tmp_path / "out.json")
    # the native call: exactly the CLI's bytes
    text, report = _native.optimize(read(src), "{}")
    assert text == want
    # the API: a dict whose canonical serialisation is those bytes
    doc, rep = fxsat.optimize(json.loads(read(src)), cache=False)
    assert dumps_fx_json(doc) == want
    assert rep["format"] == "fxsat-optimize-report"
    assert rep["nodes"]["after"] == sum(1 for n in doc["nodes"] if n["op"] != "output")
    assert rep["cache"] == {"enabled": False, "hits": 0, "misses": 0}
    # text and path inputs too
    assert fxsat.optimize(read(src), cache=False)[0] == doc
    assert fxsat.optimize(src, cache=False)[0] == doc


def test_options_reach_the_optimizer(tmp_path):
    src = FIXTURES / "gpt2.joint.json"
    cli("optimize", src, "-o", tmp_path / "a.json", "--target", "cuda",
        "--assume", "no-fully-masked-rows")
    doc, rep = fxsat.optimize(src, target="cuda", assume=["no-fully-masked-rows"], cache=False)
    assert dumps_fx_json(doc) == read(tmp_path / "a.json")
    assert rep["options"]["target"] == "cuda" and rep["options"]["device"] == "h100"
    assert rep["options"]["assume"] == ["no-fully-masked-rows"]
    # the cuda result is not the cpu one (other kernels)
    assert doc != fxsat.optimize(src, cache=False)[0]


@pytest.mark.parametrize("budget", [1.0, 0.3])
def test_partition_is_the_clis_bytes(budget, tmp_path):
    src = FIXTURES / "gpt2.joint.json"
    cli("partition", src, "-o", tmp_path / "p", "--budget", budget)
    fw, bw, rep = fxsat.partition(json.loads(read(src)), budget=budget)
    assert dumps_fx_json(fw) == read(tmp_path / "p.fw.json")
    assert dumps_fx_json(bw) == read(tmp_path / "p.bw.json")
    assert rep["format"] == "fxsat-partition-report" and rep["budget"] == budget


def test_optimize_and_partition_is_optimize_then_partition(tmp_path):
    src = FIXTURES / "gpt2.joint.json"
    cli("optimize", src, "-o", tmp_path / "o.json")
    cli("partition", tmp_path / "o.json", "-o", tmp_path / "p", "--budget", "0.5")
    fw, bw, rep = fxsat.optimize_and_partition(src, budget=0.5, cache=False)
    assert dumps_fx_json(fw) == read(tmp_path / "p.fw.json")
    assert dumps_fx_json(bw) == read(tmp_path / "p.bw.json")
    assert rep["format"] == "fxsat-train-report"
    assert rep["optimize"]["attention"]["fused"] >= 1
    assert rep["partition"]["budget"] == 0.5


def test_bad_input_is_fxsat_error_with_the_clis_message(tmp_path):
    bad = tmp_path / "bad.json"
    doc = json.loads(read(FIXTURES / "example_attention.forward.json"))
    doc["nodes"][3]["args"] = [{"node": "nowhere"}]
    bad.write_text(json.dumps(doc))
    r = cli("optimize", bad, "-o", tmp_path / "o.json", check=False)
    assert r.returncode == 2
    line = r.stderr.strip().removeprefix("fxsat: error: ")
    with pytest.raises(fxsat.FxsatError) as e:
        fxsat.optimize(bad, cache=False)
    assert str(e.value) == line
    assert "nowhere" in line and "\n" not in line
    assert isinstance(e.value, ValueError)
    # a dict: the same message with <input> for the file
    with pytest.raises(fxsat.FxsatError) as e:
        fxsat.optimize(doc, cache=False)
    assert str(e.value) == line.replace(str(bad), "<input>")
    # options out of range, unknown assumptions, partition of a forward graph
    doc = json.loads(read(FIXTURES / "example_attention.forward.json"))
    for call, part in [
        (lambda: fxsat.optimize(doc, time_limit=-1, cache=False), "--time-limit"),
        (lambda: fxsat.optimize(doc, assume=["nonsense"], cache=False), "--assume nonsense"),
        (lambda: fxsat.optimize(doc, target="tpu", cache=False), "target"),
        (lambda: fxsat.partition(doc), "joint"),
        (lambda: fxsat.partition(FIXTURES / "gpt2.joint.json", budget=2), "--budget"),
        (lambda: fxsat.optimize(doc, rules=tmp_path / "none", cache=False), "none"),
        (lambda: fxsat.optimize(42), "expected an FX-JSON document"),
    ]:
        with pytest.raises(fxsat.FxsatError) as e:
            call()
        assert part in str(e.value), str(e.value)


def test_internal_errors_are_runtime_errors():
    assert issubclass(fxsat.FxsatInternalError, RuntimeError)
    assert not issubclass(fxsat.FxsatInternalError, ValueError)
    # a panic in the Rust code is caught at the boundary
    with pytest.raises(fxsat.FxsatInternalError, match="internal error: a panic raised on purpose"):
        _native._panic_for_tests()
    # and the module still works afterwards
    assert fxsat.version()


def test_rules_hash_and_extra_rules(tmp_path):
    h = fxsat.rules_hash()
    assert len(h) == 64 and h == fxsat.rules_hash()
    assert fxsat.rules_hash(rules=ROOT / "rules") != h  # file names differ from compiled-in
    extra = tmp_path / "extra.rules"
    rule = ("(rule extra-permute-of-scaled (permute (mul ?x ?s) ?p) (mul (permute ?x ?p) ?s)"
            " :if (scalar ?s) (tensor ?x))\n")
    extra.write_text(";; scale.rules' permute-of-scaled, again\n" + rule)
    h2 = fxsat.rules_hash(extra_rules=[extra])
    assert h2 != h
    # the extra rule is loaded (a bad one is an error naming the file)
    bad = tmp_path / "bad.rules"
    bad.write_text("(rule broken\n")
    with pytest.raises(fxsat.FxsatError, match="bad.rules"):
        fxsat.optimize(FIXTURES / "gpt2.forward.json", extra_rules=[bad], cache=False)
    with pytest.raises(fxsat.FxsatError, match="missing.rules"):
        fxsat.rules_hash(extra_rules=[tmp_path / "missing.rules"])
    # a good extra rule loads, and is reported
    doc, rep = fxsat.optimize(FIXTURES / "gpt2.forward.json", extra_rules=[extra], cache=False)
    assert rep["options"]["rules"].endswith("extra.rules"), rep["options"]["rules"]
    # a name already defined is an error naming both places
    dup = tmp_path / "dup.rules"
    dup.write_text(rule)
    with pytest.raises(fxsat.FxsatError, match="already defined"):
        fxsat.optimize(FIXTURES / "gpt2.forward.json", extra_rules=[extra, dup], cache=False)


def test_check_rules():
    r = fxsat.check_rules(instances=2, seed=7)
    assert r["count"] == len(r["rules"]) > 50
    assert r["failed"] == 0, [x["line"] for x in r["rules"] if not x["ok"]]
    assert r["cases"] == 2 and r["seed"] == 7
    assert all(x["cases"] <= 2 for x in r["rules"])


def test_version():
    v = fxsat.version()
    base, _, build = v.partition("+")
    assert base.count(".") == 2 and len(build) == 12, v
    assert cli("--version").stdout.split()[-1] == base


def test_graph_module_input():
    torch = pytest.importorskip("torch")
    from fxsat.export import capture
    from fxsat.load import to_graph_module

    doc = json.loads(read(FIXTURES / "example_attention.forward.json"))
    gm = to_graph_module(doc)
    # load leaves meta["val"] on nodes? if not, propagate fake tensors
    if not all("val" in n.meta for n in gm.graph.nodes if n.op != "output"):
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.passes.fake_tensor_prop import FakeTensorProp
        from fxsat.load import random_inputs
        FakeTensorProp(gm, FakeTensorMode()).propagate(*random_inputs(doc))
    out, rep = fxsat.optimize(gm, cache=False)
    assert rep["attention"]["fused"] >= 1
    # a joint GraphModule from a capture: kind and num_fwd_outputs inferred
    q = torch.randn(2, 4, 8, 16, requires_grad=True)

    def attn(q):
        s = (q @ q.transpose(-1, -2)) * 0.25
        return (s.softmax(-1) @ q).sum()

    joint_doc = capture(attn, (q,), mode="joint", name="j")[0]
    jgm = to_graph_module(joint_doc)
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp
    from fxsat.load import random_inputs
    FakeTensorProp(jgm, FakeTensorMode(allow_non_fake_inputs=True)).propagate(
        *random_inputs(joint_doc))
    fw, bw, rep = fxsat.optimize_and_partition(jgm, cache=False)
    assert rep["optimize"]["nodes"]["before"] == len(joint_doc["nodes"]) - 1
    assert fw["kind"] == "fw" and bw["kind"] == "bw"


def test_gil_is_released():
    """A Python thread keeps running while another thread optimises: with the GIL held it
    could not run at all during the call."""
    import gzip

    with gzip.open(FIXTURES / "scale" / "llama4.joint.json.gz", "rt") as f:
        text = f.read()
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    t0 = time.perf_counter()
    _native.optimize(text, "{}")
    t1 = time.perf_counter()
    stop.set()
    t.join()
    during = [x for x in ticks if t0 <= x <= t1]
    # ~1 tick per ms when the ticker gets a core; a tenth of that allows for a busy machine
    assert len(during) >= max(3, 0.1 * (t1 - t0) / 0.001), (len(during), t1 - t0)


def test_installed_package_stands_alone(tmp_path):
    """The installed package, not the checkout: isolated mode from another directory."""
    code = (
        "import sys, json, importlib.metadata as md\n"
        "import fxsat\n"
        "assert 'torch' not in sys.modules, 'import fxsat imported torch'\n"
        "assert 'site-packages' in fxsat.__file__ or 'dist-packages' in fxsat.__file__, fxsat.__file__\n"
        "eps = [e for e in md.entry_points(group='torch_dynamo_backends') if e.name == 'fxsat']\n"
        "assert eps and eps[0].value == 'fxsat.dynamo:fxsat_backend', eps\n"
        f"doc, rep = fxsat.optimize(json.load(open({str(FIXTURES / 'gpt2.forward.json')!r})), cache=False)\n"
        "assert 'torch' not in sys.modules\n"
        "print(rep['attention']['fused'], fxsat.version())\n"
    )
    r = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "2"
