"""Attention forms with a learned or structured bias, -inf bool masks and dropout kept in an
inference graph (``rules/bias.rules``; fixtures ``tests/fixtures/train_forms/train_form_*``,
made by ``python/fixtures/gen_bias_fixtures.py``): the original graph against the one
``fxsat optimize`` writes for the CPU, run in PyTorch.

* float64 (both graphs run in float64): every output equal to rtol = atol = 1e-9, NaN in the
  same places (DistilBERT's fully masked rows: NaN forward rows, NaN dv slices);
* float32: max|orig - opt| <= 1e-4 · (1 + max|orig|) per output;
* bfloat16: against the float64 truth, each output of the optimized graph is no worse than
  the original's, in largest and in root-mean-square error, up to 2^-9 of the output's scale
  (the bound of ``test_train_forms.py``), NaN in the same places; a 0-d output (the in-graph
  bf16 loss, a sum of 65,536 products) within 1.5x the original's error + 2^-8 of its scale:
  its error is the sum's rounding noise (DistilBERT bf16, loss, no fully masked row, seed 0:
  0.139 against the original's 0.111 at a loss of 5.49, where one bf16 ulp is 0.031).

Inputs: q, k, v and learned parameters standard normal; DistilBERT's key mask with batch 1
masked everywhere (fully masked rows) by default, and with no fully masked row under
``--assume no-fully-masked-rows``. Also checks the kernel behaviour the -inf rules rest on:
the CPU flash kernel gives 0 (forward) and no gradient in a row that is -inf everywhere.
CUDA-only parts (the efficient kernel's -inf rows, dropout) are in
``experiments/gpu_bias_check.py``."""

import json
import math

import pytest
import torch

from conftest import FIXTURES, run_cli
from fxsat.compare import to_f64
from fxsat.load import placeholder_vals, to_graph_module

FORMS = FIXTURES / "train_forms"
FUSED = ("_scaled_dot_product_flash_attention_for_cpu.default",
         "aten.scaled_dot_product_attention.default")


def _files():
    return sorted(p.name for p in FORMS.glob("train_form_*.json")
                  if not p.name.startswith("train_form_dropout_")
                  and any(p.name.startswith(f"train_form_{f}_")
                          for f in ("t5", "alibi", "alibi_learned", "distilbert",
                                    "distilbert_mul")))


def _inputs(doc, seed, fully_masked):
    g = torch.Generator().manual_seed(seed)
    res = []
    for name, val in placeholder_vals(doc):
        dt = getattr(torch, val["dtype"])
        if dt == torch.bool:  # DistilBERT's key mask [B, S]: True = attend
            m = torch.rand(val["shape"], generator=g) > 0.3
            m[..., 0] = True
            if fully_masked:
                m[1] = False
            res.append(m)
        else:
            res.append(torch.randn(val["shape"], generator=g, dtype=torch.float64).to(dt))
    return res


def _run(doc, inputs):
    with torch.no_grad():
        out = to_graph_module(doc)(*inputs)
    return [out] if isinstance(out, torch.Tensor) else list(out)


def _optimize(tmp_path, name, *flags):
    out = tmp_path / f"{name}.opt.json"
    run_cli("optimize", FORMS / name, "-o", out, *flags)
    return json.loads((FORMS / name).read_text()), json.loads(out.read_text()), out.read_text()


def _err(d, how):
    d = d.nan_to_num(0.0)
    return float(d.abs().max()) if how == "max" else float(d.pow(2).mean().sqrt())


def _same_nan(a, b):
    return a is None and b is None or torch.equal(a.isnan(), b.isnan())


