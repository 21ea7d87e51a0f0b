# The two commands the README starts with. Each installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# kubectl cross-checks the Secret sync tests; Debian's kubernetes-client when no kubectl is installed
APT_PACKAGES := fuse3 libfuse3-dev pkg-config openssl $(if $(shell command -v kubectl),,kubernetes-client)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench lint setup system-packages

demo: setup ## Start the fake Key Vault with sample objects and mount them (Ctrl-C to stop)
	$(VENV)/bin/kvfs demo $(MOUNTPOINT)

test: setup ## Run the whole test suite (needs root and /dev/fuse, as in CI)
	$(VENV)/bin/pytest -q

bench: setup ## Run the benchmarks (not part of CI); each prints a table
	$(VENV)/bin/python -m tests.bench

lint: setup
	$(VENV)/bin/ruff check kvfs tests

setup: system-packages $(VENV)/.installed

system-packages:
	@dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | grep -c 'ok installed' | grep -qx $(words $(APT_PACKAGES)) || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); }

$(VENV)/.installed: pyproject.toml
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@
