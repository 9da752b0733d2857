# `make run` and `make test` set up everything from a fresh clone, then run.
# The virtual environment is rebuilt only when pyproject.toml changes.
# llama.cpp backend: GPU=vulkan (default: what the bundle ships; falls back to the
# CPU build where Vulkan cannot be built), GPU=cpu, or GPU=cuda. The compiled
# llama-cpp-python wheel is cached in ~/.cache/livecc-desk/wheels (scripts/build_llama_wheel.sh).

PYTHON ?= python3
VENV   ?= .venv
GPU    ?= vulkan
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(GPU)

.PHONY: setup system run test lint bench package clean server

setup: system $(STAMP)

# Xvfb, espeak-ng and Qt's X11 libraries (installed when root, else the apt command is printed).
system:
	@scripts/ensure_system_packages.sh

$(STAMP): pyproject.toml scripts/check_build_tools.sh scripts/build_llama_wheel.sh scripts/install_llama_backend.sh
	@scripts/check_build_tools.sh $(PYTHON)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "Installing llama-cpp-python ($(GPU)); the first build on a machine compiles llama.cpp: ~5-9 min on 2 cores..."
	@scripts/install_llama_backend.sh $(PY) $(GPU)
	$(PY) -m pip install --quiet -e '.[test,lint]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

run: setup
	$(VENV)/bin/livecc-desk

test: setup
	$(PY) -m pytest -q

# Import contracts (layers, a Qt-free core), lint, format check, types; config in pyproject.toml.
lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The one-folder PyInstaller bundle in dist/ (Vulkan + CPU llama.cpp), its size, and its self-test.
# CUDA bundle instead: scripts/build_package.sh --cuda
package: setup
	scripts/build_package.sh

# llama.cpp's own llama-server from the pinned sources, for `livecc-desk serve`, the bundle and
# the remote engine's tests, with the GPU backend of `make setup` (GPU=vulkan by default; the CPU
# build where that one cannot be built); cached in ~/.cache/livecc-desk/llama-server/.
SERVER_PY = $(if $(wildcard $(PY)),$(PY),$(PYTHON))
server:
	@PYTHON=$(SERVER_PY) GPU=$(GPU) scripts/build_llama_server.sh || { test "$(GPU)" != cpu && \
		echo "make server: the $(GPU) llama-server cannot be built here (see above); building the CPU one." >&2 && \
		PYTHON=$(SERVER_PY) GPU=cpu scripts/build_llama_server.sh; }

bench: setup
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
