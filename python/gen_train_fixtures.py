#!/usr/bin/env python
"""Joint-graph fixtures for the training-attention rules that the main fixture set lacks
(``tests/fixtures/train/``):

* ``attn_learned_bias.joint.json``: softmax(q @ k^T * 0.25 + bias) @ v where the additive
  bias (1, 4, 8, 8) is a parameter (T5-style position bias): its gradient is the sum of the
  scores' gradient over the batch, which the fused SDPA backward does not give.

fp32, CPU, seed 0.  Run: ``$(bash python/venv.sh) python/gen_train_fixtures.py``."""

from pathlib import Path

import torch

from fxsat.export import capture, write_fx_json

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "train"


def attn_learned_bias(q, k, v, bias):
    return torch.softmax(q @ k.transpose(-2, -1) * 0.25 + bias, dim=-1) @ v


def main():
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    r = lambda *s: torch.randn(*s, requires_grad=True)  # noqa: E731
    ins = [r(2, 4, 8, 16), r(2, 4, 8, 16), r(2, 4, 8, 16), r(1, 4, 8, 8)]
    (doc,) = capture(attn_learned_bias, ins, mode="joint", name="attn_learned_bias.joint")
    write_fx_json(doc, OUT / "attn_learned_bias.joint.json")
    print("wrote", OUT / "attn_learned_bias.joint.json")


if __name__ == "__main__":
    main()
