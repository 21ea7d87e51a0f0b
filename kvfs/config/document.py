"""The document: the one SecretProviderClass of the file, its apiVersion, metadata and spec."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .messages import Context, kind_of, quote, warn_unknown_keys

API_VERSIONS = ("secrets-store.csi.x-k8s.io/v1", "secrets-store.csi.x-k8s.io/v1alpha1")
KIND = "SecretProviderClass"
PROVIDER = "azure"

TOP_LEVEL_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
SPEC_KEYS = ("provider", "parameters", "secretObjects")

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#: Kubernetes' rule for object names (metadata.name here, secretName of secretObjects).
DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_DNS_LABEL_RE = re.compile(_DNS_LABEL)


def select_document(docs: list[Any], ctx: Context) -> dict[str, Any]:
    """The one SecretProviderClass of a (possibly multi-document) file."""
    found: list[tuple[int, dict[str, Any]]] = []
    other_kinds: list[str] = []
    for number, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            ctx.fail(f"document {number}", f"is {kind_of(doc)}, not a mapping (a Kubernetes object)")
        kind = doc.get("kind")
        if kind == KIND:
            found.append((number, doc))
        else:
            other_kinds.append(f"kind {quote(kind)}" if isinstance(kind, str) else f"document {number} without kind")
    if not found and not other_kinds:
        ctx.fail("", "the input is empty: no SecretProviderClass document")
    if not found:
        ctx.fail("kind", f"no SecretProviderClass document (found {_first_few(other_kinds)})")
    if len(found) > 1:
        numbers = _first_few([str(n) for n, _ in found])
        ctx.fail("", f"{len(found)} SecretProviderClass documents (documents {numbers}); kvfs needs exactly one")
    return found[0][1]


def _first_few(items: list[str], shown: int = 3) -> str:
    """``a, b, c and 7 more``: a file of many documents still gets a one-line message of bounded length."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def check_header(doc: Mapping[str, Any], ctx: Context) -> None:
    api_version = doc.get("apiVersion")
    if api_version is None:
        ctx.fail("apiVersion", f"is required (one of {', '.join(API_VERSIONS)})")
    if api_version not in API_VERSIONS:
        shown = quote(api_version) if isinstance(api_version, str) else kind_of(api_version)
        ctx.fail("apiVersion", f"{shown} is not one of {', '.join(API_VERSIONS)}")
    warn_unknown_keys(doc, TOP_LEVEL_KEYS, "document", ctx)


def read_metadata(metadata: Any, ctx: Context) -> tuple[str, str]:
    """``metadata.name`` (required, as Kubernetes requires it) and ``metadata.namespace``."""
    if metadata is None:
        ctx.fail("metadata.name", "is required")
    if not isinstance(metadata, Mapping):
        ctx.fail("metadata", f"must be a mapping, not {kind_of(metadata)}")
    name = metadata.get("name")
    if name is None or name == "":
        ctx.fail("metadata.name", "is required")
    if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.fullmatch(name):
        shown = quote(name) if isinstance(name, str) else kind_of(name)
        ctx.fail("metadata.name", f"{shown} is not a valid Kubernetes name (lower-case DNS subdomain)")
    namespace = metadata.get("namespace")
    if namespace is None or namespace == "":
        return name, "default"
    if not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL_RE.fullmatch(namespace):
        shown = quote(namespace) if isinstance(namespace, str) else kind_of(namespace)
        ctx.fail("metadata.namespace", f"{shown} is not a valid namespace name (lower-case DNS label)")
    return name, namespace


def read_spec(doc: Mapping[str, Any], ctx: Context) -> Mapping[str, Any]:
    spec = doc.get("spec")
    if spec is None:
        ctx.fail("spec", "is required")
    if not isinstance(spec, Mapping):
        ctx.fail("spec", f"must be a mapping, not {kind_of(spec)}")
    warn_unknown_keys(spec, SPEC_KEYS, "spec", ctx)
    provider = spec.get("provider")
    if provider is None or provider == "":
        ctx.fail("spec.provider", f"is required (kvfs serves provider {quote(PROVIDER)})")
    if provider != PROVIDER:
        shown = quote(provider) if isinstance(provider, str) else kind_of(provider)
        ctx.fail("spec.provider", f"{shown} is not {quote(PROVIDER)}: kvfs reads only Azure Key Vault classes")
    return spec
