"""Certificates, keys and version history through a real mount, checked as an application would.

Real material (tests/pki.py) goes into the fake vault through the real Azure SDK, kvfs mounts it,
and the files are read back with the ``openssl`` command line and with ``cryptography``.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.keyvault.certificates import CertificateClient, CertificateContentType, CertificatePolicy
from azure.keyvault.keys import JsonWebKey, KeyClient, KeyVaultKey
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from kvfs.fakevault import FakeVault
from tests.conftest import sdk_options
from tests.helpers import KvfsProcess, is_live_mount, wait_for
from tests.mount.conftest import MountFactory
from tests.pki import Chain, make_chain, pem_of

PASSWORD = "pfx-import-password"
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\n[A-Za-z0-9+/=\n]+-----END \1-----\n")


# -- shared material and helpers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_chain() -> Chain:
    return make_chain("rsa", "app.example.test")


@pytest.fixture(scope="module")
def ec_chain() -> Chain:
    return make_chain("p256", "ec.example.test")


@dataclass
class Clients:
    secrets: SecretClient
    keys: KeyClient
    certificates: CertificateClient


@pytest.fixture
def clients(vault: FakeVault, credential) -> Clients:
    options = sdk_options(vault)
    return Clients(
        SecretClient(vault.vault_url, credential, **options),
        KeyClient(vault.vault_url, credential, **options),
        CertificateClient(vault.vault_url, credential, **options),
    )


def import_pfx(clients: Clients, name: str, chain: Chain, extra: list[x509.Certificate] | None = None) -> None:
    """A password-protected AES-256/SHA-256 PKCS#12, imported with the pkcs12 content type."""
    clients.certificates.import_certificate(
        name,
        chain.pfx(PASSWORD.encode(), extra=extra),
        password=PASSWORD,
        policy=CertificatePolicy(content_type=CertificateContentType.pkcs12),
    )


def blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Every PEM block as (type, DER); the file must be PEM blocks and nothing else."""
    matches = list(_BLOCK.finditer(data))
    assert b"".join(m.group(0) for m in matches) == data, f"not only PEM blocks: {data[:200]!r}"
    return [(m.group(1).decode(), pem_der(m.group(0))) for m in matches]


def pem_der(block: bytes) -> bytes:
    body = b"".join(line for line in block.splitlines() if not line.startswith(b"-----"))
    return base64.b64decode(body)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def spki(key: object) -> bytes:
    """A public (or private) key's SubjectPublicKeyInfo, DER."""
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def openssl(*args: str | Path) -> str:
    return subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, text=True).stdout


def subject_and_issuer(path: Path) -> tuple[str, str]:
    """``openssl x509 -noout -subject -issuer``: the first certificate of the file, as TLS servers read it."""
    lines = openssl("x509", "-in", path, "-noout", "-subject", "-issuer").splitlines()
    subject = next(line for line in lines if line.startswith("subject="))
    issuer = next(line for line in lines if line.startswith("issuer="))
    return subject.split("CN", 1)[1].lstrip(" =").strip(), issuer.split("CN", 1)[1].lstrip(" =").strip()


def assert_key_then_chain(data: bytes, chain: Chain, order: list[x509.Certificate]) -> None:
    """PKCS#8 private key first, then exactly ``order``; the key belongs to the leaf."""
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----\n"), data[:40]
    found = blocks(data)
    assert [kind for kind, _ in found] == ["PRIVATE KEY"] + ["CERTIFICATE"] * len(order)
    assert [body for _, body in found[1:]] == [der(c) for c in order]
    key = serialization.load_der_private_key(found[0][1], None)
    assert spki(key) == spki(chain.leaf) == spki(chain.leaf_key)


# -- 1. a PFX certificate as a secret: PEM, key first, leaf → intermediate → root --------------


