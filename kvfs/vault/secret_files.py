"""A service principal's client id and secret from files, as the provider reads its nodePublishSecretRef.

The directory holds a mounted Kubernetes Secret (``kubectl create secret generic ... --from-literal
clientid=... --from-literal clientsecret=...``): the names are matched case-insensitively, as the
provider matches the Secret's keys. The files are read again whenever they change (a Secret volume
is updated in place, by a symlink swap), so a rotated secret is used without a restart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

CLIENT_ID, CLIENT_SECRET = "clientid", "clientsecret"


@dataclass(frozen=True)
class ClientSecret:
    client_id: str
    client_secret: str = field(repr=False)


class ClientSecretFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _paths(self) -> dict[str, Path]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            raise ConfigError(f"--client-secret-dir {self.directory}: no such directory") from None
        except OSError as exc:
            raise ConfigError(f"--client-secret-dir {self.directory}: {exc.strerror}") from None
        found: dict[str, Path] = {}
        for name in names:
            key = name.lower()
            if key in (CLIENT_ID, CLIENT_SECRET) and (self.directory / name).is_file():
                found[key] = self.directory / name
        return found

    def read(self) -> ClientSecret:
        """Both values (surrounding whitespace trimmed), or a ConfigError naming the missing file."""
        paths = self._paths()
        values: dict[str, str] = {}
        for key in (CLIENT_ID, CLIENT_SECRET):
            if key not in paths:
                raise ConfigError(f"--client-secret-dir {self.directory}: could not find {key} (a file named {key})")
            try:
                values[key] = paths[key].read_text().strip()
            except OSError as exc:
                raise ConfigError(f"--client-secret-dir {self.directory}: {key}: {exc.strerror}") from None
            if not values[key]:
                raise ConfigError(f"--client-secret-dir {self.directory}: {key} is empty")
        return ClientSecret(values[CLIENT_ID], values[CLIENT_SECRET])

    def fingerprint(self) -> object:
        """Changes whenever either file does (new content, or a new file swapped in)."""
        try:
            stats = {key: path.stat() for key, path in self._paths().items()}
        except (OSError, ConfigError):
            return None
        return tuple(sorted((k, s.st_ino, s.st_mtime_ns, s.st_size) for k, s in stats.items()))
