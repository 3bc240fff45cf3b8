#!/usr/bin/env python
"""GPU validation: measured speed and memory of fxsat-optimized graphs vs the original graph,
Inductor's own pattern passes and PyTorch's partitioner.

    python3 experiments/gpu_validate.py [--device cuda|cpu] [--tiny]
        [--models gpt2,bert,llama,vit] [--modes forward,joint] [--fxsat target/release/fxsat]
        [--json OUT.json] [--workdir DIR] [--runs 20] [--warmup 5]

For each model (transformers GPT-2, BERT, LLaMA with GQA, ViT; random weights, eager
attention, dropout 0, as in ``gen_fixtures.py`` but at realistic sizes in bfloat16):

* the inference graph and the joint forward+backward graph are captured with
  ``fxsat.export.capture`` on the device and written as FX-JSON;
* ``fxsat optimize --target cuda --device h100 --report`` (``--target cpu`` with ``--device
  cpu``) gives the optimized graph and the cost model's predicted before/after seconds;
* forward: the original graph, the fxsat graph and the graph after Inductor's own
  ``joint_graph_passes`` (its SDPA patterns) run eagerly (``fxsat.load``), timed with CUDA
  events (warm-up, then ``--runs`` rounds that time every variant once, interleaved; medians),
  and again captured as one CUDA graph and replayed (device time without host dispatch;
  ``--no-cuda-graphs`` skips that), with ``torch.cuda.max_memory_allocated`` over a run
  minus what was allocated before it (inputs and weights) as the peak;
* joint: forward+backward through (a) the unpartitioned joint graph, (b) PyTorch's
  ``min_cut_rematerialization_partition`` (``activation_memory_budget`` 1.0/0.5/0.1) of the
  original joint graph, (c) the same after Inductor's ``joint_graph_passes``, (d) ``fxsat
  partition --budget B`` of the original joint graph and (e) of the fxsat-optimized joint graph;
  each pair runs fw then bw (saved values passed along), timed as one region; memory is the
  peak over fw+bw above the inputs, and the bytes of the saved activations actually held.

Outputs of every variant are checked against the original graph's (relative L2 error per
output, reported). All graphs run eagerly op by op: the numbers compare graphs, not compilers.
``--tiny --device cpu`` runs the same code paths on tiny models (the pytest does that).
A markdown table is printed at the end; the raw results go to ``--json``; ``--table-from``
prints the tables of saved results again (with ``--graphs`` and ``--also-profile``, after
recomputing the cost model's predictions with another profile). Predicted speedups are
``cost.before / cost.after`` of ``fxsat optimize --report``; for joint graphs they are compared
with the unpartitioned joint graphs' times.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import gc
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "python"))

import torch  # noqa: E402
import torch.fx  # noqa: E402

from fxsat.export import capture  # noqa: E402
from fxsat.fxjson import read_fx_json, write_fx_json  # noqa: E402
from fxsat.load import placeholder_vals, to_graph_module  # noqa: E402

BUDGETS = (1.0, 0.5, 0.1)
MODELS = ("gpt2", "bert", "llama", "vit")

# name -> (class, config kwargs, batch, seq or image size). Realistic: bf16, seq >= 1024,
# hidden 1024-2048, 2 layers (time budget on the device).
REAL = {
    "gpt2": ("GPT2LMHeadModel", dict(n_embd=1024, n_layer=2, n_head=16, n_inner=4096,
                                     vocab_size=50257, n_positions=2048), 4, 2048),
    "bert": ("BertModel", dict(hidden_size=1024, num_hidden_layers=2, num_attention_heads=16,
                               intermediate_size=4096, vocab_size=30522,
                               max_position_embeddings=2048, type_vocab_size=2), 4, 1024),
    "llama": ("LlamaModel", dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=2,
                                 num_attention_heads=16, num_key_value_heads=4, vocab_size=32000,
                                 max_position_embeddings=4096), 2, 2048),
    "vit": ("ViTModel", dict(image_size=512, patch_size=16, num_channels=3, hidden_size=1024,
                             num_hidden_layers=2, num_attention_heads=16,
                             intermediate_size=4096), 4, 512),
    # not in the default set: LLaMA-7B-wide layers (GQA 32/8) at sequence 4096
    "llama_4k": ("LlamaModel", dict(hidden_size=4096, intermediate_size=11008,
                                    num_hidden_layers=2, num_attention_heads=32,
                                    num_key_value_heads=8, vocab_size=32000,
                                    max_position_embeddings=4096), 1, 4096),
}
TINY = {
    "gpt2": ("GPT2LMHeadModel", dict(n_embd=32, n_layer=1, n_head=2, n_inner=64, vocab_size=64,
                                     n_positions=32), 2, 16),
    "bert": ("BertModel", dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, vocab_size=64, max_position_embeddings=32,
                               type_vocab_size=2), 2, 16),
    "llama": ("LlamaModel", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=4, num_key_value_heads=2, vocab_size=64,
                                 max_position_embeddings=32), 2, 16),
    "vit": ("ViTModel", dict(image_size=16, patch_size=8, num_channels=3, hidden_size=32,
                             num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=64), 2, 16),
}
COMMON = {
    "gpt2": dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False, bos_token_id=0,
                 eos_token_id=0),
    "bert": dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, use_cache=False),
    "llama": dict(attention_dropout=0.0, use_cache=False, bos_token_id=0, eos_token_id=0,
                  pad_token_id=None),
    "vit": dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
}


# --------------------------------------------------------------------------- models


def build(name: str, sizes: dict, device, dtype):
    import transformers

    cls_name, cfg, batch, seq = sizes[name]
    name = name.split("_")[0]  # llama_4k -> llama
    cls = getattr(transformers, cls_name)
    config_cls = getattr(transformers, cls_name.replace("LMHeadModel", "Model")
                         .replace("Model", "Config"))
    config = config_cls(**cfg, **COMMON[name], attn_implementation="eager")
    torch.manual_seed(0)
    model = cls(config).to(device=device, dtype=dtype)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, *args):
            if name == "vit":
                o = self.m(pixel_values=args[0])
                return o.last_hidden_state, o.pooler_output
            o = self.m(input_ids=args[0], attention_mask=args[1])
            if name == "gpt2":
                return o.logits
            if name == "bert":
                return o.last_hidden_state, o.pooler_output
            return o.last_hidden_state

    g = torch.Generator().manual_seed(1)
    if name == "vit":
        inputs = [torch.randn(batch, 3, cfg["image_size"], cfg["image_size"], generator=g)
                  .to(device=device, dtype=dtype)]
        desc = f"batch {batch}, {(cfg['image_size'] // cfg['patch_size']) ** 2 + 1} tokens"
    else:
        vocab = cfg.get("vocab_size")
        ids = torch.randint(0, vocab, (batch, seq), generator=g)
        mask = torch.ones(batch, seq, dtype=torch.long)
        mask[-1, seq - seq // 8:] = 0  # right padding on the last sequence
        inputs = [ids.to(device), mask.to(device)]
        desc = f"batch {batch}, seq {seq}"
    hidden = cfg.get("hidden_size", cfg.get("n_embd"))
    layers = cfg.get("num_hidden_layers", cfg.get("n_layer"))
    desc += f", hidden {hidden}, {layers} layers, {str(dtype).removeprefix('torch.')}"
    return Wrap(), inputs, desc


# --------------------------------------------------------------------------- helpers


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(fn, device, runs: int, warmup: int) -> dict:
    """Median/min/max milliseconds of ``fn()`` (CUDA events on a GPU, perf_counter on CPU)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(runs):
        if device.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "runs": runs}


