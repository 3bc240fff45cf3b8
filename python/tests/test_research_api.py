"""The research tools in-process (docs/research.md, "From Python"): the extractor choice of
``fxsat.optimize``, ``fxsat.dump_egraph`` and ``fxsat.rules_report`` give what the command line
gives for the same input and options (``fxsat optimize --extractor/--dump-egraph``, ``fxsat
rules-report --json``). The binary is ``$FXSAT_BIN`` or ``target/release/fxsat``."""

import gzip
import json
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

ATTENTION = FIXTURES / "example_attention.forward.json"
# cut into 4 regions (docs/scale.md), each optimised: 4 e-graphs
CUT = FIXTURES / "scale" / "llama32.forward.json.gz"
# two small graphs for the rules report
CORPUS = [FIXTURES / "example_attention.forward.json", FIXTURES / "attn_div.forward.json"]


def load(p):
    return json.loads(Path(p).read_text())


# --------------------------------------------------------------------------- extractors


@pytest.mark.parametrize("extractor", ["greedy", "exact"])
def test_extractor_is_the_clis(extractor, tmp_path):
    cli("optimize", ATTENTION, "-o", tmp_path / "out.json", "--report", tmp_path / "r.json",
        "--extractor", extractor, "--no-cache")
    doc, rep = fxsat.optimize(ATTENTION, extractor=extractor, cache=False)
    assert dumps_fx_json(doc) == (tmp_path / "out.json").read_text()
    want = load(tmp_path / "r.json")
    assert rep["options"]["extractor"] == want["options"]["extractor"] == extractor
    assert rep["cost"]["after"] == want["cost"]["after"]
    if extractor == "exact":
        # the exact section: proven on this small e-graph, never worse than the DAG result
        ex = rep["exact"]
        assert ex["problems"] == 1 and ex["proven"] == 1
        assert ex["best_cost"] <= ex["dag_cost"]
        assert ex["gap"] == pytest.approx(0.0, abs=1e-9)
        assert ex["best_cost"] == want["exact"]["best_cost"]
    else:
        assert "exact" not in rep


def test_default_extractor_is_dag_and_unchanged(tmp_path):
    cli("optimize", ATTENTION, "-o", tmp_path / "out.json", "--no-cache")
    doc, rep = fxsat.optimize(ATTENTION, cache=False)
    assert dumps_fx_json(doc) == (tmp_path / "out.json").read_text()
    # the default adds nothing to the report (as the command line's)
    assert rep["options"].get("extractor", "dag") == "dag"
    assert "exact" not in rep
    # greedy is never cheaper than the DAG extractor (local search starts from it)
    _, greedy = fxsat.optimize(ATTENTION, extractor="greedy", cache=False)
    assert rep["cost"]["after"] <= greedy["cost"]["after"]


def test_extractor_bad_values_raise():
    with pytest.raises(fxsat.FxsatError, match="extractor: expected one of greedy, dag, exact"):
        fxsat.optimize(ATTENTION, extractor="ilp", cache=False)
    with pytest.raises(fxsat.FxsatError, match="extract_time_limit must be a positive"):
        fxsat.optimize(ATTENTION, extractor="exact", extract_time_limit=0, cache=False)
    with pytest.raises(fxsat.FxsatError, match="extract_time_limit: expected a number"):
        fxsat.optimize(ATTENTION, extractor="exact", extract_time_limit="soon", cache=False)


def test_exact_result_is_cached_apart_from_dag(tmp_path):
    _, dag = fxsat.optimize(ATTENTION, cache_dir=tmp_path)
    _, exact = fxsat.optimize(ATTENTION, extractor="exact", cache_dir=tmp_path)
    assert not exact["cache"]["hit"] and exact["cache"]["key"] != dag["cache"]["key"]
    _, again = fxsat.optimize(ATTENTION, extractor="exact", cache_dir=tmp_path)
    assert again["cache"]["hit"] and again["exact"] == exact["exact"]


# --------------------------------------------------------------------------- e-graph dump


def test_dump_egraph_is_the_clis_file(tmp_path):
    cli("optimize", ATTENTION, "-o", tmp_path / "out.json", "--dump-egraph", tmp_path / "eg.json",
        "--no-cache")
    dumps = fxsat.dump_egraph(load(ATTENTION))
    assert len(dumps) == 1
    assert dumps[0] == load(tmp_path / "eg.json")
    eg = dumps[0]
    assert set(eg) >= {"nodes", "root_eclasses", "class_data"}
    # the schema: every child an existing node, every root a class with class data
    classes = {n["eclass"] for n in eg["nodes"].values()}
    for node in eg["nodes"].values():
        assert all(c in eg["nodes"] for c in node["children"])
        assert node["cost"] >= 0
    assert set(eg["root_eclasses"]) <= classes and classes <= set(eg["class_data"])
    # the fused attention is in the output's class, next to the unfused matmul
    root_ops = {n["op"] for n in eg["nodes"].values() if n["eclass"] in eg["root_eclasses"]}
    assert "scaled_dot_product_attention" in root_ops and "matmul" in root_ops


