# The two commands of the README: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck contracts proto proto-check pytest native native-clean clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The leader's hot path compiled with mypyc (tools/native.py); a no-op while the sources match.
native: $(STAMP)
	$(BIN)/python -m tools.native build

native-clean: $(STAMP)
	$(BIN)/python -m tools.native clean

demo: native
	$(BIN)/python -m tools.devstack.demo

test: $(STAMP) lint typecheck contracts proto-check pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

proto: $(STAMP)
	$(BIN)/python -m tools.protogen

proto-check: $(STAMP)
	$(BIN)/python -m tools.protogen --check

pytest: native
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	find common proxy -name '*.so' -delete
	rm -rf build $(VENV) var .pytest_cache .mypy_cache .ruff_cache
