# One command sets up and runs each job; creating the venv and installing are part of it.
#   make demo   fine-tune a packaged model on a packaged dataset (the README's main job)
#   make test   the whole test suite
#   make quick  the tests not marked slow (a quick loop while developing)
#   make lint   ruff over src, tests and benchmarks
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV     := $(BIN)/uv pip install --python $(BIN)/python --compile-bytecode
# Where a local wheel directory is configured for pip (as on the project machines), uv uses it too.
FIND_LINKS := $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS),)
# On a machine without a local CPU wheel, set TORCH_INDEX=https://download.pytorch.org/whl/cpu
# to avoid PyPI's multi-GB CUDA build of torch.
TORCH_INDEX ?=
TORCH_SRC := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),$(FIND_LINKS))

.PHONY: demo test quick lint install bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv>=0.5"
	$(UV) -q $(TORCH_SRC) "torch==2.13.0"
	$(UV) -q $(FIND_LINKS) -e ".[all,bench,dev]"
	touch $(STAMP)

install: $(STAMP)
	@$(BIN)/python -m compileall -q src tests benchmarks >/dev/null

demo: install
	$(BIN)/transferkit demo

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

quick: install
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV)
