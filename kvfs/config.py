"""SecretProviderClass → validated ``ProviderClass``, read exactly as the Azure provider reads it.

The file is the one the Azure provider for the Secrets Store CSI Driver reads, unchanged. We read
it the way the provider does (every parameter a trimmed string, ``objects`` a YAML string whose
``array:`` holds YAML strings, booleans with Go's ``strconv.ParseBool``, ``tenantID`` before the
deprecated ``tenantId``), and we reject up front what the provider, the driver, Kubernetes or
Azure would only reject later, at mount time or in the middle of a rotation.

Every problem is a ``ConfigError`` whose ``str()`` is one line: where (the file, then the field or
``objects[i] (objectName "x")``), then what is wrong. Messages quote only the offending short
value, escaped and truncated, never a whole document. Unknown keys are not errors (the provider
ignores them) but each one gets exactly one warning on the ``kvfs.config`` logger, with a
suggestion when it looks like a misspelt known key.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, TextIO

import yaml

from kvfs.clouds import CLOUDS, DEFAULT_CLOUD, Cloud, vault_url
from kvfs.errors import ConfigError

ObjectType = Literal["secret", "key", "cert"]
ObjectFormat = Literal["pem", "pfx"]
ObjectEncoding = Literal["utf-8", "base64", "hex"]

log = logging.getLogger("kvfs.config")


@dataclass(frozen=True)
class ObjectSpec:
    """One entry of ``parameters.objects``: what to fetch and which file to serve it as."""

    index: int  # position in the objects array, for error messages
    name: str  # objectName in the vault
    type: ObjectType
    alias: str  # file name (objectAlias, default objectName)
    version: str = ""  # "" means latest ("latest" is normalised to "")
    format: ObjectFormat = "pem"
    encoding: ObjectEncoding = "utf-8"
    permission: int = 0o644
    # 0: a single file; N > 0: a folder <alias>/0..N-1. The provider serves objectVersionHistory 0
    # and 1 alike as a single file, so the parser normalises 1 to 0.
    version_history: int = 0
    optional: bool = False  # kvfs extension: missing at start does not fail the mount
    split: bool = False  # kvfs extension (used later): <alias>.crt and <alias>.key beside the file

    def describe(self) -> str:
        """How error messages name this object: ``objects[2] (objectName "db-password")``."""
        return f'objects[{self.index}] (objectName "{self.name}")'

    def file_names(self) -> tuple[str, ...]:
        """The names this object occupies at the top of the mount.

        A history object is one folder named by the alias; otherwise the alias, and with ``split``
        also ``<alias>.crt`` and ``<alias>.key``. Collisions between objects are checked on these.
        """
        if self.version_history:
            return (self.alias,)
        if self.split:
            return (self.alias, f"{self.alias}.crt", f"{self.alias}.key")
        return (self.alias,)

    def paths(self) -> tuple[str, ...]:
        """Every file path this object serves, relative to the mount (``alias/0`` for history).

        These are the names ``secretObjects[].data[].objectName`` may refer to, as with the
        driver, which looks synced content up by the file paths the provider returned.
        """
        if self.version_history:
            return tuple(f"{self.alias}/{i}" for i in range(self.version_history))
        return self.file_names()


@dataclass(frozen=True)
class SecretObjectData:
    object_name: str  # the alias (file name) whose content fills the key
    key: str


@dataclass(frozen=True)
class SecretObject:
    """One entry of ``spec.secretObjects`` (syncing to Kubernetes comes later)."""

    secret_name: str
    type: str
    data: tuple[SecretObjectData, ...]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderClass:
    """A validated SecretProviderClass."""

    name: str
    namespace: str
    keyvault_name: str
    tenant_id: str
    cloud_name: str = "AzurePublicCloud"
    client_id: str = ""
    use_pod_identity: bool = False
    use_vm_managed_identity: bool = False
    user_assigned_identity_id: str = ""
    objects: tuple[ObjectSpec, ...] = ()
    secret_objects: tuple[SecretObject, ...] = ()

    @property
    def cloud(self) -> Cloud:
        """The Azure cloud of ``cloud_name`` (validated by the parser, so always known)."""
        return CLOUDS[self.cloud_name.lower()]

    @property
    def vault_url(self) -> str:
        """``https://<keyvaultName>.<cloud's vault DNS suffix>/``, as the provider builds it."""
        return vault_url(self.keyvault_name, self.cloud)


# --------------------------------------------------------------------------------------------
# What the format allows

API_VERSIONS = ("secrets-store.csi.x-k8s.io/v1", "secrets-store.csi.x-k8s.io/v1alpha1")
KIND = "SecretProviderClass"
PROVIDER = "azure"
PARAMS = "spec.parameters"

