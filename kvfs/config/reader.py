"""The public entry points: read a SecretProviderClass and validate it, part by part, in file order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from .document import check_header, read_metadata, read_spec, select_document
from .messages import Context
from .model import ProviderClass
from .objects import check_file_names, read_objects
from .parameters import (
    read_cloud,
    read_identity,
    read_keyvault_name,
    read_parameters,
    read_tenant_id,
    warn_unknown_parameters,
)
from .secret_objects import read_secret_objects
from .sources import read_source
from .yaml_loading import load_documents


def load_provider_class(
    source: str, *, stdin: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> ProviderClass:
    """Read and validate a SecretProviderClass from ``source``.

    ``source`` is a file path, ``-`` for standard input, or ``env:NAME`` for the YAML held in the
    environment variable NAME (the inline-volume case, where there is no file). A file whose
    name really starts with ``env:`` can be given as ``./env:...``.
    """
    text, origin = read_source(source, stdin=stdin, environ=environ)
    return parse_provider_class(text, origin)


def parse_provider_class(text: str, origin: str = "<config>") -> ProviderClass:
    """Validate the SecretProviderClass in ``text``; ``origin`` names it in messages.

    Raises ``ConfigError`` at the first fault, checking in file order (document, metadata,
    parameters, objects, secretObjects). Unknown keys are logged as warnings, one line each.
    """
    ctx = Context(origin)
    doc = select_document(load_documents(text, ctx), ctx)
    check_header(doc, ctx)
    name, namespace = read_metadata(doc.get("metadata"), ctx)
    spec = read_spec(doc, ctx)
    params = read_parameters(spec.get("parameters"), ctx)
    warn_unknown_parameters(params, ctx)
    keyvault_name = read_keyvault_name(params, ctx)
    tenant_id = read_tenant_id(params, ctx)
    cloud = read_cloud(params, ctx)
    identity = read_identity(params, ctx)
    objects = read_objects(params.get("objects", ""), ctx)
    check_file_names(objects, ctx)
    secret_objects = read_secret_objects(spec.get("secretObjects"), objects, ctx)
    return ProviderClass(
        name=name,
        namespace=namespace,
        keyvault_name=keyvault_name,
        tenant_id=tenant_id,
        cloud=cloud,
        client_id=identity.client_id,
        use_pod_identity=identity.use_pod_identity,
        use_vm_managed_identity=identity.use_vm_managed_identity,
        user_assigned_identity_id=identity.user_assigned_identity_id,
        objects=objects,
        secret_objects=secret_objects,
    )
