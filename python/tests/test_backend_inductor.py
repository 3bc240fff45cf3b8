"""fxsat.inductor.install(): fxsat's partitioner (and pre-pass) inside backend="inductor"."""

from __future__ import annotations

import warnings

import pytest
import torch

import fxsat.inductor
from fxsat.dynamo import FxsatFallbackWarning, FxsatPartitioner, FxsatPrePass

from test_backend import SDPA_BW, SDPA_FW, Tiny, _close, _tiny_step


@pytest.fixture(autouse=True)
def _clean():
    import torch._functorch.config as fcfg
    import torch._inductor.config as icfg

    # Dynamo's own cache would answer a compile of Tiny made under other hooks: install()
    # applies to what is compiled after it.
    torch._dynamo.reset()
    with icfg.patch(fx_graph_cache=False), fcfg.patch(enable_autograd_cache=False):
        yield
    while fxsat.inductor.installed():
        fxsat.inductor.uninstall()


def test_install_uninstall_restores_config():
    import torch._inductor.config as cfg

    def mine(graph):
        return None

    old_part = cfg.custom_partitioner_fn
    with cfg.patch(joint_custom_pre_pass=mine):
        fxsat.inductor.install(budget=0.5, pre_pass=True)
        assert isinstance(cfg.custom_partitioner_fn, FxsatPartitioner)
        assert cfg.custom_partitioner_fn.opts.budget == 0.5
        pre = cfg.joint_custom_pre_pass
        assert isinstance(pre, list) and isinstance(pre[0], FxsatPrePass) and pre[1] is mine
        fxsat.inductor.uninstall()
        assert cfg.custom_partitioner_fn is old_part
        assert cfg.joint_custom_pre_pass is mine
    fxsat.inductor.uninstall()  # nothing installed: no-op
    assert cfg.custom_partitioner_fn is old_part


def test_inductor_backend_with_hooks_trains_like_eager():
    x = torch.randn(2, 8, 32)
    m = Tiny()
    want = _tiny_step(m, m, x)
    stats = fxsat.inductor.install(budget=1.0, pre_pass=True)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            c = torch.compile(m, backend="inductor", dynamic=False)
            got = _tiny_step(m, c, x)
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                _tiny_step(m, c, x)
    finally:
        fxsat.inductor.uninstall()
    assert not [x for x in w if issubclass(x.category, FxsatFallbackWarning)]
    assert stats.optimized == 1 and stats.partitioned == 1, stats
    assert stats.fused == 1 and stats.fused_backward == 1, stats
    names = {e.name for e in prof.events()}
    assert SDPA_FW in names and SDPA_BW in names
    assert _close(got[0], want[0], 1e-5, 1e-6)
    for k in want[1]:
        assert _close(got[1][k], want[1][k], 1e-4, 1e-6), k


def test_partitioner_alone_budget():
    """Without the pre-pass: fxsat's partitioner only, at a low budget (recomputation)."""
    x = torch.randn(2, 8, 32)
    m = Tiny()
    want = _tiny_step(m, m, x)
    stats = fxsat.inductor.install(budget=0.1)
    try:
        got = _tiny_step(m, torch.compile(m, backend="inductor", dynamic=False), x)
    finally:
        fxsat.inductor.uninstall()
    assert stats.partitioned == 1 and stats.optimized == 0 and not stats.fallbacks
    (report,) = stats.reports
    assert report["budget"] == 0.1 and report["recomputed"], report.get("recomputed")
    for k in want[1]:
        assert _close(got[1][k], want[1][k], 1e-4, 1e-6), k


def test_hooks_forced_failure_one_warning(monkeypatch):
    monkeypatch.setenv("FXSAT_BACKEND_FAIL", "1")
    x = torch.randn(2, 8, 32)
    m = Tiny()
    want = _tiny_step(m, m, x)
    stats = fxsat.inductor.install(pre_pass=True)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            got = _tiny_step(m, torch.compile(m, backend="inductor", dynamic=False), x)
    finally:
        fxsat.inductor.uninstall()
    fw = [x for x in w if issubclass(x.category, FxsatFallbackWarning)]
    assert len(fw) == 1 and len(stats.fallbacks) == 1, [str(x.message) for x in fw]
    for k in want[1]:
        assert _close(got[1][k], want[1][k], 1e-4, 1e-6), k