def test_pfx_secret_is_pkcs8_key_then_leaf_intermediate_root_whatever_the_stored_order(
    clients: Clients, rsa_chain: Chain, start_kvfs: MountFactory, mountpoint: Path, tmp_path: Path
) -> None:
    chain = rsa_chain
    import_pfx(clients, "tls", chain)  # extra certificates [intermediate, root]
    import_pfx(clients, "tls-scrambled", chain, extra=[chain.root, chain.intermediate])
    stored = pkcs12.load_pkcs12(base64.b64decode(clients.secrets.get_secret("tls-scrambled").value), None)
    assert [der(c.certificate) for c in stored.additional_certs] == [der(chain.root), der(chain.intermediate)]
    start_kvfs(
        [
            {"objectName": "tls", "objectType": "secret", "objectAlias": "tls.pem"},
            {"objectName": "tls-scrambled", "objectType": "secret", "objectAlias": "scrambled.pem"},
        ]
    )

    for name in ("tls.pem", "scrambled.pem"):
        path = mountpoint / name
        data = path.read_bytes()
        assert_key_then_chain(data, chain, chain.leaf_first)
        # What a TLS server sees: the first certificate is the leaf, the key is the leaf's.
        assert subject_and_issuer(path) == ("app.example.test", "kvfs test intermediate")
        key_public = openssl("pkey", "-in", path, "-pubout")
        assert key_public.startswith("-----BEGIN PUBLIC KEY-----")
        assert key_public == openssl("x509", "-in", path, "-noout", "-pubkey")

    # Same key and certificates: the scrambled import renders to the very same bytes.
    assert (mountpoint / "scrambled.pem").read_bytes() == (mountpoint / "tls.pem").read_bytes()

    # The chain verifies with the certificates taken out of the mounted file.
    certs = x509.load_pem_x509_certificates((mountpoint / "scrambled.pem").read_bytes())
    for file_name, cert in zip(("leaf.pem", "inter.pem", "root.pem"), certs, strict=True):
        (tmp_path / file_name).write_bytes(pem_of(cert))
    for file_name, cert in (("leaf.pem", "app.example.test"), ("inter.pem", "kvfs test intermediate")):
        assert subject_and_issuer(tmp_path / file_name)[0] == cert
    assert subject_and_issuer(tmp_path / "root.pem") == ("kvfs test root", "kvfs test root")
    verified = openssl(
        "verify", "-CAfile", tmp_path / "root.pem", "-untrusted", tmp_path / "inter.pem", tmp_path / "leaf.pem"
    )
    assert verified.strip() == f"{tmp_path / 'leaf.pem'}: OK"
    without_intermediate = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "leaf.pem")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert without_intermediate.returncode != 0  # the intermediate really is what makes it verify


# -- 2 and 3. the certificate's cert and key objects --------------------------------------------


