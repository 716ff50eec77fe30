# officina: the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
STAMP_BASE = $(VENV)/.stamp-base
STAMP_TEST = $(VENV)/.stamp-test
PYTEST_ARGS ?=
# The tests that talk DDS (marked `dds` by tests/conftest.py) run alone in one process after the
# rest, which runs on TEST_WORKERS xdist workers (two: the cores of this project's CI machines;
# TEST_WORKERS=0 runs it in one process; tests/conftest.py orders the modules for them, the ones
# with the most slow tests first). Exit status: the first failing phase's, 5 when neither
# phase collected a test.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder)
# Bytecode of the project's sources is compiled once before the tests: where the environment says
# not to write bytecode (PYTHONDONTWRITEBYTECODE), every process a test starts would otherwise
# compile officina's modules again as it imports them.
SOURCES = officina sim controllers vision tasks exoskeleton ros benchmarks tests
define pytest_phases
	@$(PY) -m compileall -q -j 0 $(SOURCES) >/dev/null
	@a=0; b=0; \
	$(PY) -m pytest $(XDIST) -m "not dds$(1)" $(PYTEST_ARGS) || a=$$?; \
	$(PY) -m pytest -m "dds$(1)" $(PYTEST_ARGS) || b=$$?; \
	if [ $$a -eq 5 ] && [ $$b -eq 5 ]; then exit 5; fi; \
	for rc in $$a $$b; do if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi; done
endef

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
	$(call pytest_phases,)

test-fast: $(STAMP_TEST)
	$(call pytest_phases, and not slow)

bench: $(STAMP_TEST)
	$(VENV)/bin/officina bench all

lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) runs build *.egg-info
