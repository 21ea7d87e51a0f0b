"""Stand-in for the Azure SDK's test framework, which is not published on PyPI.

Only what the Key Vault suites import and use, and only live mode without recording: the test proxy, its
sanitizers and matchers are no-ops, preparers hand the tests the real (here: the fake's) vault URL, and
``get_credential`` builds a ``ClientSecretCredential`` against the authority in ``KEYVAULT_AUTHORITY_HOST``
(or ``AZURE_AUTHORITY_HOST``), trusting the CA in ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import zlib
from collections.abc import Callable
from typing import Any

import pytest

__all__ = [
    "AzureMgmtPreparer",
    "AzureRecordedTestCase",
    "EnvironmentVariableLoader",
    "PowerShellPreparer",
    "add_body_key_sanitizer",
    "add_general_regex_sanitizer",
    "add_general_string_sanitizer",
    "add_oauth_response_sanitizer",
    "add_remove_header_sanitizer",
    "is_live",
    "is_live_and_not_recording",
    "recorded_by_proxy",
    "remove_batch_sanitizers",
    "set_bodiless_matcher",
    "set_custom_default_matcher",
    "test_proxy",
]

Func = Callable[..., Any]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"true", "yes", "1"}


def is_live() -> bool:
    """Live mode, as the real framework decides it: AZURE_TEST_RUN_LIVE=true."""
    return _flag("AZURE_TEST_RUN_LIVE")


def is_live_and_not_recording() -> bool:
    """Live and AZURE_SKIP_LIVE_RECORDING=true: the only mode this stand-in supports."""
    return is_live() and _flag("AZURE_SKIP_LIVE_RECORDING")


@pytest.fixture(scope="session")
def test_proxy() -> None:
    """The real fixture starts the recording proxy; live runs without recording need none."""


def _no_op(*_args: Any, **_kwargs: Any) -> None:
    """Sanitizers and matchers configure the recording proxy, which live runs do not use."""


add_body_key_sanitizer = _no_op
add_general_regex_sanitizer = _no_op
add_general_string_sanitizer = _no_op
add_oauth_response_sanitizer = _no_op
add_remove_header_sanitizer = _no_op
remove_batch_sanitizers = _no_op
set_bodiless_matcher = _no_op
set_custom_default_matcher = _no_op


def __getattr__(name: str) -> Any:
    """Any other sanitizer or matcher a newer suite imports is a no-op as well."""
    if name.startswith(("add_", "set_", "remove_")) and (name.endswith(("_sanitizer", "_sanitizers", "_matcher"))):
        return _no_op
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def trim_kwargs(fn: Func, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Drop keyword arguments ``fn`` cannot take, as the real decorators do (preparers pass extras)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return kwargs
    names = {p.name for p in params}
    return {k: v for k, v in kwargs.items() if k in names}


def recorded_by_proxy(test_func: Func) -> Func:
    """Pass-through: in live mode without recording the real decorator only trims keyword arguments."""

    @functools.wraps(test_func)
    def record_wrap(*args: Any, **kwargs: Any) -> Any:
        return test_func(*args, **trim_kwargs(test_func, kwargs))

    return record_wrap


def _copy_metadata(wrapper: Func, fn: Func) -> Func:
    """Name and marks of ``fn``, but no ``__wrapped__``: pytest must see the wrapper's own arguments."""
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(wrapper, attr, getattr(fn, attr, None))
    wrapper.__dict__.update({k: v for k, v in fn.__dict__.items() if k != "__wrapped__"})
    return wrapper


