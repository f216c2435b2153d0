# The two commands: `make demo` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Stamps are named by a hash of what they install, not dated: a .venv or node_modules carried over from
# another checkout (a CI cache, a copied tree) whose files are newer than ours would otherwise pass for
# current while missing packages added since (CI once failed on `No module named 'azure.mgmt.network'`).
digest = $(shell cat $(1) | sha256sum | cut -c1-16)
PY_STAMP := $(VENV)/.installed-$(call digest,requirements.txt requirements-dev.txt)
NODE_STAMP := node_modules/.installed-$(call digest,package.json)
# checkov pins packaging<24 while pytest 9 needs >=24, so it lives in its own venv inside .venv/.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(call digest,infra/requirements-checkov.txt)

.PHONY: demo test lint bench deps system-deps clean

deps: $(PY_STAMP) $(NODE_STAMP) system-deps

# Debian packages the tests and the demo run for real (a fresh CI machine lacks them; it runs as root).
# redis-server: key-expiry sampling is tested against a real TLS server (tests/dataplane, demo).
# chromium: tests/reporting opens the assessment pack in a real headless browser, as a reviewer would.
system-deps:
	@command -v redis-server >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends redis-server)
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends chromium)

$(PY_STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(dir $@).installed*
	touch $@

$(CHECKOV_STAMP): infra/requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r infra/requirements-checkov.txt
	rm -f $(dir $@).installed*
	touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --silent
	rm -f $(dir $@).installed*
	touch $@

demo: deps
	$(PY) -m demo

# The whole suite runs with the LRO shape recorded from real traffic (202 + Azure-AsyncOperation), then
# every test during which the emulator answered a write with an operation runs again with the spec's other
# answer (200 + Updating). The first pass lists those tests (emulator/lro_census.py, tests/conftest.py).
LRO_TESTS := .pytest-lro-tests
# Both passes run on pytest-xdist workers, each with its own Azurite, emulators and redis-server on free ports
# (tests/conftest.py merges the workers' LRO lists). Most tests wait on those servers, so four workers keep
# two cores busy where one process left them idle (17-20 min in one process on a 2-core machine).
TEST_WORKERS ?= 4
test: deps $(CHECKOV_STAMP)
	$(VENV)/bin/ruff check .
	$(CHECKOV_VENV)/bin/checkov --directory infra --skip-download --compact --quiet
	rm -f $(LRO_TESTS)
	WARDEN_TEST_LRO_RECORD=$(LRO_TESTS) $(PY) -m pytest -n $(TEST_WORKERS)
	WARDEN_TEST_LRO_SHAPE=updating WARDEN_TEST_LRO_ONLY=$(LRO_TESTS) $(PY) -m pytest -n $(TEST_WORKERS)

lint: deps
	$(VENV)/bin/ruff check .

bench: deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache
