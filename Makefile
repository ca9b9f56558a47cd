PYTHON ?= python3.11
# The current stack runs on Python 3.11 and newer: test it on 3.12 (Colab's Python) where a
# 3.12 is found on PATH or under pyenv, else on 3.11.
PYTHON_CURRENT ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12.*/bin/python3 2>/dev/null | sort -rV) python3.11; do $$p -c '' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENV_CURRENT := .venv-current
STAMP_CURRENT := $(VENV_CURRENT)/.installed
export JAX_PLATFORMS := cpu
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install install-current run test test-current test-fast lint bench clean

# The README's stack: rlkit with Reverb (Python 3.11, every pin in constraints.txt).
install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24" -c constraints.txt
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,reverb,distributed]"
	touch $(STAMP)

# The base install without Reverb, on current releases (constraints-current.txt).
install-current: $(STAMP_CURRENT)

$(STAMP_CURRENT): pyproject.toml constraints-current.txt
	test -x $(VENV_CURRENT)/bin/python || $(PYTHON_CURRENT) -m venv $(VENV_CURRENT)
	$(VENV_CURRENT)/bin/python -m pip install -q --upgrade "pip>=24" -c constraints-current.txt
	$(VENV_CURRENT)/bin/python -m pip install -q -c constraints-current.txt -e ".[dev]"
	touch $(STAMP_CURRENT)

run: install
	$(BIN)/python examples/train_dqn_cartpole.py

test: install
	$(BIN)/ruff check rlkit tests examples bench
	$(BIN)/python -m pytest -q -ra

test-current: install-current
	$(VENV_CURRENT)/bin/python --version
	$(VENV_CURRENT)/bin/python -m pytest -q -ra

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check rlkit tests examples bench
	$(BIN)/ruff format --check rlkit tests examples bench

bench: install
	$(BIN)/python bench/dqn_family.py --variants dqn --target 475
	$(BIN)/python bench/compare_sb3.py

clean:
	rm -rf $(VENV) $(VENV_CURRENT) build *.egg-info
