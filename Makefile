# The two README commands (`make run`, `make test`) use the base install (no TensorFlow, replay
# in-process) on the newest Python this machine has that JAX supports; PYTHON=... overrides it.
# The Reverb stack (Reverb 0.14, TF 2.15, jax 0.4.34: Python 3.11 only) has its own targets.
PYTHON ?= $(shell tools/newest-python)
PYTHON_REVERB ?= $(shell for p in python3.11 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.11.*/bin/python3 2>/dev/null | sort -rV); do $$p -c 'import venv' 2>/dev/null && { echo $$p; break; }; done)
# The Pythons constraints-current.txt was installed and tested on (its jax needs 3.12+); any
# other resolves current releases unpinned (on 3.11: the last jax that supports it).
PINNED_PYTHONS := 3.12 3.13
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENV_REVERB := .venv-reverb
BIN_REVERB := $(VENV_REVERB)/bin
STAMP_REVERB := $(VENV_REVERB)/.installed
export JAX_PLATFORMS := cpu
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install install-reverb run test test-fast test-reverb lint docs bench clean
VENV_DOCS := .venv-docs
STAMP_DOCS := $(VENV_DOCS)/.installed

# The base install: rlkit and its test tools on current releases (constraints-current.txt).
install: $(STAMP)

$(STAMP): pyproject.toml constraints-current.txt
	@test -n "$(PYTHON)" || { echo "make: no Python for the base install (PYTHON=...)"; exit 1; }
	@version=$$($(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])') && \
	  echo "==> $(VENV): Python $$version ($(PYTHON))" && \
	  { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); }
	@echo "==> upgrading pip"
	@$(BIN)/python -m pip install -q --upgrade "pip>=24"
	@minor=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  if echo " $(PINNED_PYTHONS) " | grep -q " $$minor "; then \
	    pins="-c constraints-current.txt"; \
	    echo "==> installing rlkit (editable) with its test tools: jax, dm-haiku, optax, rlax, gymnasium (box2d, mujoco, atari), orbax, ... pinned by constraints-current.txt (2-4 minutes)"; \
	  else \
	    pins=""; \
	    echo "==> installing rlkit (editable) with its test tools on current releases (constraints-current.txt is for Python $(PINNED_PYTHONS), not $$minor; 2-4 minutes)"; \
	  fi; \
	  $(BIN)/python -m pip install -q $$pins -e ".[dev]"
	@touch $(STAMP)
	@echo "==> $(VENV) is ready: $$($(BIN)/python -c 'import jax; print("jax", jax.__version__)')"

# The Reverb stack: rlkit with Reverb and Ray for distributed runs (Python 3.11, every pin in
# constraints.txt: left alone, pip would upgrade jax and numpy past what Reverb accepts).
install-reverb: $(STAMP_REVERB)

$(STAMP_REVERB): pyproject.toml constraints.txt
	@test -n "$(PYTHON_REVERB)" || { echo "make: the Reverb stack needs Python 3.11 (PYTHON_REVERB=...)"; exit 1; }
	@echo "==> $(VENV_REVERB): Python 3.11 ($(PYTHON_REVERB))"
	@test -x $(BIN_REVERB)/python || $(PYTHON_REVERB) -m venv $(VENV_REVERB)
	@echo "==> upgrading pip"
	@$(BIN_REVERB)/python -m pip install -q --upgrade "pip>=24" -c constraints.txt
	@echo "==> installing rlkit (editable) with Reverb 0.14, TensorFlow 2.15, jax 0.4.34 and Ray, pinned by constraints.txt (3-5 minutes)"
	@$(BIN_REVERB)/python -m pip install -q -c constraints.txt -e ".[dev,reverb,distributed]"
	@touch $(STAMP_REVERB)
	@echo "==> $(VENV_REVERB) is ready"

run: install
	$(BIN)/python examples/train_dqn_cartpole.py

# The whole suite, learning tests included.
test: install
	$(BIN)/ruff check rlkit tests examples bench
	$(BIN)/python --version
	$(BIN)/python -m pytest -q -ra

# Everything but the learning tests and other long runs (marked slow).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# On the Reverb stack: the quick tests, and the slow ones that exercise Reverb or Ray (marked
# reverb_stack by tests/conftest.py); the other slow ones run in `make test`, on the base
# install. REVERB_TESTS="" runs the whole suite here.
REVERB_TESTS ?= not slow or reverb_stack
test-reverb: install-reverb
	$(BIN_REVERB)/python --version
	$(BIN_REVERB)/python -m pytest -q -ra -m "$(REVERB_TESTS)"

lint: install
	$(BIN)/ruff check rlkit tests examples bench
	$(BIN)/ruff format --check rlkit tests examples bench

# The documentation site (mkdocs; reads the sources, imports nothing), warnings as errors.
$(STAMP_DOCS): docs/requirements.txt
	@echo "==> $(VENV_DOCS): installing mkdocs, mkdocs-material and mkdocstrings (docs/requirements.txt)"
	@test -x $(VENV_DOCS)/bin/python || $(PYTHON) -m venv $(VENV_DOCS)
	@$(VENV_DOCS)/bin/python -m pip install -q -r docs/requirements.txt
	@touch $(STAMP_DOCS)

docs: $(STAMP_DOCS)
	NO_MKDOCS_2_WARNING=1 $(VENV_DOCS)/bin/mkdocs build --strict

bench: install
	$(BIN)/python bench/dqn_family.py --variants dqn --target 475
	$(BIN)/python bench/compare_sb3.py

clean:
	rm -rf $(VENV) $(VENV_REVERB) $(VENV_DOCS) build *.egg-info site
