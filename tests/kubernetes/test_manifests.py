"""Secrets built from served files, as the driver builds them (no API server)."""

from __future__ import annotations

import base64

import pytest

from kvfs.config import SecretObject, SecretObjectData
from kvfs.content.files import FileContent
from kvfs.content.pem import pem_blocks
from kvfs.sinks.kubernetes.manifests import MANAGED_LABEL, SecretBuildError, build_secret
from kvfs.sinks.kubernetes.settings import PodOwner
from tests.pki import make_chain, pem_of


def files(contents: dict[str, bytes]) -> dict[str, FileContent]:
    return {path: FileContent(path, data, 0o644, 0) for path, data in contents.items()}


def secret(type_: str = "Opaque", **keys: str) -> SecretObject:
    return SecretObject(
        secret_name="app",
        type=type_,
        data=tuple(SecretObjectData(object_name=path, key=key) for key, path in keys.items()),
        labels={"team": "a"},
        annotations={"note": "synced"},
    )


def test_opaque_secret_takes_the_files_bytes_as_they_are_served() -> None:
    manifest = build_secret(
        secret(password="db", config="conf/app.json"), files({"db": b"s3cr3t", "conf/app.json": b"{}"})
    )
    assert manifest.data == {"password": b"s3cr3t", "config": b"{}"}
    assert manifest.type == "Opaque"
    assert manifest.labels == {"team": "a", MANAGED_LABEL: "true"}
    assert manifest.annotations == {"note": "synced"}


def test_nested_alias_paths_are_found() -> None:
    manifest = build_secret(secret(config="conf/app.json"), files({"conf/app.json": b"{}"}))
    assert manifest.data == {"config": b"{}"}


@pytest.mark.parametrize("kind", ["rsa", "p256"])
def test_tls_secret_cuts_certificates_and_key_from_pem(kind: str) -> None:
    chain = make_chain(kind)
    pem = chain.pem().replace(b"\n", b"\r\n")  # stored with CRLF: the driver re-encodes the blocks
    manifest = build_secret(secret("kubernetes.io/tls", **{"tls.crt": "tls", "tls.key": "tls"}), files({"tls": pem}))
    assert manifest.data["tls.crt"] == b"".join(pem_of(c) for c in chain.leaf_first)
    expected_key = "RSA PRIVATE KEY" if kind == "rsa" else "EC PRIVATE KEY"
    assert [b.type for b in pem_blocks(manifest.data["tls.key"])] == [expected_key]


def test_tls_secret_cuts_certificates_and_key_from_binary_pfx() -> None:
    chain = make_chain("p384")
    manifest = build_secret(
        secret("kubernetes.io/tls", **{"tls.crt": "tls.pfx", "tls.key": "tls.pfx"}), files({"tls.pfx": chain.pfx()})
    )
    assert pem_blocks(manifest.data["tls.crt"])[0].der == pem_blocks(pem_of(chain.leaf))[0].der
    assert [b.type for b in pem_blocks(manifest.data["tls.key"])] == ["EC PRIVATE KEY"]


def test_a_missing_file_or_unsplittable_content_is_an_error_naming_the_secret() -> None:
    with pytest.raises(SecretBuildError, match=r'Secret "app": file \'later\' for key \'password\' is not served'):
        build_secret(secret(password="later"), files({"db": b"x"}))
    with pytest.raises(
        SecretBuildError,
        match=r'Secret "app" \(kubernetes.io/tls\): tls.crt cannot be taken from .t.: the content is neither PEM',
    ):
        build_secret(secret("kubernetes.io/tls", **{"tls.crt": "t", "tls.key": "t"}), files({"t": b"not pem"}))


def test_the_digest_changes_with_any_written_field_and_only_then() -> None:
    base = build_secret(secret(password="db"), files({"db": b"one"}))
    assert base.digest() == build_secret(secret(password="db"), files({"db": b"one"})).digest()
    assert base.digest() != build_secret(secret(password="db"), files({"db": b"two"})).digest()
    relabelled = SecretObject("app", "Opaque", (SecretObjectData("db", "password"),), {"team": "b"}, {"note": "synced"})
    assert base.digest() != build_secret(relabelled, files({"db": b"one"})).digest()


def test_the_apply_body_holds_base64_data_owners_and_resource_version() -> None:
    manifest = build_secret(secret(password="db"), files({"db": b"\x00\xff"}))
    owner = PodOwner("web-1", "uid-1").reference()
    body = manifest.body("prod", owners=[owner], resource_version="42")
    assert body["kind"] == "Secret" and body["type"] == "Opaque"
    assert body["data"] == {"password": base64.b64encode(b"\x00\xff").decode()}
    assert body["metadata"] == {
        "name": "app",
        "namespace": "prod",
        "labels": {"team": "a", MANAGED_LABEL: "true"},
        "annotations": {"note": "synced"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "uid-1"}],
        "resourceVersion": "42",
    }
    assert "controller" not in owner and "blockOwnerDeletion" not in owner
    assert "ownerReferences" not in manifest.body("prod", owners=[])["metadata"]
