PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JAX_PLATFORMS := cpu
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install run test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24" -c constraints.txt
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: install
	$(BIN)/python examples/train_dqn_cartpole.py

test: install
	$(BIN)/ruff check rlkit tests examples bench
	$(BIN)/python -m pytest -q -ra

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check rlkit tests examples bench
	$(BIN)/ruff format --check rlkit tests examples bench

bench: install
	$(BIN)/python bench/dqn_cartpole.py
	$(BIN)/python bench/compare_sb3.py

clean:
	rm -rf $(VENV) build *.egg-info
