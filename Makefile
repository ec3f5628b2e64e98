# The README's two commands: `make run` and `make test`. Both work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

# Debian packages: WeasyPrint needs Pango and fonts; the suite starts its own PostgreSQL.
RUN_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-dejavu-core
# The browser tests drive Debian's Chromium and run the Nu HTML Checker with Java.
# pdfinfo (poppler-utils) reads back whether our PDFs are tagged.
# tests/test_production_path.py serves the installed wheel through nginx with deploy/nginx.conf.
TEST_DEBS := $(RUN_DEBS) postgresql chromium default-jre-headless poppler-utils nginx
# axe-core and vnu.jar come from the npm registry, at the versions in package-lock.json.
BROWSER_DEPS := tests/browser/node_modules/.installed

.PHONY: run demo test lint format bench bench-quick system-deps-run system-deps-test system-deps-bench clean

run: system-deps-run $(VENV)/.installed
	$(BIN)/flask --app counselor_app counselor setup
	$(BIN)/flask --app counselor_app run --host $(HOST) --port $(PORT)

# bandit scans the shipped code; each finding it would raise is explained beside its # nosec.
BANDIT := $(BIN)/bandit -q -r counselor_app forms reports

# The fictitious demo practice, in a database of its own (instance/demo.sqlite3), made once:
# built under another name and moved into place only when complete, so a build that fails
# part way is started afresh next time rather than taken for a finished one.
DEMO_DB := $(CURDIR)/instance/demo.sqlite3
demo: system-deps-run $(VENV)/.installed
	@if [ ! -f "$(DEMO_DB)" ]; then \
	  rm -f "$(DEMO_DB).part" && \
	  DATABASE_URL=sqlite:///$(DEMO_DB).part $(BIN)/flask --app counselor_app counselor setup && \
	  DATABASE_URL=sqlite:///$(DEMO_DB).part $(BIN)/flask --app counselor_app counselor demo-data && \
	  mv "$(DEMO_DB).part" "$(DEMO_DB)"; \
	fi
	DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/flask --app counselor_app run --host $(HOST) --port $(PORT)

# The tests without a browser run in parallel (pytest-xdist, a file per worker, each worker
# with its own PostgreSQL), then the Chromium tests one at a time: they time real clocks.
PYTEST_WORKERS ?= auto
test: system-deps-test $(VENV)/.installed-test $(BROWSER_DEPS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BANDIT)
	$(BIN)/python -m pytest -m "not browser" -n $(PYTEST_WORKERS) --maxprocesses 4 --dist loadfile
	$(BIN)/python -m pytest -m browser

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BANDIT)

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks print tables (never asserted). bench builds the large practice on SQLite and
# PostgreSQL (up to 30 minutes); bench-quick does the same on a small scale (under 3 minutes).
bench: system-deps-bench $(VENV)/.installed-bench
	$(BIN)/python tests/benchmarks/run.py

bench-quick: system-deps-bench $(VENV)/.installed-bench
	$(BIN)/python tests/benchmarks/run.py --quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# --ignore-scripts: vnu-jar's install script would fetch a Java runtime; Debian's is used.
$(BROWSER_DEPS): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The benchmarks also serve the app with gunicorn (the prod extra) and load it with wrk.
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,prod]"
	touch $@ $(VENV)/.installed-test $(VENV)/.installed

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

# Installs only what is missing, so a machine that has everything is not touched.
define install_debs
	@missing=""; \
	for pkg in $(1); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

system-deps-run:
	$(call install_debs,$(RUN_DEBS))

system-deps-test:
	$(call install_debs,$(TEST_DEBS))

system-deps-bench:
	$(call install_debs,$(TEST_DEBS) wrk)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache tests/browser/node_modules
