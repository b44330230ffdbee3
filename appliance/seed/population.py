"""The demo's [population]: the health area sized to the seeded patients, so the dashboard's
coverage curves land where a working CSCom's do (most targets reached at 70-95 %)."""

from __future__ import annotations

import tomllib
from pathlib import Path

# The seeded facility registers about everyone of its area and does not grow.
DEMO_POPULATION = """
[population]
total = {total}
year = {year}
growth_pct = 0.0
"""


def ensure_population_table(facility_file: Path, *, patients: int, year: int) -> bool:
    """Add `[population]` to the demo's facility file when it has none; True when added."""
    text = facility_file.read_text(encoding="utf-8") if facility_file.exists() else ""
    if "population" in tomllib.loads(text):
        return False
    facility_file.parent.mkdir(parents=True, exist_ok=True)
    table = DEMO_POPULATION.format(total=max(patients, 1), year=year)
    facility_file.write_text(text.rstrip("\n") + "\n" + table, encoding="utf-8")
    return True
