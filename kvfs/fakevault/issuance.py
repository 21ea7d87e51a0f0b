"""Certificate policies for ``create``, and what a create makes: keys, self-signed certificates, CSRs.

A policy is stored in the wire shape Key Vault returns (``key_props``, ``secret_props``, ``x509_props``,
``lifetime_actions``, ``issuer``, ``attributes``, ``platformManaged``): the request merged over the current
policy or over the service's defaults, checked here so that issuing cannot fail later.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import certs
from .errors import bad_parameter
from .keys import CURVES, RSA_SIZES

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

SELF, UNKNOWN = "Self", "Unknown"
DEFAULT_EKUS = ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]  # server and client authentication
DEFAULT_KEY_USAGE = ["digitalSignature", "keyEncipherment"]
#: Key Vault's name -> ``cryptography`` KeyUsage attribute; the two "only" flags qualify keyAgreement.
_KEY_USAGE_FLAGS = {name: attr for attr, name in certs.KEY_USAGE} | {
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}
_ACTIONS = {"autorenew": "AutoRenew", "emailcontacts": "EmailContacts"}
_SAN_LISTS = ("emails", "dns_names", "upns", "uris", "ipAddresses")
_EC_SIZES = {256: "P-256", 384: "P-384", 521: "P-521"}
_UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
_SECTIONS = ("key_props", "secret_props", "x509_props", "issuer", "attributes", "platformManaged")


def _section(requested: dict[str, Any], name: str) -> dict[str, Any]:
    value = requested.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_parameter(f"'policy.{name}' must be an object.")
    return {k: v for k, v in value.items() if v is not None}


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_parameter(f"'{where}' must be a list of strings.")
    return list(value)


def merge_policy(
    requested: dict[str, Any], current: dict[str, Any] | None, now: int, *, replace: bool
) -> dict[str, Any]:
    """The policy to store. With ``replace`` (a create that brings a policy) the request stands alone over the
    service's defaults; otherwise (a policy update) each section given merges over ``current``."""
    if not isinstance(requested, dict):
        raise bad_parameter("'policy' must be an object.")
    base = {} if replace or not current else copy.deepcopy(current)
    merged: dict[str, Any] = {}
    for name in _SECTIONS:
        section = {**base.get(name, {}), **_section(requested, name)}
        if section:
            merged[name] = section
    actions = requested.get("lifetime_actions")
    merged["lifetime_actions"] = base.get("lifetime_actions") if actions is None else actions
    created = (current or {}).get("attributes", {}).get("created", now)
    return _checked(merged, created=created, now=now)