def bench_interleaved(fns: dict, device, runs: int, warmup: int) -> dict:
    """Eager timings of several variants, interleaved: each round times every variant once
    (order rotated per round), so drift of the machine (clocks, the host's CPU) hits all
    variants alike. Returns {key: {median_ms, min_ms, max_ms, runs}}."""
    keys = list(fns)
    for k in keys:
        for _ in range(warmup):
            fns[k]()
    sync(device)
    times: dict = {k: [] for k in keys}
    for r in range(runs):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        for k in order:
            if device.type == "cuda":
                a, b = (torch.cuda.Event(enable_timing=True),
                        torch.cuda.Event(enable_timing=True))
                a.record()
                fns[k]()
                b.record()
                b.synchronize()
                times[k].append(a.elapsed_time(b))
            else:
                t0 = time.perf_counter()
                fns[k]()
                times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v),
                "runs": runs} for k, v in times.items()}


def bench_graph(fn, device, runs: int, warmup: int) -> dict:
    """GPU time of ``fn`` captured once as a CUDA graph and replayed: no host dispatch, no
    allocator work, so this is the device time the cost model's roofline speaks of. The
    graph (and its memory pool) is freed afterwards."""
    if device.type != "cuda":
        return {"skipped": "not a CUDA device"}
    try:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            out = fn()
        del out
        res = bench(g.replay, device, runs, warmup)
        del g
    except Exception as e:  # noqa: BLE001 - reported
        res = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
    sync(device)
    gc.collect()
    torch.cuda.empty_cache()
    return res