#: Parameters kvfs reads.
KNOWN_PARAMETERS = (
    "objects",
    "keyvaultName",
    "tenantID",
    "tenantId",
    "cloudName",
    "cloudEnvFileName",
    "clientID",
    "useVMManagedIdentity",
    "userAssignedIdentityID",
    "usePodIdentity",
    "useAzureTokenProxy",
)
#: Parameters of old provider versions: accepted silently, never used.
LEGACY_PARAMETERS = ("resourceGroup", "subscriptionId")
#: The driver adds pod name, namespace, uid, service account name and tokens under this prefix.
DRIVER_PARAMETER_PREFIX = "csi.storage.k8s.io/"

OBJECT_FIELDS = (
    "objectName",
    "objectType",
    "objectAlias",
    "objectVersion",
    "objectVersionHistory",
    "objectFormat",
    "objectEncoding",
    "filePermission",
    "optional",
    "split",
)
OBJECT_TYPES: tuple[ObjectType, ...] = ("secret", "key", "cert")
OBJECT_FORMATS: tuple[ObjectFormat, ...] = ("pem", "pfx")
OBJECT_ENCODINGS: tuple[ObjectEncoding, ...] = ("utf-8", "base64", "hex")
DEFAULT_PERMISSION = 0o644

TOP_LEVEL_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
SPEC_KEYS = ("provider", "parameters", "secretObjects")
SECRET_OBJECT_KEYS = ("secretName", "type", "data", "labels", "annotations")
SECRET_DATA_KEYS = ("objectName", "key")

#: Names go-autorest accepts besides the canonical ones (it compares upper-cased).
CLOUD_ALIASES = {"azurecloud": "AzurePublicCloud", "azureusgovernment": "AzureUSGovernmentCloud"}
UNSUPPORTED_CLOUDS = {"azurestackcloud": "AzureStackCloud"}

#: strconv.ParseBool, exactly.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

#: Secret types whose keys Kubernetes (or the driver) constrains: type → keys that must be present.
REQUIRED_SECRET_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}

_VAULT_NAME_CHARS = re.compile(r"[-A-Za-z0-9]+")
_OBJECT_NAME = re.compile(r"[-A-Za-z0-9]{1,127}")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_DNS_LABEL_RE = re.compile(_DNS_LABEL)
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_OCTAL = re.compile(r"[0-7]+")
_DECIMAL = re.compile(r"[+-]?[0-9]+")
#: Characters that would change the meaning of a URL path segment (tenant, object version).
_URL_UNSAFE = re.compile(r"[/?#%\s\\]")

MAX_INPUT_BYTES = 4 * 1024 * 1024  # Kubernetes objects are at most ~1.5 MiB
MAX_FILE_NAME_BYTES = 255
QUOTE_LIMIT = 60


# --------------------------------------------------------------------------------------------
# Public API


