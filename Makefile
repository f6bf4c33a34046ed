# make install  creates .venv (Python 3.11) with the pinned recipe and this package
# make demo     the end-to-end CPU demo on ../shared/data (or $BIOGPT_DATA)
# make test     the test suite
# make test-fast  the fast tier: tiny models made in memory, no data mirror, under a minute
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# A CPU torch wheel ships on this image; point pip at it so an unpinned
# resolver never reaches for a multi-GB CUDA build.
WHEELS ?= /opt/wheels
PIP    := $(BIN)/pip install --disable-pip-version-check -q $(if $(wildcard $(WHEELS)),--find-links $(WHEELS))
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt -r requirements-test.txt
	rm -rf $(VENV)/src && mkdir -p $(VENV)/src
	$(BIN)/pip download --disable-pip-version-check -q --no-deps --no-binary :all: -d $(VENV)/src fastBPE==0.1.0
	tar xzf $(VENV)/src/fastBPE-0.1.0.tar.gz -C $(VENV)/src
	$(PIP) --no-build-isolation --no-deps fairseq-fixed==0.12.3.1 $(VENV)/src/fastBPE-0.1.0
	@# fastBPE's learner (learnbpe) is only in its C++ command-line tool, not in the binding.
	g++ -std=c++11 -O3 -pthread $(VENV)/src/fastBPE-0.1.0/fastBPE/main.cc -o $(BIN)/fast
	$(PIP) --no-deps optimum-intel==2.2.0
	$(PIP) --no-build-isolation --no-deps -e .
	touch $@

demo: install
	$(BIN)/python -m biogpt_fairseq.tools.demo

# Tests run in TEST_WORKERS processes of one thread each (tests/conftest.py), which share what the tests build.
TEST_WORKERS ?= 2

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 tests

test-fast: install
	$(BIN)/python -m pytest -q -m fast tests

clean:
	rm -rf $(VENV) demo_out