def peak_bytes(fn, device):
    """Peak bytes allocated while ``fn()`` runs, above what was allocated before (None on CPU)."""
    if device.type != "cuda":
        fn()
        return None
    gc.collect()
    sync(device)
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated() - base


def rel_err(a, b):
    """Relative L2 error ||a - b|| / ||a|| (float64), summarised over outputs: the max over
    outputs whose reference is not near zero (RMS >= 1e-3 x the median output RMS: e.g. the
    gradient of a key bias is 0 in exact arithmetic, so any rounding is "100 %" of it), the
    median, and how many near-zero outputs were left out of the max. Integer outputs must be
    equal (inf otherwise); None entries are skipped."""
    rels, rms = [], []
    for x, y in zip(a, b):
        if x is None or y is None or not isinstance(x, torch.Tensor):
            continue
        if not x.is_floating_point():
            rels.append(0.0 if torch.equal(x, y) else float("inf"))
            rms.append(float("inf"))
            continue
        x64, y64 = x.double(), y.double()
        n = x64.norm().item()
        rels.append((x64 - y64).norm().item() / (n if n > 0 else 1.0))
        rms.append(n / max(x.numel(), 1) ** 0.5)
    if not rels:
        return {"max": 0.0, "median": 0.0, "near_zero_outputs": 0}
    floor = 1e-3 * statistics.median(rms)
    kept = [r for r, m in zip(rels, rms) if m >= floor]
    return {"max": max(kept) if kept else 0.0, "median": statistics.median(rels),
            "near_zero_outputs": len(rels) - len(kept)}


def run_fxsat(binary: str, args: list[str]) -> None:
    r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"fxsat {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")


def predict_with(a, orig: Path, stem: Path) -> dict:
    """The cost model's prediction with a second profile (``--also-profile``), if given."""
    if not a.also_profile:
        return {}
    rep = Path(str(stem) + ".report.json")
    run_fxsat(a.fxsat, ["optimize", str(orig), "-o", str(stem) + ".json", "--target", a.target,
                        "--device", a.also_profile, "--report", str(rep), *a.optimize_arg])
    cost = json.loads(rep.read_text())["cost"]
    return {"cost_model_also": cost, "predicted_speedup_also": cost["before"] / cost["after"]}


def count_sdpa(doc_or_gm) -> int:
    if isinstance(doc_or_gm, dict):
        targets = [n.get("target", "") for n in doc_or_gm["nodes"]]
    else:
        targets = [str(n.target) for n in doc_or_gm.graph.nodes if n.op == "call_function"]
    return sum(1 for t in targets if "scaled_dot_product" in t and "backward" not in t)


