"""The backend's load-back cache (fxsat.loadcache): a warm compile (a second process, or one
after ``torch._dynamo.reset()``) skips the optimizer call and the fake-value propagation of
the pre-pass's result, and gives bit-identical outputs and gradients to the cold one.

    cd python && FXSAT_BIN=../target/release/fxsat $PY -m pytest -q tests/test_backend_cache.py
"""

from __future__ import annotations

import copy
import glob
import json
import os
import warnings

import pytest
import torch

import fxsat
from fxsat import dynamo, loadcache

transformers = pytest.importorskip("transformers")


@pytest.fixture(autouse=True)
def _no_graph_caches():
    """Inductor's FX-graph and AOTAutograd caches would serve the warm compile without
    calling fxsat at all (their keys include fxsat's uuid)."""
    import torch._functorch.config as fcfg
    import torch._inductor.config as icfg

    with icfg.patch(fx_graph_cache=False), fcfg.patch(enable_autograd_cache=False):
        yield


def _llama():
    cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=128,
                                   max_position_embeddings=32, attention_dropout=0.0,
                                   use_cache=False, bos_token_id=0, eos_token_id=0,
                                   pad_token_id=None, attn_implementation="eager")
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg)


BASE = _llama()
IDS = torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(1))


class Counts:
    """Counts the optimizer calls and the propagations of the pre-pass."""

    def __init__(self, monkeypatch):
        self.optimize = self.propagate = 0
        from fxsat import api

        opt, prop = api.optimize, dynamo.propagate

        def optimize(*a, **k):
            self.optimize += 1
            return opt(*a, **k)

        def propagate(*a, **k):
            self.propagate += 1
            return prop(*a, **k)

        monkeypatch.setattr(api, "optimize", optimize)
        monkeypatch.setattr(dynamo, "propagate", propagate)


def _step(cache_dir):
    """One compiled training step of a fresh copy of the model: loss, gradients, backend."""
    torch._dynamo.reset()
    model = copy.deepcopy(BASE)
    be = fxsat.backend(cache_dir=str(cache_dir), fallback="raise")
    loss = torch.compile(model, backend=be, dynamic=False)(input_ids=IDS, labels=IDS).loss
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    return loss.detach(), grads, be


def _entries(cache_dir):
    out = []
    for p in sorted(glob.glob(os.path.join(str(cache_dir), "??", "*.json"))):
        with open(p) as fh:
            if json.load(fh).get("format") == loadcache.FORMAT:
                out.append(p)
    return out


def _same(a, b):
    (la, ga, _), (lb, gb, _) = a, b
    assert torch.equal(la, lb), (la, lb)
    assert ga.keys() == gb.keys()
    for k in ga:
        assert torch.equal(ga[k], gb[k]), k


def test_warm_compile_skips_the_work_bit_identical(tmp_path, monkeypatch):
    counts = Counts(monkeypatch)
    cold = _step(tmp_path)
    be = cold[2]
    assert be.stats.optimized >= 1 and be.stats.loadback_hits == 0, be.stats
    assert counts.optimize == be.stats.optimized and counts.propagate == be.stats.optimized
    assert len(_entries(tmp_path)) == be.stats.optimized
    assert sum(r.get("loadback_cache") == {"hit": False} for r in be.stats.reports) \
        == be.stats.optimized

    counts.optimize = counts.propagate = 0
    warm = _step(tmp_path)
    wb = warm[2]
    assert wb.stats.optimized == be.stats.optimized
    assert wb.stats.loadback_hits == wb.stats.optimized, wb.stats
    assert counts.optimize == 0 and counts.propagate == 0, (counts.optimize, counts.propagate)
    assert wb.stats.nodes_run == 0
    assert sum(r.get("loadback_cache") == {"hit": True} for r in wb.stats.reports) \
        == wb.stats.optimized
    assert wb.stats.fused == be.stats.fused and wb.stats.fused >= 1
    _same(cold, warm)

    # without the cache (the variable turns it off): the same numbers again
    monkeypatch.setenv("FXSAT_BACKEND_NO_LOADBACK_CACHE", "1")
    counts.optimize = 0
    off = _step(tmp_path)
    assert off[2].stats.loadback_hits == 0 and counts.optimize == off[2].stats.optimized
    _same(cold, off)


