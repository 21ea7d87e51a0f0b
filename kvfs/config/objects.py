"""``parameters.objects``: the objects array, each object's fields, and the file names they serve.

The provider gives ``objects`` as a YAML string whose ``array:`` holds YAML strings (or mappings);
every field is a trimmed string there, so it is one here, and each is checked as the provider,
Key Vault or the mount would check it later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .messages import Context, did_you_mean, key_name, kind_of, missing_hint, quote, warn_unknown_keys
from .model import ObjectEncoding, ObjectFormat, ObjectSpec, ObjectType
from .parameters import PARAMS, URL_UNSAFE, parse_bool
from .paths import PathClaims
from .readers import READER_FIELDS, read_ids, refuse_misspelt
from .yaml_loading import load_string_yaml

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
    "objectNamePattern",
    *READER_FIELDS,
)
OBJECT_TYPES: tuple[ObjectType, ...] = ("secret", "key", "cert")
OBJECT_FORMATS: tuple[ObjectFormat, ...] = ("pem", "pfx")
OBJECT_ENCODINGS: tuple[ObjectEncoding, ...] = ("utf-8", "base64", "hex")
DEFAULT_PERMISSION = 0o644
MAX_FILE_NAME_BYTES = 255
MAX_PATH_BYTES = 4095

_OBJECT_NAME = re.compile(r"[-A-Za-z0-9]{1,127}")
_OCTAL = re.compile(r"[0-7]+")
_PATTERN = re.compile(r"[-A-Za-z0-9*?\[\]!]{1,127}")
_DECIMAL = re.compile(r"[+-]?[0-9]+")


def read_objects(text: str, ctx: Context) -> tuple[ObjectSpec, ...]:
    """``parameters.objects``: a YAML string with ``array:``, a list of YAML strings (or mappings)."""
    where = f"{PARAMS}.objects"
    if not text:
        ctx.fail(where, "is required: nothing to mount")
    data = load_string_yaml(text, where, " of the objects string", ctx)
    if not isinstance(data, Mapping):
        ctx.fail(where, f"must be a YAML mapping with an 'array:' list, not {kind_of(data)}")
    warn_unknown_keys(data, ("array",), where, ctx)
    if "array" not in data:
        ctx.fail(where, f"has no 'array:' list{_did_you_mean_array(data)}")
    array = data["array"]
    if array == "" or array is None:
        array = []
    if not isinstance(array, list):
        ctx.fail(f"{where}.array", f"must be a list, not {kind_of(array)}")
    if not array:
        ctx.fail(f"{where}.array", "is empty: nothing to mount")
    return tuple(_read_object(index, item, ctx) for index, item in enumerate(array))


def _did_you_mean_array(data: Mapping[str, Any]) -> str:
    return did_you_mean(next(iter(data)), ("array",)) if len(data) == 1 else ""


def _object_where(index: int, name: str) -> str:
    return f"objects[{index}] (objectName {quote(name)})" if name else f"objects[{index}]"


def _object_fields(index: int, item: Any, ctx: Context) -> tuple[dict[str, str], dict[str, object]]:
    """One array item as trimmed string fields (the provider trims every string field), and the other
    fields: the kvfs-only ones that hold a list (``allowedUids``, ``allowedGids``), and unknown ones."""
    if isinstance(item, str):
        item = load_string_yaml(item, f"objects[{index}]", " of the item", ctx)
        if item is None or item == "":
            item = {}
    if not isinstance(item, Mapping):
        ctx.fail(f"objects[{index}]", f"must be a mapping of object fields, not {kind_of(item)}")
    fields: dict[str, str] = {}
    lists: dict[str, object] = {}
    name = item.get("objectName")
    where = _object_where(index, name.strip() if isinstance(name, str) else "")
    for key, value in item.items():
        if value is None:
            value = ""
        if key in READER_FIELDS or (not isinstance(value, str) and key not in OBJECT_FIELDS):
            lists[key] = value  # checked by read_ids, or an unknown key (a warning, whatever its value)
            continue
        if not isinstance(value, str):
            ctx.fail(where, f"{key_name(str(key))} must be a string, not {kind_of(value)}")
        fields[str(key)] = value.strip()
    return fields, lists


def _readers(lists: Mapping[str, object], where: str, ctx: Context) -> dict[str, Any]:
    """``allowed_uids`` and ``allowed_gids`` of the spec, from a list or a single id."""
    return {
        attribute: read_ids(lists.get(key), key, where, ctx)
        for attribute, key in (("allowed_uids", "allowedUids"), ("allowed_gids", "allowedGids"))
    }


def _read_object(index: int, item: Any, ctx: Context) -> ObjectSpec:
    fields, lists = _object_fields(index, item, ctx)
    if fields.get("objectNamePattern"):
        return _read_pattern_object(index, fields, lists, ctx)
    name = fields.get("objectName", "")
    if not name:
        ctx.fail(f"objects[{index}]", f"objectName is required{missing_hint(fields, 'objectName')}")
    if not _OBJECT_NAME.fullmatch(name):
        ctx.fail(
            f"objects[{index}]",
            f"objectName {quote(name)} is not a Key Vault object name (1-127 letters, digits and hyphens)",
        )
    where = _object_where(index, name)
    refuse_misspelt({**fields, **lists}, where, ctx)
    warn_unknown_keys({**fields, **lists}, OBJECT_FIELDS, where, ctx)
    object_type = _read_object_type(fields, where, ctx)
    alias = fields.get("objectAlias") or name
    problem = _alias_problem(alias)
    if problem:
        ctx.fail(where, f"objectAlias {quote(alias)} {problem}")
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
        **_readers(lists, where, ctx),
    )


def _read_pattern_object(
    index: int, fields: Mapping[str, str], lists: Mapping[str, object], ctx: Context
) -> ObjectSpec:
    """``objectNamePattern`` (kvfs only): every object of the type whose name matches, each served under its
    own name. The provider ignores the field, so nothing else is read differently."""
    pattern = fields["objectNamePattern"]
    where = f"objects[{index}] (objectNamePattern {quote(pattern)})"
    refuse_misspelt({**fields, **lists}, where, ctx)
    warn_unknown_keys({**fields, **lists}, OBJECT_FIELDS, where, ctx)
    if not _PATTERN.fullmatch(pattern):
        ctx.fail(where, "objectNamePattern may hold only letters, digits, hyphens and the wildcards * ? [ ] !")
    for exclusive in ("objectName", "objectAlias", "objectVersion", "objectVersionHistory"):
        if fields.get(exclusive):
            ctx.fail(
                where, f"{exclusive} cannot be used with objectNamePattern (each match is served under its own name)"
            )
    object_type = _read_object_type(fields, where, ctx)
    split = _read_object_bool(fields, "split", where, ctx)
    if split and object_type != "secret":
        ctx.fail(where, f"split is only for objectType secret (a certificate's secret), not {object_type}")
    return ObjectSpec(
        index=index,
        name="",
        type=object_type,
        alias="",
        format=_read_object_format(fields, object_type, where, ctx),
        encoding=_read_object_encoding(fields, object_type, where, ctx),
        permission=_read_permission(fields, where, ctx),
        optional=_read_object_bool(fields, "optional", where, ctx),
        split=split,
        name_pattern=pattern,
        **_readers(lists, where, ctx),
    )


def _read_object_type(fields: Mapping[str, str], where: str, ctx: Context) -> ObjectType:
    """Case-sensitive, as the provider compares it."""
    value = fields.get("objectType", "")
    valid = ", ".join(OBJECT_TYPES)
    if not value:
        ctx.fail(where, f"objectType is required (one of {valid})")
    for object_type in OBJECT_TYPES:
        if value == object_type:
            return object_type
    hint = " (object types are lower-case)" if value.lower() in OBJECT_TYPES else ""
    ctx.fail(where, f"objectType {quote(value)} is not one of {valid}{hint}")


def _alias_problem(alias: str) -> str | None:
    """Why ``alias`` cannot be a file path inside the mount, or None.

    Like the provider, an alias may name a file in folders (``conf/db.txt``) and must not be
    absolute or contain ``..``. kvfs also refuses what no file system can hold or what would
    name the same file two ways: NUL, empty or ``.`` components, components over 255 bytes.
    """
    if not alias:
        return "is empty"
    if "\0" in alias:
        return "contains a NUL character"
    if alias.startswith("/"):
        return "must be a relative path, not an absolute one"
    if ".." in alias:
        return "must not contain '..'"
    parts = alias.split("/")
    if "" in parts:
        return "has an empty path component (a doubled or trailing '/')"
    if "." in parts:
        return "must not have '.' as a path component"
    if any(len(part.encode("utf-8")) > MAX_FILE_NAME_BYTES for part in parts):
        return f"has a path component longer than {MAX_FILE_NAME_BYTES} bytes"
    if len(alias.encode("utf-8")) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    return None


def _read_object_version(fields: Mapping[str, str], where: str, ctx: Context) -> str:
    version = fields.get("objectVersion", "")
    if version == "latest":
        return ""
    if URL_UNSAFE.search(version):
        ctx.fail(where, f"objectVersion {quote(version)} is not a Key Vault version id")
    return version


def _read_object_format(fields: Mapping[str, str], object_type: ObjectType, where: str, ctx: Context) -> ObjectFormat:
    """Case-insensitive, as the provider reads it. Keys and certificates are always PEM: the provider
    refuses ``pfx`` on them, but its check is case-sensitive, so ``PFX`` passes there and is ignored.
    kvfs accepts every class the provider accepts: ``PFX`` on a key or cert is ignored, with a warning."""
    value = fields.get("objectFormat", "")
    if not value:
        return "pem"
    lowered = value.lower()
    if lowered == "pem":
        return "pem"
    if lowered != "pfx":
        ctx.fail(where, f"objectFormat {quote(value)} is not one of {', '.join(OBJECT_FORMATS)}")
    if object_type == "secret":
        return "pfx"
    if value == "pfx":
        ctx.fail(where, f"objectFormat pfx is only for objectType secret, not {object_type}")
    ctx.warn(
        where,
        f"objectFormat {quote(value)} is ignored for objectType {object_type}, whose file is always PEM "
        "(the provider ignores it too, but refuses the lower-case pfx: remove the field)",
    )
    return "pem"


def _read_object_encoding(
    fields: Mapping[str, str], object_type: ObjectType, where: str, ctx: Context
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
    ctx.fail(where, f"objectEncoding {quote(value)} is not one of {', '.join(OBJECT_ENCODINGS)}")


def _read_permission(fields: Mapping[str, str], where: str, ctx: Context) -> int:
    """An octal string (``0600`` or ``600``), as ``strconv.ParseInt(s, 8, 32)``, at most 0777."""
    value = fields.get("filePermission", "")
    if not value:
        return DEFAULT_PERMISSION
    if not _OCTAL.fullmatch(value):
        ctx.fail(where, f'filePermission {quote(value)} is not an octal number like "0600"')
    permission = int(value, 8)
    if permission > 0o777:
        ctx.fail(where, f"filePermission {quote(value)} is more than 0777")
    return permission


def _read_version_history(fields: Mapping[str, str], where: str, ctx: Context) -> int:
    """``objectVersionHistory``: an int32 ≥ 0; 0 and 1 both mean one plain file, as in the provider."""
    value = fields.get("objectVersionHistory", "")
    if not value:
        return 0
    if not _DECIMAL.fullmatch(value):
        ctx.fail(where, f"objectVersionHistory {quote(value)} is not an integer")
    count = int(value)
    if count < 0:
        ctx.fail(where, f"objectVersionHistory {quote(value)} must not be negative")
    if count > 2**31 - 1:
        ctx.fail(where, f"objectVersionHistory {quote(value)} is too large")
    return 0 if count <= 1 else count


def _read_object_bool(fields: Mapping[str, str], key: str, where: str, ctx: Context) -> bool:
    value = parse_bool(fields.get(key, ""))
    if value is None:
        ctx.fail(where, f"{key} {quote(fields[key])} is not a boolean (use true or false)")
    return value


def check_file_names(objects: tuple[ObjectSpec, ...], ctx: Context) -> None:
    """No two objects may serve the same path (alias, split files, history folder), and no object's
    file may stand where another needs a folder. The provider lets the later file win; kvfs refuses."""
    claims: PathClaims[ObjectSpec] = PathClaims()
    for spec in objects:
        for name in spec.file_names():
            last = name.rsplit("/", 1)[-1]
            if len(last.encode("utf-8")) > MAX_FILE_NAME_BYTES:
                ctx.fail(spec.describe(), f"file name {quote(last)} is longer than {MAX_FILE_NAME_BYTES} bytes")
            clash = claims.claim(name, spec, whole_folder=bool(spec.version_history))
            if clash is not None:
                ctx.fail(spec.describe(), f"{clash[0]} {clash[1].describe()}")
