"""Shared helpers for fxsat's Python tests (run: pytest python/tests, or make py-test).

The package (python/fxsat), the fixture generators (python/fixtures) and the experiments
(experiments/, whose CPU code paths test_gpu_scripts.py runs) are put on sys.path here."""

import json
import os
import subprocess
import sys
from pathlib import Path

PYDIR = Path(__file__).resolve().parents[1]
ROOT = PYDIR.parent
FIXTURES = ROOT / "tests" / "fixtures"
GENERATORS = PYDIR / "fixtures"
EXPERIMENTS = ROOT / "experiments"
# the CLI binary the tests compare against: $FXSAT_BIN, else the release build
BIN = Path(os.environ.get("FXSAT_BIN", ROOT / "target" / "release" / "fxsat"))
if not BIN.is_absolute():
    BIN = ROOT / BIN
for _d in (EXPERIMENTS, GENERATORS, PYDIR):
    if str(_d) not in sys.path:
        sys.path.insert(0, str(_d))


def load_index() -> dict:
    with open(FIXTURES / "index.json") as f:
        return json.load(f)


def fixture_entries() -> list[dict]:
    return load_index()["fixtures"]


def fixture_files() -> list[str]:
    return [e["file"] for e in fixture_entries()]


def run_cli(*args, check=True) -> subprocess.CompletedProcess:
    """Run the fxsat binary (``BIN``) with ``args``; with ``check``, fail on a non-zero exit."""
    import pytest

    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"fxsat binary not found at {BIN}: run `cargo build --release`", pytrace=False)
    r = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r