class AzureRecordedTestCase:
    """Base of the suites' test classes: credentials, clients and resource names."""

    @property
    def is_live(self) -> bool:
        return is_live()

    @property
    def in_recording(self) -> bool:
        return self.is_live

    @property
    def recording_processors(self) -> list[Any]:
        return []

    def is_playback(self) -> bool:
        return not self.is_live

    def get_settings_value(self, key: str) -> str:
        value = os.environ.get("AZURE_" + key)
        if value is None:
            raise ValueError(f"Could not get {key}")
        return value

    def get_credential(self, client_class: type, **kwargs: Any) -> Any:
        """A service principal credential for the authority in AZURE_AUTHORITY_HOST (the fake's)."""
        is_async = kwargs.pop("is_async", False)
        if not self.is_live:
            raise RuntimeError("this stand-in runs the suites in live mode only (AZURE_TEST_RUN_LIVE=true)")
        tenant_id = os.environ.get("AZURE_TENANT_ID")
        client_id = os.environ.get("AZURE_CLIENT_ID")
        secret = os.environ.get("AZURE_CLIENT_SECRET")
        if not (tenant_id and client_id and secret):
            raise RuntimeError("AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET must be set")
        options: dict[str, Any] = {"disable_instance_discovery": True}
        # KEYVAULT_AUTHORITY_HOST first: with AZURE_AUTHORITY_HOST off login.microsoftonline.com, the suites
        # take the cloud for a sovereign one and skip tests (key rotation) the public cloud runs.
        if authority := os.environ.get("KEYVAULT_AUTHORITY_HOST") or os.environ.get("AZURE_AUTHORITY_HOST"):
            options["authority"] = authority
        if ca_file := os.environ.get("REQUESTS_CA_BUNDLE"):
            options["connection_verify"] = ca_file
        options.update(kwargs)
        if is_async:
            from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential

            return AsyncClientSecretCredential(tenant_id, client_id, secret, **options)
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(tenant_id, client_id, secret, **options)

    def create_client_from_credential(self, client_class: type, credential: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("logging_enable", True)
        return client_class(credential=credential, **kwargs)

    def create_random_name(self, name: str) -> str:
        """``name`` plus a checksum of the running test's id: unique per test, stable across runs."""
        identifier = os.environ.get("PYTEST_CURRENT_TEST", "").encode()
        return f"{name}{zlib.adler32(identifier) & 0xFFFFFFFF:x}"

    def get_resource_name(self, name: str) -> str:
        return self.create_random_name(name)

    def get_preparer_resource_name(self, prefix: str) -> str:
        return self.get_resource_name(prefix)

    @staticmethod
    def await_prepared_test(test_fn: Func) -> Func:
        """Runs an async test synchronously (older suites mark async tests this way instead of asyncio)."""

        @functools.wraps(test_fn)
        def run(test_class_instance: Any, *args: Any, **kwargs: Any) -> Any:
            return asyncio.run(test_fn(test_class_instance, *args, **trim_kwargs(test_fn, kwargs)))

        return run

    def sleep(self, seconds: float) -> None:
        if self.is_live:
            import time

            time.sleep(seconds)


class AzureMgmtPreparer(AzureRecordedTestCase):
    """Base of the preparers: ``create_resource`` returns keyword arguments handed to the test."""

    def __init__(
        self,
        name_prefix: str = "",
        random_name_length: int = 24,
        disable_recording: bool = True,
        playback_fake_resource: Any = None,
        client_kwargs: dict[str, Any] | None = None,
        random_name_enabled: bool = False,
        **_kwargs: Any,
    ) -> None:
        self.name_prefix = name_prefix
        self.random_name_length = random_name_length
        self.random_name_enabled = random_name_enabled
        self.client_kwargs = client_kwargs or {}
        self.test_class_instance: Any = None

    def create_resource(self, name: str, **kwargs: Any) -> dict[str, Any]:
        return {}

    def remove_resource(self, name: str, **kwargs: Any) -> None:
        pass

    def __call__(self, fn: Func) -> Func:
        if asyncio.iscoroutinefunction(fn):

            async def _async_preparer(test_class_instance: Any, **kwargs: Any) -> Any:
                merged = self._prepare(test_class_instance, kwargs)
                try:
                    return await fn(test_class_instance, **trim_kwargs(fn, merged))
                finally:
                    self.remove_resource(self.name_prefix)

            return _copy_metadata(_async_preparer, fn)

        def _preparer(test_class_instance: Any, **kwargs: Any) -> Any:
            merged = self._prepare(test_class_instance, kwargs)
            try:
                return fn(test_class_instance, **trim_kwargs(fn, merged))
            finally:
                self.remove_resource(self.name_prefix)

        return _copy_metadata(_preparer, fn)

    def _prepare(self, test_class_instance: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.test_class_instance = test_class_instance
        return {**kwargs, **self.create_resource(self.name_prefix, **kwargs)}


class EnvironmentVariableLoader(AzureMgmtPreparer):
    """Hands the test ``{directory}_*`` values: from the environment when live, else the given fake ones."""

    def __init__(self, directory: str, name_prefix: str = "", **kwargs: Any) -> None:
        super().__init__(name_prefix, 24)
        self.directory = directory
        self.fake_values = {k: v for k, v in kwargs.items() if directory in k}

    def create_resource(self, name: str, **kwargs: Any) -> dict[str, Any]:
        if not self.is_live:
            return dict(self.fake_values)
        prefix = self.directory.upper()
        for suffix in ("TENANT_ID", "CLIENT_ID", "CLIENT_SECRET"):
            if value := os.environ.get(f"{prefix}_{suffix}"):
                os.environ[f"AZURE_{suffix}"] = value
        return {key.lower(): os.environ[key.upper()] for key in self.fake_values}


PowerShellPreparer = EnvironmentVariableLoader
