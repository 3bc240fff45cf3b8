"""fxsat inside Inductor's own pipeline, for ``backend="inductor"`` users.

    import fxsat.inductor
    fxsat.inductor.install(budget=0.5, pre_pass=True)
    compiled = torch.compile(model)          # backend="inductor"
    ...
    fxsat.inductor.uninstall()               # the previous settings back

``install`` sets ``torch._inductor.config.custom_partitioner_fn`` to
:class:`fxsat.dynamo.FxsatPartitioner` (fxsat's min-cut partitioner splits every joint graph
under ``budget``) and, with ``pre_pass=True``, ``torch._inductor.config.joint_custom_pre_pass``
to :class:`fxsat.dynamo.FxsatPrePass` (``fxsat.optimize`` on every inference and joint graph
before Inductor's joint-graph passes: attention fusion and the other rewrites). Both hooks'
``uuid()`` cover fxsat's version, the rules' hash and the options, so Inductor's caches keep
results made with other settings apart. A graph fxsat cannot handle falls back to Inductor's
own partitioner / is left as it is, with one warning (``fallback="raise"`` raises).

With ``pre_pass=False`` the partitioner alone runs (``optimize=True`` makes it call
``fxsat.optimize_and_partition`` on the joint graph it receives, i.e. after Inductor's
joint-graph passes, which can hide attention patterns from fxsat's rules; the pre-pass sees
them first).
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["install", "uninstall", "installed"]

_saved: list[dict[str, Any]] = []


def install(budget: float = 1.0, target: str | None = None, pre_pass: bool = False, *,
            assume: Sequence[str] = (), extra_rules: Sequence[str] = (), rules: str | None = None,
            device: str | None = None, time_limit: float | None = None,
            cache_dir: str | None = None, fallback: str = "inductor", optimize: bool = False):
    """Install fxsat's partitioner (and, with ``pre_pass``, its optimizer) into Inductor's
    config. Returns the backend's :class:`fxsat.dynamo.Stats` (what happened to the graphs).
    Calls nest: :func:`uninstall` restores the settings of before the matching install."""
    import torch._inductor.config as cfg

    from fxsat.dynamo import FxsatPartitioner, FxsatPrePass, Options, Stats, _Shared

    if fallback not in ("inductor", "raise"):
        raise ValueError(f"fallback must be 'inductor' or 'raise', not {fallback!r}")
    if not 0.0 <= float(budget) <= 1.0:
        raise ValueError(f"budget must be in [0, 1], not {budget!r}")
    opts = Options(target=target, budget=float(budget), assume=tuple(assume),
                   extra_rules=tuple(str(p) for p in extra_rules),
                   rules=None if rules is None else str(rules), device=device,
                   time_limit=time_limit, cache_dir=None if cache_dir is None else str(cache_dir),
                   fallback=fallback)
    stats = Stats()
    shared = _Shared()  # one warning per graph: the partitioner skips what the pre-pass declined
    _saved.append({"custom_partitioner_fn": cfg.custom_partitioner_fn,
                   "joint_custom_pre_pass": cfg.joint_custom_pre_pass})
    cfg.custom_partitioner_fn = FxsatPartitioner(opts, target, stats, optimize=optimize,
                                                 shared=shared if pre_pass else None)
    if pre_pass:
        p = FxsatPrePass(opts, target, stats, shared=shared)
        prev = cfg.joint_custom_pre_pass
        if prev is None:
            cfg.joint_custom_pre_pass = p
        else:  # keep the user's own pre-passes, fxsat's first
            prevs = list(prev) if isinstance(prev, (list, tuple)) else [prev]
            cfg.joint_custom_pre_pass = [p] + prevs
    return stats


def uninstall() -> None:
    """Restore the Inductor settings saved by the last :func:`install` (no-op if none)."""
    import torch._inductor.config as cfg

    if not _saved:
        return
    prev = _saved.pop()
    cfg.custom_partitioner_fn = prev["custom_partitioner_fn"]
    cfg.joint_custom_pre_pass = prev["joint_custom_pre_pass"]


def installed() -> bool:
    """Whether fxsat's partitioner is Inductor's ``custom_partitioner_fn`` now."""
    import torch._inductor.config as cfg

    from fxsat.dynamo import FxsatPartitioner

    return isinstance(cfg.custom_partitioner_fn, FxsatPartitioner)
