"""Fixtures for the fake vault's own tests: a running FakeVault and real SDK clients over HTTPS."""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.identity import WorkloadIdentityCredential
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.keys import KeyClient
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kvfs.fakevault import FakeVault


@pytest.fixture
def fv(tmp_path: Path) -> Iterator[FakeVault]:
    with FakeVault(state_dir=tmp_path / "fv") as vault:
        yield vault


def client_options(fv: FakeVault, **overrides: Any) -> dict[str, Any]:
    """What every SDK client needs against the fake, plus short timeouts and quick retries."""
    options: dict[str, Any] = {
        "verify_challenge_resource": False,
        "connection_verify": str(fv.ca_file),
        "connection_timeout": 5,
        "read_timeout": 10,
        "retry_total": 2,
        "retry_backoff_factor": 0.01,
    }
    options.update(overrides)
    return options


def workload_credential(fv: FakeVault, **overrides: Any) -> WorkloadIdentityCredential:
    kwargs: dict[str, Any] = {
        "tenant_id": fv.tenant_id,
        "client_id": fv.client_id,
        "token_file_path": str(fv.token_file),
        "authority": fv.authority_host,
        "connection_verify": str(fv.ca_file),
    }
    kwargs.update(overrides)
    return WorkloadIdentityCredential(**kwargs)


@pytest.fixture
def wi_credential(fv: FakeVault) -> Iterator[WorkloadIdentityCredential]:
    cred = workload_credential(fv)
    yield cred
    cred.close()


@pytest.fixture
def secrets_client(fv: FakeVault, wi_credential: WorkloadIdentityCredential) -> Iterator[SecretClient]:
    with SecretClient(fv.vault_url, wi_credential, **client_options(fv)) as client:
        yield client


@pytest.fixture
def keys_client(fv: FakeVault, wi_credential: WorkloadIdentityCredential) -> Iterator[KeyClient]:
    with KeyClient(fv.vault_url, wi_credential, **client_options(fv)) as client:
        yield client


@pytest.fixture
def certs_client(fv: FakeVault, wi_credential: WorkloadIdentityCredential) -> Iterator[CertificateClient]:
    with CertificateClient(fv.vault_url, wi_credential, **client_options(fv)) as client:
        yield client


@dataclass
class HookResponse:
    status: int
    headers: dict[str, str]
    body: Any


def raw_call(
    fv: FakeVault, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> HookResponse:
    """One plain HTTPS request (for the /_fake/ hooks and raw-protocol checks), trusting the fake's CA."""
    context = ssl.create_default_context(cafile=str(fv.ca_file))
    conn = http.client.HTTPSConnection("127.0.0.1", fv.port, context=context, timeout=10)
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
        parsed = json.loads(raw) if raw else None
        return HookResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, parsed)
    finally:
        conn.close()


#: Any of these makes ManagedIdentityCredential pick another flavour than IMDS (the last three together:
#: workload identity, silently).
OTHER_IDENTITY_FLAVOURS = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
)


def use_fake_imds(fv: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a VM whose IMDS is the fake; set it before a ManagedIdentityCredential is built."""
    for name in OTHER_IDENTITY_FLAVOURS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", fv.imds_url)


def imds_call(fv: FakeVault, target: str, headers: dict[str, str] | None = None) -> HookResponse:
    """One plain-HTTP GET to the fake IMDS (``target`` = path and query), ``Metadata: true`` unless overridden."""
    port = int(fv.imds_url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", target, headers={"Metadata": "true"} if headers is None else headers)
        response = conn.getresponse()
        raw = response.read()
        return HookResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(raw))
    finally:
        conn.close()


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a JWT, unverified."""
    header, claims = (
        json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in token.split(".")[:2]
    )
    return header, claims


def statuses(fv: FakeVault, path_part: str = "") -> list[tuple[str, int]]:
    """``(method, status)`` of logged requests whose path contains ``path_part``."""
    return [(r["method"], r["status"]) for r in fv.requests() if path_part in r["path"]]


@dataclass(frozen=True)
class Chain:
    """A CA and a leaf issued by it, with the leaf's private key."""

    ca_key: rsa.RSAPrivateKey
    ca: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    leaf: x509.Certificate


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_chain(leaf_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cn: str = "app.example.test") -> Chain:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(65537, 2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("kvfs test CA"))
        .issuer_name(_name("kvfs test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Chain(ca_key=ca_key, ca=ca, key=leaf_key, leaf=leaf)


@pytest.fixture(scope="session")
def rsa_chain() -> Chain:
    return make_chain(rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="session")
def ec_chain() -> Chain:
    return make_chain(ec.generate_private_key(ec.SECP256R1()), cn="ec.example.test")


@pytest.fixture
def fake_client_factory(fv: FakeVault) -> Iterator[Callable[..., SecretClient]]:
    """SecretClient with any credential (for auth failure tests)."""
    made: list[SecretClient] = []

    def make(credential: Any, **overrides: Any) -> SecretClient:
        client = SecretClient(fv.vault_url, credential, **client_options(fv, **overrides))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
