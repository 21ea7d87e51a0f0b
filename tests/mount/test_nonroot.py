"""A laptop as a normal user would try kvfs: not root, a stock /etc/fuse.conf (no user_allow_other).
The daemon runs as ``nobody`` (see ``nobody_python`` for how it gets an interpreter it may run)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvfs.fakevault import FakeVault
from tests.helpers import KvfsProcess, provider_class_yaml, wait_for

NOBODY = 65534
STOCK_FUSE_CONF = "# mount_max = 1000\n# user_allow_other\n"  # as Debian ships it: everything commented out
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def nobody_python(laptop: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """A Python ``nobody`` can run with kvfs importable: the system's python3 (the same minor version as
    this one, so the compiled extensions fit), this checkout's kvfs (copied) and the virtual environment's
    packages (bind-mounted), all reached through folders ``nobody`` may enter: the checkout and the
    environment may sit in places only root can (a clone in a 0700 temporary folder, a pyenv under /root)."""
    system = shutil.which("python3", path="/usr/bin:/bin")
    assert system is not None, "no system python3 for the non-root test"
    version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() == str(sys.version_info[:2]), f"{system} is not Python {sys.version_info[:2]}"
    shutil.copytree(REPO / "kvfs", laptop / "src" / "kvfs", ignore=shutil.ignore_patterns("__pycache__"))
    packages = laptop / "site-packages"
    packages.mkdir()
    subprocess.run(["mount", "--bind", sysconfig.get_paths()["purelib"], str(packages)], check=True)
    try:
        yield [system], {"PYTHONPATH": f"{laptop / 'src'}{os.pathsep}{packages}"}
    finally:
        subprocess.run(["umount", str(packages)], check=True)


@pytest.fixture
def fuse_device_for_users() -> Iterator[None]:
    """/dev/fuse as desktop distributions' udev rules leave it (0666), for the test's duration: fusermount3
    opens it as the calling user. (Machines like this one, made for root, have it 0600.)"""
    device = Path("/dev/fuse")
    mode = device.stat().st_mode & 0o777
    device.chmod(0o666)
    yield
    device.chmod(mode)


@pytest.fixture
def laptop(tmp_path: Path, fuse_device_for_users: None) -> Iterator[Path]:
    """A folder ``nobody`` owns (pytest's tmp_path is private to root)."""
    home = Path(tempfile.mkdtemp(prefix="kvfs-laptop-"))
    home.chmod(0o755)
    (home / "mnt").mkdir()
    (home / "fuse.conf").write_text(STOCK_FUSE_CONF)
    for path in (home, home / "mnt"):
        os.chown(path, NOBODY, NOBODY)
    yield home
    subprocess.run(["fusermount3", "-u", "-z", str(home / "mnt")], capture_output=True, check=False)
    if not any(mounted_under(home)):  # never delete through a mount (the bind-mounted site-packages)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def readable_vault(laptop: Path) -> Iterator[FakeVault]:
    """The fake vault with its CA and federated token readable by ``nobody``."""
    with FakeVault(state_dir=laptop / "vault") as fv:
        (laptop / "vault").chmod(0o755)
        for path in (fv.ca_file, fv.token_file):
            os.chown(path, NOBODY, NOBODY)
        yield fv


def start_as_nobody(
    vault: FakeVault, laptop: Path, python: tuple[list[str], dict[str, str]], *extra: str
) -> KvfsProcess:
    spc = laptop / "spc.yaml"
    spc.write_text(
        provider_class_yaml([{"objectName": "db", "objectType": "secret"}], tenant_id=vault.tenant_id,
                            client_id=vault.client_id)
    )  # fmt: skip
    interpreter, extra_env = python
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(laptop),
        "KVFS_FUSE_CONF": str(laptop / "fuse.conf"),
        **vault.workload_identity_env(),
        **extra_env,
    }
    args = ["mount", str(spc), str(laptop / "mnt"), "--vault-url", vault.vault_url, "--ca-file", str(vault.ca_file)]
    return KvfsProcess([*args, *extra], env, laptop / "mnt", python=interpreter, user=NOBODY)


def mounted_under(folder: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
        targets = [line.split()[4] for line in mounts]
    return [t for t in targets if t == str(folder) or t.startswith(f"{folder}/")]


def mounted(mountpoint: Path) -> bool:
    return str(mountpoint) in mounted_under(mountpoint)


def read_as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["cat", str(path)], user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True,
                          text=True, check=False)  # fmt: skip


def test_a_normal_user_mounts_without_allow_other_and_is_told_why(
    readable_vault: FakeVault, laptop: Path, nobody_python: tuple[list[str], dict[str, str]]
) -> None:
    readable_vault.set_secret("db", "laptop-s3cret")
    kvfs = start_as_nobody(readable_vault, laptop, nobody_python)
    kvfs.wait_for_log("ready:", timeout=60)
    mountpoint = laptop / "mnt"
    assert mounted(mountpoint)
    assert read_as_nobody(mountpoint / "db").stdout == "laptop-s3cret"
    with pytest.raises(PermissionError):  # no allow_other: not even root may look
        (mountpoint / "db").read_text()
    fuse_conf = laptop / "fuse.conf"
    assert f"not root and {fuse_conf} has no user_allow_other: only uid {NOBODY} can read the mount" in kvfs.stderr
    assert "not root: the FUSE connection keeps libfuse's max_background of 12" in kvfs.stderr

    pid = kvfs.process.pid
    assert f"Uid:\t{NOBODY}" in Path(f"/proc/{pid}/status").read_text()
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert any(
        line.startswith("Max core file size") and line.split()[4:6] == ["0", "0"] for line in limits.splitlines()
    )
    assert Path(f"/proc/{pid}/environ").stat().st_uid == 0  # not dumpable: its /proc files belong to root

    kvfs.process.send_signal(signal.SIGTERM)
    assert kvfs.wait_exit() == 0, kvfs.stderr
    assert not mounted(mountpoint)
    assert "Traceback" not in kvfs.stderr and "laptop-s3cret" not in kvfs.stderr


def test_asking_for_allow_other_without_permission_names_the_fix(
    readable_vault: FakeVault, laptop: Path, nobody_python: tuple[list[str], dict[str, str]]
) -> None:
    kvfs = start_as_nobody(readable_vault, laptop, nobody_python, "--allow-other")
    assert kvfs.wait_exit() == 2
    (line,) = [line for line in kvfs.stderr.splitlines() if line.startswith("kvfs: error:")]
    assert f"--allow-other needs root or a line 'user_allow_other' in {laptop / 'fuse.conf'}" in line
    assert readable_vault.requests() == []
    wait_for(lambda: not mounted(laptop / "mnt"), timeout=5, what="no mount")
