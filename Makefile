# fxsat — the two set-up commands of the README:
#   make demo   train a bundled tiny GPT through torch.compile(backend="fxsat"), against eager and Inductor
#   make test   everything CI runs: fmt, clippy, Rust tests, the package build, Python tests
# Both work on a fresh clone: the PyTorch venv is created (outside the repo) when missing,
# and the Python package (with its native extension) is pip-installed into it (make install).

VENV_PY = $(shell bash python/venv.sh)
FXSAT   = target/release/fxsat
PYO3_SIGNATURE = $(shell $(VENV_PY) -c 'import sys; print(f"cpython-{sys.version_info[0]}.{sys.version_info[1]}-64bit")')
DEMO    = tests/fixtures/gpt2.forward.json

.PHONY: build install demo demo-cli compile-time test rust-test py-test lint bench bench-scale scale-compare scale-fixtures fixtures op-cases check-rules pad-sweep

build:
	cargo build --release --locked

# The Python package fxsat and its native extension (pyproject.toml, python/native/), into
# the venv: pip runs maturin, which builds in target/ (incremental after the first time).
install:
	$(VENV_PY) -m pip install --disable-pip-version-check -q .

# A bundled tiny GPT trained through torch.compile(backend="fxsat") (python/fxsat/demo.py).
demo: install
	cd python && $(VENV_PY) -m fxsat.demo

# The optimizer alone on a bundled graph: optimise, print stats, compare in PyTorch.
demo-cli: build
	mkdir -p out
	$(FXSAT) optimize $(DEMO) -o out/gpt2.forward.opt.json --report out/gpt2.forward.report.json
	$(FXSAT) stats out/gpt2.forward.opt.json | head -n 8
	cd python && $(VENV_PY) -m fxsat.compare ../$(DEMO) ../out/gpt2.forward.opt.json --int-inputs ../tests/fixtures/index.json

# Compile time of a training step, Inductor alone vs backend="fxsat" (table in docs/backend.md).
compile-time: install
	$(VENV_PY) experiments/compile_time.py --tiny --layers 1 4 --markdown

lint:
	cargo fmt --all -- --check
	cargo clippy --release --locked --all-targets -- -D warnings
	@# the environment maturin gives pyo3 (else clippy and pip install rebuild pyo3 for each other)
	PYO3_PYTHON=$(VENV_PY) PYO3_ENVIRONMENT_SIGNATURE=$(PYO3_SIGNATURE) \
		cargo clippy --release --locked -p fxsat-py -- -D warnings
	@# the CLI and the library build without Python: no pyo3 in their dependencies
	@! cargo tree --locked -p fxsat -e normal,build --prefix none | grep -q '^pyo3' || \
		{ echo "lint: the fxsat crate must not depend on pyo3"; exit 1; }

rust-test:
	cargo test --release --locked

py-test: build install
	cd python && FXSAT_BIN=$(CURDIR)/$(FXSAT) $(VENV_PY) -m pytest -q tests

test: lint rust-test py-test

bench:
	cargo bench --bench pipeline
	cargo bench --bench partition

# The whole pipeline on the LLaMA scaling fixtures (1-64 layers): criterion, then the
# per-phase table; scale-compare times PyTorch on the same graphs in the same run.
bench-scale: build
	cargo bench --bench scale
	$(FXSAT) bench

scale-compare: build
	$(VENV_PY) experiments/scale_compare.py --markdown

scale-fixtures:
	$(VENV_PY) python/fixtures/gen_scale_fixtures.py

fixtures:
	$(VENV_PY) python/fixtures/gen_fixtures.py
	$(VENV_PY) python/fixtures/gen_pad_index_fixtures.py
	$(VENV_PY) python/fixtures/gen_loss_fixtures.py

# Matmul padding decisions (fxsat vs Inductor's rule) over a sweep of shapes, h100 profile.
pad-sweep: build
	$(FXSAT) pad-sweep --device h100

# PyTorch's outputs for the interpreter's per-op cases (tests/fixtures/interp/op_cases.json).
op-cases:
	$(VENV_PY) python/fixtures/gen_op_cases.py

# Every default rule, checked numerically in the reference interpreter.
check-rules: build
	$(FXSAT) check-rules --cases 1000
