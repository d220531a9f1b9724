# ChildLink developer gate. `make help` lists the targets.
# Everything runs in a project-local virtual environment built from the lock file (uv.lock).

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy

.DEFAULT_GOAL := help
.PHONY: help install demo test check unit bench docs clean

help: ## Show this help.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the locked dependencies.

demo: install ## Build a 10,000-child demo county, run every stage, serve it at http://127.0.0.1:8000.
	$(BIN)/childlink demo --children 10000 --seed 42

check: install ## Lint, format check, strict type check, lock and migration checks.
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(UV) lock --check --python $(PYTHON)
	scratch=$$(mktemp -d) && CHILDLINK_DATA_DIR=$$scratch $(BIN)/childlink db upgrade --no-seed \
	  && CHILDLINK_DATA_DIR=$$scratch $(BIN)/childlink db check && rm -rf $$scratch
	$(BIN)/python -m childlink.cli.docs --check

unit: install ## Run the test suite only (SQLite and PostgreSQL).
	$(BIN)/pytest -n 2

test: check unit ## Everything CI runs: checks, then all tests.

bench: install ## Benchmarks (figures, not assertions): make bench STAGE=synth
	$(BIN)/childlink bench $(or $(STAGE),synth)

docs: install ## Regenerate docs/cli.md from the commands' --help.
	$(BIN)/python -m childlink.cli.docs

clean: ## Remove the virtual environments and generated data.
	rm -rf $(VENV) $(TOOLS) var .mypy_cache .ruff_cache .pytest_cache
