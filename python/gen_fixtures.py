#!/usr/bin/env python
"""Regenerate every fixture graph under tests/fixtures/ (deterministic: same bytes on re-run).

    PYTHONPATH=python $(python/venv.sh) python/gen_fixtures.py [--out tests/fixtures] [--only NAME...]

Fixtures (fp32, CPU, static shapes), each as an inference graph (``<name>.forward.json``) and
a joint forward+backward graph (``<name>.joint.json``):

* attention functions: ``attn_mul_scale``, ``attn_div_mask``, ``attn_bshd``,
  ``attn_causal_bool`` (q, k, v require grad in the joint graphs);
* transformers models from small configs with random weights (``torch.manual_seed(0)``),
  eager attention, no dropout, no KV cache: ``gpt2`` (GPT2LMHeadModel), ``bert`` (BertModel),
  ``llama`` (LlamaModel, GQA), ``vit`` (ViTModel). Joint graphs: model in train mode (dropout
  probabilities are 0), parameters are ``primals_*`` placeholders and get gradients;
* ``example_attention.{forward,joint}.json``: /work/shared/examples re-serialized canonically.

Also writes ``index.json`` (one entry per fixture: file, kind, description, attention_blocks,
int_inputs = valid [low, high) ranges of every integer/bool placeholder) and ``ops.txt``
(every distinct call_function target over all fixtures, with counts and one example).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from fxsat.export import capture  # noqa: E402
from fxsat.fxjson import read_fx_json, write_fx_json  # noqa: E402

EXAMPLES = Path(os.environ.get("FXSAT_EXAMPLES", "/work/shared/examples"))

# --------------------------------------------------------------------------- attention functions
# Shared by tests (python/tests) so that eager outputs can be reproduced.


def attn_mul_scale(q, k, v):
    """softmax(q @ k^T * 0.25) @ v, BHSD (2, 4, 8, 16)."""
    return torch.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-1) @ v


def attn_div_mask(q, k, v, mask):
    """softmax(q @ k^T / 4 + mask) @ v with an additive float mask (2, 1, 8, 8)."""
    return torch.softmax(q @ k.transpose(-2, -1) / 4 + mask, dim=-1) @ v


def attn_bshd(q, k, v):
    """BSHD (2, 8, 4, 16) inputs transposed to BHSD, attention, transposed back to BSHD."""
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    o = torch.softmax((q @ k.transpose(-2, -1)) * 0.25, dim=-1) @ v
    return o.transpose(1, 2)


def attn_causal_bool(q, k, v, keep):
    """masked_fill(~keep, finfo.min) with a bool mask (1, 1, 8, 8) (True = attend)."""
    s = (q @ k.transpose(-2, -1)) * 0.25
    s = s.masked_fill(~keep, torch.finfo(s.dtype).min)
    return torch.softmax(s, dim=-1) @ v


def attn_div(q, k, v):
    """softmax(q @ k^T / 4) @ v (scale divides, no mask)."""
    return torch.softmax(q @ k.transpose(-2, -1) / 4.0, dim=-1) @ v


def attn_unscaled(q, k, v):
    """softmax(q @ k^T) @ v: no scale (T5 style)."""
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v


def attn_unscaled_mask(q, k, v, bias):
    """softmax(q @ k^T + bias) @ v: no scale, additive position bias (T5 style)."""
    return torch.softmax(q @ k.transpose(-2, -1) + bias, dim=-1) @ v


def attention_cases():
    """name -> (fn, inputs, indices of inputs requiring grad in joint graphs, valid [low, high)
    ranges of integer/bool inputs by argument name, description)."""
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    causal = torch.ones(8, 8, dtype=torch.bool).tril().view(1, 1, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[1, :, :, 6:] = torch.finfo(torch.float32).min
    return {
        "attn_mul_scale": (attn_mul_scale, [r(2, 4, 8, 16), r(2, 4, 8, 16), r(2, 4, 8, 16)],
                           [0, 1, 2], {}, "softmax(q@k^T*0.25)@v, q/k/v (2,4,8,16)"),
        "attn_div_mask": (attn_div_mask, [r(2, 4, 8, 16), r(2, 4, 8, 16), r(2, 4, 8, 16), mask],
                          [0, 1, 2], {}, "softmax(q@k^T/4 + mask)@v, q/k/v (2,4,8,16), "
                          "additive float mask (2,1,8,8) (no grad)"),
        "attn_bshd": (attn_bshd, [r(2, 8, 4, 16), r(2, 8, 4, 16), r(2, 8, 4, 16)], [0, 1, 2], {},
                      "BSHD q/k/v (2,8,4,16) transposed to BHSD, softmax(q@k^T*0.25)@v, "
                      "transposed back"),
        "attn_causal_bool": (attn_causal_bool, [r(2, 4, 8, 16), r(2, 4, 8, 16), r(2, 4, 8, 16),
                                                causal], [0, 1, 2], {"keep": [0, 2]},
                             "softmax(masked_fill(q@k^T*0.25, ~keep, finfo.min))@v, q/k/v "
                             "(2,4,8,16), bool keep-mask (1,1,8,8) input (causal in the example; "
                             "random masks may fully mask rows)"),
        "attn_div": (attn_div, [r(2, 4, 8, 16), r(2, 4, 8, 16), r(2, 4, 8, 16)], [0, 1, 2], {},
                     "softmax(q@k^T/4.0)@v, q/k/v (2,4,8,16)"),
        "attn_unscaled": (attn_unscaled, [r(1, 4, 8, 16), r(1, 4, 8, 16), r(1, 4, 8, 16)],
                          [0, 1, 2], {}, "softmax(q@k^T)@v, no scale, batch 1 (1,4,8,16)"),
        "attn_unscaled_mask": (attn_unscaled_mask, [r(2, 4, 8, 16), r(2, 4, 8, 16),
                                                    r(2, 4, 8, 16), r(1, 4, 8, 8)], [0, 1, 2], {},
                               "softmax(q@k^T + bias)@v, no scale, additive bias (1,4,8,8)"),
    }


# --------------------------------------------------------------------------- transformers models

VOCAB = 128
BATCH, SEQ = 2, 16
IMAGE, PATCH = 32, 8

MODEL_CONFIGS = {
    "gpt2": ("GPT2LMHeadModel", dict(n_embd=64, n_layer=2, n_head=4, n_inner=128, vocab_size=VOCAB,
                                     n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0,
                                     attn_pdrop=0.0, use_cache=False, bos_token_id=0,
                                     eos_token_id=0)),
    "bert": ("BertModel", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=128, vocab_size=VOCAB, max_position_embeddings=64,
                               type_vocab_size=2, hidden_dropout_prob=0.0,
                               attention_probs_dropout_prob=0.0, use_cache=False)),
    "llama": ("LlamaModel", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB,
                                 max_position_embeddings=64, attention_dropout=0.0, use_cache=False,
                                 bos_token_id=0, eos_token_id=0, pad_token_id=None)),
    "vit": ("ViTModel", dict(image_size=IMAGE, patch_size=PATCH, num_channels=3, hidden_size=64,
                             num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)),
}
MODEL_OUTPUTS = {
    "gpt2": "logits (2,16,128)",
    "bert": "last_hidden_state (2,16,64), pooler_output (2,64)",
    "llama": "last_hidden_state (2,16,64)",
    "vit": "last_hidden_state (2,17,64), pooler_output (2,64)",
}


def build_model(name: str):
    import transformers

    cls_name, cfg = MODEL_CONFIGS[name]
    cls = getattr(transformers, cls_name)
    config_cls = getattr(transformers, cls_name.replace("LMHeadModel", "Model")
                         .replace("Model", "Config"))
    config = config_cls(**cfg, attn_implementation="eager")
    torch.manual_seed(0)
    model = cls(config)
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    return model


class _TextWrap(torch.nn.Module):
    """Calls a transformers text model and returns plain tensors."""

    def __init__(self, name, model):
        super().__init__()
        self.name, self.m = name, model

    def forward(self, input_ids, attention_mask):
        o = self.m(input_ids=input_ids, attention_mask=attention_mask)
        if self.name == "gpt2":
            return o.logits
        if self.name == "bert":
            return o.last_hidden_state, o.pooler_output
        return o.last_hidden_state


class _VisionWrap(torch.nn.Module):
    def __init__(self, name, model):
        super().__init__()
        self.name, self.m = name, model

    def forward(self, pixel_values):
        o = self.m(pixel_values=pixel_values)
        return o.last_hidden_state, o.pooler_output


def model_inputs(name: str):
    g = torch.Generator().manual_seed(1)
    if name == "vit":
        return [torch.randn(BATCH, 3, IMAGE, IMAGE, generator=g)]
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=g)
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    mask[1, 12:] = 0  # right padding on the second sequence
    return [ids, mask]


def int_range_for_source(src: str | None, name: str) -> list[int] | None:
    """Valid [low, high) range of an integer input, by its dynamo source name."""
    if src is None:
        return None
    s = src.lower()
    if "input_ids" in s:
        return [0, VOCAB]
    if "attention_mask" in s:
        return [0, 2]
    if "position_ids" in s:
        return [0, 64]
    if "token_type_ids" in s:
        return [0, 2]
    return None


# --------------------------------------------------------------------------- driver


def placeholders(doc):
    return [n for n in doc["nodes"] if n["op"] == "placeholder"]


def is_int_val(val) -> bool:
    return isinstance(val, dict) and (val["dtype"] == "bool" or val["dtype"].startswith(("int", "uint")))


def count_softmax(doc) -> int:
    """Forward softmax count: the decomposed softmax always has one amax."""
    return sum(1 for n in doc["nodes"] if n.get("target") == "aten.amax.default")


def gen_attention(out: Path, only):
    entries = []
    for name, (fn, inputs, grad_idx, int_by_arg, desc) in attention_cases().items():
        if only and name not in only:
            continue
        for mode in ("forward", "joint"):
            ins = [t.clone() for t in inputs]
            if mode == "joint":
                for i in grad_idx:
                    ins[i].requires_grad_(True)
            (doc,) = capture(fn, ins, mode=mode, name=f"{name}.{mode}")
            int_inputs = {}
            for ph in placeholders(doc):
                if is_int_val(ph["val"]):
                    # dynamo names a graph input "l_<arg>_"; placeholders may be reordered
                    src = doc["_sources"][ph["name"]]
                    arg = src[2:-1] if src and src.startswith("l_") else None
                    int_inputs[ph["name"]] = int_by_arg.get(arg, [0, 2])
            entries.append(emit(out, doc, f"{name}.{mode}.json", desc, 1, int_inputs))
    return entries


def gen_models(out: Path, only):
    entries = []
    for name in MODEL_CONFIGS:
        if only and name not in only:
            continue
        cls_name, cfg = MODEL_CONFIGS[name]
        model = build_model(name)
        wrap = (_VisionWrap if name == "vit" else _TextWrap)(name, model)
        for mode in ("forward", "joint"):
            wrap.train(mode == "joint")
            ins = model_inputs(name)
            (doc,) = capture(wrap, ins, mode=mode, name=f"{name}.{mode}")
            int_inputs = {}
            for ph in placeholders(doc):
                if is_int_val(ph["val"]):
                    rng = int_range_for_source(doc["_sources"].get(ph["name"]), ph["name"])
                    if rng is None:
                        print(f"warning: {name}.{mode}: no known range for integer placeholder "
                              f"{ph['name']} ({doc['_sources'].get(ph['name'])}); using [0, 2)",
                              file=sys.stderr)
                        rng = [0, 2]
                    int_inputs[ph["name"]] = rng
            desc = (f"transformers {cls_name} ({'train mode, ' if mode == 'joint' else ''}"
                    f"eager attention, random weights seed 0), see models[{name!r}]; "
                    f"outputs: {MODEL_OUTPUTS[name]}"
                    + ("; then gradients of every primal (parameters; null for integer inputs)"
                       if mode == "joint" else ""))
            entries.append(emit(out, doc, f"{name}.{mode}.json", desc, 2, int_inputs))
    return entries


def gen_examples(out: Path, only):
    entries = []
    if only and "example_attention" not in only:
        return entries
    for mode in ("forward", "joint"):
        src = EXAMPLES / f"attention.{mode}.json"
        if not src.exists():
            print(f"warning: {src} missing; example_attention.{mode}.json not regenerated",
                  file=sys.stderr)
            continue
        doc = read_fx_json(src)
        desc = (f"/work/shared/examples/attention.{mode}.json re-serialized: "
                "softmax(q@k^T*0.25)@v, q/k/v (1,2,8,16)")
        entries.append(emit(out, doc, f"example_attention.{mode}.json", desc, 1, {}))
    return entries


def emit(out: Path, doc: dict, file: str, desc: str, blocks: int, int_inputs: dict) -> dict:
    found = count_softmax(doc)
    if found != blocks:
        raise RuntimeError(f"{file}: expected {blocks} attention softmax blocks, found {found}")
    write_fx_json(doc, out / file)
    size = (out / file).stat().st_size
    print(f"{file}: {len(doc['nodes'])} nodes, {size} bytes", file=sys.stderr)
    entry = {"file": file, "kind": doc["kind"], "description": desc, "attention_blocks": blocks,
             "int_inputs": int_inputs}
    if doc["kind"] == "joint":
        entry["num_fwd_outputs"] = doc["num_fwd_outputs"]
    return entry


def write_ops(out: Path, files: list[str]) -> None:
    counts: Counter = Counter()
    example: dict = {}
    for f in files:
        doc = read_fx_json(out / f)
        for n in doc["nodes"]:
            if n["op"] != "call_function":
                continue
            t = n["target"]
            counts[t] += 1
            if t not in example:
                ex = {"args": n["args"]}
                if n.get("kwargs"):
                    ex["kwargs"] = n["kwargs"]
                example[t] = (f, n["name"], ex)
    lines = ["# distinct call_function targets over all fixtures (generated by "
             "python/gen_fixtures.py)",
             "# count  target  first-occurrence file:node  args/kwargs"]
    for t in sorted(counts):
        f, nn, ex = example[t]
        lines.append(f"{counts[t]:5d}  {t}  {f}:{nn}  {json.dumps(ex)}")
    (out / "ops.txt").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures"))
    ap.add_argument("--only", nargs="*", help="regenerate only these fixtures (no index/ops)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    only = set(args.only or [])

    entries = gen_attention(out, only) + gen_models(out, only) + gen_examples(out, only)
    if only:
        return 0
    index = {
        "format": "fxsat-fixtures-index",
        "version": 1,
        "generator": "python/gen_fixtures.py",
        "notes": ("fp32, CPU, static shapes; int_inputs gives a valid [low, high) range for every "
                  "integer/bool placeholder; attention_blocks counts forward softmax@v blocks "
                  "(joint graphs also hold their backward)"),
        "models": {name: {"class": cls, "attn_implementation": "eager", "batch": BATCH,
                          "seq": SEQ if name != "vit" else None,
                          "outputs": MODEL_OUTPUTS[name], "config": cfg}
                   for name, (cls, cfg) in MODEL_CONFIGS.items()},
        "fixtures": entries,
    }
    # one line per fixture entry, so the index diffs well
    head = json.dumps({k: v for k, v in index.items() if k != "fixtures"}, indent=1)
    body = ",\n".join("  " + json.dumps(e) for e in entries)
    with open(out / "index.json", "w") as f:
        f.write(head[:-2] + ',\n "fixtures": [\n' + body + "\n ]\n}\n")
    json.loads((out / "index.json").read_text())
    write_ops(out, [e["file"] for e in entries])
    return 0


if __name__ == "__main__":
    sys.exit(main())
