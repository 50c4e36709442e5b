# CareLedger: `make demo` and `make test` set up everything on a fresh machine.
# Needs only Python >= 3.11 and Node/npm; PostgreSQL is used by the tests when running.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.careledger-installed
NODE_STAMP := node_modules/.careledger-installed

.PHONY: setup demo test lint bench artifacts clean

CHROMIUM := /usr/bin/chromium
IPROUTE := /bin/ip
PG_DUMP := /usr/bin/pg_dump
FAKETIME := /usr/bin/faketime
JQ := /usr/bin/jq
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

setup: $(PY_STAMP) $(NODE_STAMP) $(CHROMIUM) $(PG_DUMP) $(IPROUTE) $(FAKETIME) $(JQ)

$(PY_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "CareLedger needs Python >= 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The anvil binary comes inside the npm package @foundry-rs/anvil (its per-platform
# dependency); install scripts are not needed for that and are not run.
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's chromium, which the portal's browser tests drive through Playwright (Playwright's own
# browser download is neither needed nor used).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "the portal's browser tests need Debian's chromium at $(CHROMIUM)"; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

# PostgreSQL's client programs: `careledger backup` and `restore` of a node on PostgreSQL run pg_dump and
# pg_restore (docs/operations.md).
$(PG_DUMP):
	@command -v apt-get >/dev/null || { echo "backup and restore on PostgreSQL need pg_dump at $(PG_DUMP)"; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null

# iproute2's ip, with which tests/network gives each of three nodes a network namespace of its own.
$(IPROUTE):
	@command -v apt-get >/dev/null || { echo "the network tests need iproute2's $(IPROUTE)"; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null

# Debian's libfaketime (the faketime package brings it): the portal's telehealth journey serves its node again
# with the library preloaded, its clock two days on, past a visit's consent.
$(FAKETIME):
	@command -v apt-get >/dev/null || { echo "the telehealth journey's test needs Debian's libfaketime"; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null

# jq: tests/proofs runs docs/proofs.md's recipe as written (jq, Foundry's cast from package.json, Python).
$(JQ):
	@command -v apt-get >/dev/null || { echo "the proofs recipe's test needs jq at $(JQ)"; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null

demo: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/careledger demo

# Test modules run in parallel, one worker per core; a module's tests stay on one worker, so
# the chain or server a module shares is started once (TEST_WORKERS=0 runs them in order).
TEST_WORKERS ?= auto

test: setup
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m benchmarks

# The contract artifacts a node deploys from (src/careledger/contracts/artifacts): rebuild them
# after changing a contract; tests/contracts/test_compiler.py fails while they are stale.
artifacts: setup
	$(BIN)/python -m careledger.contracts

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
