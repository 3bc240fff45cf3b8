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
fake-value propagation). "its partitioner s": the seconds Inductor's own partitioner
(``min_cut_rematerialization_partition``) takes in the Inductor-alone compile; fxsat's
partitioner and the split replace it in a compile with fxsat, so "share net" is fxsat's time
less that, over the compile with fxsat. "Inductor's caches on": a second process as it runs by
default, its FX-graph and AOTAutograd caches filled by a first compile (fresh
``TORCHINDUCTOR_CACHE_DIR``): the compile is served by Inductor's caches, keyed by fxsat's
options, rules and version (the partitioner's ``uuid()``), and "calls" counts the graphs
fxsat was asked to optimise or partition (0: not called). ``--src DIR``: time the fxsat Python sources in DIR (e.g. another
checkout's python/) instead of this checkout's.
Models: the scale fixtures' LLaMA (hidden 256, 8 heads, 2 KV heads, intermediate 512, vocab
1024, batch 1, sequence 256; ``--layers``) and, with ``--tiny``, the tiny GPT-2 and LLaMA of the
tests (1 layer, hidden 64, batch 2, sequence 16). CPU, float32.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

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


def _partitioner_seconds() -> float:
    """Seconds Inductor's own partitioner (``min_cut_rematerialization_partition``, timed by
    Inductor's compile metrics) has taken in this process so far."""
    from torch._dynamo.utils import compilation_time_metrics

    return sum(compilation_time_metrics.get("min_cut_rematerialization_partition", ()))


def first_step(model, ids, backend) -> tuple[float, float]:
    """The first step's seconds and the seconds Inductor's partitioner took in it."""
    torch._dynamo.reset()
    m = copy.deepcopy(model)
    c = torch.compile(m, backend=backend, dynamic=False)
    p0 = _partitioner_seconds()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c(input_ids=ids, labels=ids).loss.backward()
    return time.perf_counter() - t0, _partitioner_seconds() - p0


def warm_with_inductor_caches(model, ids, make_backend) -> tuple[float, Any]:
    """A second process as it runs by default: Inductor's FX-graph and AOTAutograd caches on
    (in a fresh cache directory, filled by a first, untimed compile), then the compile timed.
    Returns its seconds and the backend (whose ``stats`` tell whether fxsat was called)."""
    import torch._functorch.config as fcfg
    import torch._inductor.config as icfg

    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory() as d:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = d
        try:
            with icfg.patch(fx_graph_cache=True), fcfg.patch(enable_autograd_cache=True):
                first_step(model, ids, make_backend(d))
                be = make_backend(d)
                return first_step(model, ids, be)[0], be
        finally:
            if before is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = before


def measure(name, model, ids, runs):
    import torch._functorch.config as fcfg
    import torch._inductor.config as icfg

    row = {"model": name}
    with icfg.patch(fx_graph_cache=False), fcfg.patch(enable_autograd_cache=False):
        first_step(model, ids, "inductor")  # warm the C++ kernel cache (untimed)
        ind = [first_step(model, ids, "inductor") for _ in range(runs)]
        row["inductor"] = statistics.median(t for t, _ in ind)
        row["inductor partitioner"] = statistics.median(p for _, p in ind)
        with tempfile.TemporaryDirectory() as cache:
            cold, warm = [], []
            for _ in range(runs):
                for d, out in ((tempfile.mkdtemp(dir=cache), cold), (cache + "/warm", warm)):
                    be = fxsat.backend(cache_dir=d)
                    t, _ = first_step(model, ids, be)
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
    row["inductor cached"] = warm_with_inductor_caches(model, ids, lambda d: "inductor")[0]
    t, be = warm_with_inductor_caches(model, ids, lambda d: fxsat.backend(cache_dir=d))
    row["fxsat cached"], row["fxsat cached in fxsat"] = t, be.stats.seconds
    row["fxsat cached calls"] = be.stats.optimized + be.stats.partitioned
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

    head = ("model", "inductor s", "its partitioner s", "fxsat cold s",
            "in fxsat s (optimizer / split)", "share", "share net", "fxsat warm s",
            "in fxsat s (optimizer / split)", "share", "warm hits", "Inductor's caches on: "
            "inductor s", "fxsat s", "in fxsat s (calls)", "attention fused", "fallbacks")
    lines = []
    for r in rows:
        net = r["fxsat cold in fxsat"] - r["inductor partitioner"]
        lines.append((r["model"], f"{r['inductor']:.1f}", f"{r['inductor partitioner']:.3f}",
                      f"{r['fxsat cold']:.1f}",
                      f"{r['fxsat cold in fxsat']:.2f} ({r['fxsat cold api']:.3f} / "
                      f"{_f3(r['fxsat cold split'])})",
                      f"{100 * r['fxsat cold in fxsat'] / r['fxsat cold']:.1f} %",
                      f"{100 * net / r['fxsat cold']:.1f} %",
                      f"{r['fxsat warm']:.1f}",
                      f"{r['fxsat warm in fxsat']:.2f} ({r['fxsat warm api']:.3f} / "
                      f"{_f3(r['fxsat warm split'])})",
                      f"{100 * r['fxsat warm in fxsat'] / r['fxsat warm']:.1f} %",
                      "-" if r["fxsat warm hits"] is None else str(r["fxsat warm hits"]),
                      f"{r['inductor cached']:.2f}", f"{r['fxsat cached']:.2f}",
                      f"{r['fxsat cached in fxsat']:.3f} ({r['fxsat cached calls']})",
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