def load_provider_class(
    source: str, *, stdin: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> ProviderClass:
    """Read and validate a SecretProviderClass from ``source``.

    ``source`` is a file path, ``-`` for standard input, or ``env:NAME`` for the YAML held in the
    environment variable NAME (the inline-volume case, where there is no file). A file whose
    name really starts with ``env:`` can be given as ``./env:...``.
    """
    text, origin = _read_source(source, stdin=stdin, environ=environ)
    return parse_provider_class(text, origin)


def parse_provider_class(text: str, origin: str = "<config>") -> ProviderClass:
    """Validate the SecretProviderClass in ``text``; ``origin`` names it in messages.

    Raises ``ConfigError`` at the first fault, checking in file order (document, metadata,
    parameters, objects, secretObjects). Unknown keys are logged as warnings, one line each.
    """
    ctx = _Context(origin)
    doc = _select_document(_load_documents(text, ctx), ctx)
    _check_header(doc, ctx)
    name, namespace = _read_metadata(doc.get("metadata"), ctx)
    spec = _read_spec(doc, ctx)
    params = _read_parameters(spec.get("parameters"), ctx)
    _warn_unknown_parameters(params, ctx)
    keyvault_name = _read_keyvault_name(params, ctx)
    tenant_id = _read_tenant_id(params, ctx)
    cloud_name = _read_cloud_name(params, ctx)
    identity = _read_identity(params, ctx)
    objects = _read_objects(params.get("objects", ""), ctx)
    _check_file_names(objects, ctx)
    secret_objects = _read_secret_objects(spec.get("secretObjects"), objects, ctx)
    return ProviderClass(
        name=name,
        namespace=namespace,
        keyvault_name=keyvault_name,
        tenant_id=tenant_id,
        cloud_name=cloud_name,
        client_id=identity.client_id,
        use_pod_identity=identity.use_pod_identity,
        use_vm_managed_identity=identity.use_vm_managed_identity,
        user_assigned_identity_id=identity.user_assigned_identity_id,
        objects=objects,
        secret_objects=secret_objects,
    )


# --------------------------------------------------------------------------------------------
# Messages


class _Context:
    """Where the text came from; builds the one-line errors and warnings that start with it."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, problem: str) -> NoReturn:
        raise ConfigError(self._line(where, problem))

    def warn(self, where: str, problem: str) -> None:
        log.warning("%s", self._line(where, problem))

    def _line(self, where: str, problem: str) -> str:
        parts = [self.origin, where, problem] if where else [self.origin, problem]
        return _one_line(": ".join(parts))


def _one_line(text: str) -> str:
    """Escape line breaks and other unprintable characters so a message stays one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def _escape_char(ch: str) -> str:
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or ch.encode("unicode_escape").decode("ascii")


def _q(value: str) -> str:
    """Quote a short user value for a message: escaped, and truncated so no document is echoed."""
    text = value if len(value) <= QUOTE_LIMIT else value[:QUOTE_LIMIT] + "…"
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{_one_line(text)}"'


def _kind(value: object) -> str:
    """A value's YAML kind for messages, so a misplaced structure is named, not printed."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` when ``key`` is a case variant or close misspelling of a known key."""
    candidates = list(known)
    by_lower = {k.lower(): k for k in reversed(candidates)}  # the first spelling wins
    match = by_lower.get(key.lower())
    if match is None:
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
        match = close[0] if close else None
    return f" (did you mean {_q(match)}?)" if match else ""


def _warn_unknown_keys(mapping: Mapping[str, Any], known: tuple[str, ...], where: str, ctx: _Context) -> None:
    for key in mapping:
        if key not in known:
            ctx.warn(where, f"unknown key {_q(str(key))} is ignored{_did_you_mean(str(key), known)}")


# --------------------------------------------------------------------------------------------
# Sources


def _read_source(source: str, *, stdin: TextIO | None, environ: Mapping[str, str] | None) -> tuple[str, str]:
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


# --------------------------------------------------------------------------------------------
# YAML


def _reject_duplicate_keys(node: yaml.Node) -> None:
    """Refuse a mapping that repeats a key, as Go's yaml.v3 and kubectl do (PyYAML keeps the last)."""
    if not isinstance(node, yaml.MappingNode):
        return
    seen: set[str] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if key_node.value in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {_q(key_node.value)}", key_node.start_mark
            )
        seen.add(key_node.value)


