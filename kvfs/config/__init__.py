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

One module per part of the file, in the order the checks run:

- ``reader``: ``load_provider_class`` and ``parse_provider_class``, which run the steps below;
- ``sources``: the text of a file, standard input or ``env:NAME``;
- ``yaml_loading``: YAML with duplicate keys refused, the document and the provider's nested strings;
- ``document``: the one SecretProviderClass of the file, its apiVersion, metadata and spec;
- ``parameters``: ``spec.parameters`` (vault, tenant, cloud, identity switches);
- ``objects``: the ``objects`` array, each object's fields and the file names they serve;
- ``secret_objects``: ``spec.secretObjects``;
- ``model``: the frozen results; ``messages``: the one-line errors and warnings all of them build.
"""

from .model import (
    ObjectEncoding,
    ObjectFormat,
    ObjectSpec,
    ObjectType,
    ProviderClass,
    SecretObject,
    SecretObjectData,
)
from .reader import load_provider_class, parse_provider_class

__all__ = [
    "ObjectEncoding",
    "ObjectFormat",
    "ObjectSpec",
    "ObjectType",
    "ProviderClass",
    "SecretObject",
    "SecretObjectData",
    "load_provider_class",
    "parse_provider_class",
]
