#!/usr/bin/env python
"""A LLaMA-style joint graph of a chosen depth, for the partitioner bench.

    $(bash python/venv.sh) python/gen_scale_llama.py [--layers 32] [--out /tmp/llama32.joint.json]
    FXSAT_SCALE_JOINT=/tmp/llama32.joint.json cargo bench --bench partition

transformers ``LlamaModel`` (random weights, seed 0, eager attention) with
``LlamaConfig(hidden_size=256, num_attention_heads=8, num_key_value_heads=2,
intermediate_size=512, vocab_size=1024, num_hidden_layers=N)``, batch 1, sequence 256, in train
mode, captured by ``fxsat.export.capture(mode="joint")`` exactly like the model fixtures of
``gen_fixtures.py``. 32 layers give a joint graph of about 9,000 nodes. Not committed: the
graph is big (several MB) and takes minutes to capture.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from fxsat.export import capture  # noqa: E402
from fxsat.fxjson import write_fx_json  # noqa: E402


class _Wrap(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, input_ids):
        return self.m(input_ids=input_ids).last_hidden_state


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--out", default="/tmp/llama32.joint.json")
    a = ap.parse_args(argv)
    import transformers

    cfg = transformers.LlamaConfig(hidden_size=256, num_attention_heads=8, num_key_value_heads=2,
                                   intermediate_size=512, vocab_size=1024,
                                   num_hidden_layers=a.layers, max_position_embeddings=a.seq,
                                   attention_dropout=0.0, use_cache=False, bos_token_id=0,
                                   eos_token_id=0, pad_token_id=None,
                                   attn_implementation="eager")
    torch.manual_seed(0)
    model = _Wrap(transformers.LlamaModel(cfg)).train()
    ids = torch.randint(0, 1024, (1, a.seq), generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    (doc,) = capture(model, [ids], mode="joint", name=f"llama{a.layers}.joint")
    write_fx_json(doc, Path(a.out))
    print(f"{a.out}: {len(doc['nodes'])} nodes ({time.perf_counter() - t0:.0f} s)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
