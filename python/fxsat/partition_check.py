"""Check a partition in PyTorch: running the ``fw`` graph and then the ``bw`` graph (saved
values passed along) must reproduce the joint graph's outputs exactly.

    python -m fxsat.partition_check JOINT.json PREFIX [--seed S] [--int-inputs index.json]

The joint graph runs on random primals and tangents (``fxsat.load.random_inputs``); the
forward graph gets the same primals; its outputs are ``[forward outputs..., saved...]``; the
backward graph gets ``[saved..., tangents...]`` and returns the gradients. Every forward output
and every gradient must be bitwise equal (``torch.equal``; ``None`` must match ``None``).
Exit status 0 equal, 1 a mismatch.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import torch

from fxsat.compare import int_inputs_for
from fxsat.fxjson import read_fx_json
from fxsat.load import placeholder_vals, random_inputs, to_graph_module

__all__ = ["check_partition", "PartitionCheck", "main"]


@dataclass
class PartitionCheck:
    ok: bool
    lines: list[str] = field(default_factory=list)
    num_saved: int = 0

    def __bool__(self) -> bool:
        return self.ok


def _same(a, b) -> tuple[bool, str]:
    if a is None or b is None:
        return (a is None and b is None), f"{type(a).__name__} vs {type(b).__name__}"
    if not isinstance(a, torch.Tensor):
        return a == b, f"{a!r} vs {b!r}"
    if a.shape != b.shape or a.dtype != b.dtype:
        return False, f"{tuple(a.shape)}/{a.dtype} vs {tuple(b.shape)}/{b.dtype}"
    if torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
                             and torch.equal(a.nan_to_num(), b.nan_to_num())):
        return True, "equal"
    err = (a.double() - b.double()).abs().max().item() if a.numel() else 0.0
    return False, f"max abs err {err:.3e}"


def check_partition(joint_path, fw_path, bw_path, seed: int = 0,
                    int_inputs=None) -> PartitionCheck:
    """Run joint, fw and bw on the same inputs; compare (see module docstring)."""
    joint = read_fx_json(joint_path)
    fw = read_fx_json(fw_path)
    bw = read_fx_json(bw_path)
    if fw.get("kind") != "fw" or bw.get("kind") != "bw":
        return PartitionCheck(False, [f"kinds are {fw.get('kind')!r}/{bw.get('kind')!r}, "
                                      "expected 'fw'/'bw'"])
    nf = joint["num_fwd_outputs"]
    ints = int_inputs_for(int_inputs, joint_path)
    inputs = random_inputs(joint, seed=seed, int_inputs=ints)
    names = [n for n, _ in placeholder_vals(joint)]
    by_name = dict(zip(names, inputs))
    expected = to_graph_module(joint)(*inputs)
    fw_names = [n for n, _ in placeholder_vals(fw)]
    primals = [n for n in names if n.startswith("primals")]
    lines = []
    if fw_names != primals:
        return PartitionCheck(False, [f"fw placeholders {fw_names} != joint primals {primals}"])
    fw_out = to_graph_module(fw)(*[by_name[n] for n in fw_names])
    saved = list(fw_out[nf:])
    bw_names = [n for n, _ in placeholder_vals(bw)]
    tangents = [n for n in names if n.startswith("tangents")]
    if len(bw_names) != len(saved) + len(tangents) or bw_names[len(saved):] != tangents:
        return PartitionCheck(False, [f"bw placeholders {bw_names}: expected {len(saved)} saved "
                                      f"values then tangents {tangents}"])
    grads = to_graph_module(bw)(*saved, *[by_name[n] for n in tangents])
    got = list(fw_out[:nf]) + list(grads)
    ok = len(got) == len(expected)
    if not ok:
        lines.append(f"{len(got)} outputs, joint has {len(expected)}")
    for i, (e, g) in enumerate(zip(expected, got)):
        same, why = _same(e, g)
        ok &= same
        kind = "forward" if i < nf else "gradient"
        lines.append(f"output {i} ({kind}): {'ok' if same else 'MISMATCH'} ({why})")
    return PartitionCheck(ok, lines, len(saved))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("joint")
    ap.add_argument("prefix", help="PREFIX of PREFIX.fw.json / PREFIX.bw.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--int-inputs")
    a = ap.parse_args(argv)
    res = check_partition(a.joint, a.prefix + ".fw.json", a.prefix + ".bw.json", a.seed,
                          a.int_inputs)
    print("\n".join(res.lines))
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
