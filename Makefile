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

.PHONY: setup system run test bench package clean

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
	$(PY) -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

run: setup
	$(VENV)/bin/livecc-desk

test: setup
	$(PY) -m pytest -q

# The one-folder PyInstaller bundle in dist/ (Vulkan + CPU llama.cpp), its size, and its self-test.
# CUDA bundle instead: scripts/build_package.sh --cuda
package: setup
	scripts/build_package.sh

bench: setup
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
