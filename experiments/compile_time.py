#!/usr/bin/env python
"""Compile time of a training step: Inductor alone against backend="fxsat", and fxsat's share.

    $(bash python/venv.sh) experiments/compile_time.py [--layers 1 4 16] [--tiny] [--markdown]

Per model, the first step (Dynamo, AOTAutograd, Inductor: the compile) of
``torch.compile(model, backend=...)`` is timed three times in one process, each after
``torch._dynamo.reset()`` and with Inductor's FX-graph and AOTAutograd caches off (so every
graph really goes through Inductor; its C++ kernel cache stays on and is warmed by an untimed
Inductor compile first, so C++ compilation does not favour whichever runs last):

* ``inductor``: ``backend="inductor"``;
* ``fxsat cold``: ``fxsat.backend(cache_dir=EMPTY)``: fxsat saturates every graph;
* ``fxsat warm``: the same with the cache the cold run filled (a second process compiling
  the same model: fxsat's result cache answers, no saturation).

fxsat's share is the time spent inside fxsat (optimize + partition + loading the result back
with fake values, ``backend.stats.seconds``) over the whole compile with fxsat; in brackets
the part spent in the optimizer and partitioner themselves (``stats.seconds_api``) and the
part spent in AOTAutograd's split at fxsat's saved values (``stats.seconds_split``, the
extraction Inductor's own partitioner runs as well); the rest is converting the graphs to
FX-JSON and back and giving the result fake values. "warm hits": the graphs whose result
came from the backend's load-back cache (``stats.loadback_hits``: no optimizer call, no
fake-value propagation). ``--src DIR``: time the fxsat Python sources in DIR (e.g. another
checkout's python/) instead of this checkout's.
Models: the scale fixtures' LLaMA (hidden 256, 8 heads, 2 KV heads, intermediate 512, vocab
1024, batch 1, sequence 256; ``--layers``) and, with ``--tiny``, the tiny GPT-2 and LLaMA of the
tests (1 layer, hidden 64, batch 2, sequence 16). CPU, float32.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_src = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv[:-1] else str(ROOT / "python")
sys.path.insert(0, _src)

import torch  # noqa: E402

import fxsat  # noqa: E402


def scale_llama(layers: int):
    import transformers

    cfg = transformers.LlamaConfig(num_hidden_layers=layers, hidden_size=256,
                                   intermediate_size=512, num_attention_heads=8,
                                   num_key_value_heads=2, vocab_size=1024,
                                   max_position_embeddings=256, attention_dropout=0.0,
                                   use_cache=False, bos_token_id=0, eos_token_id=0,
                                   pad_token_id=None, attn_implementation="eager")
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg), torch.randint(0, 1024, (1, 256))


def tiny(name: str):
    import transformers

    if name == "gpt2":
        cfg = transformers.GPT2Config(n_embd=64, n_layer=1, n_head=4, n_inner=128,
                                      vocab_size=128, n_positions=32, resid_pdrop=0.0,
                                      embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False,
                                      bos_token_id=0, eos_token_id=0,
                                      attn_implementation="eager")
        cls = transformers.GPT2LMHeadModel
    else:
        cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128,
                                       num_hidden_layers=1, num_attention_heads=4,
                                       num_key_value_heads=2, vocab_size=128,
                                       max_position_embeddings=32, attention_dropout=0.0,
                                       use_cache=False, bos_token_id=0, eos_token_id=0,
                                       pad_token_id=None, attn_implementation="eager")
        cls = transformers.LlamaForCausalLM
    torch.manual_seed(0)
    return cls(cfg), torch.randint(0, 128, (2, 16))


def first_step(model, ids, backend) -> float:
    torch._dynamo.reset()
    m = copy.deepcopy(model)
    c = torch.compile(m, backend=backend, dynamic=False)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c(input_ids=ids, labels=ids).loss.backward()
    return time.perf_counter() - t0


def measure(name, model, ids, runs):
    import torch._functorch.config as fcfg
    import torch._inductor.config as icfg

    row = {"model": name}
    with icfg.patch(fx_graph_cache=False), fcfg.patch(enable_autograd_cache=False):
        first_step(model, ids, "inductor")  # warm the C++ kernel cache (untimed)
        row["inductor"] = statistics.median(first_step(model, ids, "inductor")
                                            for _ in range(runs))
        with tempfile.TemporaryDirectory() as cache:
            cold, warm = [], []
            for _ in range(runs):
                for d, out in ((tempfile.mkdtemp(dir=cache), cold), (cache + "/warm", warm)):
                    be = fxsat.backend(cache_dir=d)
                    t = first_step(model, ids, be)
                    s = be.stats
                    out.append((t, s.seconds, s.seconds_api, getattr(s, "seconds_split", None),
                                getattr(s, "loadback_hits", None), s.fused, len(s.fallbacks)))
            for key, vals in (("cold", cold), ("warm", warm[1:] or warm)):
                t, fx, api, split, hits, fused, fb = min(vals, key=lambda v: v[0])
                row[f"fxsat {key}"] = t
                row[f"fxsat {key} in fxsat"] = fx
                row[f"fxsat {key} api"] = api
                row[f"fxsat {key} split"] = split
                row[f"fxsat {key} hits"] = hits
                row["fused"], row["fallbacks"] = fused, fb
    return row


def _f3(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, nargs="*", default=[1, 4])
    ap.add_argument("--tiny", action="store_true", help="also the tests' tiny GPT-2 and LLaMA")
    ap.add_argument("--runs", type=int, default=2, help="runs per variant (median / best)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--src", default=None, help="the fxsat Python sources to time")
    args = ap.parse_args(argv)

    models = []
    if args.tiny:
        models += [("gpt2 tiny (1 layer)", *tiny("gpt2")), ("llama tiny (1 layer)", *tiny("llama"))]
    models += [(f"llama{n} (scale)", *scale_llama(n)) for n in args.layers]
    rows = []
    for name, model, ids in models:
        r = measure(name, model, ids, max(2, args.runs))
        rows.append(r)
        print(f"# {name}: {r}", file=sys.stderr, flush=True)

    head = ("model", "inductor s", "fxsat cold s", "in fxsat s (optimizer / split)", "share",
            "fxsat warm s", "in fxsat s (optimizer / split)", "share", "warm hits",
            "attention fused", "fallbacks")
    lines = []
    for r in rows:
        lines.append((r["model"], f"{r['inductor']:.1f}", f"{r['fxsat cold']:.1f}",
                      f"{r['fxsat cold in fxsat']:.2f} ({r['fxsat cold api']:.3f} / "
                      f"{_f3(r['fxsat cold split'])})",
                      f"{100 * r['fxsat cold in fxsat'] / r['fxsat cold']:.1f} %",
                      f"{r['fxsat warm']:.1f}",
                      f"{r['fxsat warm in fxsat']:.2f} ({r['fxsat warm api']:.3f} / "
                      f"{_f3(r['fxsat warm split'])})",
                      f"{100 * r['fxsat warm in fxsat'] / r['fxsat warm']:.1f} %",
                      "-" if r["fxsat warm hits"] is None else str(r["fxsat warm hits"]),
                      str(r["fused"]), str(r["fallbacks"])))
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for ln in lines:
            print("| " + " | ".join(ln) + " |")
    else:
        w = [max(len(h), *(len(ln[i]) for ln in lines)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
        for ln in lines:
            print("  ".join(c.ljust(w[i]) for i, c in enumerate(ln)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
