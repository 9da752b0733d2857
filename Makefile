# `make run` and `make test` set up everything from a fresh clone, then run.
# The virtual environment is rebuilt only when pyproject.toml changes.
# GPU offload: CMAKE_ARGS="-DGGML_CUDA=on" make setup  (see README.md).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup system run test lint bench package clean server

setup: system $(STAMP)

# Xvfb, espeak-ng and Qt's X11 libraries (installed when root, else the apt command is printed).
system:
	@scripts/ensure_system_packages.sh

$(STAMP): pyproject.toml scripts/check_build_tools.sh
	@scripts/check_build_tools.sh $(PYTHON)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "Installing dependencies (the first build of llama-cpp-python compiles llama.cpp: ~5 min on 2 cores)..."
	$(PY) -m pip install --quiet -e '.[test,lint]'
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

# The one-folder PyInstaller bundle in dist/, its size, and its self-test.
package: setup
	scripts/build_package.sh

# llama.cpp's own llama-server from the pinned sources, for `livecc-desk serve` and the remote
# engine's tests; cached in ~/.cache/livecc-desk/llama-server/. GPU=cuda|vulkan|metal make server
server:
	PYTHON=$(if $(wildcard $(PY)),$(PY),$(PYTHON)) scripts/build_llama_server.sh

bench: setup
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
