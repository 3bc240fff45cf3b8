#!/usr/bin/env python
"""Real transformers models on one GPU: eager, Inductor and fxsat side by side (issue 18).

    python3 experiments/gpu_models.py [--models gpt2,llama,...] [--layers 2] [--runs 10]
        [--json OUT.json] [--markdown] [--timeout 300] [--tiny]

For each model (GPT-2, LLaMA with grouped-query attention, BERT with a padded batch, T5, OPT,
ViT from ``transformers``, random weights, bfloat16, eager attention; the ``-sdpa`` variants use
transformers' default ``sdpa`` attention, which fxsat must not make worse) it runs, in one
process and on the same initial weights:

* a training step (forward, in-model loss, backward; gradients set to None before each step)
  eagerly, with ``torch.compile(backend="inductor")`` and with ``torch.compile(backend=fxsat.backend())``
  (defaults: target = the inputs' device, budget 1, no assumption);
* an inference forward (``eval()``, ``no_grad``), the same three ways.

Per variant it records the median step time over ``--runs`` timed steps after 3 warm-ups
(then, with ``--rounds R`` (default 3), the variants are timed again interleaved, R rounds of
``--runs`` steps each, and the table reports those medians: a drift of the machine then hits
every variant alike)
(CUDA events), the peak allocated memory over those steps (``torch.cuda.max_memory_allocated``,
weights and gradients included, less what the earlier variants' models, kept alive for the
interleaved rounds, still hold), the first step's wall time (compile included), the largest
gradient difference from eager after the first step relative to the largest eager gradient
entry, the same against the gradients of one eager float64 step of the same weights (the
truth; the target is fxsat's error no worse than Inductor's), and for fxsat the attention kernels that ran (``torch.profiler`` over one step: calls of
``aten::_scaled_dot_product_*`` ops, forward and backward) and the fallback warnings it logged.

Each model runs in its own subprocess under ``--timeout`` seconds, so one model that hangs or
runs out of memory is a row with an error, not a lost run. ``--tiny`` shrinks every model to a
size that runs on a CPU in seconds (for the test of this script; no timing meaning).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import torch

V = 8192  # vocabulary: the LM head is not what is measured (the same for all three variants)
# name: (config class, model class, config kwargs, (batch, sequence)); L = layers (filled in)
MODELS = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel",
             dict(n_embd=1024, n_head=16, vocab_size=V, n_positions=1024), (8, 1024)),
    "llama": ("LlamaConfig", "LlamaForCausalLM",
              dict(hidden_size=2048, intermediate_size=5632, num_attention_heads=16,
                   num_key_value_heads=4, vocab_size=V, max_position_embeddings=2048), (4, 2048)),
    "bert": ("BertConfig", "BertForMaskedLM",
             dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, vocab_size=V,
                  max_position_embeddings=512), (8, 512)),
    "t5": ("T5Config", "T5ForConditionalGeneration",
           dict(d_model=1024, d_ff=4096, d_kv=64, num_heads=16, vocab_size=V,
                decoder_start_token_id=0), (8, 512)),
    "opt": ("OPTConfig", "OPTForCausalLM",
            dict(hidden_size=1024, ffn_dim=4096, num_attention_heads=16, vocab_size=V,
                 max_position_embeddings=1024, word_embed_proj_dim=1024), (8, 1024)),
    "vit": ("ViTConfig", "ViTForImageClassification",
            dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, image_size=224,
                 patch_size=16, num_labels=1000), (32, 197)),
}
LAYER_KEY = {"gpt2": "n_layer", "t5": "num_layers"}
TINY = {"gpt2": dict(n_embd=64, n_head=4, n_positions=64), "llama": dict(hidden_size=64, intermediate_size=128,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64),
        "bert": dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, max_position_embeddings=64),
        "t5": dict(d_model=64, d_ff=128, d_kv=16, num_heads=4), "opt": dict(hidden_size=64, ffn_dim=128,
        num_attention_heads=4, max_position_embeddings=64, word_embed_proj_dim=64),
        "vit": dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, image_size=32, patch_size=8)}
ALL = ["gpt2", "llama", "bert", "t5", "opt", "vit", "gpt2-sdpa", "llama-sdpa", "bert-sdpa"]


def build(name, layers, dtype, device, tiny):
    import transformers
    base, _, impl = name.partition("-")
    cfg_cls, model_cls, kw, _ = MODELS[base]
    kw = dict(kw, **(TINY[base] if tiny else {}))
    kw[LAYER_KEY.get(base, "num_hidden_layers")] = layers
    if base == "t5":
        kw["num_decoder_layers"] = layers
    if tiny:
        kw["vocab_size"] = 128
    cfg = getattr(transformers, cfg_cls)(**kw, attn_implementation=impl or "eager")
    # no dropout: the variants must compute the same function (their dropout draws differ)
    for k, v in list(vars(cfg).items()):
        if ("dropout" in k or "pdrop" in k) and isinstance(v, float):
            setattr(cfg, k, 0.0)
    torch.manual_seed(0)
    m = getattr(transformers, model_cls)(cfg)
    m.config.use_cache = False
    return m.to(device=device, dtype=dtype)


def inputs(name, device, dtype, tiny):
    base = name.partition("-")[0]
    b, s = (2, 16) if tiny else MODELS[base][3]
    vocab = 128 if tiny else V
    g = torch.Generator().manual_seed(1)
    if base == "vit":
        img = 32 if tiny else 224
        d = dict(pixel_values=torch.randn(b, 3, img, img, generator=g).to(dtype),
                 labels=torch.randint(0, 1000 if not tiny else 2, (b,), generator=g))
    else:
        ids = torch.randint(0, vocab, (b, s), generator=g)
        d = dict(input_ids=ids, labels=ids.clone())
        if base == "bert":  # a padded batch: a key-padding mask, rows of padding
            mask = torch.ones(b, s, dtype=torch.long)
            mask[: b // 2, s - s // 8:] = 0
            d["attention_mask"] = mask
        if base == "t5":
            d["labels"] = torch.randint(0, vocab, (b, s // 4), generator=g)
    return {k: v.to(device) for k, v in d.items()}


def train_step(model, batch):
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    return loss


def infer_step(model, batch):
    with torch.no_grad():
        return model(**batch).logits


def infer_batch(name, batch):
    """The inference inputs: no labels, except T5's (its decoder's inputs come from them)."""
    if name.startswith("t5"):
        return batch
    return {k: v for k, v in batch.items() if k != "labels"}


def grads(model):
    return {n.removeprefix("_orig_mod."): p.grad.detach().float().clone()
            for n, p in model.named_parameters() if p.grad is not None}


def float64_grads(base, batch):
    """The gradients of one eager training step of the model in float64 (the same weights,
    upcast exactly): the truth the bfloat16 variants' gradients are measured against."""
    m = copy.deepcopy(base).double().train()
    b64 = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
    train_step(m, b64)
    g = grads(m)
    del m
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return g


