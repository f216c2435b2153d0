# The two commands: `make demo` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: demo test lint bench deps clean

deps: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --silent
	touch $@

demo: deps
	$(PY) -m demo

# The whole suite runs with ARM's "200 + provisioningState Updating" LRO shape, then everything that talks
# to the emulator runs again with the "202 + Location" shape (design section 7).
test: deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest
	WARDEN_TEST_LRO_SHAPE=accepted $(PY) -m pytest tests/emulator tests/gateway tests/integration

lint: deps
	$(VENV)/bin/ruff check .

bench: deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache
