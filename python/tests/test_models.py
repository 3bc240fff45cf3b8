"""The transformers fixtures: the exported graph, run through fxsat.load with the model's real
parameters, reproduces eager outputs (and parameter gradients for joint graphs); and the
committed fixtures are up to date."""

import pytest
import torch

from conftest import FIXTURES
from fxsat.export import capture
from fxsat.fxjson import dumps_fx_json
from fxsat.load import placeholder_vals, random_inputs, to_graph_module
from gen_fixtures import MODEL_CONFIGS, _TextWrap, _VisionWrap, build_model, model_inputs

TOL = dict(atol=1e-4, rtol=1e-4)


def _wrap(name):
    return (_VisionWrap if name == "vit" else _TextWrap)(name, build_model(name))


@pytest.mark.parametrize("name", list(MODEL_CONFIGS))
def test_model_forward_and_joint(name):
    wrap = _wrap(name)
    ins = model_inputs(name)

    wrap.eval()
    (doc,) = capture(wrap, ins, mode="forward", name=f"{name}.forward")
    assert dumps_fx_json(doc) == (FIXTURES / f"{name}.forward.json").read_text(), \
        "committed fixture is stale: run python/fixtures/gen_fixtures.py"
    with torch.no_grad():
        outs = to_graph_module(doc)(*doc["_inputs"])
        ref = wrap(*ins)
    ref = ref if isinstance(ref, tuple) else (ref,)
    assert len(outs) == len(ref)
    for o, r in zip(outs, ref):
        torch.testing.assert_close(o, r, **TOL)

    wrap.train()
    (doc,) = capture(wrap, ins, mode="joint", name=f"{name}.joint")
    assert dumps_fx_json(doc) == (FIXTURES / f"{name}.joint.json").read_text(), \
        "committed fixture is stale: run python/fixtures/gen_fixtures.py"
    phs = [n for n, _ in placeholder_vals(doc)]
    rand = random_inputs(doc, seed=5)
    nprim = len(doc["_inputs"])
    args = list(doc["_inputs"]) + rand[nprim:]
    assert all(p.startswith("primals_") for p in phs[:nprim])
    assert all(p.startswith("tangents_") for p in phs[nprim:])
    with torch.no_grad():
        outs = to_graph_module(doc)(*[a.detach() for a in args])
    nfo = doc["num_fwd_outputs"]
    ref = wrap(*ins)
    ref = ref if isinstance(ref, tuple) else (ref,)
    assert nfo == len(ref) and len(outs) == nfo + nprim
    for o, r in zip(outs[:nfo], ref):
        torch.testing.assert_close(o, r.detach(), **TOL)
    wants = [t for t in doc["_inputs"] if t.requires_grad]
    grads = dict(zip(map(id, wants), torch.autograd.grad(ref, wants, rand[nprim:])))
    for p, t, g in zip(phs, doc["_inputs"], outs[nfo:]):
        if t.requires_grad:
            torch.testing.assert_close(g, grads[id(t)], **TOL, msg=f"grad of {p}")
        else:
            assert g is None, p
