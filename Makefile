# phenograd: `make demo` and `make test` are all a newcomer needs.
# `make setup` is idempotent: quick when the venv is current and xfoil is installed.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: setup setup-cfd setup-dft setup-bench demo test test-fast lint xfoil data-release benchmark clean

setup: $(STAMP) xfoil

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; phenograd needs Python 3.11"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch==2.13.0 (the CPU build) is pinned in pyproject; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The peers the benchmarks compare with (pyproject's bench extra: NeuralFoil, AeroSandbox, cmaes for Optuna's CMA-ES).
setup-bench: setup
	$(PY) -m pip install --quiet -e '.[test,bench]'

# Debian's xfoil, plus the no-op FP-trap shim it needs without graphics (built once, then a smoke run).
xfoil: $(STAMP)
	@command -v xfoil >/dev/null || { \
		echo "installing Debian's xfoil"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq xfoil; }
	@$(VENV)/bin/phenograd check >/dev/null || { $(VENV)/bin/phenograd check; exit 1; }

# The CFD extra: Debian's OpenFOAM (v1912, ~150 MB) for `--solver rans`. `make test` installs it for its RANS tests.
setup-cfd: setup
	@command -v simpleFoam >/dev/null || { \
		echo "installing Debian's openfoam"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openfoam; }

# The DFT rung of the catalyst ladder: Debian's GPAW 22.8 and its PAW/basis data, run under Debian's own python3
# (phenograd calls it in a separate process; `phenograd check` reports it).
.PHONY: setup-dft
setup-dft: setup
	@/usr/bin/python3 -c "import gpaw" 2>/dev/null || { \
		echo "installing Debian's gpaw and gpaw-data"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gpaw gpaw-data; }

# Airfoil design, catalyst screening and pretrain -> fine-tune on the shipped models (~5-10 min on 2 cores).
demo: setup
	$(PY) -m phenograd.datasets.release unpack data/airfoil_v1.db
	OMP_NUM_THREADS=1 $(PY) examples/demo.py --out demo_out

test: setup setup-cfd setup-dft lint
	$(PY) -m pytest -q

# The development loop: every test not marked slow (`@pytest.mark.slow`), under 2 minutes on 2 cores.
test-fast: setup lint
	$(PY) -m pytest -q -m "not slow"

# ruff (pyproject.toml [tool.ruff]): lint, and formatting checked, not changed (`ruff format .` formats).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The airfoil data release (resumable: run again to continue; see README). The second command retries the
# non-converged points at 200 and 240 panels, as design verification does (datasets/airfoil_fallback.py).
data-release: setup
	$(PY) -m phenograd.datasets.release unpack data/airfoil_v1.db
	$(VENV)/bin/phenograd data airfoil --out data/airfoil_v1.db --shapes 6300 --include-real all \
		--polars-per-shape 3 --seed 0
	$(VENV)/bin/phenograd data airfoil-fallback --data data/airfoil_v1.db
	$(PY) -m phenograd.datasets.release pack data/airfoil_v1.db

# The catalyst data release: EMT adsorption energies (resumable: run again to continue; see README).
.PHONY: catalyst-release
catalyst-release: setup
	$(PY) -m phenograd.datasets.release unpack data/catalyst_v1.db
	$(VENV)/bin/phenograd data catalyst --out data/catalyst_v1.db --n 24000 --seed 0
	$(PY) -m phenograd.datasets.release pack data/catalyst_v1.db

# The catalyst v2 release: CHGNet on pymatgen surfaces of 31 metals (data/catalyst_v2.md). Resumable: run again to
# continue; several thousand relaxations of 5-20 s each, so it grows across sessions (one core, lowest priority).
# --n counts planned systems: pure and ordered slabs recur in the plan and their systems merge with the earlier
# draw's (more placements of the same system), so 5,950 planned systems are the release's 5,000 distinct ones.
.PHONY: catalyst-v2-release
catalyst-v2-release: setup
	$(PY) -m phenograd.datasets.release unpack data/catalyst_v2.db
	OMP_NUM_THREADS=1 nice -n 19 $(VENV)/bin/phenograd data catalyst --protocol v2 --calculator chgnet \
		--out data/catalyst_v2.db --n 5950 --seed 0 --workers 1 --no-progress
	$(PY) -m phenograd.datasets.release pack data/catalyst_v2.db

# The DFT label set (data/catalyst_dft_v1.md): GPAW single points at CHGNet-relaxed geometries, 1-3 min per
# single point on one core; DFT_WORKERS=2 works on two slabs at once (the faster way to use two cores),
# DFT_PROCESSES=2 splits each single point over two MPI ranks. Resumable: run again to continue.
DFT_PROCESSES ?= 1
DFT_WORKERS ?= 1
.PHONY: dft-release
dft-release: setup-dft
	$(PY) -m phenograd.datasets.release unpack data/catalyst_dft_v1.db
	OMP_NUM_THREADS=1 $(VENV)/bin/phenograd data dft --out data/catalyst_dft_v1.db --n 200 --processes $(DFT_PROCESSES) --workers $(DFT_WORKERS)
	$(PY) -m phenograd.datasets.release pack data/catalyst_dft_v1.db

benchmark: setup
	$(PY) -m benchmarks.xfoil_throughput

