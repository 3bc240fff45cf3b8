"""Fixtures with the loss reduced inside the graph (``tests/fixtures/loss/``, made by
``python/fixtures/gen_loss_fixtures.py``): GPT-2 and ViT cross-entropy, LLaMA mean, BERT sum, inference
and joint. Each is canonical and runs; ``fxsat optimize`` keeps its numbers: float64 1e-9 as
``test_optimized_fixtures.py``, and in float32 each output within 1e-4 * (1 + its scale) of the
float64 reference or, failing that, no more than 10x the original graph's own float32 error (a
sum loss makes some gradients zero in exact arithmetic, e.g. of a bias feeding a LayerNorm, so
that both graphs' float32 values are pure rounding noise: BERT's reaches 3.9e-4 for the
optimized graph and 6e-5 for the original, on a true value of ~0); a joint graph partitions
(``fxsat partition``) into a fw/bw pair that reproduces it, and so does its optimized graph.

Before the fix of issue 15 item 1 the optimized graphs did not run: a full reduction came out as
``aten.sum.dim_IntList(x)`` / ``aten.mean.dim(x)`` with no ``dim`` ("aten::sum() is missing value
for argument 'dim'")."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import FIXTURES, ROOT
from fxsat.compare import compare, to_f64
from fxsat.fxjson import dumps_fx_json, read_fx_json
from fxsat.load import random_inputs, to_graph_module
from fxsat.partition_check import check_partition

LOSS = FIXTURES / "loss"
INDEX = LOSS / "index.json"
ENTRIES = {e["file"]: e for e in json.loads(INDEX.read_text())["fixtures"]}
FILES = sorted(ENTRIES)
JOINTS = [f for f in FILES if f.endswith(".joint.json")]

BIN = Path(os.environ.get("FXSAT_BIN", ROOT / "target" / "release" / "fxsat"))
if not BIN.is_absolute():
    BIN = ROOT / BIN


def _fxsat(*args):
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"fxsat binary not found at {BIN}: run `cargo build --release` "
                    "(or set FXSAT_BIN)", pytrace=False)
    r = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"fxsat {args[0]} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"


def test_index_covers_the_loss_fixtures():
    on_disk = sorted(p.name for p in LOSS.glob("*.json") if p.name != "index.json")
    assert FILES == on_disk
    assert {f.split(".")[0] for f in FILES} == {"gpt2_ce", "llama_mean", "bert_sum", "vit_ce"}
    assert len(JOINTS) == 4 and len(FILES) == 8


@pytest.mark.parametrize("file", FILES)
def test_loss_fixture_is_canonical_and_runs(file):
    doc = read_fx_json(LOSS / file)
    assert dumps_fx_json(doc) == (LOSS / file).read_text()
    gm = to_graph_module(doc)
    with torch.no_grad():
        outs = gm(*random_inputs(doc, seed=0, int_inputs=ENTRIES[file]["int_inputs"]))
    # the loss is a finite scalar
    assert outs[0].shape == () and torch.isfinite(outs[0])


@pytest.mark.parametrize("file", FILES)
def test_optimized_loss_fixture_matches(file, tmp_path):
    out = tmp_path / file
    _fxsat("optimize", LOSS / file, "-o", out)
    for seed in (0, 1):
        res = compare(LOSS / file, out, seed=seed, atol=1e-10, rtol=1e-9, int_inputs=INDEX,
                      f64=True)
        assert res.ok, f"float64, seed {seed}:\n" + "\n".join(res.lines)
        _float32_close_to_reference(LOSS / file, out, seed)


def _float32_close_to_reference(orig_path, new_path, seed):
    orig, new = read_fx_json(orig_path), read_fx_json(new_path)
    ins = random_inputs(orig, seed=seed, int_inputs=ENTRIES[orig_path.name]["int_inputs"])
    with torch.no_grad():
        a = to_graph_module(orig)(*ins)
        b = to_graph_module(new)(*ins)
        ref = to_graph_module(to_f64(orig))(
            *[x.double() if isinstance(x, torch.Tensor) and x.is_floating_point() else x
              for x in ins])
    assert len(a) == len(b) == len(ref)
    for i, (x, y, r) in enumerate(zip(a, b, ref)):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            assert (x is None and y is None) or torch.equal(x, y), f"out[{i}]"
            continue
        e_orig = float((x.double() - r).abs().max())
        e_new = float((y.double() - r).abs().max())
        bound = max(1e-4 * (1 + float(r.abs().max())), 10 * e_orig)
        assert e_new <= bound, (f"float32, seed {seed}, out[{i}] {tuple(x.shape)}: error vs float64 "
                                f"{e_new:.3g} > {bound:.3g} (original graph's: {e_orig:.3g})")


@pytest.mark.parametrize("optimized", [False, True])
@pytest.mark.parametrize("file", JOINTS)
def test_loss_joint_partitions_and_reproduces(file, optimized, tmp_path):
    src = LOSS / file
    if optimized:
        src = tmp_path / file
        _fxsat("optimize", LOSS / file, "-o", src)
    prefix = tmp_path / "part"
    _fxsat("partition", src, "-o", prefix, "--budget", "0.5")
    res = check_partition(src, f"{prefix}.fw.json", f"{prefix}.bw.json", seed=0,
                          int_inputs=INDEX)
    assert res.ok, "\n".join(res.lines)


def test_undecomposed_cross_entropy_round_trips_opaque(tmp_path):
    """Without the decomposition table cross-entropy stays ``_log_softmax`` +
    ``nll_loss_forward`` (and ``nll_loss_backward`` + ``_log_softmax_backward_data`` for the
    gradient): ops the table does not know are exported unchanged (opaque) and the optimized
    graph runs in PyTorch with the same numbers."""
    from torch.fx.experimental.proxy_tensor import make_fx

    from fxsat.export import graph_to_doc
    from fxsat.fxjson import write_fx_json

    def f(logits, labels, w):
        loss = torch.nn.functional.cross_entropy(logits @ w, labels)
        (g,) = torch.autograd.grad(loss, [w])
        return loss.mean(), g.sum(dim=0)

    gen = torch.Generator().manual_seed(0)
    ins = [torch.randn(6, 8, generator=gen), torch.tensor([0, 3, 1, 4, 2, 3]),
           torch.randn(8, 5, generator=gen, requires_grad=True)]
    gm = make_fx(f)(*ins)
    targets = {str(n.target) for n in gm.graph.nodes if n.op == "call_function"}
    assert {"aten.nll_loss_forward.default", "aten._log_softmax.default",
            "aten.nll_loss_backward.default",
            "aten._log_softmax_backward_data.default"} <= targets, targets
    src = tmp_path / "ce.json"
    write_fx_json(graph_to_doc(gm, name="ce", kind="forward"), src)
    out = tmp_path / "ce.opt.json"
    _fxsat("optimize", src, "-o", out)
    opt_targets = {n.get("target") for n in read_fx_json(out)["nodes"]}
    assert "aten.nll_loss_forward.default" in opt_targets
    ints = {n["name"]: [0, 5] for n in read_fx_json(src)["nodes"]
            if n["op"] == "placeholder" and n["val"]["dtype"] == "int64"}
    for seed in (0, 1):
        res = compare(src, out, seed=seed, atol=1e-10, rtol=1e-9, int_inputs=ints, f64=True)
        assert res.ok, "\n".join(res.lines)
