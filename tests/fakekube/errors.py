"""The fake's one error type: a Kubernetes ``Status`` failure, raised by the store and sent by the server.

Constructors mirror k8s.io/apimachinery/pkg/api/errors so messages, reasons and details read exactly
as a client sees them from a real API server. Messages name objects and fields, never Secret data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RESOURCE = "secrets"


class KubeError(Exception):
    """An error ``Status``: HTTP ``code``, ``reason`` ("" = unknown), ``message`` and ``details``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        always_details: bool = False,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.always_details = always_details
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        """The ``Status`` object, keys in the order the API server writes them."""
        out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        if self.message:
            out["message"] = self.message
        if self.reason:
            out["reason"] = self.reason
        if self.details or self.always_details:
            out["details"] = self.details or {}
        out["code"] = self.code
        return out


def _details(name: str, kind: str, group: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if group:
        out["group"] = group
    out["kind"] = kind
    return out


def unauthorized() -> KubeError:
    return KubeError(401, "Unauthorized", "Unauthorized")


def forbidden_verb(user: str, verb: str, resource: str, namespace: str | None, name: str = "") -> KubeError:
    """What RBAC's denial looks like after the authorization filter (``forbiddenMessage`` + ``NewForbidden``)."""
    where = f"in the namespace {json.dumps(namespace)}" if namespace else "at the cluster scope"
    why = f'User {json.dumps(user)} cannot {verb} resource "{resource}" in API group "" {where}'
    return forbidden(resource, name, why)


def forbidden(resource: str, name: str, why: str) -> KubeError:
    subject = f"{resource} {json.dumps(name)}" if name else resource
    return KubeError(403, "Forbidden", f"{subject} is forbidden: {why}", _details(name, resource))


def not_found(resource: str, name: str) -> KubeError:
    return KubeError(404, "NotFound", f"{resource} {json.dumps(name)} not found", _details(name, resource))


def already_exists(resource: str, name: str) -> KubeError:
    return KubeError(409, "AlreadyExists", f"{resource} {json.dumps(name)} already exists", _details(name, resource))


def conflict(resource: str, name: str, why: str) -> KubeError:
    return KubeError(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {resource} {json.dumps(name)}: {why}",
        _details(name, resource),
    )


OPTIMISTIC_LOCK = "the object has been modified; please apply your changes to the latest version and try again"


def modified(name: str) -> KubeError:
    """409 for a stale ``metadata.resourceVersion`` (PUT, patch or apply)."""
    return conflict(RESOURCE, name, OPTIMISTIC_LOCK)


def bad_request(message: str) -> KubeError:
    return KubeError(400, "BadRequest", message)


def internal(message: str) -> KubeError:
    """A plain Go error the API server did not turn into a Status: code 500, no reason."""
    return KubeError(500, "", message)


def not_allowed() -> KubeError:
    return KubeError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource", always_details=True
    )


def no_route() -> KubeError:
    return KubeError(404, "NotFound", "the server could not find the requested resource", always_details=True)


def unsupported_patch() -> KubeError:
    return KubeError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(PATCH_TYPES)}",
    )


PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
)


# -- field errors (k8s.io/apimachinery/pkg/util/validation/field) ----------------------------------

OMIT = object()
#: type -> (cause reason, text)
_TYPES = {
    "required": ("FieldValueRequired", "Required value"),
    "invalid": ("FieldValueInvalid", "Invalid value"),
    "forbidden": ("FieldValueForbidden", "Forbidden"),
    "too_long": ("FieldValueTooLong", "Too long"),
    "not_supported": ("FieldValueNotSupported", "Unsupported value"),
}


@dataclass(frozen=True)
class FieldError:
    """One validation error: ``field: Invalid value: "v": detail``."""

    type: str
    field: str
    value: Any = OMIT
    detail: str = ""

    def body(self) -> str:
        text = _TYPES[self.type][1]
        if self.type == "invalid" and self.value is not OMIT:
            text += f": {go_quote(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def text(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        return {"reason": _TYPES[self.type][0], "message": self.body(), "field": self.field}


def go_quote(value: Any) -> str:
    """How ``field.Error`` prints a bad value: strings quoted, numbers and booleans bare."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def invalid(kind: str, name: str, errors: list[FieldError], *, group: str = "") -> KubeError:
    """422 ``Invalid`` as ``errors.NewInvalid``: one error inline, several as ``[a, b]`` (duplicates dropped)."""
    texts = list(dict.fromkeys(e.text() for e in errors))
    qualified = f"{kind}.{group}" if group else kind
    message = f"{qualified} {json.dumps(name)} is invalid"
    if texts:
        message += ": " + (texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]")
    details = _details(name, kind, group)
    details["causes"] = [e.cause() for e in errors]
    return KubeError(422, "Invalid", message, details)
