# The project's two commands:
#   make run    set up the environment (first time only) and run the workflow on the embedded default config
#   make test   set up the environment (first time only), lint, and run the test suite
# Extra arguments: make run ARGS="--forcerun data_summary"   make test PYTEST_ARGS="-k tiling"
SHELL := /bin/bash
CORES ?= 2
ARGS ?=
PYTEST_ARGS ?=
VENV := .venv
# This clone's package first, for every process the commands start (Snakemake jobs, torchrun ranks): the shared
# environment's editable install follows whichever clone ran setup last.
export PYTHONPATH := $(CURDIR)/src$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: run test setup

setup:
	@bash envs/setup.sh

run: setup
	$(VENV)/bin/snakemake --cores $(CORES) $(ARGS)

test: setup
	$(VENV)/bin/ruff check src tests scripts benchmarks
	$(VENV)/bin/ruff format --check src tests scripts benchmarks
	$(VENV)/bin/snakefmt --check Snakefile rules
	$(VENV)/bin/snakemake --lint --cores 1
	@# through the environment's own path, as Snakemake's jobs run it (the shebang): DeepSpeed builds its CPU op once per
	@# path it is reached under (~40 s), so every clone's tests then share the one build
	"$$(readlink -f $(VENV))/bin/python" -m pytest $(PYTEST_ARGS)
