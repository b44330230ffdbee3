"""The floors point one way (DESIGN.md): `appliance` imports none of the packages above it, so
the record store, the domain and the services run without a battery sensor, a modem, Kivy or
the image build."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
ABOVE = {"power", "modem", "kiosk_ui", "provisioning", "image_build"}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_appliance_imports_nothing_above_it():
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & ABOVE)
        for path in sorted((ROOT / "appliance").rglob("*.py"))
    }
    assert {k: v for k, v in wrong.items() if v} == {}