def _checked(policy: dict[str, Any], *, created: int, now: int) -> dict[str, Any]:
    key = policy.setdefault("key_props", {})
    kty = key.setdefault("kty", "RSA")
    if kty not in ("RSA", "RSA-HSM", "EC", "EC-HSM"):
        raise bad_parameter(f"'policy.key_props.kty' must be RSA, RSA-HSM, EC or EC-HSM, not {kty!r}.")
    if kty.startswith("RSA"):
        key.pop("crv", None)
        size = key.setdefault("key_size", 2048)
        if size not in RSA_SIZES:
            raise bad_parameter(f"'policy.key_props.key_size' {size!r} is not an RSA size: use 2048, 3072 or 4096.")
    else:
        curve = key.setdefault("crv", _EC_SIZES.get(key.get("key_size"), "P-256"))  # type: ignore[arg-type]
        if curve not in CURVES:
            raise bad_parameter(f"'policy.key_props.crv' {curve!r} is not one of {', '.join(CURVES)}.")
    for flag, default in (("exportable", True), ("reuse_key", False)):
        if not isinstance(key.setdefault(flag, default), bool):
            raise bad_parameter(f"'policy.key_props.{flag}' must be true or false.")

    content_type = policy.setdefault("secret_props", {}).setdefault("contentType", certs.PKCS12)
    if content_type not in certs.CONTENT_TYPES:
        raise bad_parameter(f"'policy.secret_props.contentType' must be {' or '.join(certs.CONTENT_TYPES)}.")

    x509_props = policy.setdefault("x509_props", {})
    months = x509_props.setdefault("validity_months", 12)
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 1200:
        raise bad_parameter("'policy.x509_props.validity_months' must be a whole number of months from 1 to 1200.")
    x509_props["ekus"] = _strings(x509_props.get("ekus", DEFAULT_EKUS), "policy.x509_props.ekus")
    for oid in x509_props["ekus"]:
        _oid(oid, "policy.x509_props.ekus")
    x509_props["key_usage"] = _strings(x509_props.get("key_usage", DEFAULT_KEY_USAGE), "policy.x509_props.key_usage")
    unknown = [u for u in x509_props["key_usage"] if u not in _KEY_USAGE_FLAGS]
    if unknown:
        raise bad_parameter(f"'policy.x509_props.key_usage' has unknown usages {unknown}.")
    sans = x509_props.get("sans") or {}
    if not isinstance(sans, dict):
        raise bad_parameter("'policy.x509_props.sans' must be an object.")
    sans = {k: _strings(v, f"policy.x509_props.sans.{k}") for k, v in sans.items() if v and k in _SAN_LISTS}
    if sans:
        x509_props["sans"] = sans
        _general_names(sans)  # every name must be usable in a certificate
    else:
        x509_props.pop("sans", None)
    subject = x509_props.get("subject")
    if subject is not None:
        _subject(subject)
    platform = "platformManaged" in policy
    if not subject and not sans and not platform:
        raise bad_parameter("The policy needs 'x509_props.subject' or at least one subject alternative name.")

    policy["lifetime_actions"] = _lifetime_actions(policy.get("lifetime_actions"))
    issuer = policy.get("issuer", {})
    if not platform and not isinstance(issuer.get("name"), str):
        raise bad_parameter("'policy.issuer.name' is required: Self, Unknown or the name of an issuer.")
    attributes = policy.get("attributes", {})
    policy["attributes"] = {"enabled": attributes.get("enabled", True) is not False, "created": created, "updated": now}
    return policy


def _lifetime_actions(actions: object) -> list[dict[str, Any]]:
    if actions is None:
        return [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}]
    if not isinstance(actions, list):
        raise bad_parameter("'policy.lifetime_actions' must be a list.")
    out = []
    for i, raw in enumerate(actions):
        where = f"policy.lifetime_actions[{i}]"
        trigger = raw.get("trigger") if isinstance(raw, dict) else None
        action = raw.get("action") if isinstance(raw, dict) else None
        if not isinstance(trigger, dict) or not isinstance(action, dict):
            raise bad_parameter(f"'{where}' must have a 'trigger' object and an 'action' object.")
        kind = action.get("action_type")
        if not isinstance(kind, str) or kind.lower() not in _ACTIONS:
            raise bad_parameter(f"'{where}.action.action_type' must be AutoRenew or EmailContacts, not {kind!r}.")
        set_fields = {k: v for k, v in trigger.items() if k in ("lifetime_percentage", "days_before_expiry")}
        set_fields = {k: v for k, v in set_fields.items() if v is not None}
        if len(set_fields) != 1 or not all(isinstance(v, int) and not isinstance(v, bool) for v in set_fields.values()):
            raise bad_parameter(f"'{where}.trigger' must set one of lifetime_percentage and days_before_expiry.")
        if not 1 <= set_fields.get("lifetime_percentage", 1) <= 99:
            raise bad_parameter(f"'{where}.trigger.lifetime_percentage' must be from 1 to 99.")
        out.append({"trigger": set_fields, "action": {"action_type": _ACTIONS[kind.lower()]}})
    return out


def _oid(dotted: str, where: str) -> x509.ObjectIdentifier:
    try:
        return x509.ObjectIdentifier(dotted)
    except ValueError as exc:
        raise bad_parameter(f"'{where}' has {dotted!r}, which is not a dotted object identifier.") from exc


def _subject(subject: str) -> x509.Name:
    if not isinstance(subject, str):
        raise bad_parameter("'policy.x509_props.subject' must be a string such as CN=example.com.")
    try:
        return x509.Name.from_rfc4514_string(subject) if subject else x509.Name([])
    except ValueError as exc:
        raise bad_parameter(f"'policy.x509_props.subject' {subject!r} is not a distinguished name.") from exc