class _SafeLoader(yaml.SafeLoader):
    """The SecretProviderClass document: safe types, no duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _reject_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)


class _StringLoader(yaml.BaseLoader):
    """The ``objects`` string and its items: every scalar stays a string, as in the provider.

    The provider unmarshals these into Go string fields, which take any scalar's text unchanged
    (``filePermission: 0600`` stays ``"0600"``, ``objectVersion: 1e3`` stays ``"1e3"``).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _reject_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError, what: str) -> str:
    """``invalid YAML at line 3, column 5 <what>: <problem>``, without PyYAML's multi-line excerpt."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{place}{what}: {problem}"


def _load_documents(text: str, ctx: _Context) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=_SafeLoader))
    except yaml.YAMLError as exc:
        ctx.fail("", _yaml_problem(exc, ""))
    except RecursionError:
        ctx.fail("", "invalid YAML: nested too deeply")


def _load_string_yaml(text: str, where: str, what: str, ctx: _Context) -> Any:
    try:
        return yaml.load(text, Loader=_StringLoader)
    except yaml.YAMLError as exc:
        ctx.fail(where, _yaml_problem(exc, what))
    except RecursionError:
        ctx.fail(where, "invalid YAML: nested too deeply")


# --------------------------------------------------------------------------------------------
# The document


def _select_document(docs: list[Any], ctx: _Context) -> dict[str, Any]:
    """The one SecretProviderClass of a (possibly multi-document) file."""
    found: list[tuple[int, dict[str, Any]]] = []
    other_kinds: list[str] = []
    for number, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            ctx.fail(f"document {number}", f"is {_kind(doc)}, not a mapping (a Kubernetes object)")
        kind = doc.get("kind")
        if kind == KIND:
            found.append((number, doc))
        else:
            other_kinds.append(f"kind {_q(kind)}" if isinstance(kind, str) else f"document {number} without kind")
    if not found and not other_kinds:
        ctx.fail("", "the input is empty: no SecretProviderClass document")
    if not found:
        ctx.fail("kind", f"no SecretProviderClass document (found {', '.join(other_kinds)})")
    if len(found) > 1:
        numbers = ", ".join(str(n) for n, _ in found)
        ctx.fail("", f"{len(found)} SecretProviderClass documents (documents {numbers}); kvfs needs exactly one")
    return found[0][1]


def _check_header(doc: Mapping[str, Any], ctx: _Context) -> None:
    api_version = doc.get("apiVersion")
    if api_version is None:
        ctx.fail("apiVersion", f"is required (one of {', '.join(API_VERSIONS)})")
    if api_version not in API_VERSIONS:
        shown = _q(api_version) if isinstance(api_version, str) else _kind(api_version)
        ctx.fail("apiVersion", f"{shown} is not one of {', '.join(API_VERSIONS)}")
    _warn_unknown_keys(doc, TOP_LEVEL_KEYS, "document", ctx)


def _read_metadata(metadata: Any, ctx: _Context) -> tuple[str, str]:
    """``metadata.name`` (required, as Kubernetes requires it) and ``metadata.namespace``."""
    if metadata is None:
        ctx.fail("metadata.name", "is required")
    if not isinstance(metadata, Mapping):
        ctx.fail("metadata", f"must be a mapping, not {_kind(metadata)}")
    name = metadata.get("name")
    if name is None or name == "":
        ctx.fail("metadata.name", "is required")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        shown = _q(name) if isinstance(name, str) else _kind(name)
        ctx.fail("metadata.name", f"{shown} is not a valid Kubernetes name (lower-case DNS subdomain)")
    namespace = metadata.get("namespace")
    if namespace is None or namespace == "":
        return name, "default"
    if not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL_RE.fullmatch(namespace):
        shown = _q(namespace) if isinstance(namespace, str) else _kind(namespace)
        ctx.fail("metadata.namespace", f"{shown} is not a valid namespace name (lower-case DNS label)")
    return name, namespace


def _read_spec(doc: Mapping[str, Any], ctx: _Context) -> Mapping[str, Any]:
    spec = doc.get("spec")
    if spec is None:
        ctx.fail("spec", "is required")
    if not isinstance(spec, Mapping):
        ctx.fail("spec", f"must be a mapping, not {_kind(spec)}")
    _warn_unknown_keys(spec, SPEC_KEYS, "spec", ctx)
    provider = spec.get("provider")
    if provider is None or provider == "":
        ctx.fail("spec.provider", f"is required (kvfs serves provider {_q(PROVIDER)})")
    if provider != PROVIDER:
        shown = _q(provider) if isinstance(provider, str) else _kind(provider)
        ctx.fail("spec.provider", f"{shown} is not {_q(PROVIDER)}: kvfs reads only Azure Key Vault classes")
    return spec


# --------------------------------------------------------------------------------------------
# Parameters


def _read_parameters(raw: Any, ctx: _Context) -> dict[str, str]:
    """``spec.parameters`` as the provider gets it: string keys, trimmed string values.

    Kubernetes holds parameters as ``map[string]string``, so ``usePodIdentity: false`` without
    quotes is refused there; we refuse it here with the fix. A null value is an empty string, as
    Go's decoder leaves it.
    """
    if raw is None:
        ctx.fail(PARAMS, "is required (keyvaultName, tenantID and objects)")
    if not isinstance(raw, Mapping):
        ctx.fail(PARAMS, f"must be a mapping, not {_kind(raw)}")
    params: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            ctx.fail(PARAMS, f"key {_q(str(key))} must be a string")
        if value is None:
            value = ""
        if not isinstance(value, str):
            hint = f' (quote it: "{str(value).lower()}")' if isinstance(value, bool | int | float) else ""
            ctx.fail(f"{PARAMS}.{key}", f"must be a string, not {_kind(value)}{hint}")
        params[key] = value.strip()
    return params


def _warn_unknown_parameters(params: Mapping[str, str], ctx: _Context) -> None:
    """One warning per unknown key; the driver's own keys and legacy keys pass silently."""
    for key in params:
        if key in KNOWN_PARAMETERS or key in LEGACY_PARAMETERS or key.startswith(DRIVER_PARAMETER_PREFIX):
            continue
        suggestion = _did_you_mean(key, [k for k in KNOWN_PARAMETERS if k != "tenantId"])
        ctx.warn(PARAMS, f"unknown key {_q(key)} is ignored{suggestion}")
    if params.get("cloudEnvFileName"):
        ctx.warn(f"{PARAMS}.cloudEnvFileName", "is not supported by kvfs and is ignored")


def _missing_hint(mapping: Mapping[str, str], wanted: str, known: Iterable[str] = ()) -> str:
    """When a required key is absent but an unknown case variant is present, say keys are case-sensitive."""
    accepted = set(known)
    for key in mapping:
        if key != wanted and key not in accepted and key.lower() == wanted.lower():
            return f" (found {_q(key)}: names are case-sensitive)"
    return ""


