"""Where the SecretProviderClass text comes from: a file, standard input, or ``env:NAME``."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

from ..errors import ConfigError

MAX_INPUT_BYTES = 4 * 1024 * 1024  # Kubernetes objects are at most ~1.5 MiB


def read_source(source: str, *, stdin: TextIO | None, environ: Mapping[str, str] | None) -> tuple[str, str]:
    """The text of ``source`` and the name messages use for it."""
    if source == "-":
        return _read_stream(stdin if stdin is not None else sys.stdin, "<stdin>"), "<stdin>"
    if source.startswith("env:"):
        return _read_env(source, os.environ if environ is None else environ), source
    return _read_file(source), source


def _read_stream(stream: TextIO, origin: str) -> str:
    try:
        text = stream.read(MAX_INPUT_BYTES + 1)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{origin}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot be read: {exc.strerror or exc}") from None
    if len(text) > MAX_INPUT_BYTES:
        raise ConfigError(f"{origin}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB: not a SecretProviderClass")
    return text


def _read_env(source: str, environ: Mapping[str, str]) -> str:
    name = source[len("env:") :]
    if not name:
        raise ConfigError(f"{source}: no environment variable name after 'env:'")
    if name not in environ:
        raise ConfigError(f"{source}: environment variable {name} is not set")
    return environ[name]


def _read_file(path: str) -> str:
    """Read a file as UTF-8 (a BOM is tolerated); every failure names the path."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a SecretProviderClass file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot be read: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB: not a SecretProviderClass")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
