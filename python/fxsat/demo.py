"""``make demo`` / ``python -m fxsat.demo``: a tiny GPT-2-style model trained through
``torch.compile(model, backend="fxsat")`` on the CPU.

The model is built here from plain PyTorch (no downloads): token and position embeddings,
``--layers`` pre-norm blocks with a causal self-attention written the textbook way
(``softmax(q @ k^T * scale + mask) @ v``, which fxsat fuses into the SDPA kernel, forward and
backward, with the backend's default options: fxsat's mask analysis proves that the causal
mask hides no whole row, see docs/attention.md) and a GELU MLP, and a language-model head with
the cross-entropy loss inside the
compiled graph. It prints the attention blocks fused (fused SDPA kernel calls per training
step, counted by the profiler, for Inductor alone and for fxsat), the median step time of eager,
Inductor and fxsat (one thread by default: timings on a shared machine are noisy with more),
and the gradient check (max error of fxsat's gradients against eager's).
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d: int, heads: int, seq: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, s, d = x.shape
        h = self.heads
        q, k, v = (t.view(b, s, h, d // h).transpose(1, 2)
                   for t in self.qkv(self.ln1(x)).split(d, dim=2))
        pos = torch.arange(s, device=x.device)
        keep = (pos[None, :] <= pos[:, None]).view(1, 1, s, s)  # causal, as HF builds it
        mask = torch.where(keep, 0.0, torch.finfo(x.dtype).min)
        scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(d // h)) + mask
        y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, s, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class TinyGPT(nn.Module):
    def __init__(self, vocab=256, d=64, heads=4, layers=2, seq=64):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.blocks = nn.ModuleList(Block(d, heads, seq) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids, targets):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(self.ln(x))
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def _step(model, fn, ids, targets):
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    loss = fn(ids, targets)
    loss.backward()
    return time.perf_counter() - t0, loss.detach()


SDPA_FW = "aten::_scaled_dot_product_flash_attention_for_cpu"
SDPA_BW = SDPA_FW + "_backward"


def _kernel_calls(model, fn, ids, targets) -> tuple[int, int]:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        _step(model, fn, ids, targets)
    names = [e.name for e in prof.events()]
    return names.count(SDPA_FW), names.count(SDPA_BW)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    import fxsat

    torch.manual_seed(0)
    base = TinyGPT(layers=args.layers, seq=args.seq)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 256, (args.batch, args.seq), generator=g)
    targets = torch.randint(0, 256, (args.batch, args.seq), generator=g)

    be = fxsat.backend()
    variants = {"eager": None, "inductor": "inductor", "fxsat": be}
    times, grads, losses, compile_s, kernels = {}, {}, {}, {}, {}
    for name, backend in variants.items():
        m = copy.deepcopy(base)
        fn = m if backend is None else torch.compile(m, backend=backend)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            compile_s[name], losses[name] = _step(m, fn, ids, targets)  # compiles
        for x in w:
            if "fxsat" in str(x.message):
                print(f"warning: {x.message}")
        grads[name] = {k: p.grad.clone() for k, p in m.named_parameters()}
        times[name] = statistics.median(_step(m, fn, ids, targets)[0] for _ in range(args.steps))
        kernels[name] = _kernel_calls(m, fn, ids, targets)

    s = be.stats
    print(f"model: TinyGPT, {args.layers} layers, hidden 64, 4 heads, batch {args.batch}, "
          f"sequence {args.seq} (CPU, float32)")
    print(f"attention blocks fused (fused SDPA kernel calls per step, forward/backward, of "
          f"{args.layers}): eager {kernels['eager'][0]}/{kernels['eager'][1]} | inductor "
          f"{kernels['inductor'][0]}/{kernels['inductor'][1]} | fxsat "
          f"{kernels['fxsat'][0]}/{kernels['fxsat'][1]}")
    print(f"fxsat: graphs optimized {s.optimized}, partitioned {s.partitioned}, fallbacks "
          f"{len(s.fallbacks)}, {s.seconds * 1e3:.0f} ms in fxsat (0 graphs when Inductor's "
          "cache answered)")
    print(f"first step (compile) s: inductor {compile_s['inductor']:.1f}, "
          f"fxsat {compile_s['fxsat']:.1f}")
    print("median step time (ms, forward + backward, %d steps, %d thread(s)): eager %.2f | "
          "inductor %.2f | fxsat %.2f" % (args.steps, args.threads, times["eager"] * 1e3,
                                          times["inductor"] * 1e3, times["fxsat"] * 1e3))
    gerr = max((grads["fxsat"][k] - grads["eager"][k]).abs().max().item() for k in grads["eager"])
    gscale = max(grads["eager"][k].abs().max().item() for k in grads["eager"])
    lerr = abs(losses["fxsat"].item() - losses["eager"].item())
    ok = (gerr <= 1e-4 * max(1.0, gscale) and lerr <= 1e-4 and not s.fallbacks
          and kernels["fxsat"] == (args.layers, args.layers))
    print(f"gradient check: max |grad_fxsat - grad_eager| = {gerr:.2e} (largest gradient "
          f"{gscale:.2e}), loss difference {lerr:.2e}: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
