# The book's commands. `make book` and `make test` do their own set-up on a fresh machine.
#   make book [PROFILE=full|quick] [DATA_SOURCE=url-or-path] [WORKERS=N|auto] [CHAPTER_JOBS=N|auto]
#   (WORKERS=auto, the default: one search worker per usable core in the full profile;
#   CHAPTER_JOBS=auto: chapters that read none of each other's results run side by side,
#   one per usable core, in the quick profile, one at a time in the full profile)
#   make test [DATA_SOURCE=url-or-path] [TEST_JOBS=N|auto]
#   (TEST_JOBS=auto, the default: pytest-xdist runs the test files on every usable core)

PROFILE     ?= full
DATA_SOURCE ?= https://archive.ics.uci.edu/static/public/864/room+occupancy+estimation.zip
WORKERS     ?= auto
CHAPTER_JOBS ?= auto
TEST_JOBS   ?= auto
PYTHON      ?= python3
MATHJAX_VERSION := 3.2.2

VENV   := .venv
PY     := $(VENV)/bin/python
KERNEL := occupancy
DATA   := data/Occupancy_Estimation.csv
STAMP  := $(VENV)/.installed
MATHJAX := $(VENV)/share/mathjax/tex-chtml.js
NOTEBOOK_TEXT := $(VENV)/bin/jupytext --to py:percent --opt notebook_metadata_filter=-all -o -

export WORKERS CHAPTER_JOBS
export PYTHONHASHSEED := 0

.PHONY: help setup data book lab test lint bench browser postgres clean distclean

help:
	@echo "make book [PROFILE=full|quick]  run every notebook and build _build/html"
	@echo "make test                       ruff + pytest (unit, notebooks, book build, browser)"
	@echo "make setup | data | lab | bench | clean"

## set-up -----------------------------------------------------------------

# The virtual environment is (re)made when missing or older than the requirements.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (occupancy)" >/dev/null
	@# `git diff` shows notebooks as py:percent text (.gitattributes; CONTRIBUTING.md says why)
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 && \
	  git config diff.notebook.textconv "$(NOTEBOOK_TEXT)" || true
	@touch $@

# MathJax served by the book itself, so formulas render without a connection.
$(MATHJAX): | $(STAMP)
	@command -v npm >/dev/null || { echo "error: npm is needed once to unpack MathJax (apt-get install npm)"; exit 1; }
	@rm -rf $(VENV)/share/mathjax.tmp && mkdir -p $(VENV)/share/mathjax.tmp
	cd $(VENV)/share/mathjax.tmp && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null && tar xzf mathjax-$(MATHJAX_VERSION).tgz
	@rm -rf $(VENV)/share/mathjax && mv $(VENV)/share/mathjax.tmp/package/es5 $(VENV)/share/mathjax
	@rm -rf $(VENV)/share/mathjax.tmp $(VENV)/share/mathjax/sre

# Headless Chromium for the browser test (Debian package), when missing and apt is usable.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	    else echo "note: no chromium found; the browser test needs it (Debian: apt-get install chromium)"; fi; }

# PostgreSQL server for the distributed-search test (Debian package), when missing and apt is usable.
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	    else echo "note: no PostgreSQL server found; the distributed-search test needs it (Debian: apt-get install postgresql)"; fi; }

setup: $(STAMP) $(MATHJAX) browser postgres

$(DATA): | $(STAMP)
	$(PY) -m occupancy_utils.data fetch --source "$(DATA_SOURCE)"

data: $(DATA)

## the book ---------------------------------------------------------------

book: $(STAMP) $(MATHJAX) $(DATA)
	$(PY) -m occupancy_utils.book build --profile $(PROFILE)
	@echo "open _build/html/index.html"

lab: $(STAMP) $(DATA)
	$(VENV)/bin/jupyter lab notebooks/

## checks -----------------------------------------------------------------

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# One test file per xdist worker at a time (--dist loadfile): a file's module fixtures
# (the quick book build, a PostgreSQL cluster) are made once.
test: setup $(DATA) lint
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

bench: $(STAMP) $(DATA)
	$(PY) benchmarks/run.py

clean:
	rm -rf _build results .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(DATA)
