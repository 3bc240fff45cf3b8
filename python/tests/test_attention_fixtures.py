"""The attention-fusion fixtures (tests/fixtures/attention/, python/fixtures/gen_attention_fixtures.py):
index well-formed and complete, every fixture canonical, loads and runs, its attention_blocks
equals the softmax-like groups counted in the graph, and (re-captured from the generator's
cases) it is up to date and reproduces eager PyTorch on the capture inputs."""

import json

import pytest
import torch

from conftest import FIXTURES
from fxsat.export import capture
from fxsat.fxjson import dumps_fx_json
from fxsat.load import load, output_vals, random_inputs

ATT = FIXTURES / "attention"
INDEX = json.loads((ATT / "index.json").read_text())
ENTRIES = {e["file"]: e for e in INDEX}
FILES = [e["file"] for e in INDEX]
GROUPS = {"inductor", "model", "extra", "trap"}

# every way a softmax shows up in a decomposed graph: one amax (or max.dim for a hand-written
# exp(x - max) / sum) per softmax; undecomposed softmax ops count as one each
SOFTMAX_TARGETS = {"aten.amax.default", "aten.max.dim", "aten._softmax.default",
                   "aten._safe_softmax.default", "aten.softmax.int"}


def softmax_groups(doc) -> int:
    return sum(1 for n in doc["nodes"] if n.get("target") in SOFTMAX_TARGETS)


def is_int(val) -> bool:
    return isinstance(val, dict) and (val["dtype"] == "bool"
                                      or val["dtype"].startswith(("int", "uint")))


def test_index_entries_well_formed():
    assert isinstance(INDEX, list) and INDEX
    assert len(ENTRIES) == len(INDEX), "duplicate files in index"
    keys = {"file", "group", "description", "attention_blocks", "expected_sdpa", "why", "dtype",
            "int_inputs"}
    for e in INDEX:
        assert set(e) == keys, e["file"]
        assert e["group"] in GROUPS, e["file"]
        assert e["file"].endswith(".forward.json"), e["file"]
        assert isinstance(e["attention_blocks"], int) and e["attention_blocks"] >= 1, e["file"]
        if e["group"] == "trap":
            assert e["expected_sdpa"] in (0, e["attention_blocks"]), e["file"]
        else:
            assert e["expected_sdpa"] == e["attention_blocks"], e["file"]
        assert e["why"] and "\n" not in e["why"], e["file"]
        assert e["dtype"] in ("float32", "bfloat16", "float16"), e["file"]
        for k, (lo, hi) in e["int_inputs"].items():
            assert lo < hi, (e["file"], k)


def test_index_covers_directory():
    on_disk = sorted(p.name for p in ATT.glob("*.json") if p.name != "index.json")
    assert sorted(ENTRIES) == on_disk


def test_coverage():
    """All 30 Inductor patterns in fp32 (bf16 or fp16 too), batch 1 and > 1 for the subset."""
    files = set(ENTRIES)
    for i in range(1, 31):
        assert f"sfdp_{i:02d}_fp32_b2.forward.json" in files, i
        low = "fp16" if i in (7, 8, 9, 10) else "bf16"
        assert f"sfdp_{i:02d}_{low}_b2.forward.json" in files, i
    for i in (1, 5, 11, 14, 18, 21, 24):
        assert f"sfdp_{i:02d}_fp32_b1.forward.json" in files, i
    groups = {g: sum(1 for e in INDEX if e["group"] == g) for g in GROUPS}
    assert all(groups.values()), groups


@pytest.mark.parametrize("file", FILES)
def test_fixture_loads_runs_and_counts(file):
    entry = ENTRIES[file]
    text = (ATT / file).read_text()
    doc, gm = load(ATT / file)
    assert dumps_fx_json(doc) == text, "not in canonical serialization"
    assert doc["kind"] == "forward"
    assert all(n["op"] != "get_attr" for n in doc["nodes"])
    ints = {n["name"] for n in doc["nodes"] if n["op"] == "placeholder" and is_int(n["val"])}
    assert set(entry["int_inputs"]) == ints
    assert softmax_groups(doc) == entry["attention_blocks"]
    with torch.no_grad():
        outs = gm(*random_inputs(doc, seed=0, int_inputs=entry["int_inputs"]))
    vals = output_vals(doc)
    assert len(outs) == len(vals)
    for i, (o, v) in enumerate(zip(outs, vals)):
        assert isinstance(o, torch.Tensor), f"output {i}"
        assert list(o.shape) == v["shape"], f"output {i}"
        assert str(o.dtype).removeprefix("torch.") == v["dtype"], f"output {i}"


# ----------------------------------------------------------- up to date + reproduces eager


def _cases():
    import gen_attention_fixtures as gen

    return {c["name"] + ".forward.json": c for c in gen.all_cases()}, gen


CASES, GEN = _cases()


def test_generator_cases_match_index():
    assert sorted(CASES) == sorted(ENTRIES)


@pytest.mark.parametrize("file", FILES)
def test_fixture_up_to_date_and_matches_eager(file):
    case = CASES[file]
    torch.manual_seed(0)
    fn = GEN.build_model(case["module"]) if "module" in case else case["fn"]
    ins = case["make_inputs"]()
    (doc,) = capture(fn, ins, mode="forward", name=case["name"])
    assert dumps_fx_json(doc) == (ATT / file).read_text(), \
        "committed fixture is stale: run python/fixtures/gen_attention_fixtures.py"
    _, gm = load(ATT / file)
    with torch.no_grad():
        outs = gm(*doc["_inputs"])
        ref = fn(*ins)
    ref = ref if isinstance(ref, tuple) else (ref,)
    assert len(outs) == len(ref)
    low = ENTRIES[file]["dtype"] != "float32"
    for o, r in zip(outs, ref):
        tol = dict(atol=2e-2, rtol=2e-2) if low or r.dtype != torch.float32 else dict(atol=1e-5,
                                                                                       rtol=1e-5)
        torch.testing.assert_close(o, r, equal_nan=True, **tol)
