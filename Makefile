# `make run` sets up .venv and measures every claim on the default subject at
# the standard budget; `make test` sets up .venv and runs the harness's tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SETUP_STAMP := $(VENV)/.setup-complete

# Extra arguments for the claim run, e.g. make run ARGS="--budget smoke".
ARGS ?=
# Extra arguments for the test run, e.g. make test PYTEST_ARGS="-k cache".
PYTEST_ARGS ?=

.PHONY: setup run test clean

setup: $(SETUP_STAMP)

$(SETUP_STAMP): pyproject.toml constraints.txt scripts/setup_venv.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup_venv.sh
	touch $@

run: setup
	$(BIN)/python -m harness $(ARGS)

test: setup
	$(BIN)/python -m pytest tests/ $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) reports/*/
