"""Shared helpers for fxsat's Python tests (run: pytest python/tests, or make py-test).

The package (python/fxsat), the fixture generators (python/fixtures) and the experiments
(experiments/, whose CPU code paths test_gpu_scripts.py runs) are put on sys.path here."""

import json
import sys
from pathlib import Path

PYDIR = Path(__file__).resolve().parents[1]
ROOT = PYDIR.parent
FIXTURES = ROOT / "tests" / "fixtures"
GENERATORS = PYDIR / "fixtures"
EXPERIMENTS = ROOT / "experiments"
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
