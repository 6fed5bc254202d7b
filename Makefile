# lesr-local: `make run` and `make test` do all set-up on a fresh machine.
#
# GPU users: override the torch pin and build llama.cpp with CUDA, e.g.
#   make setup TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128" \
#              CMAKE_ARGS="-DGGML_CUDA=on"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
RUN_ARGS ?= --env HalfCheetah-v5 --preset quick
PYTEST_ARGS ?=
export MUJOCO_GL ?= egl
export CMAKE_ARGS

BIN := $(VENV)/bin
STAMP := $(VENV)/.lesr-setup

.PHONY: setup run test lint clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel setuptools
	# torch first, pinned, so nothing later pulls the multi-gigabyte CUDA build by accident.
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	@echo "lesr-local: installing; llama-cpp-python builds from source the first time (~13 min on 2 cores, then cached)"
	$(BIN)/python -m pip install --progress-bar off -e '.[dev,ray]'
	$(BIN)/lesr models prepare
	@touch $(STAMP)

run: setup
	$(BIN)/lesr run $(RUN_ARGS)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check lesr_local tests

clean-venv:
	rm -rf $(VENV)