def rel_err(a, b):
    scale = max(g.abs().max().item() for g in b.values()) or 1.0
    return max((ga - b[n]).abs().max().item() for n, ga in a.items() if n in b) / scale


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def one_step_ms(fn):
    """Milliseconds of one call: CUDA events on the GPU, the wall clock on the CPU."""
    if torch.cuda.is_available():
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        return s.elapsed_time(e)
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def timed(fn, runs):
    """Median ms of `runs` calls after 3 warm-ups and the peak memory (MiB) over them."""
    for _ in range(3):
        fn()
    sync()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    ts = [one_step_ms(fn) for _ in range(runs)]
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")
    return statistics.median(ts), peak


def attention_calls(fn):
    with torch.profiler.profile() as prof:
        fn()
        sync()
    fwd = bwd = 0
    kinds = set()
    for e in prof.key_averages():
        k = e.key
        if k.startswith("aten::_scaled_dot_product") or k == "aten::scaled_dot_product_attention":
            if k == "aten::scaled_dot_product_attention":
                continue  # the composite: its kernel is counted below
            kinds.add(k.removeprefix("aten::"))
            if "backward" in k:
                bwd += e.count
            else:
                fwd += e.count
    return fwd, bwd, sorted(kinds)


def no_rules_dir():
    d = tempfile.mkdtemp(prefix="fxsat-norules-")
    with open(os.path.join(d, "none.rules"), "w") as f:
        f.write(NO_REWRITES)
    return d


