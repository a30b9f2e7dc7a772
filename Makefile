# The two commands of the README: `make demo` and `make test`. Both build the environment first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch from the machine's local wheels where present (a CPU-capable build); any matching torch works.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
SHARED := $(abspath ../shared)
export NEURO_WIDGETS_HOME ?= $(if $(wildcard $(SHARED)/data),$(SHARED),)
export PYTHONUNBUFFERED := 1

.PHONY: env demo test
env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[vision,test]"
	touch $@

demo: env
	$(VENV)/bin/neuro-widgets demo --dir notebooks

test: env
	$(PY) -m pytest