@pytest.mark.parametrize("assume", [False, True], ids=["default", "assume"])
@pytest.mark.parametrize("name", _files())
def test_optimized_form_matches(name, assume, tmp_path):
    flags = ["--assume", "no-fully-masked-rows"] if assume else []
    orig, opt, _ = _optimize(tmp_path, name, *flags)
    fully = not assume
    bad = []
    for seed in (0, 1):
        ins = _inputs(orig, seed, fully)
        ins64 = [x.double() if x.is_floating_point() else x for x in ins]
        o64, n64 = _run(to_f64(orig), ins64), _run(to_f64(opt), ins64)
        for i, (a, b) in enumerate(zip(o64, n64)):
            if a is None:
                assert b is None, f"out[{i}]"
                continue
            assert _same_nan(a, b), f"float64 out[{i}]: NaN in other places"
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True), \
                f"float64 out[{i}]: max err {float((a - b).abs().nan_to_num().max()):.3g}"
        o, n = _run(orig, ins), _run(opt, ins)
        for i, (a, b, t) in enumerate(zip(o, n, o64)):
            if a is None:
                continue
            assert _same_nan(a, b), f"out[{i}]: NaN in other places"
            if a.dtype == torch.float32:
                err = float((a.double() - b.double()).abs().nan_to_num().max())
                scale = float(a.double().abs().nan_to_num().max())
                assert err <= 1e-4 * (1 + scale), f"float32 out[{i}]: err {err:.3g}"
            elif a.dtype == torch.bfloat16:
                scale = float(t.abs().nan_to_num().max())
                for how in ("max", "rms"):
                    e_o, e_n = (_err(x.double() - t, how) for x in (a, b))
                    # A 0-d output (the in-graph loss, a bf16 sum of B·H·L·E products) is
                    # off by the sum's rounding noise, not by one element's rounding.
                    bound = (1.5 * e_o + scale * 2.0**-8 if a.dim() == 0
                             else e_o + scale * 2.0**-9)
                    if e_n > bound:
                        bad.append(f"bfloat16 seed {seed} out[{i}] ({how}): fused err "
                                   f"{e_n:.3g} vs decomposed {e_o:.3g}, scale {scale:.3g}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("var", ["tangent", "loss"])
def test_distilbert_training_fuses_by_default(var, tmp_path):
    """The -inf bool mask fuses forward and backward on the CPU without the assumption, and
    the fully masked rows keep their NaN: forward rows and the dv slices of batch 1."""
    name = f"train_form_distilbert_fp32_{var}.joint.json"
    orig, opt, text = _optimize(tmp_path, name)
    assert "_scaled_dot_product_flash_attention_for_cpu.default" in text
    assert "_scaled_dot_product_flash_attention_for_cpu_backward.default" in text
    assert "aten._softmax" not in text and "prims.fma" not in text
    ins = _inputs(orig, 0, True)
    o, n = _run(orig, ins), _run(opt, ins)
    nans = [bool(t.isnan().any()) for t in o if t is not None]
    assert any(nans), "the fully masked rows give NaN in the decomposed graph"
    for a, b in zip(o, n):
        if a is not None:
            assert _same_nan(a, b)


def test_cpu_kernel_zeroes_neg_inf_rows():
    """What sdpa-kernel-takes-fill states of the CPU kernel: a row that is -inf everywhere
    gives 0 output and no gradient (so the kernel equals the safe softmax), in every dtype."""
    torch.manual_seed(0)
    B, H, L, E = 1, 2, 4, 8
    for dt in (torch.float64, torch.float32, torch.bfloat16):
        q, k, v = (torch.randn(B, H, L, E).to(dt) for _ in range(3))
        m = torch.zeros(B, H, L, L)
        m[..., 1, :] = -math.inf
        m[..., 2, 0] = -math.inf
        m = m.to(dt)
        o, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, False, attn_mask=m, scale=0.3)
        g = torch.randn_like(o)
        dq, dk, dv = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            g, q, k, v, o, lse, 0.0, False, attn_mask=m, scale=0.3)
        assert not any(t.isnan().any() for t in (o, dq, dk, dv)), dt
        assert torch.all(o[..., 1, :] == 0) and torch.all(dq[..., 1, :] == 0), dt
        # the other rows: the safe softmax
        w = torch.softmax(q.double() @ k.double().transpose(-1, -2) * 0.3 + m.double(), -1)
        ref = w.nan_to_num(0.0) @ v.double()
        tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 3e-2}[dt]
        assert float((o.double() - ref).abs().max()) <= tol, dt