def test_dump_egraph_of_a_cut_graph_gives_one_per_region(tmp_path):
    cli("optimize", CUT, "-o", tmp_path / "out.json", "--dump-egraph", tmp_path / "eg.json",
        "--no-cache")
    files = sorted(tmp_path.glob("eg.*.json"), key=lambda p: int(p.name.split(".")[1]))
    assert len(files) > 1 and not (tmp_path / "eg.json").exists()
    dumps = fxsat.dump_egraph(CUT)  # a gzipped path, read as the command line reads it
    assert len(dumps) == len(files)
    for d, f in zip(dumps, files):
        assert d == load(f)
    # the same from the document (text), and deterministic
    with gzip.open(CUT, "rt") as f:
        assert fxsat.dump_egraph(f.read()) == dumps


def test_dump_egraph_target_changes_costs():
    cpu = fxsat.dump_egraph(ATTENTION)[0]
    cuda = fxsat.dump_egraph(ATTENTION, target="cuda")[0]
    cost = lambda eg: sorted(n["cost"] for n in eg["nodes"].values() if n["cost"] > 0)  # noqa
    assert cost(cpu) != cost(cuda)


def test_dump_egraph_bad_input_names_the_field():
    with pytest.raises(fxsat.FxsatError, match="target"):
        fxsat.dump_egraph(ATTENTION, target="tpu")
    with pytest.raises(fxsat.FxsatError, match="no-such-assumption"):
        fxsat.dump_egraph(ATTENTION, assume=["no-such-assumption"])
    with pytest.raises(fxsat.FxsatError, match="missing.json"):
        fxsat.dump_egraph(FIXTURES / "missing.json")


# --------------------------------------------------------------------------- rules report


def cli_rules_report(tmp_path, *args):
    out = tmp_path / "rules.json"
    r = cli("rules-report", *args, "--json", out)
    return load(out), r


@pytest.mark.parametrize("target", ["cpu", "cuda"])
def test_rules_report_is_the_clis(target, tmp_path):
    want, r = cli_rules_report(tmp_path, *CORPUS, "--target", target)
    lines = []
    got = fxsat.rules_report(CORPUS, target=target, progress=lines.append)
    assert got == want  # the report has no timings: equal as a whole
    assert got["format"] == "fxsat-rules-report" and got["options"]["target"] == target
    assert got["graphs"] == [str(p) for p in CORPUS]
    # the progress lines are what the command line prints on stderr
    assert lines == r.stderr.splitlines()
    fired = [f for f in got["rules"] if f["applications"] > 0]
    assert len(lines) == len(CORPUS) + sum(f["graphs_fired"] for f in fired)
    assert any(f["cost_change"] > 0 for f in fired)
    assert got["never_fired"] and all(
        f["applications"] == 0 for f in got["rules"] if f["name"] in got["never_fired"])


def test_rules_report_of_a_directory_and_of_documents(tmp_path):
    d = FIXTURES / "index"
    want, _ = cli_rules_report(tmp_path, d)
    got = fxsat.rules_report(d)  # one path: a corpus of one directory
    assert got == want and len(got["graphs"]) > 1
    # the same graphs as documents: named by their documents' names, the same figures
    docs = [load(p) for p in want["graphs"]]
    by_doc = fxsat.rules_report(docs)
    assert by_doc["graphs"] == [doc["name"] for doc in docs]
    assert {k: v for k, v in by_doc.items() if k != "graphs"} == \
        {k: v for k, v in want.items() if k != "graphs"}


def test_rules_report_with_a_rules_directory(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "one.rules").write_text(
        (ROOT / "rules" / "views.rules").read_text())
    want, _ = cli_rules_report(tmp_path, CORPUS[0], "--rules", rules)
    got = fxsat.rules_report([CORPUS[0]], rules=rules)
    assert got == want
    assert got["options"]["rules"] == str(rules)
    assert len(got["rules"]) < len(fxsat.rules_report([CORPUS[0]])["rules"])


def test_rules_report_progress_can_stop_it():
    class Stop(Exception):
        pass

    seen = []

    def progress(line):
        seen.append(line)
        if len(seen) == 2:
            raise Stop(line)

    with pytest.raises(Stop):
        fxsat.rules_report(CORPUS, progress=progress)
    assert len(seen) == 2


def test_rules_report_bad_input():
    with pytest.raises(fxsat.FxsatError, match="no-such-assumption"):
        fxsat.rules_report(CORPUS, assume=["no-such-assumption"])
    with pytest.raises(fxsat.FxsatError, match="missing.json"):
        fxsat.rules_report([FIXTURES / "missing.json"])
    with pytest.raises(fxsat.FxsatError, match="<graph 0>"):
        fxsat.rules_report(['{"format": "fx-json", "version": 1, "nodes": 3}'])
    with pytest.raises(fxsat.FxsatError, match="at least one graph"):
        fxsat.rules_report([])
    with pytest.raises(fxsat.FxsatError, match="progress: expected a callable"):
        fxsat.rules_report(CORPUS, progress=3)


def test_graph_module_input():
    pytest.importorskip("torch")
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    from fxsat.load import random_inputs, to_graph_module

    doc = load(ATTENTION)
    gm = to_graph_module(doc)
    if not all("val" in n.meta for n in gm.graph.nodes if n.op != "output"):
        FakeTensorProp(gm, FakeTensorMode()).propagate(*random_inputs(doc))
    [eg] = fxsat.dump_egraph(gm)
    assert any(n["op"] == "scaled_dot_product_attention" for n in eg["nodes"].values())
    rep = fxsat.rules_report(gm)
    assert len(rep["graphs"]) == 1 and not rep["failed"]
    assert any(f["name"].startswith("sdpa") and f["applications"] > 0 for f in rep["rules"])