def test_corrupt_entry_is_a_miss_with_a_warning(tmp_path, monkeypatch):
    cold = _step(tmp_path)
    paths = _entries(tmp_path)
    assert paths
    for p in paths:
        with open(p, "w") as fh:
            fh.write('{"format": "fxsat-backend-loadback", "vers')  # cut short
    counts = Counts(monkeypatch)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        again = _step(tmp_path)
    msgs = [str(x.message) for x in w if issubclass(x.category, loadcache.LoadCacheWarning)]
    assert len(msgs) == len(paths) and all("corrupt entry" in m for m in msgs), msgs
    assert again[2].stats.loadback_hits == 0 and counts.propagate == again[2].stats.optimized
    _same(cold, again)
    # the entries were written again, whole
    assert _entries(tmp_path) == paths
    assert _step(tmp_path)[2].stats.loadback_hits == len(paths)


@pytest.mark.parametrize("what", ["recipe", "out"])
def test_entry_that_does_not_fit_is_a_miss_with_a_warning(tmp_path, monkeypatch, what):
    """A well-formed entry whose recipe or result does not fit the graph (never written so:
    edited by hand) is a miss: one warning, the graph optimized again, the same numbers."""
    cold = _step(tmp_path)
    for p in _entries(tmp_path):
        with open(p) as fh:
            e = json.load(fh)
        if what == "out":  # the result without its last node and its output
            e["out"]["nodes"] = e["out"]["nodes"][:-2]
        else:  # one value fewer than the result has nodes
            e["recipe"] = e["recipe"][:-1]
        with open(p, "w") as fh:
            json.dump(e, fh)
    counts = Counts(monkeypatch)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        again = _step(tmp_path)
    msgs = [str(x.message) for x in w if issubclass(x.category, loadcache.LoadCacheWarning)]
    assert msgs and all("does not fit" in m for m in msgs), msgs
    assert again[2].stats.loadback_hits == 0 and not again[2].stats.fallbacks
    assert counts.optimize == again[2].stats.optimized
    _same(cold, again)


def test_keys_cover_graph_options_versions(monkeypatch):
    doc = {"nodes": [{"name": "x", "op": "placeholder"}]}
    k = loadcache.key("pre-pass", "v1", "rules", "src", {"target": "cpu"}, doc, [])
    assert len(k) == 64 and k == loadcache.key("pre-pass", "v1", "rules", "src",
                                               {"target": "cpu"}, doc, [])
    others = [
        loadcache.key("pre-pass", "v2", "rules", "src", {"target": "cpu"}, doc, []),
        loadcache.key("pre-pass", "v1", "rules2", "src", {"target": "cpu"}, doc, []),
        loadcache.key("pre-pass", "v1", "rules", "src2", {"target": "cpu"}, doc, []),
        loadcache.key("pre-pass", "v1", "rules", "src", {"target": "cuda"}, doc, []),
        loadcache.key("pre-pass", "v1", "rules", "src", {"target": "cpu"},
                      {"nodes": [{"name": "y", "op": "placeholder"}]}, []),
        loadcache.key("pre-pass", "v1", "rules", "src", {"target": "cpu"}, doc, [["x", 1, 0]]),
    ]
    monkeypatch.setattr(torch, "__version__", torch.__version__ + ".other")
    others.append(loadcache.key("pre-pass", "v1", "rules", "src", {"target": "cpu"}, doc, []))
    assert len(set(others + [k])) == len(others) + 1


def test_entry_of_another_key_is_a_miss(tmp_path):
    k1, k2 = "a" * 64, "b" * 64
    loadcache.store(str(tmp_path), k1, {"nodes": []}, {}, [])
    assert loadcache.load(str(tmp_path), k1)["recipe"] == []
    os.makedirs(tmp_path / "bb", exist_ok=True)
    os.replace(tmp_path / "aa" / f"{k1}.json", tmp_path / "bb" / f"{k2}.json")
    with pytest.warns(loadcache.LoadCacheWarning, match="key is not its file's"):
        assert loadcache.load(str(tmp_path), k2) is None
    assert loadcache.load(str(tmp_path), "c" * 64) is None  # absent: no warning
    assert not [p for p in os.listdir(tmp_path / "aa") if "tmp" in p]  # no temp file left
