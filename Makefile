# Two commands do all set-up on a fresh Debian 12 machine (as root or with sudo):
#   make demo   installs everything, builds the built-in example VM and runs migrate on it
#   make test   installs everything and runs the whole test suite (image and Docker tests included)
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= out/demo
PYTEST ?= $(PY) -m pytest


.PHONY: demo demo-down test test-fast lint bench host venv clean

host:
	bash scripts/setup-host.sh

# Debian's python3: the libguestfs binding is built for it and lives in its dist-packages.
$(VENV)/.installed: pyproject.toml
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The whole chain on the built-in example VM: inspect -> convert -> build -> move the data -> up -> verify.
# The stack stays up afterwards (nginx on http://127.0.0.1/); `make demo-down` removes it.
IMAGE = $$($(PY) -m migrate sample path flagship --format qcow2)
demo: host venv
	$(PY) -m migrate sample build flagship
	if [ -f $(OUT)/stack/compose.yaml ]; then $(PY) -m migrate down $(OUT)/stack --volumes; fi
	rm -rf $(OUT)/data
	$(PY) -m migrate inspect $(IMAGE) -o $(OUT)/inventory.json
	$(PY) -m migrate convert $(IMAGE) -o $(OUT)/stack --secrets-out $(OUT)/secrets.env
	$(PY) -m migrate base-image debian:bookworm-slim
	$(PY) -m migrate build $(OUT)/stack
	$(PY) -m migrate data export $(IMAGE) -o $(OUT)/data --inventory $(OUT)/stack/inventory.json
	$(PY) -m migrate data import $(OUT)/data --project shop-vm01 --outdir $(OUT)/stack
	$(PY) -m migrate up $(OUT)/stack --secrets-file $(OUT)/secrets.env
	$(PY) -m migrate verify $(OUT)/stack --secrets-file $(OUT)/secrets.env

demo-down: venv
	$(PY) -m migrate down $(OUT)/stack --volumes

test: host venv
	$(PYTEST)

# Skips the slow tests that build and read real disk images.
test-fast: venv
	$(PYTEST) -m "not image and not docker"

lint: venv
	$(VENV)/bin/ruff check migrate analyzers tests benchmarks

bench: host venv
	$(PY) benchmarks/inspect_speed.py

clean:
	rm -rf $(OUT) .pytest_cache
