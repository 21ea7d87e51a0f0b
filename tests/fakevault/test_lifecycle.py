"""Start/stop, the advertised files, seed files and the demo objects."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.keys import KeyClient
from azure.keyvault.secrets import SecretClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kvfs.fakevault import FakeVault, demo_objects, load_seed

from .conftest import Chain, client_options, raw_call, workload_credential

pytestmark = pytest.mark.timeout(30)

INFO_KEYS = {
    "vault_url",
    "authority_host",
    "tenant_id",
    "client_secret",
    "client_id",
    "token_file",
    "ca_file",
    "imds_url",
    "oidc_issuer",
}


def test_state_dir_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with FakeVault(state_dir=state) as fv:
        info = json.loads((state / "fake-vault.json").read_text())
        assert set(info) == INFO_KEYS and info == fv.info()
        assert info["vault_url"] == f"https://127.0.0.1:{fv.port}/"
        assert info["authority_host"] == f"https://127.0.0.1:{fv.port}"
        assert info["oidc_issuer"] == f"https://127.0.0.1:{fv.port}/oidc"
        assert info["imds_url"].startswith("http://127.0.0.1:") and info["imds_url"] != f"http://127.0.0.1:{fv.port}"
        assert Path(info["token_file"]).parent == state and Path(info["ca_file"]).parent == state
        assert stat.S_IMODE(fv.token_file.stat().st_mode) == 0o600
        assert "BEGIN CERTIFICATE" in fv.ca_file.read_text()
        assert raw_call(fv, "GET", "/_fake/info").body == info
    assert not (state / "fake-vault.json").exists()


def test_temp_dir_when_no_state_dir() -> None:
    with FakeVault() as fv:
        assert fv.token_file.exists() and fv.ca_file.exists()
        assert fv.vault_url.startswith("https://127.0.0.1:")
    with pytest.raises(RuntimeError):
        _ = FakeVault().vault_url


def test_localhost_name_is_trusted(fv: FakeVault) -> None:
    cred = workload_credential(fv, authority=f"https://localhost:{fv.port}")
    fv.set_secret("by-name", "ok")
    with SecretClient(f"https://localhost:{fv.port}/", cred, **client_options(fv)) as client:
        assert client.get_secret("by-name").value == "ok"


def test_restart_keeps_port_state_and_trust(fv: FakeVault, secrets_client: SecretClient) -> None:
    fv.set_secret("durable", "v1")
    assert secrets_client.get_secret("durable").value == "v1"
    url = fv.vault_url
    fv.stop()
    assert not fv.running
    fv.start()
    assert fv.vault_url == url
    assert secrets_client.get_secret("durable").value == "v1"  # same client: reconnects, same CA and token


def test_seed_file(
    fv: FakeVault,
    tmp_path: Path,
    rsa_chain: Chain,
    secrets_client: SecretClient,
    keys_client: KeyClient,
    certs_client: CertificateClient,
) -> None:
    key_pem = rsa_chain.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "web.pem").write_bytes(key_pem + rsa_chain.leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "certs" / "web.pfx").write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"web", rsa_chain.key, rsa_chain.leaf, None, serialization.BestAvailableEncryption(b"pw")
        )
    )
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        yaml.safe_dump(
            {
                "secrets": [
                    {"name": "api-token", "value": "first"},
                    {"name": "api-token", "value": "second", "contentType": "text/plain", "tags": {"team": "x"}},
                    {"name": "off", "value": "hidden", "enabled": False},
                ],
                "keys": [
                    {"name": "rsa-key", "kty": "RSA", "size": 2048},
                    {"name": "ec-key", "kty": "EC", "crv": "P-384"},
                ],
                "certificates": [
                    {"name": "web-pem", "pem_file": "certs/web.pem", "contentType": "application/x-pem-file"},
                    {"name": "web-pfx", "pfx_file": "certs/web.pfx", "password": "pw"},
                ],
            }
        )
    )
    load_seed(fv, seed)
    assert secrets_client.get_secret("api-token").value == "second"
    assert len(list(secrets_client.list_properties_of_secret_versions("api-token"))) == 2
    assert keys_client.get_key("ec-key").key.crv == "P-384"
    assert secrets_client.get_secret("web-pem").properties.content_type == "application/x-pem-file"
    assert secrets_client.get_secret("web-pfx").properties.content_type == "application/x-pkcs12"
    assert certs_client.get_certificate("web-pfx").properties.version


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("secrets: [{name: a, vlaue: b}]", r"secrets\[0\] \('a'\): unknown key\(s\) vlaue"),
        ("secrets: [{name: a, value: 12}]", r"value must be a string \(quote it"),
        ("keys: [{name: k}]", r"keys\[0\] \('k'\): missing key\(s\) kty"),
        ("certificates: [{name: c}]", "exactly one of pem_file or pfx_file"),
        ("certificates: [{name: c, pem_file: nowhere.pem}]", "cannot read"),
        ("secret: []", "unknown section"),
    ],
)
def test_seed_errors(fv: FakeVault, tmp_path: Path, text: str, message: str) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_seed(fv, seed)


def test_demo_objects(
    fv: FakeVault, secrets_client: SecretClient, keys_client: KeyClient, certs_client: CertificateClient
) -> None:
    demo_objects(fv)
    assert len(secrets_client.get_secret("demo-password").value) >= 16
    assert keys_client.get_key("demo-signing-key").key_type == "RSA"
    cert = certs_client.get_certificate("demo-tls")
    pem = secrets_client.get_secret("demo-tls")
    assert pem.properties.content_type == "application/x-pem-file"
    assert pem.value.count("BEGIN CERTIFICATE") == 2
    assert cert.policy.san_dns_names == ["demo.kvfs.local"]


def test_on_port_443_the_urls_carry_no_port(tmp_path: Path) -> None:
    """Clients compare authorities and vault URLs as strings: the default port is left out, as Azure's are."""
    with FakeVault(state_dir=tmp_path, port=443) as fv:
        assert (fv.vault_url, fv.authority_host) == ("https://127.0.0.1/", "https://127.0.0.1")
        fv.set_secret("plain", "on 443")
        credential = workload_credential(fv)
        with SecretClient(fv.vault_url, credential, **client_options(fv)) as client:
            assert client.get_secret("plain").value == "on 443"
        credential.close()
