# The two commands of the README. Both create and reuse .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean

PORT ?= 8000
HOST ?= 127.0.0.1

$(STAMP): pyproject.toml
	@echo "• Installing into $(VENV) (the first time takes a few minutes)…"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# `make run PORT=8100`; LEADGEN_LOG_LEVEL=info (or debug) shows the libraries' logs.
run: $(STAMP)
	@$(BIN)/leadgen chat --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two workers, a test file per worker at a time (its module fixtures stay in one process): the
# suite is mostly waiting on processes, sockets and sleeps of the sandbox, ~1.9x faster on 2 cores.
test: lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) .leadgen .pytest_cache .mypy_cache .ruff_cache
