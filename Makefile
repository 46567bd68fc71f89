# Neural Networks — Principles and Practice in Python
#   make book   build the HTML book into _build/html (executes every chapter, cached)
#   make test   the whole test suite: unit tests, nbval over book/ and solutions/, browser check
#   make lab    open the exercises in JupyterLab (students start here; LAB_ARGS="--no-browser" and the like)
#   make bench  NumPy-vs-PyTorch benchmarks (python -m bench)
#   make test-gpu PY=python3   the PyTorch tests again on a CUDA GPU (PY: a Python whose torch has CUDA)
#   make test-explore  the unit tests with 20× as many property-based examples, new ones each run (2 min)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup book html test unit browser test-gpu test-explore bench lab clean

setup: $(STAMP)

# The pinned packages have wheels for Python 3.11 to 3.14 (3.11 is what they were tested with).
# A .venv that a failed first run left behind (no pip, or another Python) is made again.
SUPPORTED := (3, 11) <= sys.version_info[:2] <= (3, 14)
# torch first and alone (see requirements.txt), then everything else pinned, then us.
$(STAMP): requirements.txt pyproject.toml
	@if ! $(PY) -c 'import sys, pip; sys.exit(not ($(SUPPORTED)))' 2>/dev/null; then \
		$(PYTHON) -c 'import sys; sys.exit(0 if $(SUPPORTED) else "$(PYTHON) is Python %d.%d; the pinned packages need Python 3.11 to 3.14: run make $(or $(MAKECMDGOALS),setup) PYTHON=python3.12 (or another)" % sys.version_info[:2])' \
		&& rm -rf $(VENV) && echo "creating $(VENV) with $(PYTHON)" && $(PYTHON) -m venv $(VENV); fi
	$(PY) -m pip install --quiet "$$(grep -E '^torch==' requirements.txt)"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Sphinx does not re-copy static files it already copied: drop them when vendor/ changes.
vendor/.vendored: course_lib/book_assets.py | $(STAMP)
	$(PY) -m course_lib.book_assets vendor
	rm -rf _build/html/_static

# Full-size execution (quick mode off); jupyter-cache re-runs only changed chapters.
# One BLAS/torch thread: the chapters' models are small (threads cost more than they save on
# two cores), and a fixed thread count keeps floating-point sums, hence printed numbers, repeatable.
# jupyter-cache knows a chapter by its code cells alone, so a change to the code the chapters
# import (course_lib, bench), to the results they read (bench/results) or to the pinned packages would
# leave old outputs in the book: when the hash of those files changes, the cache and Sphinx's
# environment are cleared, so every chapter runs again.
LIBRARY_KEY = cat requirements.txt $$(find course_lib bench -type f \( -name '*.py' -o -name '*.json' \) | LC_ALL=C sort) | sha256sum | cut -c1-16
html: $(STAMP) vendor/.vendored
	@key=$$($(LIBRARY_KEY)); old=$$(cat _build/.library-key 2>/dev/null); if [ "$$old" != "$$key" ]; then \
		if [ -n "$$old" ]; then echo "course_lib, bench or requirements.txt changed: every chapter runs again"; \
		else echo "first build: every chapter runs (about 8 minutes on two cores)"; fi; \
		rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute; mkdir -p _build; echo "$$key" > _build/.library-key; fi
	env -u COURSE_LIB_QUICK OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(VENV)/bin/jupyter-book build . --builder html -W -n --keep-going
	@echo
	@echo "The book is at $(CURDIR)/_build/html/index.html"
	@echo "Serve it with: $(PY) -m http.server --bind 127.0.0.1 --directory _build/html 8000"
	@echo "           and open http://127.0.0.1:8000/"

book: html

# Unit tests and every notebook under nbval (quick mode, no network), then the browser check.
# Two xdist workers on two cores: one thread each, or BLAS and torch oversubscribe the CPU.
unit: $(STAMP)
	COURSE_LIB_QUICK=1 COURSE_LIB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile -m "not browser" \
		--nbval-lax tests book solutions

browser: html
	$(PY) -m pytest -m browser tests/test_browser.py

test: unit browser

# A search, not a gate: the unit tests with HYPOTHESIS_PROFILE=explore (tests/hypothesis_budget.py),
# 20× as many property-based examples as `make test`, drawn anew on every run.
test-explore: $(STAMP)
	HYPOTHESIS_PROFILE=explore COURSE_LIB_QUICK=1 COURSE_LIB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 \
		-p no:nbval -m "not browser" tests

# Every test that touches PyTorch, on a machine with a CUDA GPU.  CUDA cases that `make test`
# skips without a GPU must run here: a missing GPU fails the run (COURSE_LIB_REQUIRE_CUDA=1).
# PY: a Python with a CUDA build of torch and the test requirements — .venv itself where it was set
# up from PyPI on Linux (PyPI's torch is the CUDA build there), another one where .venv has the CPU build.
test-gpu:
	COURSE_LIB_REQUIRE_CUDA=1 COURSE_LIB_QUICK=1 COURSE_LIB_OFFLINE=1 $(PY) -m pytest -p no:nbval -p no:cacheprovider -rs \
		tests/pytorch tests/training tests/test_deploy.py tests/scratch

bench: $(STAMP)
	$(PY) -m bench

# LAB_ARGS: more options for JupyterLab (`make lab LAB_ARGS="--no-browser --port 8899"`); as root (a Docker
# container) it needs --allow-root, which is then added
LAB_ARGS ?=
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=. exercises/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

clean:
	rm -rf _build vendor .cache/npm
