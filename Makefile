# Every target creates the virtualenv it needs on first use, so a fresh clone needs only python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint typecheck unit e2e bench clean

$(BIN)/.installed: setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/airflow-slack-gate demo --auto-approve

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/python -m pytest -m "not e2e"

e2e: venv
	$(BIN)/python -m pytest -m e2e

test: lint typecheck
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python bench/watcher_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info
