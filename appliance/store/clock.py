"""SQL for clock events: the moments the machine clock was found right or wrong, and the steps
of the machine clock found since."""

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
        boot_s: float | None = None,
    ) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO clock_events (boot_id, source, machine_time, true_time, offset_s,"
                " staff_id, boot_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (boot_id, source, machine_time, true_time, offset_s, staff_id, boot_s),
            )

    def for_boot(self, boot_id: str) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT * FROM clock_events WHERE boot_id = ? ORDER BY id", (boot_id,)
        )

    def last_for_boot(self, boot_id: str) -> dict[str, Any] | None:
        return self.store.query_one(
            "SELECT * FROM clock_events WHERE boot_id = ? ORDER BY id DESC LIMIT 1", (boot_id,)
        )

    def latest(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.store.query("SELECT * FROM clock_events ORDER BY id DESC LIMIT ?", (limit,))

    def add_step(
        self,
        *,
        boot_id: str,
        after_event: int,
        machine_time: str,
        expected_time: str,
        step_s: float,
        boot_s: float,
    ) -> bool:
        """Keep a step found after `after_event`; False when it was already kept (another
        process found it first)."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO clock_steps (boot_id, after_event, machine_time,"
                " expected_time, step_s, boot_s) VALUES (?, ?, ?, ?, ?, ?)",
                (boot_id, after_event, machine_time, expected_time, step_s, boot_s),
            )
            return cursor.rowcount == 1

    def step_after(self, event_id: int) -> dict[str, Any] | None:
        return self.store.query_one("SELECT * FROM clock_steps WHERE after_event = ?", (event_id,))