def _read_keyvault_name(params: Mapping[str, str], ctx: _Context) -> str:
    name = params.get("keyvaultName", "")
    if not name:
        ctx.fail(f"{PARAMS}.keyvaultName", f"is required{_missing_hint(params, 'keyvaultName')}")
    problem = _vault_name_problem(name)
    if problem:
        ctx.fail(f"{PARAMS}.keyvaultName", f"{_q(name)} {problem}")
    return name


def _vault_name_problem(name: str) -> str | None:
    """Azure's rule for vault names (the provider checks only length and characters)."""
    if not 3 <= len(name) <= 24:
        return "must be 3-24 characters long"
    if not _VAULT_NAME_CHARS.fullmatch(name):
        return "may contain only letters, digits and hyphens"
    if not name[0].isalpha():
        return "must start with a letter"
    if name[-1] == "-":
        return "must end with a letter or digit"
    if "--" in name:
        return "must not contain consecutive hyphens"
    return None


def _read_tenant_id(params: Mapping[str, str], ctx: _Context) -> str:
    """``tenantID``, else the deprecated ``tenantId`` (the provider's order)."""
    tenant = params.get("tenantID", "")
    key = "tenantID"
    if not tenant:
        tenant, key = params.get("tenantId", ""), "tenantId"
        if tenant:
            log.debug("%s: %s.tenantId is deprecated; use tenantID", ctx.origin, PARAMS)
    if not tenant:
        hint = _missing_hint(params, "tenantID", KNOWN_PARAMETERS)
        ctx.fail(f"{PARAMS}.tenantID", f"is required (tenantId is also accepted){hint}")
    if _URL_UNSAFE.search(tenant):
        ctx.fail(f"{PARAMS}.{key}", f"{_q(tenant)} is not a tenant ID or domain name")
    return tenant


def _read_cloud_name(params: Mapping[str, str], ctx: _Context) -> str:
    """The canonical name of ``cloudName`` (case-insensitive, empty = public, go-autorest aliases)."""
    raw = params.get("cloudName", "")
    if not raw:
        return DEFAULT_CLOUD
    lowered = raw.lower()
    if lowered in UNSUPPORTED_CLOUDS:
        ctx.fail(f"{PARAMS}.cloudName", f"{_q(raw)} is not supported by kvfs")
    cloud = CLOUDS.get(CLOUD_ALIASES.get(lowered, lowered).lower())
    if cloud is None:
        valid = ", ".join(c.name for c in CLOUDS.values())
        ctx.fail(f"{PARAMS}.cloudName", f"{_q(raw)} is not one of {valid} (or empty)")
    return cloud.name


def _parse_bool(value: str) -> bool | None:
    """Go's ``strconv.ParseBool`` with empty = false, as the provider reads its switches; None if invalid."""
    if value == "" or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    return None


@dataclass(frozen=True)
class _Identity:
    client_id: str
    use_pod_identity: bool
    use_vm_managed_identity: bool
    user_assigned_identity_id: str


def _read_bool_parameter(params: Mapping[str, str], key: str, ctx: _Context) -> bool:
    value = _parse_bool(params.get(key, ""))
    if value is None:
        ctx.fail(f"{PARAMS}.{key}", f"{_q(params[key])} is not a boolean (use true or false)")
    return value


def _read_identity(params: Mapping[str, str], ctx: _Context) -> _Identity:
    """The identity switches, refusing combinations where the identity used would be a guess."""
    switches = {key: _read_bool_parameter(params, key, ctx) for key in _IDENTITY_SWITCHES}
    enabled = [key for key, on in switches.items() if on]
    if len(enabled) > 1:
        ctx.fail(PARAMS, f"{' and '.join(enabled)} are true; at most one identity mode may be enabled")
    if switches["useAzureTokenProxy"]:
        ctx.fail(f"{PARAMS}.useAzureTokenProxy", "true (identity binding) is not supported by kvfs")
    client_id = params.get("clientID", "")
    if client_id and enabled:
        ctx.fail(
            f"{PARAMS}.clientID",
            f"is set (workload identity) together with {enabled[0]}=true: the identity is ambiguous",
        )
    return _Identity(
        client_id=client_id,
        use_pod_identity=switches["usePodIdentity"],
        use_vm_managed_identity=switches["useVMManagedIdentity"],
        user_assigned_identity_id=params.get("userAssignedIdentityID", ""),
    )


_IDENTITY_SWITCHES = ("usePodIdentity", "useVMManagedIdentity", "useAzureTokenProxy")


# --------------------------------------------------------------------------------------------
# Objects


