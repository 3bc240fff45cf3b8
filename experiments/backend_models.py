#!/usr/bin/env python
"""Real transformers models trained through ``torch.compile(backend="fxsat")`` on CPU.

Dropout is set to 0 in every config so that eager, Inductor and fxsat compute the same
function (their dropout draws differ).

    python experiments/backend_models.py [--models gpt2,llama,...] [--dtypes float32,bfloat16]
        [--steps 2] [--json OUT.json]

For each model (GPT-2, LLaMA, BERT, T5, OPT, ViT from ``transformers``, random weights, 2
layers, hidden 64, eager attention, the loss computed inside the model from ``labels``) and
dtype, it trains the same initial weights three ways: eager, ``backend="inductor"`` and
``backend="fxsat"`` (``fallback="raise"`` is not used: a fallback is recorded, not hidden), and
reports per model:

* ``grad_err``: the largest gradient difference from eager after the first step, relative to
  the largest gradient entry (float32), and for bfloat16 fxsat's and Inductor's error against a
  float64 eager run (fxsat must be no worse than Inductor);
* ``fused``: the fused attention kernels that ran in fxsat's step (torch.profiler names);
* ``fallbacks``: the warnings fxsat's backend logged (a graph compiled by Inductor alone).

It prints a markdown table; ``--json`` writes the rows.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import warnings

import torch

MODELS = {
    # name: (config class, model class, config kwargs)
    "gpt2": ("GPT2Config", "GPT2LMHeadModel",
             dict(n_embd=64, n_layer=2, n_head=4, vocab_size=128, n_positions=64)),
    "llama": ("LlamaConfig", "LlamaForCausalLM",
              dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, vocab_size=128, max_position_embeddings=64)),
    "bert": ("BertConfig", "BertForMaskedLM",
             dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  vocab_size=128, max_position_embeddings=64)),
    "t5": ("T5Config", "T5ForConditionalGeneration",
           dict(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_decoder_layers=2, num_heads=4,
                vocab_size=128, decoder_start_token_id=0)),
    "opt": ("OPTConfig", "OPTForCausalLM",
            dict(hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
                 vocab_size=128, max_position_embeddings=64, word_embed_proj_dim=64)),
    "vit": ("ViTConfig", "ViTForImageClassification",
            dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 image_size=32, patch_size=8, num_labels=10)),
}
B, L = 2, 16
FUSED_NAMES = ("scaled_dot_product", "sdpa")


def build(name, dtype):
    import transformers
    cfg_cls, model_cls, kw = MODELS[name]
    cfg = getattr(transformers, cfg_cls)(**kw, attn_implementation="eager")
    # no dropout: the three runs must compute the same function (dropout draws differ)
    for k, v in list(vars(cfg).items()):
        if ("dropout" in k or "pdrop" in k) and isinstance(v, float):
            setattr(cfg, k, 0.0)
    torch.manual_seed(0)
    m = getattr(transformers, model_cls)(cfg)
    m.config.use_cache = False
    return m.to(dtype)


def inputs(name, dtype):
    g = torch.Generator().manual_seed(1)
    if name == "vit":
        return dict(pixel_values=torch.randn(B, 3, 32, 32, generator=g).to(dtype),
                    labels=torch.randint(0, 10, (B,), generator=g))
    ids = torch.randint(0, 128, (B, L), generator=g)
    mask = torch.ones(B, L, dtype=torch.long)
    if name in ("bert",):
        mask[1, L - 4:] = 0  # a padded row: padding masks, not only causal ones
    d = dict(input_ids=ids, attention_mask=mask, labels=ids.clone())
    if name == "t5":
        d["labels"] = torch.randint(0, 128, (B, L // 2), generator=g)
    return d


def step(model, batch):
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    return float(loss), {n.removeprefix("_orig_mod."): p.grad.detach().double().clone() for n, p in model.named_parameters()
                         if p.grad is not None}


def rel_err(a, b):
    """The largest gradient difference over all parameters, relative to the largest gradient
    entry of the reference (a per-parameter scale blows up on parameters whose gradient is
    rounding noise)."""
    scale = max(g.abs().max().item() for g in b.values()) or 1.0
    return max((ga - b[n]).abs().max().item() for n, ga in a.items()) / scale


def run_one(name, dtype, backend_name, steps):
    import fxsat
    base = build(name, dtype)
    batch = inputs(name, dtype)
    ref_loss, ref = step(copy.deepcopy(base).train(), batch)
    row = {"model": name, "dtype": str(dtype).removeprefix("torch."), "eager_loss": ref_loss}
    if dtype == torch.bfloat16:
        truth64 = step(copy.deepcopy(base).double().train(), {k: (v.double() if v.is_floating_point() else v)
                                                            for k, v in batch.items()})[1]
    for variant in ("inductor", backend_name):
        torch._dynamo.reset()
        m = copy.deepcopy(base).train()
        backend = fxsat.backend() if variant == backend_name else "inductor"
        cm = torch.compile(m, backend=backend)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            loss, grads = step(cm, batch)  # compiles
            for _ in range(steps - 1):
                step(cm, batch)
            with torch.profiler.profile() as prof:
                step(cm, batch)
        key = "fxsat" if variant == backend_name else "inductor"
        row[f"{key}_loss"] = loss
        row[f"{key}_grad_err"] = rel_err(grads, ref)
        if dtype == torch.bfloat16:
            row[f"{key}_err_vs_f64"] = rel_err(grads, truth64)
        if key == "fxsat":
            row["fused"] = sorted({e.key for e in prof.key_averages()
                                   if any(s in e.key for s in FUSED_NAMES)})
            row["fallbacks"] = [str(x.message).splitlines()[0] for x in w
                                if "fxsat" in str(x.message).lower()]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    print("| model | dtype | fxsat grad err vs eager | Inductor grad err | bf16 err vs f64 fxsat / Inductor | fused kernels | fallbacks |")
    print("|---|---|---|---|---|---|---|")
    for name in a.models.split(","):
        for dt in a.dtypes.split(","):
            try:
                r = run_one(name, getattr(torch, dt), "fxsat", a.steps)
            except Exception as e:  # a model that does not train is a row, not a crash
                r = {"model": name, "dtype": dt, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
            rows.append(r)
            if "error" in r:
                print(f"| {name} | {dt} | error: {r['error']} | | | | |", flush=True)
                continue
            bf = (f"{r['fxsat_err_vs_f64']:.2e} / {r['inductor_err_vs_f64']:.2e}"
                  if "fxsat_err_vs_f64" in r else "-")
            print(f"| {name} | {r['dtype']} | {r['fxsat_grad_err']:.2e} | {r['inductor_grad_err']:.2e} | {bf} | "
                  f"{', '.join(r['fused']) or 'none'} | {len(r['fallbacks'])} {'; '.join(r['fallbacks'])[:150]} |",
                  flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