# RANS cases for the multi-fidelity surrogate (OpenFOAM SA, coarse grid; resumable: run again to continue).
# Train: 150 real training airfoils (two slices of one seeded order); test: 40 held-out real airfoils (seed 1); one Re and one alpha each.
.PHONY: rans-data
rans-data: setup-cfd
	$(PY) -m phenograd.datasets.release unpack data/rans_test_v1.db
	$(PY) -m phenograd.datasets.release unpack data/rans_train_v1.db
	$(VENV)/bin/phenograd data airfoil --solver rans --out data/rans_test_v1.db --shapes 0 --include-real test \
		--real-limit 40 --seed 1 --re 1e6:1e7 --alpha -2:8:1 --max-iter 2000 --timeout 240 --workers 2
	$(VENV)/bin/phenograd data airfoil --solver rans --out data/rans_train_v1.db --shapes 0 --include-real train \
		--real-limit 120 --seed 0 --re 1e6:1e7 --alpha -2:8:1 --max-iter 2000 --timeout 240 --workers 2
	$(VENV)/bin/phenograd data airfoil --solver rans --out data/rans_train_v1.db --shapes 0 --include-real train \
		--real-skip 120 --real-limit 30 --seed 0 --re 1e6:1e7 --alpha -2:8:1 --max-iter 2000 --timeout 240 --workers 2
	$(PY) -m phenograd.datasets.release pack data/rans_test_v1.db
	$(PY) -m phenograd.datasets.release pack data/rans_train_v1.db

# The shipped models (see surrogate/models/README.md): retrain from the committed data releases. The airfoil model
# fine-tunes the shipped pretrained encoder (`make encoders` rebuilds it) as two processes (torchrun, 2 x 4 shapes a
# step) with the Huber loss (delta 0.03 of the normalised errors), then gives each member a new head (width 256, the
# raw station y values beside the pooled embedding; CM's errors weigh twice in that stage's loss) trained on its
# frozen encoder's features; 5 members, ~110 min on 2 cores. airfoil_fast.pt, from its own encoder (2 layers, 65-node
# contour graph), refits its end-to-end heads instead: station-y heads made it 10-16 % more accurate but doubled its
# design solves (surrogate/models/README.md); ~40 min. Both then get their convergence probability refitted on the
# release's retried labels (converged at 160, 200 or 240 panels, as verification counts it; a minute). The catalyst model learns the v2
# release's CHGNet labels (three members, the placements AdsorbML disqualifies left out; ~20 min on one core); v1's
# EMT model stays as catalyst_emt_v1.pt.
.PHONY: models encoders
models: setup
	$(PY) -m phenograd.datasets.release unpack data/airfoil_v1.db
	OMP_NUM_THREADS=1 $(VENV)/bin/torchrun --nproc_per_node 2 -m phenograd train --domain airfoil \
		--data data/airfoil_v1.db --out surrogate/models/airfoil.pt --encoder shipped --epochs 40 --patience 10 \
		--batch-size 4 --refit-epochs 60 --refit-head-width 256 --refit-station-y --refit-target-weights 1 2 2 1 1 \
		--huber-delta 0.03 --members 5 --seed 0 --no-progress
	OMP_NUM_THREADS=1 $(VENV)/bin/torchrun --nproc_per_node 2 -m phenograd train --domain airfoil \
		--data data/airfoil_v1.db --out surrogate/models/airfoil_fast.pt \
		--encoder surrogate/models/airfoil_fast_encoder.pt --epochs 40 --patience 10 --batch-size 4 \
		--refit-epochs 40 --huber-delta 0.03 --members 5 --seed 0 --no-progress
	for m in airfoil airfoil_fast; do \
		$(VENV)/bin/phenograd calibrate --model surrogate/models/$$m.pt --data data/airfoil_v1.db --convergence; done
	$(PY) -m phenograd.datasets.release unpack data/catalyst_v2.db
	OMP_NUM_THREADS=1 $(VENV)/bin/phenograd train --domain catalyst --data data/catalyst_v2.db \
		--out surrogate/models/catalyst.pt --disqualified drop --members 3 --epochs 60 --patience 12 --seed 0 \
		--no-progress
	mkdir -p runs/unl
	test -f runs/unl/v2_seed1_6000.db || $(VENV)/bin/phenograd data unlabelled --domain catalyst --protocol v2 \
		--n 6000 --seed 1 --out runs/unl/v2_seed1_6000.db
	OMP_NUM_THREADS=1 $(VENV)/bin/phenograd train --domain catalyst --data data/catalyst_v2.db \
		--out surrogate/models/catalyst_fast.pt --disqualified drop --teacher surrogate/models/catalyst.pt \
		--extra-structures runs/unl/v2_seed1_6000.db --members 1 --layers 2 --hidden 32 --epochs 60 --patience 12 \
		--seed 0 --no-progress

# The shipped pretrained encoders (surrogate/models/README.md; the label-efficiency benchmark's settings, ~45 + ~17 +
# ~10 min on one core). `phenograd train --encoder shipped` starts from them.
encoders: setup
	$(PY) -m phenograd.datasets.release unpack data/airfoil_v1.db
	OMP_NUM_THREADS=1 $(VENV)/bin/phenograd pretrain --domain airfoil --data data/airfoil_v1.db --objective jepa \
		--epochs 40 --sampled 1000 --seed 0 --no-progress --out surrogate/models/airfoil_encoder.pt
	OMP_NUM_THREADS=1 $(VENV)/bin/phenograd pretrain --domain airfoil --data data/airfoil_v1.db --objective jepa \
		--epochs 40 --sampled 1000 --seed 0 --layers 2 --contour-stations 33 --no-progress \
		--out surrogate/models/airfoil_fast_encoder.pt
	$(PY) -m phenograd.datasets.release unpack data/catalyst_v1.db
	OMP_NUM_THREADS=1 $(VENV)/bin/phenograd pretrain --domain catalyst --data data/catalyst_v1.db --objective denoise \
		--geometry relaxed --limit 6000 --epochs 10 --seed 0 --no-progress --out surrogate/models/catalyst_encoder.pt

clean:
	rm -rf $(VENV) demo_out .pytest_cache
