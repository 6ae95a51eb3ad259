# One command per developer action. The Makefile makes its own virtual environment.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test check lint typecheck bench bench-quick clean demo

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## make run: a node on http://localhost:8765 with SQLite at data/stigmem.db
run: $(STAMP)
	@mkdir -p data
	STIGMEM_DB_PATH=$${STIGMEM_DB_PATH:-data/stigmem.db} $(BIN)/stigmem-node

## make test: the whole suite
test: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## make check: lint, types and the suite (run before every commit)
check: lint typecheck test

## make demo: two local nodes (no containers) handshake and federate a fact, in under a minute
demo: $(STAMP)
	$(BIN)/python infra/demo.py

## make bench: the benchmark suite (never part of make test)
bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
