"""kvfs in real containers, for tests/containers/ and the container benchmark.

Podman runs with the project's ``containers/containers.conf`` and runc (crun fails on CI-like machines); the
image is built by ``containers/build-test-image.sh``. A host directory made a shared mount plays the pod's
volume: kvfs's container gets it with ``rshared`` (Kubernetes ``mountPropagation: Bidirectional``), the
application's with ``rslave`` (``HostToContainer``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kvfs.fakevault import FakeVault
from tests.helpers import is_live_mount, wait_for

REPO = Path(__file__).resolve().parents[2]
CONTAINERS_DIR = REPO / "containers"
CONTAINERS_CONF = CONTAINERS_DIR / "containers.conf"
IMAGE = "localhost/kvfs:test"
BASE_IMAGE = "localhost/kvfs-base:bookworm"
TOOLS = ("podman", "runc", "mmdebstrap")

# Where things are inside kvfs's container: the AKS workload-identity webhook's token path, a ConfigMap's class.
VOLUME = "/kv"
SPC_IN_CONTAINER = "/etc/kvfs/spc.yaml"
CA_IN_CONTAINER = "/etc/kvfs/ca.pem"
TOKEN_IN_CONTAINER = "/var/run/secrets/azure/tokens/azure-identity-token"
# The application: no network, not root, no capabilities, read-only everything.
APP_USER = "1000:1000"


class PodmanError(RuntimeError):
    pass


def missing_tools() -> str | None:
    """Why containers cannot run here, or None."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"{', '.join(missing)} not installed: the container tests need podman, runc and mmdebstrap "
            "(apt-get install podman runc mmdebstrap)"
        )
    if os.geteuid() != 0:
        return "the container tests need root (mounts with propagation, podman as root)"
    if not Path("/dev/fuse").exists():
        return "/dev/fuse does not exist"
    return None


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", "--runtime", "runc", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise PodmanError(f"podman {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def build_test_image(image: str = IMAGE) -> str:
    """Build (or find up to date) the tests' image; the base image only when missing."""
    result = subprocess.run(
        [str(CONTAINERS_DIR / "build-test-image.sh"), image],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise PodmanError(f"containers/build-test-image.sh failed ({result.returncode}):\n{result.stderr}")
    return image


def image_size(image: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)


# -- the host side: a shared directory and the FUSE mounts under it ------------------------------------------


def mounts_under(path: Path) -> list[tuple[str, str]]:
    """(mountpoint, filesystem type) of every mount at or under ``path``, from /proc/self/mountinfo."""
    root = str(path)
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            target = _unescape(fields[4])
            fstype = fields[fields.index("-") + 1]
            if target == root or target.startswith(root + "/"):
                found.append((target, fstype))
    return found


def fuse_mounts_under(path: Path) -> list[str]:
    return [target for target, fstype in mounts_under(path) if fstype.startswith("fuse")]


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def unmount_all_under(path: Path) -> None:
    """Lazily detach every mount under ``path`` (deepest first), then ``path``'s own; never fails."""
    for target, fstype in sorted(mounts_under(path), key=lambda m: -len(m[0])):
        commands = [["fusermount3", "-u", "-z", target]] if fstype.startswith("fuse") else []
        for command in [*commands, ["umount", "-l", target]]:
            if subprocess.run(command, capture_output=True, check=False).returncode == 0:
                break


@contextmanager
def shared_directory(parent: Path) -> Iterator[Path]:
    """A host directory that is its own shared mount (``mount --bind D D && mount --make-rshared D``), as
    Kubernetes sets up a volume that a container mounts into with Bidirectional propagation."""
    path = parent / "volume"
    path.mkdir(mode=0o755)
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True, capture_output=True)
    try:
        subprocess.run(["mount", "--make-rshared", str(path)], check=True, capture_output=True)
        yield path
    finally:
        unmount_all_under(path)
        if not mounts_under(path):
            shutil.rmtree(path, ignore_errors=True)


# -- containers -------------------------------------------------------------------------------------------


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Container:
    """A named podman container; ``remove`` is safe to call whatever its state (or absence)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def inspect(self, template: str) -> str:
        return podman("inspect", "--type", "container", "--format", template, self.name).stdout.strip()

    def state(self) -> str:
        result = podman("inspect", "--type", "container", "--format", "{{.State.Status}}", self.name, check=False)
        return result.stdout.strip() if result.returncode == 0 else "absent"

    def host_pid(self) -> int:
        """The host PID of the container's first process (0 when it is not running)."""
        return int(self.inspect("{{.State.Pid}}"))

    def daemon_pid(self) -> int:
        """The host PID of kvfs itself: the child of the image's init (tini is PID 1 in the image)."""
        init = self.host_pid()
        children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
        assert len(children) == 1, f"tini should have one child, kvfs; it has {children}"
        return int(children[0])

    def exit_code(self) -> int:
        return int(self.inspect("{{.State.ExitCode}}"))

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def stop(self, timeout: int = 20) -> int:
        """``podman stop``: the image's STOPSIGNAL (SIGTERM), SIGKILL after ``timeout`` s; the exit code."""
        podman("stop", "--time", str(timeout), self.name, timeout=timeout + 30)
        return self.exit_code()

    def kill(self, signal: str = "KILL") -> None:
        podman("kill", "--signal", signal, self.name)
        podman("wait", self.name, timeout=30)

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", "--ignore", self.name, check=False, timeout=60)


class KvfsContainer(Container):
    """kvfs as the pod's sidecar: ``kvfs mount`` in the test image, into ``<volume>/<subdir>``.

    The class, the vault's CA and the federated token are mounted read-only where a pod would have them;
    the workload identity environment is the webhook's, with those paths.
    """

    def __init__(
        self,
        image: str,
        volume: Path,
        spc: Path,
        vault: FakeVault,
        args: Sequence[str] = (),
        *,
        subdir: str = "secrets",
        name: str | None = None,
    ) -> None:
        super().__init__(name or unique_name("kvfs-sidecar"))
        self.image = image
        self.volume = volume
        self.mountpoint = volume / subdir
        self.spc = spc
        self.vault = vault
        self.args = list(args)
        self.subdir = subdir

    def environment(self) -> dict[str, str]:
        env = self.vault.workload_identity_env()
        env["AZURE_FEDERATED_TOKEN_FILE"] = TOKEN_IN_CONTAINER
        env["REQUESTS_CA_BUNDLE"] = CA_IN_CONTAINER
        return env

    def run_command(self) -> list[str]:
        """The ``podman run`` arguments: what the sidecar needs and no more (Kubernetes must make it privileged
        for Bidirectional propagation; podman need not). The root filesystem is read-only without the tmpfs
        podman adds on /tmp, /run and /var/tmp, as with Kubernetes' readOnlyRootFilesystem."""
        command = [
            "run", "--detach", "--name", self.name, "--network", "host",
            "--device", "/dev/fuse", "--cap-drop", "ALL", "--cap-add", "SYS_ADMIN",
            "--security-opt", "no-new-privileges", "--read-only", "--read-only-tmpfs=false",
            "--volume", f"{self.volume}:{VOLUME}:rshared",
            "--volume", f"{self.spc}:{SPC_IN_CONTAINER}:ro",
            "--volume", f"{self.vault.ca_file}:{CA_IN_CONTAINER}:ro",
            "--volume", f"{self.vault.token_file}:{TOKEN_IN_CONTAINER}:ro",
        ]  # fmt: skip
        for key, value in self.environment().items():
            command += ["--env", f"{key}={value}"]
        return [
            *command, self.image,
            "mount", SPC_IN_CONTAINER, f"{VOLUME}/{self.subdir}",
            "--vault-url", self.vault.vault_url, "--ca-file", CA_IN_CONTAINER, *self.args,
        ]  # fmt: skip

    def run(self) -> None:
        """A new container (Kubernetes restarts a sidecar this way). The mountpoint is not made here: kvfs
        makes it in the volume, as it must in a pod's fresh emptyDir."""
        podman(*self.run_command())

    def processes(self) -> list[tuple[int, str, str]]:
        """(pid, command, state) of every process in the container, from its /proc (no ps in the image)."""
        out = podman("exec", self.name, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null").stdout
        found = []
        for line in out.splitlines():
            pid, rest = line.split(" (", 1)
            command, fields = rest.rsplit(") ", 1)
            found.append((int(pid), command, fields.split()[0]))
        return found

    def start(self) -> None:
        podman("start", self.name)

    def wait_ready(self, timeout: float = 60) -> float:
        """Until the mount is live on the host (kvfs mounts once every object is loaded); when it was seen."""
        pid = 0

        def ready() -> bool:
            nonlocal pid
            if is_live_mount(self.mountpoint):
                return True
            if not pid or not Path(f"/proc/{pid}").exists():
                state = self.state()
                if state in ("exited", "stopped", "absent"):
                    raise AssertionError(f"kvfs's container {state} before mounting:\n{self.logs()}")
                pid = self.host_pid() if state == "running" else 0
            return False

        wait_for(ready, timeout=timeout, interval=0.005, what=f"kvfs's mount at {self.mountpoint}")
        return time.monotonic()


# The application's reader: every file under a folder, as {relative path: base64}, or {"error": errno name}.
READ_ALL = """
import base64, errno, json, os, sys
def walk(path, prefix, out):
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isdir(full):
            walk(full, prefix + name + "/", out)
        else:
            with open(full, "rb") as f:
                out[prefix + name] = base64.b64encode(f.read()).decode()
try:
    files = {}
    walk(sys.argv[1], "", files)
    print(json.dumps({"files": files}))
except OSError as exc:
    print(json.dumps({"error": errno.errorcode.get(exc.errno, str(exc.errno))}))
"""


class AppContainer(Container):
    """The application: another image, the same volume with ``rslave`` (HostToContainer), read-only, as a
    non-root user without capabilities or network. It idles; the test reads through ``podman exec``."""

    def __init__(self, image: str, volume: Path, *, name: str | None = None) -> None:
        super().__init__(name or unique_name("kvfs-app"))
        self.image = image
        self.volume = volume

    def run(self) -> None:
        podman(
            "run", "--detach", "--name", self.name, "--network", "none", "--user", APP_USER,
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only",
            "--volume", f"{self.volume}:{VOLUME}:rslave,ro", "--entrypoint", "sleep", self.image, "infinity",
        )  # fmt: skip

    def exec(self, *command: str) -> str:
        return podman("exec", self.name, *command).stdout

    def read_all(self, subdir: str = "secrets") -> dict[str, object]:
        """``{"files": {path: base64}}`` or ``{"error": "ENOTCONN"}``, as the application sees them."""
        return json.loads(self.exec("python3", "-c", READ_ALL, f"{VOLUME}/{subdir}"))

    def mounts(self) -> list[tuple[str, str]]:
        """(mountpoint, type) of the mounts under the volume in the application's mount namespace."""
        found = []
        for line in self.exec("cat", "/proc/self/mountinfo").splitlines():
            fields = line.split()
            target = _unescape(fields[4])
            if target == VOLUME or target.startswith(VOLUME + "/"):
                found.append((target, fields[fields.index("-") + 1]))
        return found