def _general_names(sans: dict[str, list[str]]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    names += [x509.DNSName(d) for d in sans.get("dns_names", [])]
    names += [x509.RFC822Name(e) for e in sans.get("emails", [])]
    names += [x509.UniformResourceIdentifier(u) for u in sans.get("uris", [])]
    for text in sans.get("ipAddresses", []):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(text)))
        except ValueError as exc:
            raise bad_parameter(f"'policy.x509_props.sans.ipAddresses' has {text!r}, not an IP address.") from exc
    for upn in sans.get("upns", []):
        encoded = upn.encode("utf-8")
        if len(encoded) > 127:
            raise bad_parameter(f"'policy.x509_props.sans.upns' has a name over 127 bytes: {upn[:40]!r}...")
        names.append(x509.OtherName(_UPN_OID, b"\x0c" + bytes([len(encoded)]) + encoded))  # DER UTF8String
    return names


def new_key(policy: dict[str, Any]) -> PrivateKey:
    key = policy["key_props"]
    if key["kty"].startswith("RSA"):
        return rsa.generate_private_key(65537, key["key_size"])
    return ec.generate_private_key(CURVES[key["crv"]])


def _hash_for(key: PrivateKey) -> hashes.HashAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size, hashes.SHA256())
    return hashes.SHA256()


def _extensions(policy: dict[str, Any]) -> list[tuple[x509.ExtensionType, bool]]:
    props = policy["x509_props"]
    out: list[tuple[x509.ExtensionType, bool]] = []
    sans = props.get("sans")
    if sans:
        out.append((x509.SubjectAlternativeName(_general_names(sans)), not props.get("subject")))
    if props["ekus"]:
        out.append((x509.ExtendedKeyUsage([_oid(o, "ekus") for o in props["ekus"]]), False))
    if props["key_usage"]:
        flags = {attr: False for attr in _KEY_USAGE_FLAGS.values()}
        flags.update({_KEY_USAGE_FLAGS[u]: True for u in props["key_usage"]})
        if flags["encipher_only"] or flags["decipher_only"]:
            flags["key_agreement"] = True  # RFC 5280: the two only qualify keyAgreement
        out.append((x509.KeyUsage(**flags), True))
    return out


def self_signed(key: PrivateKey, policy: dict[str, Any], now: int) -> x509.Certificate:
    """The certificate the ``Self`` issuer makes: valid from now for the policy's months."""
    props = policy["x509_props"]
    name = _subject(props.get("subject") or "")
    start = datetime.datetime.fromtimestamp(now, datetime.UTC)
    end = start + datetime.timedelta(days=round(props["validity_months"] * 30.44))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    for extension, critical in _extensions(policy):
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, _hash_for(key))


def signing_request(key: PrivateKey, policy: dict[str, Any]) -> str:
    """``csr`` of a pending operation: base64 of the DER PKCS#10 request for the policy's names and usages."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(policy["x509_props"].get("subject") or ""))
    for extension, critical in _extensions(policy):
        builder = builder.add_extension(extension, critical=critical)
    der = builder.sign(key, _hash_for(key)).public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode("ascii")


def merged_chain(x5c: object) -> list[x509.Certificate]:
    """The certificates of a merge request's ``x5c``: each entry base64 of DER, of PEM, or of the PEM's base64
    body (what the Python SDK sends when given the text between the PEM armour)."""
    if not isinstance(x5c, list) or not x5c or not all(isinstance(e, str) for e in x5c):
        raise bad_parameter("'x5c' must be a non-empty list of base64 certificates.")
    chain: list[x509.Certificate] = []
    for i, entry in enumerate(x5c):
        try:
            data = base64.b64decode(entry, validate=True)
            if data.lstrip().startswith(b"-----BEGIN"):
                chain.extend(x509.load_pem_x509_certificates(data))
                continue
            if not data.startswith(b"\x30"):
                data = base64.b64decode(data, validate=True)
            chain.append(x509.load_der_x509_certificate(data))
        except (ValueError, binascii.Error) as exc:
            raise bad_parameter(f"'x5c[{i}]' is not a base64 X.509 certificate.") from exc
    return chain


def issuer_of(policy: dict[str, Any]) -> str:
    return str(policy.get("issuer", {}).get("name") or "")
