#!/bin/sh
# Build the tests' kvfs image from this checkout with podman, without any registry:
#
#   containers/build-test-image.sh [IMAGE]        (default localhost/kvfs:test; run as root)
#
# 1. The base image (KVFS_BASE_IMAGE, default localhost/kvfs-base:bookworm), only when it is missing:
#    Debian bookworm minbase with python3, python3-venv, fuse3, tini and ca-certificates (mmdebstrap), imported.
# 2. Wheels of kvfs and its dependencies, built on the host with PYTHON (default .venv/bin/python; Python 3.11,
#    as bookworm's python3): offline from a wheel cache (KVFS_WHEEL_CACHE, default
#    ~/.cache/kvfs-containers/wheels) when it has everything, else from PyPI, refilling the cache.
# 3. containers/Containerfile.test, which runs containers/install-kvfs.sh (the published Dockerfile's install
#    steps) on those wheels. Skipped when IMAGE was built from the same sources, wheels and base already.
#
# Podman reads containers/containers.conf (CONTAINERS_CONF) and runs runc: crun fails on CI-like machines.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
image=${1:-localhost/kvfs:test}
base=${KVFS_BASE_IMAGE:-localhost/kvfs-base:bookworm}
python=${PYTHON:-$root/.venv/bin/python}
cache=${KVFS_WHEEL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/kvfs-containers/wheels}
CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
export CONTAINERS_CONF

say() { printf 'build-test-image: %s\n' "$*" >&2; }
podman() { command podman --runtime runc "$@"; }

for tool in podman runc mmdebstrap; do
    command -v "$tool" >/dev/null 2>&1 || {
        say "$tool is missing: apt-get install podman runc mmdebstrap (Debian bookworm packages)"
        exit 1
    }
done
[ -x "$python" ] || { say "no Python at $python: run make setup, or set PYTHON"; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
    say "$python is not Python 3.11: the wheels must match bookworm's python3 (3.11); set PYTHON"
    exit 1
}

work=$(mktemp -d /var/tmp/kvfs-image.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

# One build at a time (two test runs at once would both build the base image).
exec 9>/var/tmp/kvfs-build-test-image.lock
flock 9

if ! podman image exists "$base"; then
    say "building the base image $base (mmdebstrap, about 30 s)"
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,fuse3,tini,ca-certificates \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        bookworm "$work/rootfs.tar"
    podman import --quiet --change 'CMD ["/bin/sh"]' "$work/rootfs.tar" "$base" >/dev/null
    rm -f "$work/rootfs.tar"
fi

# The sources, copied as containers/Dockerfile copies them (a build in the checkout would write build/ there).
mkdir -p "$work/src" "$work/context/wheels" "$cache"
cp "$root/pyproject.toml" "$root/README.md" "$work/src/"
(cd "$root" && find kvfs -name __pycache__ -prune -o -type f -print | LC_ALL=C sort) >"$work/files"
(cd "$root" && tar -cf - -T "$work/files") | tar -xf - -C "$work/src"

wheel() {
    "$python" -m pip wheel --quiet --disable-pip-version-check "$@" 2>>"$work/pip.log"
}
if ! wheel --no-index --find-links "$cache" --wheel-dir "$work/context/wheels" "$work/src"; then
    say "wheels: the cache lacks some, fetching from PyPI into $cache"
    if ! wheel --find-links "$cache" --wheel-dir "$cache" "$work/src" 'setuptools>=68' wheel \
        || ! wheel --no-index --find-links "$cache" --wheel-dir "$work/context/wheels" "$work/src"; then
        cat "$work/pip.log" >&2
        exit 1
    fi
    rm -f "$cache"/kvfs-*.whl
fi
cp "$here/install-kvfs.sh" "$work/context/"

# What the image is made of: sources, build files, the base image and the dependency wheels.
digest=$(
    {
        (cd "$root" && xargs sha256sum <"$work/files")
        (cd "$root" && sha256sum pyproject.toml README.md)
        (cd "$here" && sha256sum Containerfile.test install-kvfs.sh)
        podman image inspect --format '{{.Id}}' "$base"
        for whl in "$work"/context/wheels/*.whl; do
            case $whl in */kvfs-*) ;; *) basename "$whl" ;; esac
        done
    } | sha256sum | cut -c1-32
)
if [ "$(podman image inspect --format '{{index .Labels "io.kvfs.test.inputs"}}' "$image" 2>/dev/null)" = "$digest" ]; then
    say "$image is up to date"
    exit 0
fi

old=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
say "building $image"
if ! podman build --pull=never --no-cache --layers=false --build-arg "BASE=$base" --label "io.kvfs.test.inputs=$digest" \
    -f "$here/Containerfile.test" -t "$image" "$work/context" >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    exit 1
fi
new=$(podman image inspect --format '{{.Id}}' "$image")
if [ -n "$old" ] && [ "$old" != "$new" ]; then
    podman rmi "$old" >/dev/null 2>&1 || true  # the previous build, unless a container still uses it
fi
