#!/usr/bin/env python
"""Generate the scaling fixture family: LLaMA-style models with 1, 4, 16, 32 and 64 layers.

    $(python/venv.sh) python/gen_scale_fixtures.py [--out tests/fixtures/scale] [--layers 1 4 ...]

Each size is captured twice by ``fxsat.export.capture`` (as ``python/gen_fixtures.py`` does for
its model fixtures): an inference graph (``llama{N}.forward.json.gz``, model in eval mode under
no_grad) and AOTAutograd's joint forward+backward graph (``llama{N}.joint.json.gz``, train
mode; parameters are ``primals_*`` and get gradients). Model: ``transformers.LlamaModel``
(eager attention, no dropout, no KV cache), hidden 256, 8 heads, 2 key/value heads (GQA),
intermediate 512, vocab 1024, batch 1, sequence 256, random weights (``torch.manual_seed(0)``),
fp32 on CPU. Inputs: ``input_ids`` (1, 256) and an all-ones ``attention_mask``.

Files are gzip'd canonical FX-JSON with a zero mtime and no file name in the gzip header, so
re-running gives the same bytes. Also writes ``index.json`` (file, kind, layers, nodes,
attention blocks). The layer count only repeats the decoder block, so every graph of the family
has the same node kinds; 64 layers is about twice 32.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from fxsat.export import capture  # noqa: E402
from fxsat.fxjson import write_fx_json  # noqa: E402

LAYERS = (1, 4, 16, 32, 64)
HIDDEN, HEADS, KV_HEADS, INTER, VOCAB = 256, 8, 2, 512, 1024
BATCH, SEQ = 1, 256
CONFIG = dict(hidden_size=HIDDEN, intermediate_size=INTER, num_attention_heads=HEADS,
              num_key_value_heads=KV_HEADS, vocab_size=VOCAB, max_position_embeddings=SEQ,
              attention_dropout=0.0, use_cache=False, bos_token_id=0, eos_token_id=0,
              pad_token_id=None)


class _Wrap(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def build(layers: int) -> torch.nn.Module:
    import transformers

    config = transformers.LlamaConfig(num_hidden_layers=layers, **CONFIG,
                                      attn_implementation="eager")
    torch.manual_seed(0)
    model = transformers.LlamaModel(config)
    assert model.config._attn_implementation == "eager"
    return _Wrap(model)


def inputs():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=g)
    return [ids, torch.ones(BATCH, SEQ, dtype=torch.long)]


def write_gz(doc: dict, path: Path) -> int:
    # write_fx_json writes to a path: the plain file first, then its gzip'd bytes
    plain = path.with_suffix("")  # strip .gz
    write_fx_json(doc, plain)
    data = plain.read_bytes()
    plain.unlink()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(data)
    path.write_bytes(buf.getvalue())
    return len(data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "scale"))
    ap.add_argument("--layers", type=int, nargs="*", default=list(LAYERS))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for n in args.layers:
        model = build(n)
        for mode in ("forward", "joint"):
            model.train(mode == "joint")
            (doc,) = capture(model, inputs(), mode=mode, name=f"llama{n}.{mode}")
            blocks = sum(1 for x in doc["nodes"] if x.get("target") == "aten.amax.default")
            if blocks != n:
                raise RuntimeError(f"llama{n}.{mode}: expected {n} softmax blocks, found {blocks}")
            file = f"llama{n}.{mode}.json.gz"
            raw = write_gz(doc, out / file)
            size = (out / file).stat().st_size
            print(f"{file}: {len(doc['nodes'])} nodes, {raw} bytes, {size} gzip'd",
                  file=sys.stderr)
            entries.append({"file": file, "kind": doc["kind"], "layers": n,
                            "nodes": len(doc["nodes"]), "attention_blocks": n})
    index_path = out / "index.json"
    old = json.loads(index_path.read_text())["fixtures"] if index_path.exists() else []
    files = {e["file"] for e in entries}
    merged = sorted([e for e in old if e["file"] not in files] + entries,
                    key=lambda e: (e["layers"], e["kind"]))
    index = {"format": "fxsat-scale-index", "version": 1,
             "generator": "python/gen_scale_fixtures.py",
             "model": {"class": "LlamaModel", "attn_implementation": "eager", "batch": BATCH,
                       "seq": SEQ, "config": CONFIG},
             "fixtures": merged}
    index_path.write_text(json.dumps(index, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
