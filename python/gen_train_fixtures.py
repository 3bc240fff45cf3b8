#!/usr/bin/env python
"""Joint-graph fixtures for the training-attention rules that the main fixture set lacks
(``tests/fixtures/train/``):

* ``attn_learned_bias.joint.json``: softmax(q @ k^T * 0.25 + bias) @ v where the additive
  bias (1, 4, 8, 8) is a parameter (T5-style position bias): its gradient is the sum of the
  scores' gradient over the batch, which the fused SDPA backward does not give.
* ``attn_dropout.joint.json``: softmax(q @ k^T * 0.25) with training-mode dropout p = 0.1 on
  the weights, @ v. AOTAutograd spells the dropout ``rand(shape) > p`` (bool mask) times the
  weights times ``1/(1-p)``, and the backward multiplies the weights' gradient by the mask
  (``convert_element_type``) times ``1/(1-p)`` (the same ``rand`` node).
* ``gpt2_dropout.joint.json``: transformers GPT-2 (eager attention, 2 layers, hidden 64, 4
  heads, no padding mask: causal only) in train mode with attn_pdrop = 0.1 (residual and
  embedding dropout 0): two attention blocks with dropout.
* ``attn_dropout_twice.joint.json``: the same attention block computed twice (its weights
  twice, equal: one e-class), each with its own dropout (p = 0.1), summed: one fused kernel
  call would serve both (one mask for two independent ones), so neither is replaced.
* With p = 0 the graph holds no dropout at all (the decomposition of ``native_dropout`` drops
  it when tracing), so there is no p = 0 dropout fixture: ``attn_mul_scale.joint.json`` is the
  same block without dropout.

fp32, CPU, seed 0.  Run: ``$(bash python/venv.sh) python/gen_train_fixtures.py``."""

from pathlib import Path

import torch

from fxsat.export import capture, write_fx_json

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "train"


def attn_learned_bias(q, k, v, bias):
    return torch.softmax(q @ k.transpose(-2, -1) * 0.25 + bias, dim=-1) @ v


def attn_dropout(q, k, v):
    w = torch.softmax(q @ k.transpose(-2, -1) * 0.25, dim=-1)
    return torch.nn.functional.dropout(w, p=0.1, training=True) @ v


def attn_dropout_twice(q, k, v):
    return attn_dropout(q, k, v) + attn_dropout(q, k, v)


class _Gpt2(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, input_ids):
        return self.m(input_ids=input_ids).logits


def gpt2_dropout():
    import transformers

    cfg = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_inner=128, vocab_size=128,
                                  n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0,
                                  attn_pdrop=0.1, use_cache=False, bos_token_id=0,
                                  eos_token_id=0, attn_implementation="eager")
    torch.manual_seed(0)
    return _Gpt2(transformers.GPT2LMHeadModel(cfg).train())


def main():
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    r = lambda *s: torch.randn(*s, requires_grad=True)  # noqa: E731
    ins = [r(2, 4, 8, 16), r(2, 4, 8, 16), r(2, 4, 8, 16), r(1, 4, 8, 8)]
    (doc,) = capture(attn_learned_bias, ins, mode="joint", name="attn_learned_bias.joint")
    write_fx_json(doc, OUT / "attn_learned_bias.joint.json")
    print("wrote", OUT / "attn_learned_bias.joint.json")
    torch.manual_seed(0)
    ins = [r(2, 4, 8, 16), r(2, 4, 8, 16), r(2, 4, 8, 16)]
    (doc,) = capture(attn_dropout, ins, mode="joint", name="attn_dropout.joint")
    write_fx_json(doc, OUT / "attn_dropout.joint.json")
    print("wrote", OUT / "attn_dropout.joint.json")
    torch.manual_seed(0)
    ins = [r(2, 4, 8, 16), r(2, 4, 8, 16), r(2, 4, 8, 16)]
    (doc,) = capture(attn_dropout_twice, ins, mode="joint", name="attn_dropout_twice.joint")
    write_fx_json(doc, OUT / "attn_dropout_twice.joint.json")
    print("wrote", OUT / "attn_dropout_twice.joint.json")
    ids = torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(1))
    (doc,) = capture(gpt2_dropout(), [ids], mode="joint", name="gpt2_dropout.joint")
    write_fx_json(doc, OUT / "gpt2_dropout.joint.json")
    print("wrote", OUT / "gpt2_dropout.joint.json")


if __name__ == "__main__":
    main()
