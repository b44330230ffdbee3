"""SQL for the failed-login counters (see M013_LOGIN_THROTTLE; the policy is in
appliance/services/login_throttle.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store.db import Store

SCOPES = ("pair", "client", "account")


def keys(account: str, client: str) -> dict[str, tuple[str, str]]:
    """The (account, client) key of each scope's row for one login attempt."""
    return {"pair": (account, client), "client": ("", client), "account": (account, "")}


class LoginThrottleRepo:
    def __init__(self, store: Store):
        self.store = store

    def for_attempt(self, account: str, client: str) -> dict[str, dict[str, Any]]:
        """The rows that count against an attempt, by scope (absent: no failure yet)."""
        rows = self.store.query(
            "SELECT * FROM login_throttle WHERE (scope = 'pair' AND account = ? AND client = ?)"
            " OR (scope = 'client' AND account = '' AND client = ?)"
            " OR (scope = 'account' AND account = ? AND client = '')",
            (account, client, client, account),
        )
        return {r["scope"]: r for r in rows}

    def save(self, row: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            if row["failures"] <= 0:
                conn.execute(
                    "DELETE FROM login_throttle WHERE scope = ? AND account = ? AND client = ?",
                    (row["scope"], row["account"], row["client"]),
                )
                return
            conn.execute(
                "INSERT INTO login_throttle (scope, account, client, failures, first_failed_s,"
                " last_attempt_s) VALUES (:scope, :account, :client, :failures,"
                " :first_failed_s, :last_attempt_s)"
                " ON CONFLICT (scope, account, client) DO UPDATE SET"
                " failures = excluded.failures, first_failed_s = excluded.first_failed_s,"
                " last_attempt_s = excluded.last_attempt_s",
                row,
            )

    def take_back(
        self, scope: str, account: str, client: str, *, counted_at: float, before: float | None
    ) -> None:
        """Uncount one attempt counted at `counted_at` before its check (it succeeded): its
        failures and, unless a later attempt came since, its last attempt time (`before`) go
        back as they were. A row down to no failure goes."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE login_throttle SET failures = failures - 1,"
                " last_attempt_s = CASE WHEN last_attempt_s = ? AND ? IS NOT NULL THEN ?"
                " ELSE last_attempt_s END"
                " WHERE scope = ? AND account = ? AND client = ? AND failures > 0",
                (counted_at, before, before, scope, account, client),
            )
            conn.execute(
                "DELETE FROM login_throttle WHERE scope = ? AND account = ? AND client = ?"
                " AND failures <= 0",
                (scope, account, client),
            )

    def delete(self, scope: str, account: str, client: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "DELETE FROM login_throttle WHERE scope = ? AND account = ? AND client = ?",
                (scope, account, client),
            )

    def device(self, account: str, token_hash: str) -> dict[str, Any] | None:
        """A device's standing with an account (None: never logged in from it)."""
        return self.store.query_one(
            "SELECT * FROM login_devices WHERE token_hash = ? AND account = ?",
            (token_hash, account),
        )

    def remember_device(
        self, account: str, old_hash: str | None, new_hash: str, now_s: float, keep_s: float
    ) -> None:
        """A login succeeded from a device: its token is renewed (every name the old token
        was known for moves to the new one) and it is known for `account`, with no failure.
        Devices unused for `keep_s` are forgotten."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM login_devices WHERE last_login_s < ?", (now_s - keep_s,))
            if old_hash and old_hash != new_hash:
                conn.execute(
                    "UPDATE OR REPLACE login_devices SET token_hash = ? WHERE token_hash = ?",
                    (new_hash, old_hash),
                )
            conn.execute(
                "INSERT INTO login_devices (token_hash, account, last_login_s, failures)"
                " VALUES (?, ?, ?, 0) ON CONFLICT (token_hash, account) DO UPDATE SET"
                " last_login_s = excluded.last_login_s, failures = 0",
                (new_hash, account, now_s),
            )

    def device_failed(self, account: str, token_hash: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE login_devices SET failures = failures + 1"
                " WHERE token_hash = ? AND account = ?",
                (token_hash, account),
            )

    def clear_account(self, account: str) -> int:
        """Forget an account's failures (its own row, its pairs with every client, its
        devices' failures)."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE login_devices SET failures = 0 WHERE account = ?", (account,))
            return conn.execute(
                "DELETE FROM login_throttle WHERE scope IN ('pair', 'account') AND account = ?",
                (account,),
            ).rowcount

    def clear_client(self, client: str) -> int:
        """Forget a client address's failures (its own row and its pairs with every account)."""
        with self.store.transaction() as conn:
            return conn.execute(
                "DELETE FROM login_throttle WHERE scope IN ('pair', 'client') AND client = ?",
                (client,),
            ).rowcount

    def since(self, since_s: float) -> list[dict[str, Any]]:
        """Rows with an attempt at or after `since_s`, newest first."""
        return self.store.query(
            "SELECT * FROM login_throttle WHERE last_attempt_s >= ?"
            " ORDER BY last_attempt_s DESC, scope, account, client",
            (since_s,),
        )

    def prune(self, before_s: float) -> int:
        """Drop rows whose last attempt is older than `before_s` (their count has lapsed)."""
        with self.store.transaction() as conn:
            return conn.execute(
                "DELETE FROM login_throttle WHERE last_attempt_s < ?", (before_s,)
            ).rowcount