def run_model(name, layers, runs, tiny, extra=(), rounds=0):
    import fxsat
    # the interleaved rounds keep every variant's compiled model alive: one code object with
    # an entry per variant and mode, more than Dynamo's default limit of 8
    for k in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
              "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, k):
            setattr(torch._dynamo.config, k, max(getattr(torch._dynamo.config, k), 64))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16
    base = build(name, layers, dtype, device, tiny)
    batch = inputs(name, device, dtype, tiny)
    ibatch = infer_batch(name, batch)
    row = {"model": name, "layers": layers, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
           "batch": list(next(iter(batch.values())).shape)}
    truth = float64_grads(base, batch)
    ref = None
    variants = ("eager", "inductor", "fxsat") + tuple(v for v in extra if v not in ("eager", "inductor", "fxsat"))
    steps = {}  # variant: (train step, inference step, model, eval model), for `interleave`
    norules_dir = no_rules_dir() if any("-norules" in v for v in variants) else None

    def make_backend(variant):
        if not variant.startswith("fxsat"):
            return "inductor"
        # -norules: fxsat's path (load-back, partitioner) without rewrites;
        # -ipart: fxsat's rewrites, then Inductor's own partitioner
        return fxsat.backend(rules=norules_dir if "-norules" in variant else None,
                             partitioner="inductor" if "-ipart" in variant else "fxsat")

    mem0 = torch.cuda.memory_allocated() if device == "cuda" else 0
    for variant in variants:
        torch._dynamo.reset()
        # the earlier variants' models stay alive for the interleaved rounds: their memory is
        # taken out of this variant's peaks, so each peak is the one it would have alone
        others = (torch.cuda.memory_allocated() - mem0) / 2**20 if device == "cuda" else 0.0
        row[f"{variant}_others_mib"] = others
        m = copy.deepcopy(base).train()
        be = make_backend(variant)
        if variant == "eager":
            tm = m
        else:
            tm = torch.compile(m, backend=be)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            train_step(tm, batch)
            sync()
            row[f"{variant}_first_train_s"] = time.perf_counter() - t0
            g = grads(m)
            row[f"{variant}_grad_err64"] = rel_err(g, truth)
            if ref is None:
                ref = g
            else:
                row[f"{variant}_grad_err"] = rel_err(g, ref)
            del g
            row[f"{variant}_train_ms"], row[f"{variant}_train_peak_mib"] = timed(lambda: train_step(tm, batch), runs)
            row[f"{variant}_train_peak_mib"] -= others
            if variant != "eager":
                f, b, k = attention_calls(lambda: train_step(tm, batch))
                row[f"{variant}_attn_fwd"], row[f"{variant}_attn_bwd"], row[f"{variant}_attn_kernels"] = f, b, k
            m.zero_grad(set_to_none=True)
            # inference: its own compile of the model in eval mode
            torch._dynamo.reset()
            mi = copy.deepcopy(base).eval()
            ti = mi if variant == "eager" else torch.compile(
                mi, backend=make_backend(variant))
            out = infer_step(ti, ibatch)
            if variant == "eager":
                ref_out = out.float()
            else:
                row[f"{variant}_infer_err"] = ((out.float() - ref_out).abs().max() / ref_out.abs().max()).item()
            row[f"{variant}_infer_ms"], row[f"{variant}_infer_peak_mib"] = timed(lambda: infer_step(ti, ibatch), runs)
            row[f"{variant}_infer_peak_mib"] -= others
            if variant != "eager":
                f, _, k = attention_calls(lambda: infer_step(ti, ibatch))
                row[f"{variant}_infer_attn"], row[f"{variant}_infer_attn_kernels"] = f, k
            if rounds:
                steps[variant] = (lambda tm=tm: train_step(tm, batch), lambda ti=ti: infer_step(ti, ibatch), m, mi)
            del ti, mi, out
        if variant == "fxsat":
            row["fallbacks"] = [str(x.message).splitlines()[0][:300] for x in w if "fxsat" in str(x.message).lower()]
            # the training backend's own account: graphs optimized / partitioned, fallbacks
            st = be.stats
            row["fxsat_train_stats"] = {"optimized": st.optimized, "partitioned": st.partitioned,
                                        "kept": st.kept,
                                        "partitioned_by_inductor": st.partitioned_by_inductor,
                                        "fallbacks": [str(f)[:300] for f in st.fallbacks],
                                        "seconds": st.seconds}
        del tm, m
        torch.cuda.empty_cache() if device == "cuda" else None
    if rounds:
        interleave(row, steps, runs, rounds)
    return row


