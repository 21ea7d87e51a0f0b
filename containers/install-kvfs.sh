#!/bin/sh
# Install kvfs into a container image from a directory of wheels (kvfs and every dependency), offline.
# The one set of install steps shared by the published image (containers/Dockerfile) and the tests' image
# (containers/Containerfile.test): both run exactly this, so the tests exercise what users get.
#
#   install-kvfs.sh WHEEL_DIR
#
# Needs python3 with the venv module (Debian: python3-venv). Installs Debian's fuse3 (libfuse3, which
# pyfuse3 links to, and fusermount3, used to clear stale mounts) and tini (PID 1: forwards the stop signal
# to kvfs and reaps the orphans a hook leaves behind) when they are missing. Leaves:
#   /opt/kvfs                a virtual environment holding kvfs and its dependencies only (no pip, no setuptools)
#   /usr/local/bin/kvfs      the entry point
# Environment: PYTHON (default python3), KVFS_PREFIX (default /opt/kvfs).
set -eu

wheels=${1:?usage: install-kvfs.sh WHEEL_DIR}
python=${PYTHON:-python3}
prefix=${KVFS_PREFIX:-/opt/kvfs}

missing=""
command -v fusermount3 >/dev/null 2>&1 || missing="$missing fuse3"
command -v tini >/dev/null 2>&1 || missing="$missing tini"
if [ -n "$missing" ]; then
    apt-get update
    # shellcheck disable=SC2086 # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    rm -rf /var/lib/apt/lists/*
fi

"$python" -m venv "$prefix"
"$prefix/bin/python" -m pip install --no-cache-dir --no-index --find-links "$wheels" --disable-pip-version-check \
    --no-warn-script-location kvfs
# Nothing installs packages at run time: drop the installers from the final image.
"$prefix/bin/python" -m pip uninstall --yes --disable-pip-version-check pip setuptools >/dev/null
ln -sf "$prefix/bin/kvfs" /usr/local/bin/kvfs

# The image must start: kvfs and its compiled dependencies import with this image's Python and libraries.
"$prefix/bin/python" -c 'import pyfuse3, cryptography.hazmat.bindings._rust, yaml, kvfs.cli'
kvfs --version
tini --version
