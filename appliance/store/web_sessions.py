"""SQL for tablet browser sessions (see M004_WEB_SESSIONS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store.db import Store


class WebSessionRepo:
    def __init__(self, store: Store):
        self.store = store

    def create(
        self, *, token_hash: str, csrf: str, lang: str, staff_id: str | None, now_s: float
    ) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO web_sessions (token_hash, staff_id, csrf, lang, created_s,"
                " last_seen_s) VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, staff_id, csrf, lang, now_s, now_s),
            )

    def get(self, token_hash: str) -> dict[str, Any] | None:
        return self.store.query_one(
            "SELECT * FROM web_sessions WHERE token_hash = ?", (token_hash,)
        )

    def touch(self, token_hash: str, now_s: float) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE web_sessions SET last_seen_s = ? WHERE token_hash = ?", (now_s, token_hash)
            )

    def set_lang(self, token_hash: str, lang: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE web_sessions SET lang = ? WHERE token_hash = ?", (lang, token_hash)
            )

    def delete(self, token_hash: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,))

    def active_since(self, since_s: float, *, except_staff: str | None = None) -> int:
        """Sessions a person used since then (a page's background refresh does not count)."""
        row = self.store.query_one(
            "SELECT COUNT(*) AS n FROM web_sessions WHERE last_seen_s >= ?"
            " AND staff_id IS NOT NULL AND staff_id IS NOT ?",
            (since_s, except_staff),
        )
        return int(row["n"]) if row else 0

    def prune(self, *, idle_before_s: float) -> int:
        with self.store.transaction() as conn:
            return conn.execute(
                "DELETE FROM web_sessions WHERE last_seen_s < ?", (idle_before_s,)
            ).rowcount
