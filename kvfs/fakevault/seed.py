"""Seed files: a YAML list of secrets, keys and certificates to create at start.

Every entry goes through the same code path as the REST API, so a seed file cannot create anything the
SDK could not. Misspelt keys are errors (naming the entry), never silently dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from .fake import FakeVault

_SECTIONS = {
    "secrets": ({"name", "value"}, {"contentType", "enabled", "tags"}),
    "keys": ({"name", "kty"}, {"size", "crv", "enabled", "tags"}),
    "certificates": ({"name"}, {"pem_file", "pfx_file", "password", "contentType", "enabled", "tags"}),
}


def _where(source: Path, section: str, index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{source}: {section}[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")


def _check_entry(source: Path, section: str, index: int, entry: Any) -> dict[str, Any]:
    where = _where(source, section, index, entry)
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: an entry must be a mapping")  # noqa: TRY004 (documented as ValueError)
    required, optional = _SECTIONS[section]
    unknown = sorted(set(entry) - required - optional)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(required | optional))}"
        )
    missing = sorted(required - set(entry))
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    for key in ("name", "value", "kty", "contentType", "crv", "pem_file", "pfx_file", "password"):
        if key in entry and not isinstance(entry[key], str):
            hint = " (quote it in YAML)" if key == "value" else ""
            raise ValueError(f"{where}: {key} must be a string{hint}")
    if "enabled" in entry and not isinstance(entry["enabled"], bool):
        raise ValueError(f"{where}: enabled must be true or false")
    if "size" in entry and (isinstance(entry["size"], bool) or not isinstance(entry["size"], int)):
        raise ValueError(f"{where}: size must be an integer")
    tags = entry.get("tags")
    if tags is not None and not (
        isinstance(tags, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise ValueError(f"{where}: tags must map strings to strings (quote numbers)")
    if section == "certificates" and ("pem_file" in entry) == ("pfx_file" in entry):
        raise ValueError(f"{where}: give exactly one of pem_file or pfx_file")
    return entry


def load_seed(fv: FakeVault, path: Path) -> None:
    """Create the objects listed in a YAML seed file (see README.md); file paths are relative to it.

    Raises ValueError for an invalid file (naming the entry) and lets vault errors (FakeVaultError)
    propagate. Entries are applied in file order: secrets, then keys, then certificates.
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data is None:
        return
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a seed file is a mapping with secrets, keys and certificates")  # noqa: TRY004 (documented as ValueError)
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {', '.join(map(str, unknown))}; allowed: {', '.join(_SECTIONS)}")
    checked: dict[str, list[dict[str, Any]]] = {}
    for section in _SECTIONS:
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise ValueError(f"{path}: {section} must be a list")  # noqa: TRY004 (documented as ValueError)
        checked[section] = [_check_entry(path, section, i, e) for i, e in enumerate(entries)]

    for entry in checked["secrets"]:
        fv.set_secret(
            entry["name"],
            entry["value"],
            content_type=entry.get("contentType"),
            enabled=entry.get("enabled", True),
            tags=entry.get("tags"),
        )
    for entry in checked["keys"]:
        fv.create_key(
            entry["name"],
            entry["kty"],
            size=entry.get("size"),
            crv=entry.get("crv"),
            enabled=entry.get("enabled", True),
            tags=entry.get("tags"),
        )
    for index, entry in enumerate(checked["certificates"]):
        file = path.parent / (entry.get("pem_file") or entry["pfx_file"])
        try:
            data_bytes = file.read_bytes()
        except OSError as exc:
            raise ValueError(
                f"{_where(path, 'certificates', index, entry)}: cannot read {file}: {exc.strerror}"
            ) from exc
        fv.import_certificate(
            entry["name"],
            data_bytes,
            password=entry.get("password"),
            content_type=entry.get("contentType"),
            enabled=entry.get("enabled", True),
            tags=entry.get("tags"),
        )
