# Two commands do all set-up on a fresh Debian 12 machine (as root or with sudo):
#   make demo   installs everything, builds the built-in example VM and runs migrate on it
#   make test   installs everything and runs the whole test suite (image and Docker tests included)
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= out/demo
PYTEST ?= $(PY) -m pytest

.PHONY: demo test test-fast lint bench host venv clean

host:
	bash scripts/setup-host.sh

# Debian's python3: the libguestfs binding is built for it and lives in its dist-packages.
$(VENV)/.installed: pyproject.toml
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

demo: host venv
	$(PY) -m migrate sample build flagship
	$(PY) -m migrate inspect $$($(PY) -m migrate sample path flagship --format qcow2) -o $(OUT)/inventory.json

test: host venv
	$(PYTEST)

# Skips the slow tests that build and read real disk images.
test-fast: venv
	$(PYTEST) -m "not image and not docker"

lint: venv
	$(VENV)/bin/ruff check migrate analyzers tests

bench: host venv
	$(PY) benchmarks/inspect_speed.py

clean:
	rm -rf $(OUT) .pytest_cache
