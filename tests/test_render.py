"""Rendering: Key Vault material → the bytes the Azure provider writes (no vault, no mount)."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kvfs.config import ObjectSpec
from kvfs.content.material import CertificateMaterial, KeyMaterial, SecretMaterial, VersionInfo
from kvfs.content.pem import order_chain, pem_blocks
from kvfs.content.render import PEM_CONTENT_TYPE, PKCS12_CONTENT_TYPE, render
from kvfs.errors import RenderError
from tests.pki import Chain, make_chain, pem_of

INFO = VersionInfo("obj", "v1", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
KID = "https://kv.vault.azure.net/keys/obj/v1"


def spec(**fields: object) -> ObjectSpec:
    return ObjectSpec(**{"index": 3, "name": "obj", "type": "secret", "alias": "obj", **fields})


def one(files: list[tuple[str, bytes]]) -> bytes:
    assert [suffix for suffix, _ in files] == [""]
    return files[0][1]


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain("rsa")


def pfx_secret(chain: Chain, extra: list[x509.Certificate] | None = None) -> SecretMaterial:
    value = base64.b64encode(chain.pfx(extra=extra)).decode()
    return SecretMaterial(INFO, value, content_type=PKCS12_CONTENT_TYPE, kid=KID)


def certs_in(pem: bytes) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(b.text) for b in pem_blocks(pem) if b.type == "CERTIFICATE"]


@pytest.mark.parametrize(
    ("encoding", "stored", "expected"),
    [
        ("utf-8", "plain ✓", "plain ✓".encode()),
        ("base64", base64.b64encode(b"\x00\xffbinary").decode(), b"\x00\xffbinary"),
        ("hex", "00ff41", b"\x00\xffA"),
    ],
)
def test_secret_encodings(encoding: str, stored: str, expected: bytes) -> None:
    assert one(render(spec(encoding=encoding), SecretMaterial(INFO, stored))) == expected


@pytest.mark.parametrize(("encoding", "stored"), [("base64", "not base64!"), ("hex", "zz")])
def test_a_value_that_does_not_decode_names_the_object(encoding: str, stored: str) -> None:
    with pytest.raises(RenderError) as info:
        render(spec(encoding=encoding), SecretMaterial(INFO, stored))
    message = str(info.value)
    assert 'objects[3] (objectName "obj")' in message
    assert encoding in message
    assert stored not in message  # never echo the value


def test_pfx_becomes_pkcs8_key_then_leaf_intermediate_root(chain: Chain) -> None:
    scrambled = pfx_secret(chain, extra=[chain.root, chain.intermediate])
    pem = one(render(spec(), scrambled))
    blocks = pem_blocks(pem)
    assert [b.type for b in blocks] == ["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE", "CERTIFICATE"]
    assert certs_in(pem) == [chain.leaf, chain.intermediate, chain.root]
    key = serialization.load_pem_private_key(blocks[0].text, None)
    assert key.public_key() == chain.leaf.public_key()


def test_an_incomplete_chain_keeps_the_stored_order_with_a_warning(
    chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="kvfs.content.render"):
        pem = one(render(spec(), pfx_secret(chain, extra=[chain.root])))
    assert certs_in(pem) == [chain.leaf, chain.root]
    assert any("incomplete" in r.message and "objects[3]" in r.message for r in caplog.records)


def test_pfx_format_serves_the_stored_text_or_binary(chain: Chain) -> None:
    material = pfx_secret(chain)
    assert one(render(spec(format="pfx"), material)) == material.value.encode()
    binary = one(render(spec(format="pfx", encoding="base64"), material))
    key, cert, _ = pkcs12.load_key_and_certificates(binary, None)
    assert cert == chain.leaf
    assert key is not None


def test_pem_certificate_secret_is_served_as_stored(chain: Chain) -> None:
    stored = chain.pem(order=[chain.leaf, chain.root, chain.intermediate]).decode()
    material = SecretMaterial(INFO, stored, content_type=PEM_CONTENT_TYPE, kid=KID)
    assert one(render(spec(), material)) == stored.encode()


@pytest.mark.parametrize("fmt", ["pem", "pfx"])
def test_split_files_hold_certificates_and_key_even_for_pfx(chain: Chain, fmt: str) -> None:
    files = dict(render(spec(format=fmt), pfx_secret(chain), split=True))
    assert set(files) == {"", ".crt", ".key"}
    assert certs_in(files[".crt"]) == [chain.leaf, chain.intermediate, chain.root]
    assert [b.type for b in pem_blocks(files[".key"])] == ["PRIVATE KEY"]
    assert serialization.load_pem_private_key(files[".key"], None).public_key() == chain.leaf.public_key()


def test_split_per_object_on_a_plain_secret_holding_pem(chain: Chain) -> None:
    files = dict(render(spec(split=True), SecretMaterial(INFO, chain.pem().decode())))
    assert certs_in(files[".crt"]) == chain.leaf_first
    with pytest.raises(RenderError, match="holds no PEM"):
        render(spec(split=True), SecretMaterial(INFO, "just a password"))


def test_a_password_protected_or_corrupt_pfx_is_a_clear_error(chain: Chain) -> None:
    protected = base64.b64encode(chain.pfx(password=b"pw")).decode()
    for value in (protected, base64.b64encode(b"garbage").decode(), "%%%"):
        material = SecretMaterial(INFO, value, content_type=PKCS12_CONTENT_TYPE, kid=KID)
        with pytest.raises(RenderError, match=r"objects\[3\].*PFX"):
            render(spec(), material)


def test_unknown_certificate_content_type_is_an_error(chain: Chain) -> None:
    material = SecretMaterial(INFO, "x", content_type="application/json", kid=KID)
    with pytest.raises(RenderError, match="unknown certificate content type"):
        render(spec(), material)


@pytest.mark.parametrize("kind", ["rsa", "p256", "p384", "p521"])
def test_keys_become_public_key_pem(kind: str) -> None:
    chain = make_chain(kind)
    public = chain.leaf_key.public_key()
    if kind == "rsa":
        numbers = public.public_numbers()
        material = KeyMaterial(INFO, "RSA-HSM", n=numbers.n.to_bytes(256, "big"), e=numbers.e.to_bytes(3, "big"))
    else:
        numbers = public.public_numbers()
        size = (public.curve.key_size + 7) // 8
        crv = {"p256": "P-256", "p384": "P-384", "p521": "P-521"}[kind]
        material = KeyMaterial(
            INFO, "EC", crv=crv, x=numbers.x.to_bytes(size, "big"), y=numbers.y.to_bytes(size, "big")
        )
    pem = one(render(spec(type="key"), material))
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert serialization.load_pem_public_key(pem) == public


@pytest.mark.parametrize(("kty", "crv"), [("oct", None), ("OKP", "Ed25519"), ("EC", "P-256K")])
def test_unsupported_key_types_name_the_object_and_type(kty: str, crv: str | None) -> None:
    material = KeyMaterial(INFO, kty, crv=crv, x=b"\x01" * 32, y=b"\x01" * 32)
    with pytest.raises(RenderError) as info:
        render(spec(type="key"), material)
    assert "objects[3]" in str(info.value)
    assert kty in str(info.value)


def test_cert_is_the_leaf_as_one_pem_block(chain: Chain) -> None:
    der = chain.leaf.public_bytes(serialization.Encoding.DER)
    pem = one(render(spec(type="cert"), CertificateMaterial(INFO, der)))
    assert pem == pem_of(chain.leaf)
    with pytest.raises(RenderError, match="not valid DER"):
        render(spec(type="cert"), CertificateMaterial(INFO, b"nope"))


def test_order_chain_handles_any_input_order(chain: Chain) -> None:
    for order in ([chain.root, chain.leaf, chain.intermediate], [chain.intermediate, chain.root, chain.leaf]):
        assert order_chain(order) == [chain.leaf, chain.intermediate, chain.root]
    assert order_chain([chain.leaf, chain.root]) is None
    assert order_chain([chain.leaf]) == [chain.leaf]


# -- the separate .crt/.key files are re-encoded as the provider writes them -------------------------


def rewrap(pem: bytes, width: int, eol: bytes) -> bytes:
    """PEM as another tool writes it: each block's base64 at ``width`` columns, ``eol`` line ends."""
    out = []
    for block in pem_blocks(pem):
        body = base64.b64encode(block.der)
        lines = [f"-----BEGIN {block.type}-----".encode()]
        lines += [body[i : i + width] for i in range(0, len(body), width)]
        lines.append(f"-----END {block.type}-----".encode())
        out.append(eol.join(lines) + eol)
    return b"".join(out)


