# The two commands: `make run` (set up, import the demo corpus, serve on
# 127.0.0.1:8000) and `make test` (set up, lint, type-check, run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BROWSER := $(VENV)/.browser
POSTGRES := $(VENV)/.postgres

.PHONY: run serve test check lint types bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build, never a multi-GB CUDA one
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Debian's Chromium for the end-to-end page test (Playwright drives it by path;
# no browser is ever downloaded by the test tool). Without root or apt the
# browser test skips and says why.
$(BROWSER): $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  >/dev/null 2>&1 || echo "could not install chromium: the browser test will skip"; }
	touch $(BROWSER)

# Debian's PostgreSQL server for the PostgreSQL store's tests (they start a
# private server on loopback in a temp folder). Without root or apt those
# tests skip and say why.
$(POSTGRES): $(STAMP)
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
	  >/dev/null 2>&1 || echo "could not install postgresql: the PostgreSQL tests will skip"; }
	touch $(POSTGRES)

run: $(STAMP)
	$(BIN)/newsclusters run

# Production: waitress, one process with NEWSCLUSTERS_THREADS threads, on
# NEWSCLUSTERS_HOST:NEWSCLUSTERS_PORT (loopback by default); needs NEWSCLUSTERS_API_KEYS (or an explicit
# NEWSCLUSTERS_ALLOW_ANONYMOUS_WRITES=true).
serve: $(STAMP)
	$(BIN)/newsclusters serve

test: $(STAMP) $(BROWSER) $(POSTGRES) lint types
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check cluster api scripts tests benchmarks

types: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m scripts.bench

clean:
	rm -rf $(VENV) var indexes/CURRENT indexes/snap-*
