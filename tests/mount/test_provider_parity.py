"""Where a class that works with the Azure provider used to break under kvfs, or gave other bytes:
line-wrapped base64, aliases with folders, ``objectFormat: PFX`` on a cert, canonical PEM in the
``.crt``/``.key`` files, and vault material that cannot be read. Each through a real mount.
"""

from __future__ import annotations

import base64
import os
import signal
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from kvfs.content.pem import pem_blocks
from kvfs.fakevault import FakeVault
from tests.helpers import wait_for
from tests.mount.conftest import MountFactory
from tests.pki import Chain, make_chain, pem_of
from tests.test_render import duplicate_extension_certificate, rewrap

PAYLOAD = bytes(range(256)) * 3  # 768 bytes: several lines of base64 at any wrap width


def wrapped(data: bytes, width: int, eol: str) -> str:
    text = base64.b64encode(data).decode()
    return eol.join(text[i : i + width] for i in range(0, len(text), width))


def last_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("kvfs: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


# -- 1. base64 and hex as Go decodes them ----------------------------------------------------------


def test_line_wrapped_base64_is_served_as_the_provider_decodes_it(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    values = {
        "wrap-64": wrapped(PAYLOAD, 64, "\n"),  # base64(1), openssl base64
        "wrap-76-crlf": wrapped(PAYLOAD, 76, "\r\n"),  # certutil, MIME
        "wrap-76-final-newline": wrapped(PAYLOAD, 76, "\n") + "\n",
        "one-line": wrapped(PAYLOAD, 10_000, ""),
    }
    for name, value in values.items():
        vault.set_secret(name, value)
    kvfs = start_kvfs([{"objectName": name, "objectType": "secret", "objectEncoding": "base64"} for name in values])
    for name in values:
        assert (mountpoint / name).read_bytes() == PAYLOAD, name
    kvfs.stop()
    assert "provider refuses" not in kvfs.stderr  # all of these are served by the provider: no warning


def test_values_only_kvfs_accepts_are_served_with_one_warning_naming_the_object(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("spaced-base64", wrapped(b"hello", 100, "") + "  ")
    vault.set_secret("spaced-hex", "68 65 6c 6c 6f")
    vault.set_secret("clean-hex", "68656c6c6f")
    kvfs = start_kvfs(
        [
            {"objectName": "spaced-base64", "objectType": "secret", "objectEncoding": "base64"},
            {"objectName": "spaced-hex", "objectType": "secret", "objectEncoding": "hex"},
            {"objectName": "clean-hex", "objectType": "secret", "objectEncoding": "HEX"},
        ]
    )
    for name in ("spaced-base64", "spaced-hex", "clean-hex"):
        assert (mountpoint / name).read_bytes() == b"hello"
    assert kvfs.stop() == 0
    warnings = [line for line in kvfs.stderr.splitlines() if "Azure provider refuses" in line]
    assert len(warnings) == 2, kvfs.stderr
    assert 'objects[0] (objectName "spaced-base64")' in warnings[0]
    assert 'objects[1] (objectName "spaced-hex")' in warnings[1]
    assert "hello" not in kvfs.stderr and "68 65" not in kvfs.stderr


@pytest.mark.parametrize(
    ("encoding", "value"), [("base64", "aGVs bG8="), ("base64", "aGVsbG8"), ("hex", "68656c6c6"), ("hex", "0x68")]
)
def test_a_value_neither_decodes_fails_the_mount_in_one_line(
    vault: FakeVault, start_kvfs: MountFactory, encoding: str, value: str
) -> None:
    vault.set_secret("bad-value", value)
    kvfs = start_kvfs([{"objectName": "bad-value", "objectType": "secret", "objectEncoding": encoding}], wait=False)
    assert kvfs.wait_exit() == 1
    line = last_error_line(kvfs.stderr)
    assert f'objects[0] (objectName "bad-value"): the value is not valid {encoding}' in line
    assert value not in kvfs.stderr


# -- 2. aliases with folders ---------------------------------------------------------------------


def test_aliases_with_folders_are_served_as_folders(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    for name in ("db", "api", "deep", "top"):
        vault.set_secret(name, f"{name}-value")
    start_kvfs(
        [
            {"objectName": "db", "objectType": "secret", "objectAlias": "conf/db.txt", "filePermission": "0600"},
            {"objectName": "api", "objectType": "secret", "objectAlias": "conf/api.txt"},
            {"objectName": "deep", "objectType": "secret", "objectAlias": "a/b/c/deep"},
            {"objectName": "top", "objectType": "secret"},
        ]
    )
    assert sorted(os.listdir(mountpoint)) == ["a", "conf", "top"]
    assert sorted(os.listdir(mountpoint / "conf")) == ["api.txt", "db.txt"]
    assert (mountpoint / "conf" / "db.txt").read_text() == "db-value"
    assert (mountpoint / "conf" / "api.txt").read_text() == "api-value"
    assert (mountpoint / "a" / "b" / "c" / "deep").read_text() == "deep-value"
    folder = (mountpoint / "conf").stat()
    assert stat.S_ISDIR(folder.st_mode) and stat.S_IMODE(folder.st_mode) == 0o755
    assert stat.S_IMODE((mountpoint / "conf" / "db.txt").stat().st_mode) == 0o600
    with pytest.raises(OSError):  # read-only, folders too
        (mountpoint / "conf" / "new").write_text("x")


def test_a_file_in_a_folder_rotates_and_its_watcher_is_told(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("db", "v1")
    kvfs = start_kvfs(
        [{"objectName": "db", "objectType": "secret", "objectAlias": "conf/db.txt"}], "--rotation-poll-interval", "1h"
    )
    path = mountpoint / "conf" / "db.txt"
    assert path.read_text() == "v1"
    with INotify() as watcher:
        watcher.add_watch(str(path), inotify_flags.DELETE_SELF)
        vault.set_secret("db", "v2")
        kvfs.process.send_signal(signal.SIGHUP)
        seen: list[inotify_flags] = []
        deadline = time.monotonic() + 15
        while inotify_flags.DELETE_SELF not in seen and time.monotonic() < deadline:
            for event in watcher.read(timeout=100):
                seen += inotify_flags.from_mask(event.mask)
    assert inotify_flags.DELETE_SELF in seen
    assert path.read_text() == "v2"


def test_an_optional_object_appearing_in_a_new_folder_shows_the_folder(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("db", "v1")
    kvfs = start_kvfs(
        [
            {"objectName": "db", "objectType": "secret"},
            {"objectName": "later", "objectType": "secret", "objectAlias": "new/folder/later", "optional": "true"},
        ],
        "--rotation-poll-interval",
        "1h",
    )
    assert os.listdir(mountpoint) == ["db"]
    assert not (mountpoint / "new").exists()
    vault.set_secret("later", "here now")
    kvfs.process.send_signal(signal.SIGHUP)
    wait_for(lambda: (mountpoint / "new").is_dir(), timeout=15, what="the new folder")
    assert sorted(os.listdir(mountpoint)) == ["db", "new"]
    assert (mountpoint / "new" / "folder" / "later").read_text() == "here now"


def test_a_file_where_another_alias_needs_a_folder_is_a_configuration_error(
    vault: FakeVault, start_kvfs: MountFactory
) -> None:
    kvfs = start_kvfs(
        [
            {"objectName": "a", "objectType": "secret", "objectAlias": "conf"},
            {"objectName": "b", "objectType": "secret", "objectAlias": "conf/db.txt"},
        ],
        wait=False,
    )
    assert kvfs.wait_exit() == 2
    line = last_error_line(kvfs.stderr)
    assert 'objects[1] (objectName "b"): "conf/db.txt" needs a folder "conf", which is a file of objects[0]' in line
    assert vault.requests() == []  # refused before any network


@pytest.mark.parametrize("alias", ["conf//db", "conf/", "conf/./db", "conf/../db", "/etc/db"])
def test_aliases_the_provider_or_a_file_system_refuses_are_configuration_errors(
    vault: FakeVault, start_kvfs: MountFactory, alias: str
) -> None:
    kvfs = start_kvfs([{"objectName": "a", "objectType": "secret", "objectAlias": alias}], wait=False)
    assert kvfs.wait_exit() == 2
    assert f'objects[0] (objectName "a"): objectAlias "{alias}"' in last_error_line(kvfs.stderr)


# -- 3. objectFormat PFX on a cert ----------------------------------------------------------------


def test_pfx_in_capitals_on_a_cert_is_ignored_with_a_warning_as_the_provider_ignores_it(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    chain = make_chain("p256")
    vault.import_certificate("web", chain.pfx())
    kvfs = start_kvfs([{"objectName": "web", "objectType": "cert", "objectFormat": "PFX"}])
    assert (mountpoint / "web").read_bytes() == pem_of(chain.leaf)
    kvfs.stop()
    assert 'objects[0] (objectName "web"): objectFormat "PFX" is ignored for objectType cert' in kvfs.stderr


# -- 4. canonical PEM in the separate .crt/.key files ------------------------------------------------


@pytest.mark.parametrize(("width", "eol"), [(76, b"\n"), (64, b"\r\n")])
def test_split_files_are_canonical_pem_while_the_combined_file_is_as_stored(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, width: int, eol: bytes
) -> None:
    chain = make_chain("rsa")
    vault.import_certificate("web", chain.pem(), content_type="application/x-pem-file")
    stored = rewrap(chain.pem(), width, eol)
    vault.replace_material("secrets", "web", value=stored.decode())  # as if Key Vault held it so
    start_kvfs([{"objectName": "web", "objectType": "secret", "objectAlias": "web.pem", "split": "true"}])
    assert (mountpoint / "web.pem").read_bytes() == stored
    assert (mountpoint / "web.pem.crt").read_bytes() == b"".join(pem_of(c) for c in chain.leaf_first)
    key = (mountpoint / "web.pem.key").read_bytes()
    assert key == chain.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert [b.type for b in pem_blocks(key)] == ["PRIVATE KEY"]


# -- 5. material that cannot be read: one line, never a traceback -------------------------------------


def break_material(vault: FakeVault, case: str, chain: Chain) -> dict[str, str]:
    """Put one class of unreadable material in the vault; returns the object to mount."""
    if case == "ec-point-off-curve":
        vault.create_key("k", "EC", crv="P-256")
        jwk = vault.get("keys", "k")["key"]
        y = int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "=="), "big") + 1
        jwk["y"] = base64.urlsafe_b64encode(y.to_bytes(32, "big")).rstrip(b"=").decode()
        vault.replace_material("keys", "k", jwk={k: jwk[k] for k in ("kty", "crv", "x", "y")})
        return {"objectName": "k", "objectType": "key"}
    if case == "ec-point-not-base64url":  # the SDK drops members it cannot decode
        vault.create_key("k", "EC", crv="P-384")
        vault.replace_material("keys", "k", jwk={"kty": "EC", "crv": "P-384", "x": "***", "y": "%%%"})
        return {"objectName": "k", "objectType": "key"}
    if case == "rsa-even-exponent":
        vault.create_key("k", "RSA")
        jwk = vault.get("keys", "k")["key"]
        vault.replace_material("keys", "k", jwk={"kty": "RSA", "n": jwk["n"], "e": "Ag"})
        return {"objectName": "k", "objectType": "key"}
    vault.import_certificate("c", chain.pfx())
    if case == "cert-not-der":
        vault.replace_material("certificates", "c", cer=base64.b64encode(b"\x30\x03\x02\x01\x01").decode())
        return {"objectName": "c", "objectType": "cert"}
    if case == "pfx-corrupt":
        vault.replace_material("secrets", "c", value=base64.b64encode(b"\x30\x00junk").decode())
        return {"objectName": "c", "objectType": "secret"}
    assert case == "pfx-chain-duplicate-extension"
    from cryptography.hazmat.primitives.serialization import pkcs12

    broken = pkcs12.serialize_key_and_certificates(
        b"c", chain.leaf_key, chain.leaf, [duplicate_extension_certificate(chain)], serialization.NoEncryption()
    )
    vault.replace_material("secrets", "c", value=base64.b64encode(broken).decode())
    return {"objectName": "c", "objectType": "secret"}


BAD_CASES = {  # case → what the one line says
    "ec-point-off-curve": "the EC key's point is not on curve P-256",
    "ec-point-not-base64url": "the EC key has no point (x, y)",
    "rsa-even-exponent": "the RSA key's modulus or exponent is invalid",
    "cert-not-der": "the certificate is not valid DER",
    "pfx-corrupt": "the certificate's PFX cannot be read",
    "pfx-chain-duplicate-extension": "a certificate in the chain has extensions that cannot be read",
}


@pytest.fixture(scope="module")
def rsa_chain() -> Chain:
    return make_chain("rsa")


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_unreadable_material_at_start_fails_in_one_line_naming_the_object(
    vault: FakeVault, start_kvfs: MountFactory, rsa_chain: Chain, case: str
) -> None:
    obj = break_material(vault, case, rsa_chain)
    kvfs = start_kvfs([obj], wait=False)
    assert kvfs.wait_exit() == 1
    line = last_error_line(kvfs.stderr)
    assert line.startswith(f'kvfs: error: objects[0] (objectName "{obj["objectName"]}"): '), line
    assert BAD_CASES[case] in line


def test_unreadable_material_in_a_new_version_keeps_the_last_content(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.create_key("k", "EC", crv="P-256")
    kvfs = start_kvfs([{"objectName": "k", "objectType": "key"}], "--rotation-poll-interval", "1h")
    first = (mountpoint / "k").read_bytes()
    serialization.load_pem_public_key(first)
    vault.create_key("k", "EC", crv="P-256")
    jwk = vault.get("keys", "k")["key"]
    vault.replace_material("keys", "k", jwk={"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["x"]})
    kvfs.process.send_signal(signal.SIGHUP)
    kvfs.wait_for_log("cannot be served")
    assert (mountpoint / "k").read_bytes() == first
    assert kvfs.stop() == 0
    assert "Traceback" not in kvfs.stderr
    assert "not on curve P-256" in kvfs.stderr