@pytest.mark.parametrize(("width", "eol"), [(76, b"\n"), (64, b"\r\n"), (76, b"\r\n"), (40, b"\n")])
def test_split_files_reencode_each_block_while_the_combined_file_stays_as_stored(
    chain: Chain, width: int, eol: bytes
) -> None:
    stored = rewrap(chain.pem(), width, eol)
    assert stored != chain.pem()
    material = SecretMaterial(INFO, stored.decode(), content_type=PEM_CONTENT_TYPE, kid=KID)
    files = dict(render(spec(), material, split=True))
    assert files[""] == stored
    # cryptography writes LF and 64 columns, as Go's pem.EncodeToMemory does: an independent oracle.
    assert files[".crt"] == b"".join(pem_of(c) for c in chain.leaf_first)
    assert files[".key"] == chain.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# -- bad material: one line naming the object, never a traceback -------------------------------------


def ec_material(chain: Chain, *, nudge_y: int = 0) -> KeyMaterial:
    numbers = chain.leaf_key.public_key().public_numbers()
    return KeyMaterial(
        INFO, "EC", crv="P-256", x=numbers.x.to_bytes(32, "big"), y=(numbers.y + nudge_y).to_bytes(32, "big")
    )


def duplicate_extension_certificate(chain: Chain) -> x509.Certificate:
    """A certificate whose extensions repeat one (cryptography's builder refuses, so edit the DER:
    two private extensions whose OIDs differ in one byte become the same OID)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(chain.intermediate.subject)
        .issuer_name(chain.root.subject)
        .public_key(chain.leaf_key.public_key())
        .serial_number(7)
        .not_valid_before(chain.leaf.not_valid_before_utc)
        .not_valid_after(chain.leaf.not_valid_after_utc)
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00"), critical=False)
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.5"), b"\x05\x00"), critical=False)
    )
    der = builder.sign(chain.leaf_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    assert der.count(b"\x06\x03\x2a\x03\x05") == 1
    return x509.load_der_x509_certificate(der.replace(b"\x06\x03\x2a\x03\x05", b"\x06\x03\x2a\x03\x04"))


@pytest.fixture(scope="module")
def ec_chain() -> Chain:
    return make_chain("p256")


def bad_material(chain: Chain, ec_chain: Chain) -> dict[str, tuple[ObjectSpec, object, str]]:
    """Each class of material a vault might hand out that cannot be served: (spec, material, message part)."""
    pfx_with_broken_chain = base64.b64encode(
        pkcs12.serialize_key_and_certificates(
            b"x",
            chain.leaf_key,
            chain.leaf,
            [duplicate_extension_certificate(chain), chain.root],
            serialization.NoEncryption(),
        )
    ).decode()
    key = spec(type="key")
    return {
        "ec-point-off-curve": (key, ec_material(ec_chain, nudge_y=1), "not on curve P-256"),
        "rsa-even-exponent": (
            key,
            KeyMaterial(INFO, "RSA", n=b"\xc5" * 256, e=b"\x02"),
            "RSA key's modulus or exponent",
        ),
        "rsa-exponent-one": (
            key,
            KeyMaterial(INFO, "RSA", n=b"\xc5" * 256, e=b"\x01"),
            "RSA key's modulus or exponent",
        ),
        "ec-missing-y": (key, KeyMaterial(INFO, "EC", crv="P-256", x=b"\x01" * 32), "EC key has no point (x, y)"),
        "rsa-missing-n": (key, KeyMaterial(INFO, "RSA-HSM", e=b"\x01\x00\x01"), "RSA key has no modulus"),
        "cert-not-der": (spec(type="cert"), CertificateMaterial(INFO, b"\x30\x03\x02\x01"), "not valid DER"),
        "cert-empty": (spec(type="cert"), CertificateMaterial(INFO, b""), "not valid DER"),
        "pfx-not-base64": (spec(), SecretMaterial(INFO, "%%%", content_type=PKCS12_CONTENT_TYPE, kid=KID), "PFX"),
        "pfx-not-pkcs12": (
            spec(),
            SecretMaterial(INFO, base64.b64encode(b"\x30\x00").decode(), content_type=PKCS12_CONTENT_TYPE, kid=KID),
            "PFX",
        ),
        "pfx-chain-duplicate-extension": (
            spec(),
            SecretMaterial(INFO, pfx_with_broken_chain, content_type=PKCS12_CONTENT_TYPE, kid=KID),
            "extensions that cannot be read",
        ),
        "certificate-without-content-type": (
            spec(),
            SecretMaterial(INFO, "x", content_type=None, kid=KID),
            "content type",
        ),
    }


BAD_MATERIAL = [
    "ec-point-off-curve",
    "rsa-even-exponent",
    "rsa-exponent-one",
    "ec-missing-y",
    "rsa-missing-n",
    "cert-not-der",
    "cert-empty",
    "pfx-not-base64",
    "pfx-not-pkcs12",
    "pfx-chain-duplicate-extension",
    "certificate-without-content-type",
]


@pytest.mark.parametrize("case", BAD_MATERIAL)
def test_bad_material_is_a_one_line_render_error_naming_the_object(chain: Chain, ec_chain: Chain, case: str) -> None:
    object_spec, material, expected = bad_material(chain, ec_chain)[case]
    with pytest.raises(RenderError) as info:
        render(object_spec, material, split=True)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith('objects[3] (objectName "obj"): '), message
    assert expected in message
    assert "\n" not in message


def test_the_sane_ec_key_next_to_the_bad_one_renders(ec_chain: Chain) -> None:
    """The off-curve case above differs from a good key by one in y: the check, not the input, decides."""
    pem = one(render(spec(type="key"), ec_material(ec_chain)))
    assert serialization.load_pem_public_key(pem) == ec_chain.leaf_key.public_key()


def test_any_parser_exception_becomes_a_render_error(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last guard: an exception type no parse site expects still ends as one line naming the object."""

    def broken(*_: object) -> None:
        raise IndexError("surprise")

    monkeypatch.setattr("kvfs.content.render.certificate_pem", broken)
    der = chain.leaf.public_bytes(serialization.Encoding.DER)
    with pytest.raises(RenderError, match=r'^objects\[3\] \(objectName "obj"\): .*certificate material.*IndexError'):
        render(spec(type="cert"), CertificateMaterial(INFO, der))
