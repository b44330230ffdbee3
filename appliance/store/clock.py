"""SQL for clock events: the moments the machine clock was found right or wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store.db import Store


class ClockRepo:
    def __init__(self, store: Store):
        self.store = store

    def add(
        self,
        *,
        boot_id: str,
        source: str,
        machine_time: str,
        true_time: str,
        offset_s: float,
        staff_id: str | None = None,
    ) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO clock_events (boot_id, source, machine_time, true_time, offset_s,"
                " staff_id) VALUES (?, ?, ?, ?, ?, ?)",
                (boot_id, source, machine_time, true_time, offset_s, staff_id),
            )

    def for_boot(self, boot_id: str) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT * FROM clock_events WHERE boot_id = ? ORDER BY id", (boot_id,)
        )

    def latest(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.store.query("SELECT * FROM clock_events ORDER BY id DESC LIMIT ?", (limit,))
