"""Every committed fixture: valid, canonical bytes, loads into a GraphModule that runs."""

import json
import math

import pytest
import torch

from conftest import FIXTURES, fixture_entries, fixture_files
from fxsat.fxjson import dumps_fx_json, read_fx_json, validate, write_fx_json
from fxsat.load import output_vals, random_inputs, to_graph_module

ENTRIES = {e["file"]: e for e in fixture_entries()}


def test_index_covers_all_fixture_files():
    on_disk = sorted(p.name for p in FIXTURES.glob("*.json") if p.name.endswith((".forward.json", ".joint.json")))
    assert sorted(ENTRIES) == on_disk


@pytest.mark.parametrize("file", fixture_files())
def test_fixture_runs(file):
    entry = ENTRIES[file]
    doc = read_fx_json(FIXTURES / file)
    assert doc["kind"] == entry["kind"]
    if doc["kind"] == "joint":
        assert doc["num_fwd_outputs"] == entry["num_fwd_outputs"]
    # every integer/bool placeholder has a range in the index
    for n in doc["nodes"]:
        if n["op"] == "placeholder" and (n["val"]["dtype"] == "bool"
                                         or n["val"]["dtype"].startswith(("int", "uint"))):
            assert n["name"] in entry["int_inputs"], n["name"]
    gm = to_graph_module(doc)
    with torch.no_grad():
        outs = gm(*random_inputs(doc, seed=0, int_inputs=entry["int_inputs"]))
    vals = output_vals(doc)
    assert len(outs) == len(vals)
    for i, (o, v) in enumerate(zip(outs, vals)):
        if v is None:
            assert o is None, f"output {i}"
            continue
        assert isinstance(o, torch.Tensor), f"output {i}"
        assert list(o.shape) == v["shape"], f"output {i}"
        assert str(o.dtype).removeprefix("torch.") == v["dtype"], f"output {i}"
        if o.dtype.is_floating_point:
            assert torch.isfinite(o).all(), f"output {i} not finite"


@pytest.mark.parametrize("file", fixture_files())
def test_fixture_canonical_bytes(file, tmp_path):
    text = (FIXTURES / file).read_text()
    doc = json.loads(text)
    validate(doc)
    assert dumps_fx_json(doc) == text
    write_fx_json(doc, tmp_path / file)
    assert (tmp_path / file).read_bytes() == (FIXTURES / file).read_bytes()
    # one node per line, header first, closing line last
    lines = text.split("\n")
    assert lines[0].endswith('"nodes": [') and lines[-2] == "]}" and lines[-1] == ""
    assert len(lines) == len(doc["nodes"]) + 3


@pytest.mark.parametrize("file", fixture_files())
def test_fixture_vals_and_attention_blocks(file):
    doc = read_fx_json(FIXTURES / file)
    for n in doc["nodes"][:-1]:
        assert "val" in n, n["name"]
    assert all(n["op"] != "get_attr" for n in doc["nodes"])
    softmaxes = sum(1 for n in doc["nodes"] if n.get("target") == "aten.amax.default")
    assert softmaxes == ENTRIES[file]["attention_blocks"]
