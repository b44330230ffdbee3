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
# The system user the services run as on the appliance (image_build/overlay/usr/lib/sysusers.d/
# keneya.conf); first boot gives it the data folder and the secrets.
SERVICE_USER = "keneya"


def private_dir(path: Path) -> Path:
    """`path` as a folder, made 0700 when missing (with its parents): the records and their
    backups are the service user's alone. An existing folder keeps its mode."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def private_dir_owned_like_parent(path: Path) -> Path:
    """`path` as a private folder owned like its parent. The stick's backup runs as root (it
    mounts the stick) and shares the backups folder with the nightly backup, which runs as the
    service user: root making that folder first, or having made it on an older card, left
    the nightly backup refused for good (« read-only folder »)."""
    private_dir(path)
    if os.geteuid() == 0:
        parent, own = path.parent.stat(), path.stat()
        if (own.st_uid, own.st_gid) != (parent.st_uid, parent.st_gid):
            os.chown(path, parent.st_uid, parent.st_gid)
    return path


def private_file(path: Path) -> Path:
    """`path` made empty and 0600 when missing, so that whatever opens it next (SQLite) finds
    it private; SQLite gives a database's -wal, -shm and -journal the database file's mode
    (sqlite.org "Files Used By SQLite", and os_unix.c findCreateFileMode). An existing file
    keeps its mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return path
    os.close(fd)
    return path


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
