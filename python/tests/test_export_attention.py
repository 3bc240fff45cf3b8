"""export -> FX-JSON -> load -> run reproduces eager PyTorch (outputs, and gradients for joint
graphs), and the committed attention fixtures are what the exporter produces today."""

import pytest
import torch

from conftest import FIXTURES
from fxsat.export import capture
from fxsat.fxjson import dumps_fx_json, read_fx_json
from fxsat.load import placeholder_vals, random_inputs, to_graph_module
from gen_fixtures import attention_cases

CASES = attention_cases()
TOL = dict(atol=1e-5, rtol=1e-5)


def _arg_index(doc, fn_args):
    """placeholder name -> index of the function argument it stands for (dynamo "l_<arg>_")."""
    res = {}
    for ph, src in doc["_sources"].items():
        assert src and src.startswith("l_") and src.endswith("_"), src
        res[ph] = fn_args.index(src[2:-1])
    return res


def _fn_args(fn):
    import inspect
    return list(inspect.signature(fn).parameters)


def _graph_inputs(doc, inputs, seed=0):
    """Placeholders' inputs: the case's tensors for primals/args, random tangents."""
    idx = _arg_index(doc, _fn_args(CASES[doc["name"].split(".")[0]][0]))
    rand = random_inputs(doc, seed=seed)
    return [inputs[idx[name]] if name in idx else rand[i]
            for i, (name, _) in enumerate(placeholder_vals(doc))], idx


@pytest.mark.parametrize("name", list(CASES))
def test_forward_matches_eager(name):
    fn, inputs, _, _, _ = CASES[name]
    (doc,) = capture(fn, [t.clone() for t in inputs], mode="forward", name=f"{name}.forward")
    assert doc["kind"] == "forward"
    assert dumps_fx_json(doc) == (FIXTURES / f"{name}.forward.json").read_text(), \
        "committed fixture is stale: run python/fixtures/gen_fixtures.py"
    gm = to_graph_module(read_fx_json(FIXTURES / f"{name}.forward.json"))
    args, _ = _graph_inputs(doc, inputs)
    with torch.no_grad():
        (out,) = gm(*args)
        ref = fn(*inputs)
    torch.testing.assert_close(out, ref, **TOL)


@pytest.mark.parametrize("name", list(CASES))
def test_joint_matches_autograd(name):
    fn, inputs, grad_idx, _, _ = CASES[name]
    ins = [t.clone().requires_grad_(i in grad_idx) for i, t in enumerate(inputs)]
    (doc,) = capture(fn, ins, mode="joint", name=f"{name}.joint")
    assert doc["kind"] == "joint" and doc["num_fwd_outputs"] == 1
    assert dumps_fx_json(doc) == (FIXTURES / f"{name}.joint.json").read_text(), \
        "committed fixture is stale: run python/fixtures/gen_fixtures.py"
    phs = [n for n, _ in placeholder_vals(doc)]
    assert [p for p in phs if p.startswith("tangents_")] == ["tangents_1"]
    gm = to_graph_module(read_fx_json(FIXTURES / f"{name}.joint.json"))
    args, idx = _graph_inputs(doc, inputs, seed=3)
    with torch.no_grad():
        outs = gm(*args)
    tangent = args[phs.index("tangents_1")]

    ref_ins = [t.clone().requires_grad_(i in grad_idx) for i, t in enumerate(inputs)]
    ref = fn(*ref_ins)
    grads = torch.autograd.grad(ref, [ref_ins[i] for i in grad_idx], tangent)
    grad_of = dict(zip(grad_idx, grads))

    torch.testing.assert_close(outs[0], ref.detach(), **TOL)
    primals = [p for p in phs if p.startswith("primals_")]
    assert len(outs) == 1 + len(primals)
    for p, g in zip(primals, outs[1:]):
        i = idx[p]
        if i in grad_of:
            torch.testing.assert_close(g, grad_of[i], **TOL, msg=f"grad of {p}")
        else:
            assert g is None, f"{p} needs no gradient"
