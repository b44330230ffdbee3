"""SQL for staff accounts; their failed-login counters are in `throttle` (login_throttle.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.store.login_throttle import LoginThrottleRepo

if TYPE_CHECKING:
    from appliance.store.db import Store

# failed_attempts and locked_until, the old per-account lockout's columns, are no longer read
_PUBLIC = "id, username, display_name, role, active, created_at, created_by"


class StaffRepo:
    def __init__(self, store: Store):
        self.store = store
        self.throttle = LoginThrottleRepo(store)

    def insert(self, row: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                f"INSERT INTO staff ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )

    def get(self, staff_id: str) -> dict[str, Any] | None:
        return self.store.query_one(f"SELECT {_PUBLIC} FROM staff WHERE id = ?", (staff_id,))

    def by_username(self, username: str, *, with_secrets: bool = False) -> dict[str, Any] | None:
        cols = f"{_PUBLIC}, pin_hash, password_hash" if with_secrets else _PUBLIC
        return self.store.query_one(f"SELECT {cols} FROM staff WHERE username = ?", (username,))

    def all(self) -> list[dict[str, Any]]:
        return self.store.query(f"SELECT {_PUBLIC} FROM staff ORDER BY role, username")

    def kiosk_accounts(self) -> list[dict[str, Any]]:
        """Active staff who can log in with a PIN: the kiosk's staff picker."""
        return self.store.query(
            "SELECT id, username, display_name, role FROM staff"
            " WHERE active = 1 AND pin_hash IS NOT NULL ORDER BY display_name"
        )

    def count(self) -> int:
        return self.store.conn.execute("SELECT COUNT(*) FROM staff").fetchone()[0]

    def set_secret(
        self, staff_id: str, *, pin_hash: str | None = None, password_hash: str | None = None
    ) -> None:
        with self.store.transaction() as conn:
            if pin_hash is not None:
                conn.execute("UPDATE staff SET pin_hash = ? WHERE id = ?", (pin_hash, staff_id))
            if password_hash is not None:
                conn.execute(
                    "UPDATE staff SET password_hash = ? WHERE id = ?", (password_hash, staff_id)
                )

    def set_active(self, staff_id: str, active: bool) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE staff SET active = ? WHERE id = ?", (int(active), staff_id))
