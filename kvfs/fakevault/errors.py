"""The one error type of the fake vault: a Key Vault error response, usable as an exception.

State operations raise it; the HTTP layer turns it into ``{"error": {...}}`` with its status, and the
direct Python API lets it propagate, so a bad call from a test fails the same way the SDK call would.
Messages name objects, never secret values.
"""

from __future__ import annotations

from typing import Any


class FakeVaultError(Exception):
    """A Key Vault error: HTTP ``status``, ``code``, ``message`` and an optional inner error code."""

    def __init__(self, status: int, code: str, message: str, *, inner: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner

    def body(self) -> dict[str, Any]:
        """The JSON body Key Vault sends for this error."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


def bad_parameter(message: str) -> FakeVaultError:
    return FakeVaultError(400, "BadParameter", message)


_KIND = {"secrets": "secret", "keys": "key", "certificates": "certificate"}
_CODE = {"secrets": "Secret", "keys": "Key", "certificates": "Certificate"}


def not_found(collection: str, name: str, version: str = "") -> FakeVaultError:
    """404 ``SecretNotFound`` / ``KeyNotFound`` / ``CertificateNotFound``, worded like the service."""
    what = f"{name}/{version}" if version else name
    return FakeVaultError(
        404,
        f"{_CODE[collection]}NotFound",
        f"A {_KIND[collection]} with (name/id) {what} was not found in this key vault. If you recently "
        f"deleted this {_KIND[collection]} you may be able to recover it using the correct recovery command.",
    )


def disabled(collection: str, operation: str = "get") -> FakeVaultError:
    """403 ``Forbidden`` with inner code ``SecretDisabled`` (etc.), as for a disabled version."""
    return FakeVaultError(
        403,
        "Forbidden",
        f"Operation {operation} is not allowed on a disabled {_KIND[collection]}.",
        inner=f"{_CODE[collection]}Disabled",
    )