def test_cert_object_is_the_leaf_alone_and_key_object_its_public_key(
    clients: Clients, rsa_chain: Chain, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    import_pfx(clients, "tls", rsa_chain, extra=[rsa_chain.root, rsa_chain.intermediate])
    start_kvfs(
        [
            {"objectName": "tls", "objectType": "cert", "objectAlias": "leaf.crt"},
            {"objectName": "tls", "objectType": "key", "objectAlias": "leaf.pub"},
        ]
    )
    leaf = (mountpoint / "leaf.crt").read_bytes()
    assert blocks(leaf) == [("CERTIFICATE", der(rsa_chain.leaf))]
    assert subject_and_issuer(mountpoint / "leaf.crt") == ("app.example.test", "kvfs test intermediate")

    public = (mountpoint / "leaf.pub").read_bytes()
    assert blocks(public) == [("PUBLIC KEY", spki(rsa_chain.leaf))]
    assert openssl("pkey", "-pubin", "-in", mountpoint / "leaf.pub", "-pubout") == public.decode()
    assert openssl("x509", "-in", mountpoint / "leaf.crt", "-noout", "-pubkey") == public.decode()


def _jwk_public(key: KeyVaultKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    jwk = key.key
    if jwk.n:
        return rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()
    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[
        getattr(jwk.crv, "value", jwk.crv)
    ]
    return ec.EllipticCurvePublicNumbers(int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), curve).public_key()


def test_key_objects_are_the_public_key_of_the_jwk(
    clients: Clients, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    created = {
        "rsa": clients.keys.create_rsa_key("rsa-2048", size=2048),
        "p256": clients.keys.create_ec_key("ec-p256", curve="P-256"),
        "p384": clients.keys.create_ec_key("ec-p384", curve="P-384"),
    }
    local = ec.generate_private_key(ec.SECP521R1())
    numbers = local.private_numbers()
    size = 66
    imported = clients.keys.import_key(
        "ec-p521",
        JsonWebKey(
            kty="EC",
            crv="P-521",
            x=numbers.public_numbers.x.to_bytes(size, "big"),
            y=numbers.public_numbers.y.to_bytes(size, "big"),
            d=numbers.private_value.to_bytes(size, "big"),
        ),
    )
    start_kvfs(
        [{"objectName": key.name, "objectType": "key", "objectAlias": alias} for alias, key in created.items()]
        + [{"objectName": "ec-p521", "objectType": "key", "objectAlias": "p521"}]
    )
    assert sorted(os.listdir(mountpoint)) == ["p256", "p384", "p521", "rsa"]

    rsa_public = serialization.load_pem_public_key((mountpoint / "rsa").read_bytes())
    assert isinstance(rsa_public, rsa.RSAPublicKey)
    assert rsa_public.key_size == 2048
    assert rsa_public.public_numbers().n == int.from_bytes(created["rsa"].key.n, "big")
    assert rsa_public.public_numbers().e == int.from_bytes(created["rsa"].key.e, "big")
    assert "Public-Key: (2048 bit)" in openssl("pkey", "-pubin", "-in", mountpoint / "rsa", "-noout", "-text")

    for alias, curve, nist in (("p256", ec.SECP256R1, "P-256"), ("p384", ec.SECP384R1, "P-384")):
        ec_public = serialization.load_pem_public_key((mountpoint / alias).read_bytes())
        assert isinstance(ec_public, ec.EllipticCurvePublicKey)
        assert isinstance(ec_public.curve, curve)
        jwk = created[alias].key
        assert ec_public.public_numbers().x == int.from_bytes(jwk.x, "big")
        assert ec_public.public_numbers().y == int.from_bytes(jwk.y, "big")
        assert f"NIST CURVE: {nist}" in openssl("pkey", "-pubin", "-in", mountpoint / alias, "-noout", "-text")

    for alias, key in (*created.items(), ("p521", imported)):
        data = (mountpoint / alias).read_bytes()
        assert blocks(data) == [("PUBLIC KEY", spki(_jwk_public(key)))], alias
        assert openssl("pkey", "-pubin", "-in", mountpoint / alias, "-pubout") == data.decode()
    assert blocks((mountpoint / "p521").read_bytes()) == [("PUBLIC KEY", spki(local))]


# -- 4. objectFormat: pfx --------------------------------------------------------------------------


def test_pfx_format_is_the_stored_base64_and_decodes_to_a_passwordless_pfx(
    clients: Clients, rsa_chain: Chain, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    import_pfx(clients, "tls", rsa_chain)
    stored = clients.secrets.get_secret("tls")
    assert stored.properties.content_type == "application/x-pkcs12"
    start_kvfs(
        [
            {"objectName": "tls", "objectType": "secret", "objectAlias": "tls.b64", "objectFormat": "pfx"},
            {
                "objectName": "tls",
                "objectType": "secret",
                "objectAlias": "tls.pfx",
                "objectFormat": "pfx",
                "objectEncoding": "base64",
            },
        ]
    )
    assert (mountpoint / "tls.b64").read_bytes() == stored.value.encode()
    pfx = (mountpoint / "tls.pfx").read_bytes()
    assert pfx == base64.b64decode(stored.value)

    loaded = pkcs12.load_pkcs12(pfx, None)  # no password
    assert loaded.cert is not None and der(loaded.cert.certificate) == der(rsa_chain.leaf)
    assert spki(loaded.key) == spki(rsa_chain.leaf_key)
    assert {der(c.certificate) for c in loaded.additional_certs} == {der(rsa_chain.intermediate), der(rsa_chain.root)}

    path = mountpoint / "tls.pfx"
    certs_out = openssl("pkcs12", "-in", path, "-passin", "pass:", "-nokeys")
    certs = x509.load_pem_x509_certificates(certs_out.encode())
    assert der(rsa_chain.leaf) in [der(c) for c in certs]
    key_out = openssl("pkcs12", "-in", path, "-passin", "pass:", "-nocerts", "-noenc")
    assert "-----BEGIN PRIVATE KEY-----" in key_out
    key = serialization.load_pem_private_key(key_out[key_out.index("-----BEGIN") :].encode(), None)
    assert spki(key) == spki(rsa_chain.leaf)


# -- 5. PEM content --------------------------------------------------------------------------------


def test_pem_content_certificate_is_served_exactly_as_stored(
    clients: Clients, ec_chain: Chain, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    # Uploaded in a scrambled order: PEM content is served as stored, not reordered.
    order = [ec_chain.intermediate, ec_chain.leaf, ec_chain.root]
    clients.certificates.import_certificate(
        "ec-tls", ec_chain.pem(order), policy=CertificatePolicy(content_type=CertificateContentType.pem)
    )
    stored = clients.secrets.get_secret("ec-tls")
    assert stored.properties.content_type == "application/x-pem-file"
    start_kvfs([{"objectName": "ec-tls", "objectType": "secret"}])
    data = (mountpoint / "ec-tls").read_bytes()
    assert data == stored.value.encode()
    assert_key_then_chain(data, ec_chain, order)


# -- 6. split files ------------------------------------------------------------------------------


def assert_split(mountpoint: Path, alias: str, chain: Chain, order: list[x509.Certificate]) -> None:
    crt = (mountpoint / f"{alias}.crt").read_bytes()
    key = (mountpoint / f"{alias}.key").read_bytes()
    assert crt and key, f"{alias}: empty split file(s): crt {len(crt)} bytes, key {len(key)} bytes"
    assert blocks(crt) == [("CERTIFICATE", der(c)) for c in order], alias
    found = blocks(key)
    assert [kind for kind, _ in found] == ["PRIVATE KEY"], alias
    assert spki(serialization.load_der_private_key(found[0][1], None)) == spki(chain.leaf)
    assert subject_and_issuer(mountpoint / f"{alias}.crt")[0] == common_name(chain.leaf)
    assert openssl("pkey", "-in", mountpoint / f"{alias}.key", "-pubout") == openssl(
        "x509", "-in", mountpoint / f"{alias}.crt", "-noout", "-pubkey"
    )


def test_split_per_object_writes_crt_and_key_beside_the_file(
    clients: Clients, rsa_chain: Chain, ec_chain: Chain, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    import_pfx(clients, "tls", rsa_chain, extra=[rsa_chain.root, rsa_chain.intermediate])
    clients.certificates.import_certificate(
        "ec-tls", ec_chain.pem(), policy=CertificatePolicy(content_type=CertificateContentType.pem)
    )
    start_kvfs(
        [
            {"objectName": "tls", "objectType": "secret", "split": "true"},
            {
                "objectName": "tls",
                "objectType": "secret",
                "objectAlias": "tls-pfx",
                "objectFormat": "pfx",
                "split": "true",
            },
            {"objectName": "ec-tls", "objectType": "secret", "split": "true"},
            {"objectName": "tls", "objectType": "secret", "objectAlias": "whole.pem"},  # no split
        ]
    )
    assert sorted(os.listdir(mountpoint)) == [
        "ec-tls",
        "ec-tls.crt",
        "ec-tls.key",
        "tls",
        "tls-pfx",
        "tls-pfx.crt",
        "tls-pfx.key",
        "tls.crt",
        "tls.key",
        "whole.pem",
    ]
    assert (mountpoint / "tls").read_bytes() == (mountpoint / "whole.pem").read_bytes()
    assert_split(mountpoint, "tls", rsa_chain, rsa_chain.leaf_first)
    # The provider writes empty .crt/.key for objectFormat pfx; kvfs reads the PFX instead.
    assert_split(mountpoint, "tls-pfx", rsa_chain, rsa_chain.leaf_first)
    assert (mountpoint / "tls-pfx").read_bytes() == clients.secrets.get_secret("tls").value.encode()
    assert_split(mountpoint, "ec-tls", ec_chain, ec_chain.leaf_first)


def test_split_flag_for_all_objects(
    clients: Clients, rsa_chain: Chain, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    import_pfx(clients, "tls", rsa_chain)
    start_kvfs(
        [
            {"objectName": "tls", "objectType": "secret"},
            {"objectName": "tls", "objectType": "secret", "objectAlias": "tls-pfx", "objectFormat": "pfx"},
            {"objectName": "tls", "objectType": "cert", "objectAlias": "leaf.pem"},
        ],
        "--write-cert-and-key-in-separate-files",
    )
    assert sorted(os.listdir(mountpoint)) == [
        "leaf.pem",  # a cert object is one file
        "tls",
        "tls-pfx",
        "tls-pfx.crt",
        "tls-pfx.key",
        "tls.crt",
        "tls.key",
    ]
    assert_key_then_chain((mountpoint / "tls").read_bytes(), rsa_chain, rsa_chain.leaf_first)
    assert_split(mountpoint, "tls", rsa_chain, rsa_chain.leaf_first)
    assert_split(mountpoint, "tls-pfx", rsa_chain, rsa_chain.leaf_first)


def test_split_flag_file_that_collides_with_another_object_is_refused(
    clients: Clients, rsa_chain: Chain, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    """kvfs refuses two objects serving one name (per-object split included); the flag must count too."""
    import_pfx(clients, "tls", rsa_chain)
    process = start_kvfs(
        [
            {"objectName": "tls", "objectType": "secret"},  # the flag adds tls.crt and tls.key
            {"objectName": "tls", "objectType": "cert", "objectAlias": "tls.crt"},
        ],
        "--write-cert-and-key-in-separate-files",
        wait=False,
    )
    wait_for(lambda: process.process.poll() is not None or is_live_mount(mountpoint), what="kvfs to mount or exit")
    mounted = is_live_mount(mountpoint)
    served = sorted(os.listdir(mountpoint)) if mounted else []
    crt_certs = (mountpoint / "tls.crt").read_bytes().count(b"BEGIN CERTIFICATE") if mounted else 0
    if mounted:
        process.stop()
    assert not mounted, (
        "kvfs bug (config.objects.check_file_names / ObjectSpec.file_names ignore --write-cert-and-key-in-"
        f"separate-files): two objects both serve tls.crt and the mount succeeds; served {served}, "
        f"tls.crt holds {crt_certs} certificate(s), one object's file silently replaced the other's"
    )
    assert process.wait_exit() != 0, process.stderr
    assert "tls.crt" in process.stderr.strip().splitlines()[-1], process.stderr
    assert "Traceback" not in process.stderr


# -- 7. an incomplete chain ----------------------------------------------------------------------


def test_incomplete_chain_keeps_the_stored_order_and_mounts(
    clients: Clients, rsa_chain: Chain, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    import_pfx(clients, "partial", rsa_chain, extra=[rsa_chain.root])  # no intermediate
    process = start_kvfs([{"objectName": "partial", "objectType": "secret", "split": "true"}])
    stored = pkcs12.load_pkcs12(base64.b64decode(clients.secrets.get_secret("partial").value), None)
    assert [der(c.certificate) for c in stored.additional_certs] == [der(rsa_chain.root)]

    assert_key_then_chain((mountpoint / "partial").read_bytes(), rsa_chain, [rsa_chain.leaf, rsa_chain.root])
    assert_split(mountpoint, "partial", rsa_chain, [rsa_chain.leaf, rsa_chain.root])
    assert process.stop() == 0
    assert "incomplete" in process.stderr  # a warning, not an error
    assert "Traceback" not in process.stderr


# -- 8. version history --------------------------------------------------------------------------


class Clock:
    """The fake vault's clock, moved by hand: Key Vault's `created` has one-second resolution."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def vault_clock(vault: FakeVault) -> Clock:
    """Controls the `created` time of new versions: without it, versions made in one second tie
    and "newest first" is ambiguous."""
    clock = Clock(float(int(datetime.now(UTC).timestamp()) - 3600))
    vault.set_clock(clock)
    return clock


def read_folder(folder: Path) -> list[str]:
    names = sorted(os.listdir(folder))
    assert names == [str(i) for i in range(len(names))], names
    return [(folder / name).read_text() for name in names]


def test_version_history_is_exactly_n_newest_first_skipping_disabled(
    clients: Clients, vault: FakeVault, vault_clock: Clock, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    versions = []
    for i in range(5):
        vault_clock.now += 60
        versions.append(clients.secrets.set_secret("hist", f"value-{i}").properties.version)
    for i in range(2):
        vault_clock.now += 60
        clients.secrets.set_secret("few", f"few-{i}")
    vault.set_enabled("secrets", "hist", versions[3], enabled=False)  # one of the three newest

    # The vault's own listing: distinct creation times, in creation order; v3 disabled.
    listed = list(clients.secrets.list_properties_of_secret_versions("hist"))
    created = {p.version: p.created_on for p in listed}
    assert [created[v] for v in versions] == sorted(set(created.values()))
    assert {p.version for p in listed if not p.enabled} == {versions[3]}

    start_kvfs(
        [
            {"objectName": "hist", "objectType": "secret", "objectVersionHistory": "3"},
            {
                "objectName": "hist",
                "objectType": "secret",
                "objectAlias": "pinned",
                "objectVersion": versions[2],
                "objectVersionHistory": "3",
            },
            {"objectName": "few", "objectType": "secret", "objectVersionHistory": "3"},
        ]
    )
    assert sorted(os.listdir(mountpoint)) == ["few", "hist", "pinned"]
    assert read_folder(mountpoint / "hist") == ["value-4", "value-2", "value-1"]  # exactly 3, v3 skipped
    assert read_folder(mountpoint / "pinned") == ["value-2", "value-1", "value-0"]
    assert read_folder(mountpoint / "few") == ["few-1", "few-0"]
    assert (mountpoint / "hist" / "0").stat().st_mtime == created[versions[4]].timestamp()


def test_version_history_with_equal_creation_times_starts_at_the_current_version(
    clients: Clients, vault_clock: Clock, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    """Versions made within one second share `created`: file 0 must still be the current version."""
    for i in range(4):
        clients.secrets.set_secret("burst", f"burst-{i}")
    current = clients.secrets.get_secret("burst").value
    assert current == "burst-3"
    assert len({p.created_on for p in clients.secrets.list_properties_of_secret_versions("burst")}) == 1

    start_kvfs([{"objectName": "burst", "objectType": "secret", "objectVersionHistory": "3"}])
    files = read_folder(mountpoint / "burst")
    assert len(files) == 3 and len(set(files)) == 3
    assert set(files) <= {f"burst-{i}" for i in range(4)}
    assert files[0] == current, (
        f"kvfs bug (loader.select_history): with equal `created` times the history folder starts at {files[0]!r}, "
        f"not at the current version {current!r}; ties keep the listing's oldest-first order"
    )


# -- 9. bad material: a clear error, no mount --------------------------------------------------


def assert_mount_fails(process: KvfsProcess, mountpoint: Path, *expected: str) -> str:
    assert process.wait_exit() == 1, process.stderr
    assert "Traceback" not in process.stderr, process.stderr
    last = process.stderr.strip().splitlines()[-1]
    assert last.startswith("kvfs: error:"), process.stderr
    for text in expected:
        assert text in last, f"{text!r} not in {last!r}"
    assert not os.path.ismount(mountpoint)
    assert os.listdir(mountpoint) == []
    return last


def test_invalid_base64_secret_fails_the_mount_naming_the_object(
    vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    vault.set_secret("fine", "ok")
    vault.set_secret("not-b64", "this is *not* base64!")
    process = start_kvfs(
        [
            {"objectName": "fine", "objectType": "secret"},
            {"objectName": "not-b64", "objectType": "secret", "objectEncoding": "base64"},
        ],
        wait=False,
    )
    assert_mount_fails(process, mountpoint, "objects[1]", '"not-b64"', "base64")


@pytest.mark.parametrize(
    ("jwk", "named"),
    [
        (JsonWebKey(kty="oct", k=os.urandom(32)), "oct"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}, "OKP"),
    ],
    ids=["oct", "OKP"],
)
def test_unsupported_key_type_fails_the_mount_naming_the_type(
    clients: Clients, vault: FakeVault, start_kvfs: MountFactory, mountpoint: Path, jwk: object, named: str
) -> None:
    if isinstance(jwk, JsonWebKey):
        clients.keys.import_key("odd-key", jwk)
    else:
        vault.import_key("odd-key", jwk)
    process = start_kvfs([{"objectName": "odd-key", "objectType": "key"}], wait=False)
    assert_mount_fails(process, mountpoint, "objects[0]", '"odd-key"', named, "not supported")


def test_corrupt_pkcs12_content_fails_the_mount_naming_the_object(
    clients: Clients, ec_chain: Chain, start_kvfs: MountFactory, mountpoint: Path
) -> None:
    """The fake only stores what it can parse, so the corrupt secret is a PEM-content certificate's
    secret relabelled as PKCS#12 (update_secret_properties): its value is not a PFX."""
    clients.certificates.import_certificate(
        "relabelled", ec_chain.pem(), policy=CertificatePolicy(content_type=CertificateContentType.pem)
    )
    clients.secrets.update_secret_properties("relabelled", content_type="application/x-pkcs12")
    props = clients.secrets.get_secret("relabelled").properties
    assert props.content_type == "application/x-pkcs12" and props.key_id  # still a certificate's secret
    process = start_kvfs([{"objectName": "relabelled", "objectType": "secret"}], wait=False)
    assert_mount_fails(process, mountpoint, "objects[0]", '"relabelled"', "PFX")