def _read_objects(text: str, ctx: _Context) -> tuple[ObjectSpec, ...]:
    """``parameters.objects``: a YAML string with ``array:``, a list of YAML strings (or mappings)."""
    where = f"{PARAMS}.objects"
    if not text:
        ctx.fail(where, "is required: nothing to mount")
    data = _load_string_yaml(text, where, " of the objects string", ctx)
    if not isinstance(data, Mapping):
        ctx.fail(where, f"must be a YAML mapping with an 'array:' list, not {_kind(data)}")
    _warn_unknown_keys(data, ("array",), where, ctx)
    if "array" not in data:
        ctx.fail(where, f"has no 'array:' list{_did_you_mean_array(data)}")
    array = data["array"]
    if array == "" or array is None:
        array = []
    if not isinstance(array, list):
        ctx.fail(f"{where}.array", f"must be a list, not {_kind(array)}")
    if not array:
        ctx.fail(f"{where}.array", "is empty: nothing to mount")
    return tuple(_read_object(index, item, ctx) for index, item in enumerate(array))


def _did_you_mean_array(data: Mapping[str, Any]) -> str:
    return _did_you_mean(next(iter(data)), ("array",)) if len(data) == 1 else ""


def _object_where(index: int, name: str) -> str:
    return f"objects[{index}] (objectName {_q(name)})" if name else f"objects[{index}]"


def _object_fields(index: int, item: Any, ctx: _Context) -> dict[str, str]:
    """One array item as trimmed string fields (the provider trims every string field)."""
    if isinstance(item, str):
        item = _load_string_yaml(item, f"objects[{index}]", " of the item", ctx)
        if item is None or item == "":
            item = {}
    if not isinstance(item, Mapping):
        ctx.fail(f"objects[{index}]", f"must be a mapping of object fields, not {_kind(item)}")
    fields: dict[str, str] = {}
    name = item.get("objectName")
    where = _object_where(index, name.strip() if isinstance(name, str) else "")
    for key, value in item.items():
        if value is None:
            value = ""
        if not isinstance(value, str):
            ctx.fail(where, f"{key} must be a string, not {_kind(value)}")
        fields[str(key)] = value.strip()
    return fields


def _read_object(index: int, item: Any, ctx: _Context) -> ObjectSpec:
    fields = _object_fields(index, item, ctx)
    name = fields.get("objectName", "")
    if not name:
        ctx.fail(f"objects[{index}]", f"objectName is required{_missing_hint(fields, 'objectName')}")
    if not _OBJECT_NAME.fullmatch(name):
        ctx.fail(
            f"objects[{index}]",
            f"objectName {_q(name)} is not a Key Vault object name (1-127 letters, digits and hyphens)",
        )
    where = _object_where(index, name)
    _warn_unknown_keys(fields, OBJECT_FIELDS, where, ctx)
    object_type = _read_object_type(fields, where, ctx)
    alias = fields.get("objectAlias") or name
    problem = _alias_problem(alias)
    if problem:
        ctx.fail(where, f"objectAlias {_q(alias)} {problem}")
    split = _read_object_bool(fields, "split", where, ctx)
    if split and object_type != "secret":
        ctx.fail(where, f"split is only for objectType secret (a certificate's secret), not {object_type}")
    return ObjectSpec(
        index=index,
        name=name,
        type=object_type,
        alias=alias,
        version=_read_object_version(fields, where, ctx),
        format=_read_object_format(fields, object_type, where, ctx),
        encoding=_read_object_encoding(fields, object_type, where, ctx),
        permission=_read_permission(fields, where, ctx),
        version_history=_read_version_history(fields, where, ctx),
        optional=_read_object_bool(fields, "optional", where, ctx),
        split=split,
    )


def _read_object_type(fields: Mapping[str, str], where: str, ctx: _Context) -> ObjectType:
    """Case-sensitive, as the provider compares it."""
    value = fields.get("objectType", "")
    valid = ", ".join(OBJECT_TYPES)
    if not value:
        ctx.fail(where, f"objectType is required (one of {valid})")
    for object_type in OBJECT_TYPES:
        if value == object_type:
            return object_type
    hint = " (object types are lower-case)" if value.lower() in OBJECT_TYPES else ""
    ctx.fail(where, f"objectType {_q(value)} is not one of {valid}{hint}")


def _alias_problem(alias: str) -> str | None:
    """Why ``alias`` cannot be a file name at the top of the mount, or None.

    The provider refuses absolute paths and any ``..``; kvfs serves a flat directory and uses
    ``..``-prefixed names itself, so it also refuses ``/``, ``.``, NUL and names over 255 bytes.
    """
    if not alias:
        return "is empty"
    if "\0" in alias:
        return "contains a NUL character"
    if alias.startswith("/"):
        return "must be a relative file name, not an absolute path"
    if "/" in alias:
        return "must be a plain file name without '/' (kvfs serves one flat directory)"
    if alias in (".", ".."):
        return "must not be '.' or '..'"
    if ".." in alias:
        return "must not contain '..'"
    if len(alias.encode("utf-8")) > MAX_FILE_NAME_BYTES:
        return f"is longer than {MAX_FILE_NAME_BYTES} bytes"
    return None


