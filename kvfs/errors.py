"""Domain errors, in one place.

Every error kvfs reports to a user is a ``KvfsError`` whose ``str()`` is one line that names
what is at fault. Messages never contain secret material. The CLI maps ``exit_code`` to the
process exit status; nothing else in kvfs chooses exit codes.
"""

from __future__ import annotations


class KvfsError(Exception):
    """Base of every error kvfs reports to a user."""

    exit_code = 1


class ConfigError(KvfsError):
    """The configuration or the command line is wrong: the user must change it."""

    exit_code = 2


class MountError(KvfsError):
    """The filesystem cannot be mounted (mountpoint, /dev/fuse, permissions)."""


class RenderError(KvfsError):
    """Key Vault material cannot be turned into file content (bad encoding, unsupported key type)."""


class BackendError(KvfsError):
    """A Key Vault request failed. ``object_name`` names the Key Vault object, when there is one."""

    #: Whether retrying later may succeed (throttling, outages, timeouts).
    transient = False

    def __init__(self, message: str, *, object_name: str | None = None) -> None:
        super().__init__(message)
        self.object_name = object_name


class ObjectNotFound(BackendError):
    """The object (or the pinned version) does not exist in the vault."""


class ObjectDisabled(BackendError):
    """The object's version exists but is disabled."""


class AccessDenied(BackendError):
    """The identity authenticated but may not read the object."""


class AuthenticationFailed(BackendError):
    """No token could be obtained for the vault."""


class TokenRefused(AuthenticationFailed):
    """The vault answered 401 to a token the credential considered valid (keys rotated, token revoked)."""


class Throttled(BackendError):
    """The vault answered 429 after the SDK's own retries."""

    transient = True

    def __init__(self, message: str, *, object_name: str | None = None, retry_after: float | None = None):
        super().__init__(message, object_name=object_name)
        self.retry_after = retry_after


class VaultUnavailable(BackendError):
    """The vault could not be reached or answered with a server error or a timeout."""

    transient = True


class KubernetesError(KvfsError):
    """A Kubernetes API request failed. ``transient``: retrying later may succeed (outage, 5xx, 429)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
