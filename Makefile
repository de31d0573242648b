# cdverify: two user-facing targets, `make report` and `make test` (plus `make lint`).
#
# torch: the CPU build is the default. Here `pip install torch==2.13.0` takes a local CPU wheel;
# an unpinned `torch` would pull a multi-GB CUDA build. Override, for example:
#   make report TORCH_SPEC='torch==2.13.0' TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cu128'
#   make test   TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cpu'   # CPU wheel elsewhere
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
REPORT_ARGS ?=
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP_BASE := $(VENV)/.stamp-base
STAMP_DEV := $(VENV)/.stamp-dev

.PHONY: report test lint vision clean

# The main job: every claim checked, one self-contained report in reports/<timestamp>/.
# Finished stages are cached in reports/cache/, so an interrupted run resumes.
report: $(STAMP_BASE)
	$(BIN)/cdverify report $(REPORT_ARGS)

# The suite runs on TEST_WORKERS processes (pytest-xdist), each test file on one worker so that
# a file's shared fixtures (the smoke report) are built once; TEST_WORKERS=0 runs in-process.
test: $(STAMP_DEV)
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changed (stamp files). The dev stamp implies the base one.
$(STAMP_BASE): pyproject.toml | $(BIN)/python
	@if [ -f $(STAMP_DEV) ] && [ $(STAMP_DEV) -nt pyproject.toml ]; then \
	    echo "dev install is current; nothing to install"; \
	else \
	    $(PIP) install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)" && \
	    $(PIP) install -q -e . ; \
	fi
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(PIP) install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PIP) install -q -e '.[dev]'
	touch $@ $(STAMP_BASE)

# Optional: torchvision (its readers as the oracle of the tests, a torchvision ResNet stage in
# `cdverify inspect`). Each torchvision wheel matches one torch build, and PyPI's torchvision
# fails to import beside the local CPU wheel of torch 2.13.0, so this replaces torch with a
# matching pair: on x86_64 torch 2.14.1 + torchvision 0.29.1 (a CUDA build, about 5.5 GB in the
# venv; it runs on the CPU), on aarch64 torch 2.9.1 + torchvision 0.24.1 (a CPU build).
# Override with VISION_SPEC='torch==X torchvision==Y'. `make clean` returns to the default.
VISION_SPEC ?= $(if $(filter aarch64,$(shell uname -m)),torch==2.9.1 torchvision==0.24.1,torch==2.14.1 torchvision==0.29.1)
vision: $(STAMP_DEV)
	$(PIP) install -q $(TORCH_PIP_ARGS) $(VISION_SPEC)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