def _read_object_version(fields: Mapping[str, str], where: str, ctx: _Context) -> str:
    version = fields.get("objectVersion", "")
    if version == "latest":
        return ""
    if _URL_UNSAFE.search(version):
        ctx.fail(where, f"objectVersion {_q(version)} is not a Key Vault version id")
    return version


def _read_object_format(fields: Mapping[str, str], object_type: ObjectType, where: str, ctx: _Context) -> ObjectFormat:
    value = fields.get("objectFormat", "")
    if not value:
        return "pem"
    lowered = value.lower()
    if lowered == "pem":
        return "pem"
    if lowered != "pfx":
        ctx.fail(where, f"objectFormat {_q(value)} is not one of {', '.join(OBJECT_FORMATS)}")
    if object_type != "secret":
        ctx.fail(where, f"objectFormat pfx is only for objectType secret, not {object_type}")
    return "pfx"


def _read_object_encoding(
    fields: Mapping[str, str], object_type: ObjectType, where: str, ctx: _Context
) -> ObjectEncoding:
    """Case-insensitive; like the provider, refused on key and cert, whose content is always PEM."""
    value = fields.get("objectEncoding", "")
    if not value:
        return "utf-8"
    if object_type != "secret":
        ctx.fail(where, f"objectEncoding is only for objectType secret, not {object_type}")
    for encoding in OBJECT_ENCODINGS:
        if value.lower() == encoding:
            return encoding
    ctx.fail(where, f"objectEncoding {_q(value)} is not one of {', '.join(OBJECT_ENCODINGS)}")


def _read_permission(fields: Mapping[str, str], where: str, ctx: _Context) -> int:
    """An octal string (``0600`` or ``600``), as ``strconv.ParseInt(s, 8, 32)``, at most 0777."""
    value = fields.get("filePermission", "")
    if not value:
        return DEFAULT_PERMISSION
    if not _OCTAL.fullmatch(value):
        ctx.fail(where, f'filePermission {_q(value)} is not an octal number like "0600"')
    permission = int(value, 8)
    if permission > 0o777:
        ctx.fail(where, f"filePermission {_q(value)} is more than 0777")
    return permission


def _read_version_history(fields: Mapping[str, str], where: str, ctx: _Context) -> int:
    """``objectVersionHistory``: an int32 ≥ 0; 0 and 1 both mean one plain file, as in the provider."""
    value = fields.get("objectVersionHistory", "")
    if not value:
        return 0
    if not _DECIMAL.fullmatch(value):
        ctx.fail(where, f"objectVersionHistory {_q(value)} is not an integer")
    count = int(value)
    if count < 0:
        ctx.fail(where, f"objectVersionHistory {_q(value)} must not be negative")
    if count > 2**31 - 1:
        ctx.fail(where, f"objectVersionHistory {_q(value)} is too large")
    return 0 if count <= 1 else count


def _read_object_bool(fields: Mapping[str, str], key: str, where: str, ctx: _Context) -> bool:
    value = _parse_bool(fields.get(key, ""))
    if value is None:
        ctx.fail(where, f"{key} {_q(fields[key])} is not a boolean (use true or false)")
    return value


def _check_file_names(objects: tuple[ObjectSpec, ...], ctx: _Context) -> None:
    """No two objects may serve the same name (alias, split files, history folder).

    The provider silently lets the later object overwrite the earlier file; kvfs refuses.
    """
    owners: dict[str, ObjectSpec] = {}
    for spec in objects:
        for name in spec.file_names():
            if len(name.encode("utf-8")) > MAX_FILE_NAME_BYTES:
                ctx.fail(spec.describe(), f"file name {_q(name)} is longer than {MAX_FILE_NAME_BYTES} bytes")
            other = owners.get(name)
            if other is not None:
                ctx.fail(spec.describe(), f"file name {_q(name)} is also used by {other.describe()}")
            owners[name] = spec


# --------------------------------------------------------------------------------------------
# secretObjects


