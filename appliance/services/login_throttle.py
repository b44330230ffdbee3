"""Failed logins slow down whoever makes them; they never lock the real user out.

Three counters of failed logins, kept in SQLite (table login_throttle) so a restart gives no
attacker fresh attempts:

- **pair** (account, client): one name tried from one device. 3 free failures, then the next
  attempt waits 2, 4, 8 … s after the last one, at most 15 min. This is the "lock": it holds
  the device that guesses, not the account, so the real user on another tablet or on the kiosk
  still gets in with the right secret. An admin lifts it (`unlock`).
- **client** (any account, one device): 10 free failures, then 2, 4 … s, at most 60 s. Against
  one device trying many names.
- **account** (one name, any device): 10 free failures, then 1, 2, 4 … s, at most 15 s. Against
  guesses spread over many addresses. It holds back only network clients the account has not
  logged in from: not the kiosk or the console (someone at the appliance itself), and not a
  browser carrying a device cookie from an earlier login to this account, as long as that
  device has made fewer than 5 wrong attempts since (OWASP's "device cookies"; counted before
  the check like the rest, and the cookie renewed at each login, so a copy is worth nothing
  once its owner logs in again). Without that, an attacker rotating addresses, one guess per
  wait, would take every slot the counter frees and the real user would be refused for as
  long as the attack lasts. A device never used before by the account waits with the
  attacker: 15 s per slot, first come first served.

A counter is forgotten an hour after its last failure (longer than every wait), and the pair's
when a login succeeds; a success does not count and does not keep older failures alive. A
client is the web client's address, "kiosk" for the kiosk, "console" for the command line.

What that allows at worst, steadily: 96 guesses a day from one device at one account, 1,440 a
day from one device over all accounts, 5,760 a day at one account over all devices. PINs are
checked only on the kiosk and the console (the web and the API take passwords only), so a PIN
gets at most 96 guesses a day from each.

An attempt that must still wait is refused at once with LoginThrottled (when, and which
counter holds it): no hash is computed and nothing is written, so throttled attempts cost
nothing. The name is a
key as typed, known or not: an unknown name is counted, throttled and answered exactly as a
real one. Every attempt that is checked is counted before its hash is computed (and taken back
if it succeeds): simultaneous attempts see each other, and a burst from one device costs at
most its free attempts' hashes.

Times are the appliance clock's (Unix seconds). A clock set back cannot stretch a wait beyond
its rule's longest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from appliance.clock import to_iso
from appliance.store.login_throttle import SCOPES, keys

FORGET_AFTER_S = 3600.0
# A device cookie lasts 90 days after its last login to the account; 5 wrong attempts from it
# since then and the account counter holds it back like any stranger.
DEVICE_KEEP_S = 90 * 24 * 3600.0
DEVICE_FREE_FAILURES = 5
LOCAL_CLIENTS = frozenset({"kiosk", "console"})
ACCOUNT_KEY_LENGTH = 64  # longer names are cut: the key of a name nobody has cannot grow


@dataclass(frozen=True)
class Rule:
    free: int  # failures allowed with no wait
    first_wait_s: float  # the wait after the first failure beyond the free ones
    longest_wait_s: float

    def wait_s(self, failures: int) -> float:
        """How long after the last attempt the next one waits, after `failures` failures."""
        if failures < self.free:
            return 0.0
        # the exponent is bounded: past the cap, growing it further changes nothing
        return min(self.first_wait_s * 2 ** min(failures - self.free, 32), self.longest_wait_s)


RULES: dict[str, Rule] = {
    "pair": Rule(free=3, first_wait_s=2, longest_wait_s=15 * 60),
    "client": Rule(free=10, first_wait_s=2, longest_wait_s=60),
    "account": Rule(free=10, first_wait_s=1, longest_wait_s=15),
}


def account_key(username: str | None) -> str:
    return (username or "").strip().lower()[:ACCOUNT_KEY_LENGTH]


def _live_failures(row: dict[str, Any] | None, now_s: float) -> int:
    """The row's failures, or 0 once forgotten (no attempt for FORGET_AFTER_S either way of
    the clock)."""
    if row is None or abs(now_s - row["last_attempt_s"]) > FORGET_AFTER_S:
        return 0
    return row["failures"]


def last_failure_s(row: dict[str, Any] | None, now_s: float) -> float | None:
    """The row's last counted attempt, None when it has lapsed (or there is none)."""
    return row["last_attempt_s"] if _live_failures(row, now_s) else None


def _wait_left(scope: str, row: dict[str, Any] | None, now_s: float) -> float:
    wait = RULES[scope].wait_s(_live_failures(row, now_s))
    if not wait:
        return 0.0
    # min(): a clock set back never makes the wait longer than the rule's own
    return min(row["last_attempt_s"] + wait - now_s, wait)  # type: ignore[index]


def known_device(device: dict[str, Any] | None, now_s: float) -> bool:
    """The device (its row in login_devices for this account) logged in lately and has not
    guessed much since."""
    return (
        device is not None
        and abs(now_s - device["last_login_s"]) <= DEVICE_KEEP_S
        and device["failures"] < DEVICE_FREE_FAILURES
    )


def scopes_holding(client: str, device: dict[str, Any] | None, now_s: float) -> tuple[str, ...]:
    """The counters that may hold back an attempt from `client`: the account's only for a
    network client the account has not logged in from (the module's docstring says why)."""
    if client in LOCAL_CLIENTS or known_device(device, now_s):
        return tuple(scope for scope in SCOPES if scope != "account")
    return SCOPES


def retry_after(
    rows: dict[str, dict[str, Any]], now_s: float, scopes: tuple[str, ...] = SCOPES
) -> tuple[int, str]:
    """Whole seconds until an attempt with these counters may be checked (0: now), and the
    counter that holds it longest (what the refusal names: this device, or this account)."""
    left, scope = max((_wait_left(scope, rows.get(scope), now_s), scope) for scope in scopes)
    return (math.ceil(left), scope) if left > 0 else (0, "")


def counted(rows: dict[str, dict[str, Any]], account: str, client: str, now_s: float) -> list:
    """The rows after one more attempt (written before the attempt is checked)."""
    out = []
    for scope, (key_account, key_client) in keys(account, client).items():
        before = _live_failures(rows.get(scope), now_s)
        out.append(
            {
                "scope": scope,
                "account": key_account,
                "client": key_client,
                "failures": before + 1,
                "first_failed_s": rows[scope]["first_failed_s"] if before else now_s,
                "last_attempt_s": now_s,
            }
        )
    return out


def describe(row: dict[str, Any], now_s: float, known: bool | None) -> dict[str, Any]:
    """One counter as an admin reads it: who, how many failures, when, throttled until."""
    wait_left = _wait_left(row["scope"], row, now_s)
    return {
        "scope": row["scope"],
        "account": row["account"] or None,
        "client": row["client"] or None,
        "known_account": known,
        "failures": row["failures"],
        "first_failure": _iso(row["first_failed_s"]),
        "last_attempt": _iso(row["last_attempt_s"]),
        "throttled_until": _iso(now_s + wait_left) if wait_left > 0 else None,
        "retry_after_s": math.ceil(wait_left) if wait_left > 0 else 0,
    }


def _iso(seconds: float) -> str:
    return to_iso(datetime.fromtimestamp(seconds, UTC))
