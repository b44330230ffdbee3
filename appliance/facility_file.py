"""Reading one table of the facility file (`/etc/keneya/facility.toml`, written by first boot
without its secrets). The daemons each read their own table with safe defaults; the whole file
is validated by `provisioning.facility` before it gets there."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_section(facility_file: Path, name: str, *, error: type[Exception]) -> dict[str, Any]:
    """The `[name]` table; {} when the file or the table is absent (the caller's defaults
    apply). A file that is not TOML, or a `name` that is not a table, raises `error`."""
    try:
        with open(facility_file, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{facility_file}: {exc}") from None
    section = doc.get(name, {})
    if not isinstance(section, dict):
        raise error(f"{facility_file}: [{name}] must be a table")
    return section