def interleave(row, steps, runs, rounds):
    """Step times again, the variants interleaved: `rounds` rounds, each timing every variant
    for `runs` steps in turn, so that a drift of the machine (clocks, host load) hits all of
    them alike; the row's `*_ms` become the medians over all those steps (the first pass's
    medians stay as `*_ms_first`; peaks stay those of the first pass, measured with one
    variant alive)."""
    ts = {v: ([], []) for v in steps}
    for _ in range(rounds):
        for v, (train, infer, m, _mi) in steps.items():
            for fn, out in ((train, ts[v][0]), (infer, ts[v][1])):
                fn()
                sync()
                for _ in range(runs):
                    out.append(one_step_ms(fn))
            m.zero_grad(set_to_none=True)
    for v, (tr, inf) in ts.items():
        for kind, xs in (("train", tr), ("infer", inf)):
            row[f"{v}_{kind}_ms_first"] = row[f"{v}_{kind}_ms"]
            row[f"{v}_{kind}_ms"] = statistics.median(xs)
    row["interleaved"] = {"rounds": rounds, "runs": runs}


VARIANTS = ("fxsat-norules", "fxsat-ipart", "fxsat-norules-ipart")
NO_REWRITES = "(rule double-negation (neg (neg ?x)) ?x)\n"  # one sound identity: the partitioner alone


def run_sweep(name, layers, runs, tiny, budgets):
    """Training only: Inductor at ``activation_memory_budget=b`` against fxsat's partitioner
    alone (no attention rewrites) at ``budget=b``: step ms and peak MiB per budget."""
    import fxsat
    from torch._functorch import config as fconfig
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base = build(name, layers, torch.bfloat16, device, tiny)
    batch = inputs(name, device, torch.bfloat16, tiny)
    rules = no_rules_dir()
    rows = []
    for b in budgets:
        row = {"model": name, "budget": b}
        for variant in ("inductor", "fxsat"):
            torch._dynamo.reset()
            m = copy.deepcopy(base).train()
            be = fxsat.backend(budget=b, rules=rules) if variant == "fxsat" else "inductor"
            tm = torch.compile(m, backend=be)
            with fconfig.patch(activation_memory_budget=b if variant == "inductor" else 1.0):
                row[f"{variant}_train_ms"], row[f"{variant}_train_peak_mib"] = timed(
                    lambda: train_step(tm, batch), runs)
            del tm, m
            torch.cuda.empty_cache() if device == "cuda" else None
        rows.append(row)
    return rows


def ratio(a, b):
    return a / b if b else float("nan")


def markdown(rows):
    out = ["| model | train ms eager / Inductor / fxsat | speed-up vs Inductor | peak MiB Inductor / fxsat | peak ratio "
           "| infer ms Inductor / fxsat | infer speed-up | grad err vs eager Inductor / fxsat "
           "| grad err vs float64 eager / Inductor / fxsat | attention calls fwd+bwd (fxsat) | fallbacks |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | error: {r['error'][:160]} | | | | | | | | | |")
            continue
        out.append(
            f"| {r['model']} | {r['eager_train_ms']:.2f} / {r['inductor_train_ms']:.2f} / {r['fxsat_train_ms']:.2f} "
            f"| {ratio(r['inductor_train_ms'], r['fxsat_train_ms']):.3f}× "
            f"| {r['inductor_train_peak_mib']:.0f} / {r['fxsat_train_peak_mib']:.0f} "
            f"| {ratio(r['fxsat_train_peak_mib'], r['inductor_train_peak_mib']):.3f} "
            f"| {r['inductor_infer_ms']:.2f} / {r['fxsat_infer_ms']:.2f} "
            f"| {ratio(r['inductor_infer_ms'], r['fxsat_infer_ms']):.3f}× "
            f"| {r['inductor_grad_err']:.1e} / {r['fxsat_grad_err']:.1e} "
            f"| {r['eager_grad_err64']:.1e} / {r['inductor_grad_err64']:.1e} / {r['fxsat_grad_err64']:.1e} "
            f"| {r['fxsat_attn_fwd']}+{r['fxsat_attn_bwd']} ({r['inductor_attn_fwd']}+{r['inductor_attn_bwd']} Inductor) "
            f"| {len(r.get('fallbacks', []))} |")
    extra = [v for v in VARIANTS if any(f"{v}_train_ms" in r for r in rows)]
    if extra:
        out += ["", "| model | variant | train ms | peak MiB | infer ms | train / infer vs Inductor | attention fwd+bwd |",
                "|---|---|---|---|---|---|---|"]
        for r in rows:
            for v in ["inductor", "fxsat"] + extra:
                if f"{v}_train_ms" not in r:
                    continue
                out.append(f"| {r['model']} | {v} | {r[f'{v}_train_ms']:.2f} | {r[f'{v}_train_peak_mib']:.0f} "
                           f"| {r[f'{v}_infer_ms']:.2f} | {ratio(r['inductor_train_ms'], r[f'{v}_train_ms']):.3f}× / "
                           f"{ratio(r['inductor_infer_ms'], r[f'{v}_infer_ms']):.3f}× "
                           f"| {r.get(f'{v}_attn_fwd')}+{r.get(f'{v}_attn_bwd')} |")
    return "\n".join(out)


