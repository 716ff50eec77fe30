# officina: the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
STAMP_BASE = $(VENV)/.stamp-base
STAMP_TEST = $(VENV)/.stamp-test
PYTEST_ARGS ?=

.PHONY: demo test test-fast bench lint clean help

help:
	@echo "make demo   - set up .venv if missing and run 'officina run pick-place' on the Panda"
	@echo "make test   - set up .venv with the test and ROS extras and run the whole test suite"
	@echo "make bench  - run every benchmark: one table of ratios against baselines of the same run"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP_BASE): pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev,ros,rostest,dist,bench]'
	touch $(STAMP_BASE) $@

demo: $(STAMP_BASE)
	$(VENV)/bin/officina run pick-place --robot panda

test: $(STAMP_TEST)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP_TEST)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP_TEST)
	$(VENV)/bin/officina bench all

lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) runs build *.egg-info
