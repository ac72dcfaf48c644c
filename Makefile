# Two commands for a fresh machine: `make demo` and `make test`. Each creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all android-core lint clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, exactly 2.13.0 (the CPU build), so no other requirement can pull a CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	# (PYTHONWARNINGS: setuptools' editable-install notice is not ours to act on)
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install -q -e '.[all,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/camkit demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# android_demo/:core alone (make test runs it too, from tests/test_android_core.py)
android-core: $(STAMP)
	bash scripts/android_core_test.sh

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

clean-venv:
	rm -rf $(VENV)
