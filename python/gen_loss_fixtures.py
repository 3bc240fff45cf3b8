#!/usr/bin/env python
"""Fixtures whose loss is reduced inside the graph (``tests/fixtures/loss/``), the normal
training setup: the models of ``gen_fixtures.py`` (same configs, weights and inputs) with a
scalar loss on their output, as an inference graph (``<name>_<loss>.forward.json``) and a joint
forward+backward graph (``<name>_<loss>.joint.json``):

* ``gpt2_ce``: next-token cross-entropy of the logits against the shifted ``input_ids``
  (``F.cross_entropy``, reduction mean);
* ``llama_mean``: ``last_hidden_state.mean()``;
* ``bert_sum``: ``last_hidden_state.sum() + pooler_output.sum()``;
* ``vit_ce``: cross-entropy of ``pooler_output`` (64 classes) against ``labels`` (2,), an
  integer graph input in [0, 64).

Also writes ``index.json`` (the format of ``tests/fixtures/index.json``).  Deterministic.

    $(bash python/venv.sh) python/gen_loss_fixtures.py   (or: make fixtures)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gen_fixtures as g  # noqa: E402
from fxsat.export import capture  # noqa: E402
from fxsat.fxjson import write_fx_json  # noqa: E402

OUT = HERE.parent / "tests" / "fixtures" / "loss"
NUM_LABELS = 64


class _TextLoss(torch.nn.Module):
    def __init__(self, name, model):
        super().__init__()
        self.name, self.m = name, model

    def forward(self, input_ids, attention_mask):
        o = self.m(input_ids=input_ids, attention_mask=attention_mask)
        if self.name == "gpt2":
            logits = o.logits
            return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                   input_ids[:, 1:].reshape(-1))
        if self.name == "llama":
            return o.last_hidden_state.mean()
        return o.last_hidden_state.sum() + o.pooler_output.sum()


class _VisionLoss(torch.nn.Module):
    def __init__(self, name, model):
        super().__init__()
        self.name, self.m = name, model

    def forward(self, pixel_values, labels):
        return F.cross_entropy(self.m(pixel_values=pixel_values).pooler_output, labels)


LOSSES = {"gpt2": "ce", "llama": "mean", "bert": "sum", "vit": "ce"}
DESC = {
    "gpt2": "next-token cross-entropy of the logits vs the shifted input_ids (mean)",
    "llama": "last_hidden_state.mean()",
    "bert": "last_hidden_state.sum() + pooler_output.sum()",
    "vit": "cross-entropy of pooler_output (64 classes) vs labels (mean)",
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    entries = []
    for name, loss in LOSSES.items():
        wrap = (_VisionLoss if name == "vit" else _TextLoss)(name, g.build_model(name))
        for mode in ("forward", "joint"):
            wrap.train(mode == "joint")
            ins = g.model_inputs(name)
            if name == "vit":
                ins.append(torch.tensor([3, 17]))
            (doc,) = capture(wrap, ins, mode=mode, name=f"{name}_{loss}.{mode}")
            int_inputs = {}
            for ph in g.placeholders(doc):
                if g.is_int_val(ph["val"]):
                    src = doc["_sources"].get(ph["name"]) or ""
                    rng = [0, NUM_LABELS] if "labels" in src else g.int_range_for_source(
                        src, ph["name"])
                    if rng is None:
                        raise RuntimeError(f"{name}.{mode}: no range for {ph['name']} ({src})")
                    int_inputs[ph["name"]] = rng
            file = f"{name}_{loss}.{mode}.json"
            write_fx_json(doc, OUT / file)
            print(f"{file}: {len(doc['nodes'])} nodes", file=sys.stderr)
            entry = {"file": file, "kind": doc["kind"],
                     "description": (f"transformers {g.MODEL_CONFIGS[name][0]} as in "
                                     f"../index.json models[{name!r}], loss {DESC[name]}"
                                     + ("; then gradients of every primal"
                                        if mode == "joint" else "")),
                     "int_inputs": int_inputs}
            if doc["kind"] == "joint":
                entry["num_fwd_outputs"] = doc["num_fwd_outputs"]
            entries.append(entry)
    body = ",\n".join("  " + json.dumps(e) for e in entries)
    (OUT / "index.json").write_text(
        '{\n "format": "fxsat-fixtures-index",\n "version": 1,\n'
        ' "generator": "python/gen_loss_fixtures.py",\n "fixtures": [\n' + body + "\n ]\n}\n")
    json.loads((OUT / "index.json").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
