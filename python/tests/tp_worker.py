"""One rank of the tensor-parallel test (test_tensor_parallel.py starts two of these).

    python tp_worker.py --rank R --world 2 --port P --model llama|gpt2 --out DIR

Builds a small LLaMA- or GPT-2-style language model (embedding, one attention + MLP block,
head, cross-entropy loss inside the forward), seeds it identically on every rank, then:

* ``eager``: the model without parallelism, eager, the reference;
* for each compiled variant (``inductor``, ``fxsat``): a copy made tensor-parallel with
  ``parallelize_module`` (q/k/v and the MLP's up projections column-wise, the output and down
  projections row-wise, over a 1-D CPU mesh), compiled with ``torch.compile(backend=…)``,
  trained ``--steps`` SGD steps.

Each rank writes ``DIR/rank{R}.json``: per variant the losses, the full gradients after the
first step (as lists), and for ``fxsat`` the collectives of every graph fxsat was given and of
every graph it returned (recorded by wrapping the package's API), plus the fused attention
calls in its outputs. Any failure is written there too, and the process exits non-zero after
tearing the process group down, so the test never hangs on a dead peer.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

V, D, H, L, B = 64, 32, 4, 16, 2
HD = D // H


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Attention(nn.Module):
    def __init__(self, style):
        super().__init__()
        bias = style == "gpt2"
        self.style = style
        self.q = nn.Linear(D, D, bias=bias)
        self.k = nn.Linear(D, D, bias=bias)
        self.v = nn.Linear(D, D, bias=bias)
        self.o = nn.Linear(D, D, bias=bias)

    def forward(self, x):
        b, n, _ = x.shape
        # -1 heads: each shard holds H / world of them
        q = self.q(x).view(b, n, -1, HD).transpose(1, 2)
        k = self.k(x).view(b, n, -1, HD).transpose(1, 2)
        v = self.v(x).view(b, n, -1, HD).transpose(1, 2)
        s = q @ k.transpose(-1, -2)
        keep = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
        if self.style == "gpt2":  # GPT-2's own spelling: where(causal, scores, finfo.min) after the scale
            s = torch.where(keep, s / HD ** 0.5, torch.finfo(s.dtype).min)
        else:  # LLaMA's: scaled scores plus an additive causal mask
            mask = torch.zeros(n, n, dtype=s.dtype, device=x.device).masked_fill(~keep, torch.finfo(s.dtype).min)
            s = s * HD ** -0.5 + mask
        w = torch.softmax(s, dim=-1)
        return self.o((w @ v).transpose(1, 2).reshape(b, n, -1))


class MLP(nn.Module):
    def __init__(self, style):
        super().__init__()
        self.style = style
        bias = style == "gpt2"
        self.up = nn.Linear(D, 2 * D, bias=bias)
        self.gate = nn.Linear(D, 2 * D, bias=False) if style == "llama" else None
        self.down = nn.Linear(2 * D, D, bias=bias)

    def forward(self, x):
        if self.gate is not None:
            return self.down(F.silu(self.gate(x)) * self.up(x))
        return self.down(F.gelu(self.up(x)))


class Model(nn.Module):
    def __init__(self, style):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        norm = (lambda: RMSNorm(D)) if style == "llama" else (lambda: nn.LayerNorm(D))
        self.n1, self.n2, self.nf = norm(), norm(), norm()
        self.attn = Attention(style)
        self.mlp = MLP(style)
        self.head = nn.Linear(D, V, bias=False)

    def forward(self, ids, labels):
        x = self.emb(ids)
        x = x + self.attn(self.n1(x))
        x = x + self.mlp(self.n2(x))
        logits = self.head(self.nf(x))
        return F.cross_entropy(logits.view(-1, V), labels.view(-1))


def tp_plan(style):
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel
    plan = {"attn.q": ColwiseParallel(), "attn.k": ColwiseParallel(), "attn.v": ColwiseParallel(),
            "attn.o": RowwiseParallel(), "mlp.up": ColwiseParallel(), "mlp.down": RowwiseParallel()}
    if style == "llama":
        plan["mlp.gate"] = ColwiseParallel()
    return plan


def full(t):
    from torch.distributed.tensor import DTensor
    return t.full_tensor() if isinstance(t, DTensor) else t


def batch(step):
    g = torch.Generator().manual_seed(100 + step)
    ids = torch.randint(0, V, (B, L), generator=g)
    return ids, torch.roll(ids, -1, dims=1)


def train(model, steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses, grads = [], None
    for step in range(steps):
        ids, labels = batch(step)
        loss = model(ids, labels)
        loss.backward()
        if grads is None:
            grads = {n.removeprefix("_orig_mod."): full(p.grad).tolist() for n, p in model.named_parameters()}
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss))
    return losses, grads


COLLECTIVE_NS = ("_c10d_functional.", "c10d_functional.")


def collectives(doc):
    """The collective calls of an FX-JSON document, in graph order: (target, args without the
    tensor operands)."""
    out = []
    for n in doc.get("nodes", []):
        t = n.get("target") or ""
        if n.get("op") == "call_function" and t.startswith(COLLECTIVE_NS):
            out.append(t)
    return out


def attention_calls(doc):
    return sum(1 for n in doc.get("nodes", [])
               if n.get("op") == "call_function" and "scaled_dot_product" in (n.get("target") or "")
               and "backward" not in (n.get("target") or ""))


def record_fxsat_calls():
    """Wrap the package's API so every graph fxsat is given and returns is recorded."""
    import fxsat.api as api
    seen = []

    def wrap(name):
        inner = getattr(api, name)

        def call(graph, *a, **kw):
            res = inner(graph, *a, **kw)
            # the backend hands over a dict or the FX-JSON text
            doc_in = graph if isinstance(graph, dict) else (
                json.loads(graph) if isinstance(graph, str) else None)
            # (the backend's partitioner call returns the forward and backward as FX-JSON text)
            res_docs = [json.loads(r) if isinstance(r, str) else r for r in res]
            outs = [r for r in res_docs if isinstance(r, dict) and r.get("format") == "fx-json"]
            seen.append({"api": name,
                         "in": collectives(doc_in) if doc_in else None,
                         "in_kind": doc_in.get("kind") if doc_in else None,
                         "out": [collectives(d) for d in outs],
                         "out_kinds": [d.get("kind") for d in outs],
                         "attention_out": sum(attention_calls(d) for d in outs)})
            return res
        setattr(api, name, call)
    for name in ("optimize", "optimize_and_partition", "partition", "_partition_texts"):
        if hasattr(api, name):
            wrap(name)
    return seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rank", type=int, required=True)
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", choices=["llama", "gpt2"], required=True)
    ap.add_argument("--variants", default="inductor,fxsat")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if os.environ.get("FXSAT_TP_DEBUG"):
        import logging
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("fxsat.dynamo").setLevel(logging.DEBUG)
    result = {"rank": a.rank, "model": a.model}
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(a.port))
    rc = 0
    try:
        dist.init_process_group("gloo", rank=a.rank, world_size=a.world,
                                timeout=datetime.timedelta(seconds=90))
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor.parallel import parallelize_module
        mesh = init_device_mesh("cpu", (a.world,))
        torch.manual_seed(0)
        base = Model(a.model)
        state = {k: v.clone() for k, v in base.state_dict().items()}
        result["eager"] = dict(zip(("losses", "grads"), train(base, a.steps)))
        for variant in a.variants.split(","):
            torch._dynamo.reset()
            m = Model(a.model)
            m.load_state_dict(state)
            parallelize_module(m, mesh, tp_plan(a.model))
            seen = record_fxsat_calls() if variant == "fxsat" else None
            backend = variant
            if variant == "fxsat":
                import fxsat
                # default options: the causal masks are proven by the analysis (rules/causal.rules)
                backend = fxsat.backend(fallback="raise" if os.environ.get("FXSAT_TP_RAISE") else "inductor")
            compiled = torch.compile(m, backend=backend)
            losses, grads = train(compiled, a.steps)
            result[variant] = {"losses": losses, "grads": grads}
            if seen is not None:
                result[variant]["graphs"] = seen
            dist.barrier()
    except Exception as e:  # report, tear down, exit non-zero: the peer then fails fast too
        result["error"] = f"{type(e).__name__}: {e}"
        root = e
        while root.__cause__ is not None:
            root = root.__cause__
        result["traceback"] = "".join(traceback.format_exception(root))
        rc = 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        with open(os.path.join(a.out, f"rank{a.rank}.json"), "w") as f:
            json.dump(result, f)
    return rc


if __name__ == "__main__":
    sys.exit(main())