def _read_secret_objects(raw: Any, objects: tuple[ObjectSpec, ...], ctx: _Context) -> tuple[SecretObject, ...]:
    """``spec.secretObjects``: Kubernetes Secrets to fill from the mounted files."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.fail("spec.secretObjects", f"must be a list, not {_kind(raw)}")
    paths = {path for spec in objects for path in spec.paths()}
    seen: dict[str, int] = {}
    result = []
    for index, item in enumerate(raw):
        secret = _read_secret_object(index, item, paths, ctx)
        if secret.secret_name in seen:
            first = seen[secret.secret_name]
            ctx.fail(
                f"secretObjects[{index}]",
                f"secretName {_q(secret.secret_name)} is also used by secretObjects[{first}]",
            )
        seen[secret.secret_name] = index
        result.append(secret)
    return tuple(result)


def _read_secret_object(index: int, item: Any, paths: set[str], ctx: _Context) -> SecretObject:
    where = f"secretObjects[{index}]"
    if not isinstance(item, Mapping):
        ctx.fail(where, f"must be a mapping, not {_kind(item)}")
    name = item.get("secretName")
    if name is None or name == "":
        ctx.fail(where, "secretName is required")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        shown = _q(name) if isinstance(name, str) else _kind(name)
        ctx.fail(where, f"secretName {shown} is not a valid Kubernetes name (lower-case DNS subdomain)")
    where = f"{where} (secretName {_q(name)})"
    _warn_unknown_keys(item, SECRET_OBJECT_KEYS, where, ctx)
    secret_type = item.get("type")
    if not isinstance(secret_type, str) or not secret_type.strip():
        ctx.fail(where, "type is required (e.g. Opaque, kubernetes.io/tls)")
    secret_type = secret_type.strip()
    data = _read_secret_data(item.get("data"), paths, where, ctx)
    _check_required_secret_keys(secret_type, data, where, ctx)
    return SecretObject(
        secret_name=name,
        type=secret_type,
        data=data,
        labels=_read_string_map(item.get("labels"), f"{where}: labels", ctx),
        annotations=_read_string_map(item.get("annotations"), f"{where}: annotations", ctx),
    )


def _read_secret_data(raw: Any, paths: set[str], where: str, ctx: _Context) -> tuple[SecretObjectData, ...]:
    """``data``: each entry names a mounted file and the Secret key it fills (trimmed, as the driver does)."""
    if raw is None or raw == []:
        ctx.fail(where, "data is required: a list of {objectName, key}")
    if not isinstance(raw, list):
        ctx.fail(where, f"data must be a list, not {_kind(raw)}")
    keys: dict[str, int] = {}
    result = []
    for index, entry in enumerate(raw):
        here = f"{where}: data[{index}]"
        if not isinstance(entry, Mapping):
            ctx.fail(here, f"must be a mapping with objectName and key, not {_kind(entry)}")
        _warn_unknown_keys(entry, SECRET_DATA_KEYS, here, ctx)
        object_name = _read_data_string(entry, "objectName", here, ctx)
        if object_name not in paths:
            ctx.fail(here, f"objectName {_q(object_name)} is not the file name (objectAlias) of any object")
        key = _read_data_string(entry, "key", here, ctx)
        problem = _secret_key_problem(key)
        if problem:
            ctx.fail(here, f"key {_q(key)} {problem}")
        if key in keys:
            ctx.fail(here, f"key {_q(key)} is also filled by data[{keys[key]}]")
        keys[key] = index
        result.append(SecretObjectData(object_name=object_name, key=key))
    return tuple(result)


def _read_data_string(entry: Mapping[str, Any], key: str, where: str, ctx: _Context) -> str:
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        ctx.fail(f"{where}.{key}", "is required")
    if not isinstance(value, str):
        ctx.fail(f"{where}.{key}", f"must be a string, not {_kind(value)}")
    return value.strip()


def _secret_key_problem(key: str) -> str | None:
    """Kubernetes' rule for Secret and ConfigMap keys."""
    if len(key) > 253:
        return "is longer than 253 characters"
    if not _SECRET_KEY.fullmatch(key):
        return "may contain only letters, digits, '-', '_' and '.'"
    if key in (".", "..") or key.startswith(".."):
        return "must not be '.' or start with '..'"
    return None


def _check_required_secret_keys(
    secret_type: str, data: tuple[SecretObjectData, ...], where: str, ctx: _Context
) -> None:
    """Kubernetes refuses a Secret of these types without their keys; say so before syncing."""
    required = REQUIRED_SECRET_KEYS.get(secret_type, ())
    present = {d.key for d in data}
    missing = [k for k in required if k not in present]
    if missing:
        ctx.fail(where, f"type {secret_type} needs data key {', '.join(missing)}")
    if secret_type == "kubernetes.io/tls":
        extra = sorted(present - set(required))
        if extra:
            ctx.fail(where, f"type kubernetes.io/tls takes only keys tls.crt and tls.key, not {_q(extra[0])}")


def _read_string_map(raw: Any, where: str, ctx: _Context) -> dict[str, str]:
    """Labels and annotations: a mapping of strings to strings (null = empty)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        ctx.fail(where, f"must be a mapping of strings, not {_kind(raw)}")
    result: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, str):
            shown = _q(key) if isinstance(key, str) else _kind(key)
            ctx.fail(where, f"{shown} must map to a string, not {_kind(value)} (quote it)")
        result[key] = value
    return result