def fake_prop(gm, inputs):
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake = [mode.from_tensor(t) if isinstance(t, torch.Tensor) else t for t in inputs]
    FakeTensorProp(gm, mode).propagate(*fake)
    return fake


def inductor_passes(gm, inputs, training: bool):
    """Inductor's ``joint_graph_passes`` (its pattern matcher, SDPA patterns included)."""
    from torch._inductor import config
    from torch._inductor.fx_passes.joint_graph import joint_graph_passes

    fake_prop(gm, inputs)
    ctx = torch.enable_grad() if training else torch.no_grad()
    with config.patch(pattern_matcher=True), ctx:
        gm = joint_graph_passes(gm)
    gm.recompile()
    return gm


def storage_ptrs(tensors) -> set:
    return {t.untyped_storage().data_ptr() for t in tensors if isinstance(t, torch.Tensor)}


def nbytes(ts) -> int:
    return sum(t.numel() * t.element_size() for t in ts if isinstance(t, torch.Tensor))


# --------------------------------------------------------------------------- forward


def forward_case(name, wrap, inputs, a, work: Path, device) -> dict:
    wrap.eval()
    t0 = time.perf_counter()
    (doc,) = capture(wrap, inputs, mode="forward", name=f"{name}.forward")
    real = [t.detach() if isinstance(t, torch.Tensor) else t for t in doc["_inputs"]]
    cap_s = time.perf_counter() - t0
    orig = work / f"{name}.forward.json"
    opt = work / f"{name}.forward.opt.json"
    rep = work / f"{name}.forward.report.json"
    write_fx_json(doc, orig)
    t0 = time.perf_counter()
    run_fxsat(a.fxsat, ["optimize", str(orig), "-o", str(opt), "--target", a.target,
                        "--device", a.profile, "--report", str(rep), *a.optimize_arg])
    opt_s = time.perf_counter() - t0
    report = json.loads(rep.read_text())
    extra = predict_with(a, orig, work / f"{name}.forward.cal")
    res = {"mode": "forward", **extra, "nodes": len(doc["nodes"]), "capture_s": cap_s,
           "fxsat_optimize_s": opt_s, "cost_model": report["cost"],
           "predicted_speedup": report["cost"]["before"] / report["cost"]["after"],
           "variants": {}}
    gms = {"original": to_graph_module(doc)}
    odoc = read_fx_json(opt)
    gms["fxsat"] = to_graph_module(odoc)
    try:
        gms["inductor_passes"] = inductor_passes(to_graph_module(doc), real, training=False)
    except Exception as e:  # noqa: BLE001 - reported in the results
        res["inductor_error"] = f"{type(e).__name__}: {e}"
    with torch.no_grad():
        ref = gms["original"](*real)
        fns = {}
        for k, gm in gms.items():
            out = gm(*real)
            v = {"sdpa_calls": count_sdpa(odoc if k == "fxsat" else gm),
                 "rel_err_vs_original": rel_err(ref, out)}
            del out
            v["peak_bytes"] = peak_bytes(lambda gm=gm: gm(*real), device)
            res["variants"][k] = v
            fns[k] = lambda gm=gm: gm(*real)
        del ref
        time_variants(res, fns, a, device)
    speedups(res, "original", "fxsat")
    return res


def time_variants(res: dict, fns: dict, a, device) -> None:
    for k, t in bench_interleaved(fns, device, a.runs, a.warmup).items():
        res["variants"][k]["time"] = t
    if a.cuda_graphs:
        for k, fn in fns.items():
            res["variants"][k]["graph_time"] = bench_graph(fn, device, a.runs, a.warmup)


def speedups(res: dict, base: str, new: str) -> None:
    """measured_speedup (eager, interleaved medians) and, where replayed as CUDA graphs,
    measured_speedup_graph (device time only)."""
    vs = res["variants"]
    if base in vs and new in vs:
        res["measured_speedup"] = vs[base]["time"]["median_ms"] / vs[new]["time"]["median_ms"]
        gb, gn = vs[base].get("graph_time", {}), vs[new].get("graph_time", {})
        if "median_ms" in gb and "median_ms" in gn:
            res["measured_speedup_graph"] = gb["median_ms"] / gn["median_ms"]


