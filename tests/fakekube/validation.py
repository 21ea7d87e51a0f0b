"""Secret validation as the API server does it (pkg/apis/core/validation), with the same messages.

``decode_data`` is the JSON decoder's base64 check (a 400 before validation); ``validate`` returns the
field errors of ``ValidateSecret`` / ``ValidateSecretUpdate`` for the 422. Values are never echoed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import FieldError, KubeError, bad_request

MAX_SECRET_SIZE = 1024 * 1024
MAX_ANNOTATIONS_SIZE = 256 * 1024
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63

_DNS1123_SUBDOMAIN_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"

_B64 = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_NEWLINES = (ord("\n"), ord("\r"))


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """``validation.RegexError``: the message, examples and the regular expression used."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    return msg + " (e.g. " + " or ".join(f"'{e}', " for e in examples) + f"regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def dns1123_subdomain(value: str) -> list[str]:
    errors = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errors.append(_max_len(DNS1123_SUBDOMAIN_MAX))
    if not re.fullmatch(_DNS1123_SUBDOMAIN_FMT, value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def qualified_name(value: str) -> list[str]:
    """``validation.IsQualifiedName``: an optional DNS-subdomain prefix and a name part."""
    errors = []
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + m for m in dns1123_subdomain(parts[0]))
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errors.append("name part " + _max_len(QUALIFIED_NAME_MAX))
    if not re.fullmatch(_QUALIFIED_NAME_FMT, name):
        errors.append(
            "name part " + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def _label_value(value: str) -> list[str]:
    errors = []
    if len(value) > QUALIFIED_NAME_MAX:
        errors.append(_max_len(QUALIFIED_NAME_MAX))
    if not re.fullmatch(_LABEL_VALUE_FMT, value):
        errors.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def _config_key(key: str) -> list[str]:
    errors = []
    if len(key) > DNS1123_SUBDOMAIN_MAX:
        errors.append(_max_len(DNS1123_SUBDOMAIN_MAX))
    if not re.fullmatch(_CONFIG_KEY_FMT, key):
        errors.append(_regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if key == ".":
        errors.append("must not be '.'")
    elif key == "..":
        errors.append("must not be '..'")
    elif key.startswith(".."):
        errors.append("must not start with '..'")
    return errors


# -- base64 as Go decodes it -----------------------------------------------------------------------


def go_b64decode(text: str) -> bytes:
    """Decode like Go's ``base64.StdEncoding`` (newlines skipped, padding required); a ValueError names
    the offending byte as Go does: ``illegal base64 data at input byte N``."""
    src = text.encode("utf-8")
    out = bytearray()
    si, n = 0, len(src)
    while si < n:
        quantum = [0, 0, 0, 0]
        j, dlen = 0, 4
        while j < 4:
            if si == n:
                if j == 0:
                    return bytes(out)
                raise _corrupt(si - j)
            c = src[si]
            si += 1
            if c in _B64:
                quantum[j] = _B64[c]
                j += 1
                continue
            if c in _NEWLINES:
                continue
            if c != ord("=") or j < 2:
                raise _corrupt(si - 1)
            if j == 2:
                while si < n and src[si] in _NEWLINES:
                    si += 1
                if si == n:
                    raise _corrupt(n)
                if src[si] != ord("="):
                    raise _corrupt(si - 1)
                si += 1
            while si < n and src[si] in _NEWLINES:
                si += 1
            if si < n:
                raise _corrupt(si)
            dlen = j
            break
        value = quantum[0] << 18 | quantum[1] << 12 | quantum[2] << 6 | quantum[3]
        out.extend(value.to_bytes(3, "big")[: dlen - 1])
    return bytes(out)


def _corrupt(offset: int) -> ValueError:
    return ValueError(f"illegal base64 data at input byte {offset}")


def _undecodable(reason: str) -> KubeError:
    return bad_request(f'Secret in version "v1" cannot be handled as a Secret: {reason}')


def _check_type(value: Any, expected: type, where: str, go_type: str) -> None:
    if value is not None and not isinstance(value, expected):
        raise _undecodable(f"json: cannot unmarshal {_json_type(value)} into Go struct field {where} of type {go_type}")


def check_shapes(secret: dict[str, Any]) -> None:
    """The JSON types the decoder insists on (a 400 when wrong), for the fields a Secret has."""
    meta = secret.get("metadata") or {}
    for key in ("labels", "annotations"):
        values = meta.get(key)
        _check_type(values, dict, f"ObjectMeta.metadata.{key}", "map[string]string")
        for value in (values or {}).values():
            _check_type(value, str, f"ObjectMeta.metadata.{key}", "string")
    _check_type(meta.get("ownerReferences"), list, "ObjectMeta.metadata.ownerReferences", "[]v1.OwnerReference")
    for ref in meta.get("ownerReferences") or []:
        _check_type(ref, dict, "ObjectMeta.metadata.ownerReferences", "v1.OwnerReference")
    _check_type(meta.get("finalizers"), list, "ObjectMeta.metadata.finalizers", "[]string")
    for finalizer in meta.get("finalizers") or []:
        _check_type(finalizer, str, "ObjectMeta.metadata.finalizers", "string")
    _check_type(secret.get("type"), str, "Secret.type", "v1.SecretType")
    _check_type(secret.get("immutable"), bool, "Secret.immutable", "bool")
    _check_type(secret.get("stringData"), dict, "Secret.stringData", "map[string]string")
    for value in (secret.get("stringData") or {}).values():
        _check_type(value, str, "Secret.stringData", "string")


def decode_data(secret: dict[str, Any]) -> dict[str, bytes]:
    """The decoded ``data`` values; 400 as the server's decoder answers for a value that is not base64."""
    data = secret.get("data") or {}
    if not isinstance(data, dict):
        raise _undecodable(f"json: cannot unmarshal {_json_type(data)} into Go struct field Secret.data of type map")
    out = {}
    for key in sorted(data):
        value = data[key]
        if value is None:
            out[key] = b""
            continue
        if not isinstance(value, str):
            raise _undecodable(
                f"json: cannot unmarshal {_json_type(value)} into Go struct field Secret.data of type []uint8"
            )
        try:
            out[key] = go_b64decode(value)
        except ValueError as exc:
            raise _undecodable(str(exc)) from None
    return out


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _go_json_error(raw: bytes) -> str | None:
    """Why Go's ``json.Unmarshal`` into a map refuses ``raw``, in Go's words; None when it accepts it."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        return "unexpected end of JSON input"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            return "unexpected end of JSON input"
        return f"invalid character {text[exc.pos]!r} looking for beginning of value"
    if not isinstance(value, dict) and value is not None:
        return f"json: cannot unmarshal {_json_type(value)} into Go value of type map[string]interface {{}}"
    return None


# -- validation -------------------------------------------------------------------------------------


def validate(secret: dict[str, Any], data: dict[str, bytes], old: dict[str, Any] | None = None) -> list[FieldError]:
    """``ValidateSecret`` (``old`` None) or ``ValidateSecretUpdate``: the errors in the server's order."""
    errors: list[FieldError] = []
    meta = secret.get("metadata") or {}
    if old is not None:
        errors += _meta_update(meta, old.get("metadata") or {})
        if secret.get("type") != old.get("type"):
            errors.append(FieldError("invalid", "type", secret.get("type", ""), "field is immutable"))
        if old.get("immutable"):
            if not secret.get("immutable"):
                errors.append(FieldError("forbidden", "immutable", detail="field is immutable when `immutable` is set"))
            if (secret.get("data") or {}) != (old.get("data") or {}):
                errors.append(FieldError("forbidden", "data", detail="field is immutable when `immutable` is set"))
    errors += _meta(meta)
    total = 0
    for key in sorted(data):
        errors += [FieldError("invalid", f"data[{key}]", key, msg) for msg in _config_key(key)]
        total += len(data[key])
    if total > MAX_SECRET_SIZE:
        errors.append(FieldError("too_long", "data", detail=f"may not be more than {MAX_SECRET_SIZE} bytes"))
    errors += _type_rules(secret, data)
    return errors


def _type_rules(secret: dict[str, Any], data: dict[str, bytes]) -> list[FieldError]:
    kind = secret.get("type", "")

    def required(key: str) -> FieldError:
        return FieldError("required", f"data[{key}]")

    if kind == "kubernetes.io/service-account-token":
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            return [FieldError("required", "metadata.annotations[kubernetes.io/service-account.name]")]
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            return [required(key)]
        reason = _go_json_error(data[key])
        if reason is not None:
            return [FieldError("invalid", f"data[{key}]", "<secret contents redacted>", reason)]
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            return [required("username"), required("password")]
    elif kind == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            return [required("ssh-privatekey")]
    elif kind == "kubernetes.io/tls":
        return [required(key) for key in ("tls.crt", "tls.key") if key not in data]
    return []


def _meta(meta: dict[str, Any]) -> list[FieldError]:
    """``ValidateObjectMeta`` for a namespaced object named as a DNS subdomain."""
    errors: list[FieldError] = []
    generate = meta.get("generateName") or ""
    if generate:
        # Only a prefix: the server masks a trailing dash as apimachinery's maskTrailingDash does.
        masked = generate[:-2] + "a" if len(generate) > 1 and generate.endswith("-") else generate
        errors += [FieldError("invalid", "metadata.generateName", generate, m) for m in dns1123_subdomain(masked)]
    name = meta.get("name") or ""
    if not name:
        errors.append(FieldError("required", "metadata.name", detail="name or generateName is required"))
    else:
        errors += [FieldError("invalid", "metadata.name", name, m) for m in dns1123_subdomain(name)]
    labels = meta.get("labels") or {}
    for key in sorted(labels):
        errors += [FieldError("invalid", "metadata.labels", key, m) for m in qualified_name(key)]
        value = labels[key]
        if not isinstance(value, str):
            value = str(value)
        errors += [FieldError("invalid", "metadata.labels", value, m) for m in _label_value(value)]
    annotations = meta.get("annotations") or {}
    for key in sorted(annotations):
        errors += [FieldError("invalid", "metadata.annotations", key, m) for m in qualified_name(key.lower())]
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > MAX_ANNOTATIONS_SIZE:
        errors.append(
            FieldError("too_long", "metadata.annotations", detail=f"may not be more than {MAX_ANNOTATIONS_SIZE} bytes")
        )
    controllers = 0
    for ref in meta.get("ownerReferences") or []:
        ref = ref if isinstance(ref, dict) else {}
        api_version = ref.get("apiVersion") or ""
        if not api_version.rpartition("/")[2]:
            errors.append(
                FieldError("invalid", "metadata.ownerReferences.apiVersion", api_version, "version must not be empty")
            )
        for name_, what in (("kind", "kind"), ("name", "name"), ("uid", "uid")):
            if not ref.get(name_):
                errors.append(
                    FieldError(
                        "invalid",
                        f"metadata.ownerReferences.{name_}",
                        ref.get(name_) or "",
                        f"{what} must not be empty",
                    )
                )
        controllers += 1 if ref.get("controller") is True else 0
    if controllers > 1:
        errors.append(
            FieldError(
                "invalid",
                "metadata.ownerReferences",
                "<references>",
                "Only one reference can have Controller set to true",
            )
        )
    for finalizer in meta.get("finalizers") or []:
        errors += [FieldError("invalid", "metadata.finalizers", finalizer, m) for m in qualified_name(str(finalizer))]
    return errors


def _meta_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """``ValidateObjectMetaUpdate``: name, namespace, uid and creationTimestamp never change."""
    errors = []
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if key in new and new.get(key) != old.get(key):
            errors.append(FieldError("invalid", f"metadata.{key}", new.get(key), "field is immutable"))
    return errors