def sweep_markdown(rows):
    out = ["| model | budget | Inductor ms / peak MiB | fxsat partitioner ms / peak MiB | time ratio | peak ratio |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | error: {r['error'][:160]} | | | | |")
            continue
        out.append(f"| {r['model']} | {r['budget']} | {r['inductor_train_ms']:.2f} / {r['inductor_train_peak_mib']:.0f} "
                   f"| {r['fxsat_train_ms']:.2f} / {r['fxsat_train_peak_mib']:.0f} "
                   f"| {ratio(r['fxsat_train_ms'], r['inductor_train_ms']):.3f} "
                   f"| {ratio(r['fxsat_train_peak_mib'], r['inductor_train_peak_mib']):.3f} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ALL))
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per model (subprocess)")
    ap.add_argument("--json", help="write the rows (rewritten after every model)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="tiny models (a CPU smoke run; no timing meaning)")
    ap.add_argument("--sweep", metavar="BUDGETS", help="instead: the partitioner alone against Inductor's "
                    "activation_memory_budget at these budgets (e.g. 1,0.5,0.1), training only")
    ap.add_argument("--variants", default="", help="more fxsat variants, comma-separated: "
                    "fxsat-norules (no rewrites), fxsat-ipart (Inductor's partitioner), "
                    "fxsat-norules-ipart (neither: the load-back alone)")
    ap.add_argument("--norules", action="store_true", help="also fxsat's backend with no rewrites "
                    "(its load-back and partitioner alone): where a slowdown comes from")
    ap.add_argument("--rounds", type=int, default=3, help="then time the variants again, interleaved: "
                    "this many rounds of --runs steps each (0: off); the table reports these medians")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one model, print its row as JSON
    a = ap.parse_args()
    extra = [v for v in a.variants.split(",") if v] + (["fxsat-norules"] if a.norules else [])
    for v in extra:
        if v not in VARIANTS:
            print(f"error: unknown variant {v!r} (known: {', '.join(VARIANTS)})", file=sys.stderr)
            return 2
    budgets = [float(x) for x in a.sweep.split(",")] if a.sweep else None
    if a.one:
        res = (run_sweep(a.one, a.layers, a.runs, a.tiny, budgets) if budgets
               else run_model(a.one, a.layers, a.runs, a.tiny, extra, a.rounds))
        print("ROW " + json.dumps(res), flush=True)
        return 0
    rows = []
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "layers": a.layers, "runs": a.runs, "rounds": a.rounds,
            "dtype": "bfloat16"}
    for name in a.models.split(","):
        base = name.partition("-")[0]
        if base not in MODELS:
            print(f"error: unknown model {name!r} (known: {', '.join(ALL)})", file=sys.stderr)
            return 2
    for name in a.models.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--one", name, "--layers", str(a.layers),
               "--runs", str(a.runs), "--rounds", str(a.rounds)] + (["--tiny"] if a.tiny else []) + (["--variants", ",".join(extra)] if extra else []) + (["--sweep", a.sweep] if a.sweep else [])
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
            line = next((x for x in p.stdout.splitlines() if x.startswith("ROW ")), None)
            if line is None:
                tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
                row = {"model": name, "error": f"exit {p.returncode}: {tail}"}
            else:
                row = json.loads(line[4:])
                if isinstance(row, list):  # a sweep: one row per budget
                    rows.extend(row[:-1])
                    row = row[-1]
        except subprocess.TimeoutExpired:
            row = {"model": name, "error": f"timed out after {a.timeout:.0f} s"}
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
        print(json.dumps(row), flush=True)
        if a.json:
            with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(os.path.abspath(a.json)), delete=False) as f:
                json.dump({"meta": meta, "rows": rows}, f, indent=1)
            os.replace(f.name, a.json)
    if a.markdown:
        print(sweep_markdown(rows) if budgets else markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
