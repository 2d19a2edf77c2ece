# Every target creates the virtualenv it needs on first use, so a fresh clone needs only python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The lowest supported versions (constraints-lowest.txt) live in their own virtualenv.
VENV_LOWEST ?= .venv-lowest
BIN_LOWEST := $(VENV_LOWEST)/bin
# The suite runs on this many pytest-xdist workers; the tests that share one real Airflow (or one
# browser, or one run of the docs' project) are an xdist group, so they run on one worker
# (tests/test_xdist_groups.py checks it). Four on two cores: the e2e, demo and browser tests spend
# most of their time waiting for Airflow's processes (make test from a clean clone, 1,463 tests:
# pytest 7 min 13 s to 7 min 32 s with four).
WORKERS ?= 4
PYTEST_PARALLEL := -n $(WORKERS) --dist loadgroup

.PHONY: venv venv-lowest demo demo-auto test test-lowest lint typecheck unit e2e bench clean

$(BIN)/.installed: setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

$(BIN_LOWEST)/.installed: setup.cfg pyproject.toml constraints-lowest.txt
	test -x $(BIN_LOWEST)/python || $(PYTHON) -m venv $(VENV_LOWEST)
	$(BIN_LOWEST)/python -m pip install --quiet --upgrade pip
	$(BIN_LOWEST)/python -m pip install --quiet -c constraints-lowest.txt -e '.[test]'
	touch $@

venv-lowest: $(BIN_LOWEST)/.installed

# You answer in the emulator's Slack page (the demo prints its URL); Ctrl-C stops everything.
demo: venv
	$(BIN)/airflow-slack-gate demo --keep-running

# A simulated approver answers; the demo stops when the run has taken its branch.
demo-auto: venv
	$(BIN)/airflow-slack-gate demo --auto-approve

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not e2e"

e2e: venv
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m e2e

test: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# The suite on the lowest supported Airflow and providers, without the modules that start a real Airflow
# (e2e) or drive a browser (browser): those run on the pinned versions in `make test`.
test-lowest: venv-lowest
	$(BIN_LOWEST)/python -m pytest $(PYTEST_PARALLEL) -m "not e2e and not browser"

bench: venv
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python bench/watcher_bench.py

clean:
	rm -rf $(VENV) $(VENV_LOWEST) build dist *.egg-info
