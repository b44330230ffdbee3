"""Where Keneya keeps its config and data.

On the appliance the defaults are the system paths; `KENEYA_HOME` (or `--home`) puts
everything in one folder so a laptop demo and the tests never touch /etc or /var.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SYSTEM_CONFIG_DIR = Path("/etc/keneya")
SYSTEM_DATA_DIR = Path("/var/lib/keneya")


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def facility_file(self) -> Path:
        return self.config_dir / "facility.toml"

    @property
    def secrets_dir(self) -> Path:
        return self.config_dir / "secrets"

    @property
    def database(self) -> Path:
        return self.data_dir / "keneya.db"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

    @classmethod
    def for_home(cls, home: str | os.PathLike[str]) -> Paths:
        home = Path(home).expanduser().resolve()
        return cls(config_dir=home, data_dir=home)

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Paths:
        """`home` (the --home flag) wins over KENEYA_HOME, which wins over the system paths."""
        home = home or os.environ.get("KENEYA_HOME")
        if home:
            return cls.for_home(home)
        return cls(config_dir=SYSTEM_CONFIG_DIR, data_dir=SYSTEM_DATA_DIR)
