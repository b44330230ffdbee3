# The two commands of the README: `make demo` and `make test`. Each sets itself up first.
VENV := .venv
BIN := $(VENV)/bin
KENEYA_HOME ?= $(CURDIR)/demo-home

.PHONY: setup demo test lint unit component bench clean

setup:
	@scripts/setup.sh

demo: setup
	@$(BIN)/keneya --home "$(KENEYA_HOME)" demo

test: setup lint
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(BIN)/python -m pytest -q tests/unit

bench: setup
	$(BIN)/python benchmarks/store.py

clean:
	rm -rf $(VENV) demo-home .pytest_cache .ruff_cache
