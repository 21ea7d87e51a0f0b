# The two commands the README starts with. Each installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# FUSE, for every mount (pyfuse3 builds against libfuse3).
APT_PACKAGES := fuse3 libfuse3-dev pkg-config openssl
# The tests also run podman, runc and mmdebstrap (the container tests; no registry needed), shellcheck (the
# scripts) and kubectl (cross-checks of the Secret sync; Debian's kubernetes-client when none is installed).
TEST_APT_PACKAGES := $(APT_PACKAGES) podman runc mmdebstrap shellcheck $(if $(shell command -v kubectl),,kubernetes-client)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench lint setup system-packages test-packages

demo: setup ## Start the fake Key Vault with sample objects and mount them (Ctrl-C to stop)
	$(VENV)/bin/kvfs demo $(MOUNTPOINT)

test: setup test-packages ## Run the whole test suite (needs root and /dev/fuse, as in CI)
	$(VENV)/bin/pytest -q

bench: setup test-packages ## Run the benchmarks (not part of CI); each prints a table. BENCH=soak (1 h) picks one
	$(VENV)/bin/python -m tests.bench $(BENCH)

lint: setup test-packages
	$(VENV)/bin/ruff check kvfs tests
	shellcheck containers/*.sh containers/lab/*.sh

setup: system-packages $(VENV)/.installed

system-packages:
	@$(call apt_install,$(APT_PACKAGES))

test-packages:
	@$(call apt_install,$(TEST_APT_PACKAGES))

# Install the Debian packages named in $(1) unless every one is installed already.
define apt_install
dpkg-query -W -f='$${Status}\n' $(1) 2>/dev/null | grep -c 'ok installed' | grep -qx $(words $(1)) || \
  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(1); }
endef

$(VENV)/.installed: pyproject.toml
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@
