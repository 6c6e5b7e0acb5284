# Two entry points (README): `make run` and `make test`. Both build .venv from the pins.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 8

.PHONY: run test lint env browser slurm clean-results

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	# torch==2.13.0 resolves to the local CPU wheel (find-links); never the CUDA build.
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

env: $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/motorflow validate --results results

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks workflow/scripts
	$(BIN)/snakemake --lint

# tests/test_report.py screenshots the summary page in headless chromium (Debian package).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium; }

# tests/test_workflow.py runs the tiny cohort on a throw-away one-node SLURM cluster
# (tests/slurm_cluster.py starts and stops the daemons).  Where the Debian packages cannot be
# installed (no root, no sudo) the test is skipped and says why.
slurm:
	@command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 && \
		command -v munged >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo -n); \
		{ $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y \
			--no-install-recommends munge slurmctld slurmd slurm-client; } \
		|| echo "SLURM packages not installed: the SLURM test will be skipped"; }

test: $(STAMP) lint browser slurm
	$(BIN)/pytest -q -rs

clean-results:
	rm -rf results logs .snakemake/incomplete