# --------------------------------------------------------------------------- joint


def _fw_bw(fw, bw, primals, tangents, nf, inputs_storage):
    """One fw then bw run; returns (outputs + grads, saved activation bytes)."""
    fo = fw(*primals)
    saved = list(fo[nf:])
    act = nbytes([t for t in saved if isinstance(t, torch.Tensor)
                  and t.untyped_storage().data_ptr() not in inputs_storage])
    grads = bw(*saved, *tangents)
    return list(fo[:nf]) + list(grads), act


def joint_case(name, wrap, inputs, a, work: Path, device) -> dict:
    from torch._functorch import config as fconfig
    from torch._functorch.partitioners import min_cut_rematerialization_partition

    wrap.train()
    t0 = time.perf_counter()
    (doc,) = capture(wrap, inputs, mode="joint", name=f"{name}.joint")
    cap_s = time.perf_counter() - t0
    nf = doc["num_fwd_outputs"]
    primals = [t.detach() if isinstance(t, torch.Tensor) else t for t in doc["_inputs"]]
    phs = placeholder_vals(doc)
    g = torch.Generator(device=device).manual_seed(2)
    tangents = []
    for pname, val in phs:
        if pname.startswith("tangents"):
            tangents.append(torch.randn(val["shape"], generator=g, device=device,
                                        dtype=getattr(torch, val["dtype"]))
                            .as_strided(val["shape"], val["stride"]))
    del g
    orig = work / f"{name}.joint.json"
    opt = work / f"{name}.joint.opt.json"
    rep = work / f"{name}.joint.report.json"
    write_fx_json(doc, orig)
    t0 = time.perf_counter()
    run_fxsat(a.fxsat, ["optimize", str(orig), "-o", str(opt), "--target", a.target,
                        "--device", a.profile, "--report", str(rep), *a.optimize_arg])
    opt_s = time.perf_counter() - t0
    report = json.loads(rep.read_text())
    odoc = read_fx_json(opt)
    extra = predict_with(a, orig, work / f"{name}.joint.cal")
    res = {"mode": "joint", **extra, "nodes": len(doc["nodes"]), "num_fwd_outputs": nf,
           "capture_s": cap_s, "fxsat_optimize_s": opt_s, "cost_model": report["cost"],
           "predicted_speedup": report["cost"]["before"] / report["cost"]["after"],
           "sdpa_calls_fxsat": count_sdpa(odoc), "variants": {}, "errors": {}}
    in_store = storage_ptrs(primals) | storage_ptrs(tangents)
    joint_in = primals + tangents

    # pairs: name -> (fw, bw, extra info)
    pairs: dict[str, tuple] = {}
    ind_cache: list = []

    def inductor_joint():
        if not ind_cache:  # the passes once; the partitioner gets a copy per budget
            ind_cache.append(inductor_passes(to_graph_module(doc), joint_in, True))
        return copy.deepcopy(ind_cache[0])

    for b in a.budgets:
        for label, gm_fn in (("pytorch", lambda: to_graph_module(doc)),
                             ("inductor_passes+pytorch", inductor_joint)):
            key = f"{label}@{b}"
            try:
                gm = gm_fn()
                fake = fake_prop(gm, joint_in)
                with fconfig.patch(activation_memory_budget=b):
                    t0 = time.perf_counter()
                    fw, bw = min_cut_rematerialization_partition(gm, fake, num_fwd_outputs=nf)
                    ps = time.perf_counter() - t0
                pairs[key] = (fw, bw, {"partition_s": ps, "sdpa_calls": count_sdpa(gm)})
            except Exception as e:  # noqa: BLE001
                res["errors"][key] = f"{type(e).__name__}: {e}"
                traceback.print_exc()
        for label, src in (("fxsat_partition", orig), ("fxsat", opt)):
            key = f"{label}@{b}"
            try:
                prefix = work / f"{name}.{label}.b{b}"
                prep = work / f"{name}.{label}.b{b}.report.json"
                t0 = time.perf_counter()
                run_fxsat(a.fxsat, ["partition", str(src), "-o", str(prefix), "--budget", str(b),
                                    "--target", a.target, "--device", a.profile,
                                    "--report", str(prep)])
                ps = time.perf_counter() - t0
                pr = json.loads(prep.read_text())
                fwd = read_fx_json(str(prefix) + ".fw.json")
                bwd = read_fx_json(str(prefix) + ".bw.json")
                pairs[key] = (to_graph_module(fwd), to_graph_module(bwd),
                              {"partition_s": ps, "sdpa_calls": count_sdpa(fwd),
                               "predicted": {k: pr.get(k) for k in
                                             ("activation_bytes", "saved_bytes", "peak_bytes",
                                              "recompute_cost")}})
            except Exception as e:  # noqa: BLE001
                res["errors"][key] = f"{type(e).__name__}: {e}"
                traceback.print_exc()

    with torch.no_grad():
        jgm = to_graph_module(doc)
        ref = jgm(*joint_in)
        ogm = to_graph_module(odoc)
        fns = {"joint_unpartitioned": lambda: jgm(*joint_in),
               "fxsat_joint_unpartitioned": lambda: ogm(*joint_in)}
        for key, fn in fns.items():
            v = {"rel_err_vs_original": rel_err(ref, fn()), "activation_bytes": None}
            v["peak_bytes"] = peak_bytes(fn, device)
            res["variants"][key] = v
        for key, (fw, bw, info) in pairs.items():
            try:
                out, act = _fw_bw(fw, bw, primals, tangents, nf, in_store)
                v = dict(info)
                v["rel_err_vs_original"] = rel_err(ref, out)
                v["activation_bytes"] = act
                del out

                def fn(fw=fw, bw=bw):
                    return _fw_bw(fw, bw, primals, tangents, nf, in_store)

                v["peak_bytes"] = peak_bytes(fn, device)
                res["variants"][key] = v
                fns[key] = fn
            except Exception as e:  # noqa: BLE001
                res["errors"][key] = f"{type(e).__name__}: {e}"
                traceback.print_exc()
        del ref
        time_variants(res, fns, a, device)
    # the cost model's before/after prices the whole joint graph: compare unpartitioned graphs
    speedups(res, "joint_unpartitioned", "fxsat_joint_unpartitioned")
    vs = res["variants"]
    if "pytorch@1.0" in vs and "fxsat@1.0" in vs:
        res["speedup_vs_pytorch_partition_at_1.0"] = (vs["pytorch@1.0"]["time"]["median_ms"]
                                                      / vs["fxsat@1.0"]["time"]["median_ms"])
    return res


