"""The Rust optimizer keeps every fixture's numerics: ``fxsat optimize FIXTURE -o OUT``, then
compare(FIXTURE, OUT) with atol = rtol = 1e-5 on random inputs (integer ranges from index.json).

The binary is ``$FXSAT_BIN`` or ``target/release/fxsat`` (build it with
``cargo build --release``). A missing binary is a failure, not a skip."""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, fixture_files
from fxsat.compare import compare

BIN = Path(os.environ.get("FXSAT_BIN", ROOT / "target" / "release" / "fxsat"))
if not BIN.is_absolute():
    BIN = ROOT / BIN


@pytest.mark.parametrize("file", fixture_files())
def test_optimized_fixture_matches(file, tmp_path):
    if not (BIN.is_file() and os.access(BIN, os.X_OK)):
        pytest.fail(f"fxsat binary not found at {BIN}: run `cargo build --release` "
                    "(or set FXSAT_BIN)", pytrace=False)
    out = tmp_path / file
    r = subprocess.run([str(BIN), "optimize", str(FIXTURES / file), "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"fxsat optimize failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    assert out.is_file(), f"fxsat optimize wrote no {out}"
    for seed in (0, 1):
        res = compare(FIXTURES / file, out, seed=seed, atol=1e-5, rtol=1e-5,
                      int_inputs=FIXTURES / "index.json")
        assert res.ok, f"seed {seed}:\n" + "\n".join(res.lines)
