"""The result cache through the installed package: a second process asking the same thing gets
a hit (saturation skipped) and the same bytes; several processes filling one key at once
leave one whole entry; a corrupt entry is ignored, logged and replaced; options are part of
the key; ``cache=False`` touches nothing."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES

import fxsat

GRAPH = FIXTURES / "gpt2.joint.json"

# one process: optimize GRAPH with the cache in argv[1]; prints the output's bytes' hash and
# the report's cache section
CHILD = r"""
import hashlib, json, sys, time
from pathlib import Path
import fxsat
t0 = time.perf_counter()
if sys.argv[3] == "train":
    fw, bw, rep = fxsat.optimize_and_partition(Path(sys.argv[2]), budget=0.5, cache_dir=sys.argv[1])
    text = fxsat.dumps_fx_json(fw) + fxsat.dumps_fx_json(bw)
else:
    doc, rep = fxsat.optimize(Path(sys.argv[2]), cache_dir=sys.argv[1])
    text = fxsat.dumps_fx_json(doc)
print(json.dumps({"sha": hashlib.sha256(text.encode()).hexdigest(), "cache": rep["cache"],
                  "seconds": time.perf_counter() - t0}))
"""


def child(cache_dir, mode="optimize", graph=GRAPH):
    return subprocess.Popen([sys.executable, "-I", "-c", CHILD, str(cache_dir), str(graph), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(p):
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return json.loads(out)


@pytest.mark.parametrize("mode", ["optimize", "train"])
def test_second_process_hits_with_the_same_bytes(tmp_path, mode):
    first = result(child(tmp_path, mode))
    assert first["cache"]["hit"] is False and first["cache"]["misses"] == 1
    second = result(child(tmp_path, mode))
    assert second["cache"]["hit"] is True and second["cache"]["hits"] == 1
    assert second["cache"]["key"] == first["cache"]["key"]
    assert second["sha"] == first["sha"]
    assert fxsat.cache_stats(tmp_path)["entries"] == 1


def test_hit_returns_the_stored_report_and_skips_saturation(tmp_path):
    doc, rep = fxsat.optimize(GRAPH, cache_dir=tmp_path)
    doc2, rep2 = fxsat.optimize(GRAPH, cache_dir=tmp_path)
    assert doc2 == doc
    assert rep2["cache"]["hit"] and not rep["cache"]["hit"]
    # the stored report is the run's (same e-graph figures), the lookup is what it cost
    assert rep2["egraph"] == rep["egraph"] and rep2["nodes"] == rep["nodes"]
    assert rep2["cache"]["seconds"] < rep["seconds"]["total"]


def test_many_processes_one_key(tmp_path):
    procs = [child(tmp_path) for _ in range(4)]
    outs = [result(p) for p in procs]
    assert len({o["sha"] for o in outs}) == 1
    assert len({o["cache"]["key"] for o in outs}) == 1
    stats = fxsat.cache_stats(tmp_path)
    assert stats["entries"] == 1
    leftovers = [p for p in Path(tmp_path).rglob("*") if p.is_file() and "fxsat-tmp" in p.name]
    assert leftovers == []
    # and it is whole: the next process hits
    assert result(child(tmp_path))["cache"]["hit"] is True


def test_corrupt_entry_is_ignored_logged_and_replaced(tmp_path, caplog):
    doc, rep = fxsat.optimize(GRAPH, cache_dir=tmp_path)
    key = rep["cache"]["key"]
    entry = Path(tmp_path) / key[:2] / f"{key}.json"
    assert entry.is_file()
    full = entry.read_text()
    for bad in [full[: len(full) // 2], "", "{\"format\": \"fxsat-cache-entry\"}",
                full.replace(key, "0" * 64)]:
        entry.write_text(bad)
        with caplog.at_level(logging.WARNING, logger="fxsat"):
            caplog.clear()
            doc2, rep2 = fxsat.optimize(GRAPH, cache_dir=tmp_path)
        assert rep2["cache"]["hit"] is False
        assert doc2 == doc
        assert any("corrupt entry ignored" in r.getMessage() for r in caplog.records), caplog.text
        # replaced by a whole entry
        assert fxsat.optimize(GRAPH, cache_dir=tmp_path)[1]["cache"]["hit"] is True


def test_options_rules_and_graph_are_in_the_key(tmp_path):
    keys = set()
    for kw in [{}, {"target": "cuda"}, {"assume": ["no-fully-masked-rows"]},
               {"time_limit": 20}, {"extra_rules": [FIXTURES.parent.parent / "rules" / "pad.rules"]}]:
        try:
            _, rep = fxsat.optimize(GRAPH, cache_dir=tmp_path, **kw)
        except fxsat.FxsatError as e:  # pad.rules twice: duplicate names
            assert "already defined" in str(e)
            continue
        assert rep["cache"]["hit"] is False, kw
        keys.add(rep["cache"]["key"])
    _, rep = fxsat.optimize(FIXTURES / "bert.joint.json", cache_dir=tmp_path)
    keys.add(rep["cache"]["key"])
    assert len(keys) == 5


def test_no_cache_and_env_dir(tmp_path, monkeypatch):
    fxsat.optimize(GRAPH, cache_dir=tmp_path, cache=False)
    assert fxsat.cache_stats(tmp_path)["entries"] == 0
    monkeypatch.setenv("FXSAT_CACHE_DIR", str(tmp_path / "env"))
    _, rep = fxsat.optimize(GRAPH)
    assert rep["cache"]["dir"] == str(tmp_path / "env")
    assert fxsat.cache_stats()["entries"] == 1
    assert fxsat.cache_clear() == 1
    assert fxsat.cache_stats()["entries"] == 0