# --------------------------------------------------------------------------- report


def mib(b):
    return "-" if b is None else f"{b / 2**20:.0f} MiB" if b >= 2**20 else f"{b / 1024:.1f} KiB"


def ms(v):
    """eager median, and the CUDA-graph replay median in brackets where there is one."""
    if not v or "time" not in v:
        return "-"
    g = v.get("graph_time") or {}
    return f"{v['time']['median_ms']:.2f} ms" + (f" ({g['median_ms']:.2f})"
                                                  if "median_ms" in g else "")


def tables(results: dict) -> str:
    lines = [f"Device: {results['device_name']} (torch {results['torch']}). Times: eager "
             f"PyTorch, median of {results['runs']} interleaved runs after {results['warmup']} "
             "warm-up runs; in brackets the same graph captured as one CUDA graph and "
             "replayed (device time, no host dispatch).", ""]
    lines += ["| graph | size | SDPA orig/Inductor/fxsat | original | Inductor passes | fxsat "
              "| predicted speedup | measured speedup | peak orig / fxsat |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, m in results["models"].items():
        f = m.get("forward")
        if not f or "variants" not in f:
            continue
        vs = f["variants"]
        o, x, i = vs.get("original"), vs.get("fxsat"), vs.get("inductor_passes")
        sd = "/".join(str(v["sdpa_calls"]) if v else "-" for v in (o, i, x))
        lines.append(f"| {name}.forward | {m['size']} | {sd} | {ms(o)} | {ms(i)} | {ms(x)} | "
                     f"{f['predicted_speedup']:.2f}× | {f['measured_speedup']:.2f}× | "
                     f"{mib(o['peak_bytes'])} / {mib(x['peak_bytes'])} |")
    lines += ["", "Joint graphs, forward+backward (fw then bw; time median; peak = max allocated "
              "above inputs and tangents; act = saved activation bytes):", "",
              "| graph | partitioner | " + " | ".join(
                  f"budget {b}: time / peak / act" for b in results.get("budgets", BUDGETS))
              + " |", "|---|---|" + "---|" * len(results.get("budgets", BUDGETS))]
    for name, m in results["models"].items():
        j = m.get("joint")
        if not j or "variants" not in j:
            continue
        vs = j["variants"]
        for key, desc in (("joint_unpartitioned", "unpartitioned joint graph"),
                          ("fxsat_joint_unpartitioned", "fxsat-optimized joint graph, "
                                                        "unpartitioned")):
            u = vs.get(key)
            if u:
                lines.append(f"| {name}.joint | {desc} | {ms(u)} / {mib(u['peak_bytes'])} |"
                             + " |" * (len(results.get("budgets", BUDGETS)) - 1))
        for label in ("pytorch", "inductor_passes+pytorch", "fxsat_partition", "fxsat"):
            cells = []
            for b in results.get("budgets", BUDGETS):
                v = vs.get(f"{label}@{b}")
                cells.append("error" if f"{label}@{b}" in j.get("errors", {}) else "-" if not v
                             else f"{ms(v)} / {mib(v['peak_bytes'])} / "
                                  f"{mib(v['activation_bytes'])}")
            desc = {"pytorch": "PyTorch min-cut", "inductor_passes+pytorch":
                    "Inductor passes + PyTorch min-cut", "fxsat_partition":
                    "fxsat partition (original graph)",
                    "fxsat": "fxsat optimize + partition"}[label]
            lines.append(f"| {name}.joint | {desc} | " + " | ".join(cells) + " |")
    lines += ["", "Predicted (cost model: before/after seconds of `fxsat optimize --report`) vs "
              "measured speedup, fxsat over the original graph "
              "(joint: the unpartitioned joint graphs, fw+bw in one graph):", "",
              f"| graph | predicted ({results.get('profile')}) | predicted "
              f"({results.get('also_profile') or '-'}) | measured (eager) "
              "| measured (CUDA graph) | fxsat output rel. error (max / median) |",
              "|---|---|---|---|---|---|"]
    for name, m in results["models"].items():
        for mode in ("forward", "joint"):
            r = m.get(mode)
            if r and "measured_speedup" in r:
                v = r["variants"].get("fxsat" if mode == "forward"
                                      else "fxsat_joint_unpartitioned", {})
                e = v.get("rel_err_vs_original") or {}
                err = f"{e['max']:.1e} / {e['median']:.1e}" if e else "-"
                p2 = r.get("predicted_speedup_also")
                mg = r.get("measured_speedup_graph")
                lines.append(f"| {name}.{mode} | {r['predicted_speedup']:.2f}× | "
                             + (f"{p2:.2f}×" if p2 else "-")
                             + f" | {r['measured_speedup']:.2f}× | "
                             + (f"{mg:.2f}×" if mg else "-") + f" | {err} |")
    return "\n".join(lines)


def table_from(a) -> int:
    """Tables of saved results; predictions with ``--also-profile`` redone from ``--graphs``."""
    results = json.loads(Path(a.table_from).read_text())
    if a.graphs and a.also_profile:
        a.target = results["target"]
        results["also_profile"] = a.also_profile
        for name, m in results["models"].items():
            for mode in ("forward", "joint"):
                if mode in m and "cost_model" in m[mode]:
                    orig = Path(a.graphs) / f"{name}.{mode}.json"
                    m[mode].update(predict_with(a, orig, Path(tempfile.mkdtemp()) / "p"))
    results["table"] = tables(results)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    print(results["table"])
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="tiny models (CPU test)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--modes", default="forward,joint")
    ap.add_argument("--fxsat", default=str(ROOT / "target" / "release" / "fxsat"))
    ap.add_argument("--optimize-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for `fxsat optimize` (repeatable), e.g. "
                         "--optimize-arg=--assume --optimize-arg=no-fully-masked-rows")
    ap.add_argument("--profile", help="fxsat cost profile (default: h100 on cuda, cpu on cpu)")
    ap.add_argument("--also-profile", help="a second cost profile (e.g. the calibrated one) "
                    "whose predicted speedups are recorded too")
    ap.add_argument("--json", help="write raw results here")
    ap.add_argument("--workdir", default=None, help="where graphs go (default: a temp dir)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--table-from", metavar="RESULTS.json",
                    help="run nothing: print the tables of saved results (with --graphs and "
                         "--also-profile, first recompute the second-profile predictions)")
    ap.add_argument("--graphs", metavar="DIR",
                    help="with --table-from: the captured graphs (a --workdir of the run)")
    ap.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                    help="skip the CUDA-graph replay timings")
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)),
                    help="memory budgets for the partitioners (default 1.0,0.5,0.1)")
    ap.add_argument("--dtype", default=None, help="default: bfloat16 (float32 with --tiny)")
    a = ap.parse_args(argv)
    if a.table_from:
        return table_from(a)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    a.budgets = [float(b) for b in a.budgets.split(",")]
    a.target = "cuda" if device.type == "cuda" else "cpu"
    a.profile = a.profile or ("h100" if device.type == "cuda" else "cpu")
    dtype = getattr(torch, a.dtype or ("float32" if a.tiny else "bfloat16"))
    sizes = TINY if a.tiny else REAL
    work = Path(a.workdir or tempfile.mkdtemp(prefix="fxsat-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {
        "format": "fxsat-gpu-validate", "version": 1, "generator": "experiments/gpu_validate.py",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": a.device,
        "device_name": (torch.cuda.get_device_name() if device.type == "cuda"
                        else platform.processor() or "cpu"),
        "torch": torch.__version__, "dtype": str(dtype).removeprefix("torch."),
        "profile": a.profile, "also_profile": a.also_profile, "target": a.target,
        "runs": a.runs, "warmup": a.warmup,
        "argv": sys.argv[1:], "budgets": a.budgets, "models": {},
    }
    try:
        import transformers
        results["transformers"] = transformers.__version__
    except ImportError:
        pass

    def save():
        if a.json:
            Path(a.json).parent.mkdir(parents=True, exist_ok=True)
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
                f.write("\n")

    for name in a.models.split(","):
        wrap, inputs, desc = build(name, sizes, device, dtype)
        m = results["models"][name] = {"size": desc}
        print(f"== {name}: {desc}", file=sys.stderr, flush=True)
        for mode in a.modes.split(","):
            t0 = time.perf_counter()
            try:
                fn = forward_case if mode == "forward" else joint_case
                m[mode] = fn(name, wrap, inputs, a, work, device)
            except Exception as e:  # noqa: BLE001 - keep going, report
                traceback.print_exc()
                m[mode] = {"error": f"{type(e).__name__}: {e}"}
            m[mode]["wall_s"] = time.perf_counter() - t0
            print(f"   {mode}: {m[mode].get('error') or 'ok'} ({m[mode]['wall_s']:.1f} s)",
                  file=sys.stderr, flush=True)
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
            save()
        del wrap, inputs
    results["table"] = tables(results)
    save()
    print(results["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
