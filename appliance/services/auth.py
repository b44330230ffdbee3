"""Staff accounts: slow salted hashes, PIN and password logins, throttled per client
(login_throttle.py)."""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.domain.permissions import MANAGE_STAFF, ROLES
from appliance.ids import uuid7
from appliance.services import login_throttle
from appliance.services.context import Actor, Context
from appliance.services.errors import Conflict, LoginFailed, LoginThrottled, NotFound

# argon2id (RFC 9106). 19 MiB is OWASP's minimum memory for argon2id (Password Storage Cheat
# Sheet): a Pi 3 with 1 GB runs it beside the kiosk, the web app and the daemons.
# Passwords keep OWASP's 2 passes: they are long (8 characters and more; a generated one is 4
# words of 190, about 30 bits) and they are what the network checks, so a flood of web logins
# must stay cheap for the Pi (about 0.1 s of a Pi 3 core each, benchmarks/login_hash.py).
# Each hash or check takes its 19 MiB at once: a dozen tablets logging in together took the web
# app from 90 to 245-265 MB. At most HASHES_AT_ONCE run in this process (the others wait their
# turn, a tenth of a second each on a Pi 3), and fixed malloc thresholds give the memory back
# after each (appliance/malloc.py, set by `keneya serve` and the kiosk at start).
HASHES_AT_ONCE = 2
_hashing = threading.BoundedSemaphore(HASHES_AT_ONCE)


class BoundedHasher(PasswordHasher):
    """argon2id with at most HASHES_AT_ONCE hashes or checks at a time in the process."""

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with _hashing:
            return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:  # noqa: A002
        with _hashing:
            return super().verify(hash, password)


PASSWORD_HASHER = BoundedHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A PIN has only 10^4 to 10^8 values, so once its hash is read off a stolen card every PIN falls
# to a laptop; 12 passes make one guess cost about 0.6 s on a Pi 3 (benchmarks/login_hash.py)
# and 6 times more than a password's anywhere. PINs are checked only at the appliance (kiosk,
# console), one at a time. Hashes made with other parameters still verify and are re-hashed
# at the next successful login.
PIN_HASHER = BoundedHasher(time_cost=12, memory_cost=19 * 1024, parallelism=1)
_PIN = re.compile(r"^\d{4,8}$")
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")


def check_pin(pin: str) -> str:
    if not _PIN.match(pin or ""):
        raise ValueError("the PIN must be 4 to 8 digits")
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise ValueError("the PIN is too easy to guess (all the same digit, or a run)")
    return pin


def check_password(password: str) -> str:
    if len(password or "") < 8:
        raise ValueError("the password must be at least 8 characters")
    return password


def add_staff(
    ctx: Context,
    actor: Actor | None,
    *,
    username: str,
    display_name: str,
    role: str,
    pin: str | None = None,
    password: str | None = None,
    pin_hash: str | None = None,
    password_hash: str | None = None,
) -> dict[str, Any]:
    """Create an account. The very first account (an admin) needs no actor; after that only an
    admin may add staff. Provisioning gives the first admin's PIN and password already hashed
    (`pin_hash`, `password_hash`: argon2id), so they never travel in clear on the card."""
    if ctx.store.staff.count() == 0:
        if role != "admin":
            raise Conflict("the first account must be an admin")
    else:
        if actor is None:
            raise LoginFailed("adding staff needs an admin login (--as)")
        ctx.require(actor, MANAGE_STAFF)
    username = (username or "").strip().lower()
    if not _USERNAME.match(username):
        raise ValueError(f"username {username!r}: 2–32 lowercase letters, digits, . _ -")
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if not (display_name or "").strip():
        raise ValueError("the name must not be empty")
    for given in (pin_hash, password_hash):
        if given is not None and not given.startswith("$argon2id$"):
            raise ValueError("a given hash must be an argon2id hash ($argon2id$…)")
    if pin is None and password is None and pin_hash is None and password_hash is None:
        raise ValueError("give a PIN (kiosk) or a password (tablets), or both")
    if ctx.store.staff.by_username(username):
        raise Conflict(f"username {username!r} is taken")
    reading = ctx.now()
    row = {
        "id": uuid7(),
        "username": username,
        "display_name": display_name.strip(),
        "role": role,
        "pin_hash": PIN_HASHER.hash(check_pin(pin)) if pin is not None else pin_hash,
        "password_hash": (
            PASSWORD_HASHER.hash(check_password(password))
            if password is not None
            else password_hash
        ),
        "created_at": reading.iso(),
        "created_by": actor.id if actor else None,
    }
    # hashed above, outside the write lock (argon2 takes a noticeable time on a Pi)
    with ctx.store.transaction():
        ctx.store.staff.insert(row)
        ctx.audit(actor, "staff.add", detail={"username": username, "role": role}, reading=reading)
    return ctx.store.staff.get(row["id"])  # type: ignore[return-value]


def login(
    ctx: Context,
    username: str,
    *,
    pin: str | None = None,
    password: str | None = None,
    client: str = "kiosk",
    device: str | None = None,
    device_renewed: str | None = None,
) -> Actor:
    """Check a PIN or a password tried from `client` (a web client's address, "kiosk",
    "console"). `device` is the browser's device token (its keneya_device cookie, if any);
    on success the browser gets `device_renewed` in its place, remembered for the account, and
    whatever the old token was known for moves to it: a copy of the old cookie is worth
    nothing once its owner logs in again. Failures slow that client down (login_throttle says
    how); a client that must wait gets LoginThrottled before any hash is computed. The reply
    never says whether the username exists: unknown, inactive and wrong secret are the same
    LoginFailed."""
    account = login_throttle.account_key(username)
    client = client or "unknown"
    device_hash = token_hash(device) if device else None
    throttle = ctx.store.staff.throttle
    reading = ctx.now()
    now_s = reading.now.timestamp()

    def refuse_if_waiting() -> tuple[dict[str, Any], dict[str, Any] | None]:
        rows = throttle.for_attempt(account, client)
        known = throttle.device(account, device_hash) if device_hash else None
        holding = login_throttle.scopes_holding(client, known, now_s)
        wait, scope = login_throttle.retry_after(rows, now_s, holding)
        if wait:
            # a device this name logged in from, held all the same: it guessed too much since
            raise LoginThrottled(wait, scope, device_spent=known is not None)
        return rows, known

    # A read only: a throttled attempt writes nothing and hashes nothing.
    refuse_if_waiting()
    with ctx.store.transaction():
        # Counted before the check, under the write lock: simultaneous attempts see each
        # other (the device's own count too, so a burst with a copied cookie gets no more
        # than its free attempts).
        rows, known = refuse_if_waiting()
        throttle.prune(now_s - login_throttle.FORGET_AFTER_S)
        for row in login_throttle.counted(rows, account, client, now_s):
            throttle.save(row)
        if known is not None:
            throttle.device_failed(account, device_hash)  # type: ignore[arg-type]
    # what a success gives back: the last attempt's time before this one
    before = {scope: login_throttle.last_failure_s(rows.get(scope), now_s) for scope in rows}
    row = ctx.store.staff.by_username(account, with_secrets=True)
    stored = None
    if row is not None and row["active"]:
        stored = row["pin_hash"] if pin is not None else row["password_hash"]
    secret = pin if pin is not None else password
    hasher = PIN_HASHER if pin is not None else PASSWORD_HASHER
    ok = False
    if stored and secret is not None:
        try:
            ok = hasher.verify(stored, secret)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        hasher.hash("spend-the-same-time")  # no timing difference for unknown users
    if not ok:
        if row is not None:
            pair = throttle.for_attempt(account, client).get("pair")
            ctx.audit(
                None,
                "login.failed",
                detail={
                    "username": row["username"],
                    "client": client,
                    "failures": pair["failures"] if pair else 1,
                },
                reading=reading,
            )
        raise LoginFailed("wrong username or secret")
    rehashed: dict[str, str] = {}
    # older parameters (a card made before, a weaker default): the new hash is computed here,
    # before the write lock, and saved with the login's audit row, in one transaction
    if hasher.check_needs_rehash(stored):  # type: ignore[arg-type]
        key = "pin_hash" if pin is not None else "password_hash"
        rehashed[key] = hasher.hash(secret)  # type: ignore[arg-type]
    actor = Actor(row["id"], row["username"], row["role"], row["display_name"])  # type: ignore[index]
    with ctx.store.transaction():
        # A success is no failure: the pair starts afresh, the other two take this one back
        # (so that successes alone never keep a device's old failures from lapsing).
        throttle.delete("pair", account, client)
        throttle.take_back("client", "", client, counted_at=now_s, before=before.get("client"))
        throttle.take_back("account", account, "", counted_at=now_s, before=before.get("account"))
        renewed = token_hash(device_renewed) if device_renewed else device_hash
        if renewed:
            throttle.remember_device(
                account, device_hash, renewed, now_s, keep_s=login_throttle.DEVICE_KEEP_S
            )
        if rehashed:
            ctx.store.staff.set_secret(actor.id, **rehashed)
        ctx.audit(actor, "login", detail={"client": client}, reading=reading)
    return actor


def token_hash(token: str) -> str:
    """How a secret token (a web session's, a device's) is stored: its SHA-256, never itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def unlock(ctx: Context, actor: Actor, username: str) -> int:
    """Clear an account's login throttling (its own counter and its pairs with every client);
    the number of counters cleared."""
    ctx.require(actor, MANAGE_STAFF)
    row = ctx.store.staff.by_username(username.strip().lower())
    if row is None:
        raise NotFound(f"no staff member {username!r}")
    with ctx.store.transaction():
        cleared = ctx.store.staff.throttle.clear_account(login_throttle.account_key(username))
        ctx.audit(actor, "staff.unlock", detail={"username": row["username"]})
    return cleared


def unblock_client(ctx: Context, actor: Actor, client: str) -> int:
    """Clear one client address's throttling (its own counter and its pairs with every
    account); the number of counters cleared."""
    ctx.require(actor, MANAGE_STAFF)
    with ctx.store.transaction():
        cleared = ctx.store.staff.throttle.clear_client(client)
        ctx.audit(actor, "login.unblock_client", detail={"client": client})
    return cleared


_FAILURE_LISTS = {"account": "accounts", "client": "clients", "pair": "pairs"}


def login_failures(ctx: Context, actor: Actor) -> dict[str, Any]:
    """Who is being attacked, for an admin: every counter with a failure in the last hour,
    newest first, in three lists (accounts, clients, pairs)."""
    ctx.require(actor, MANAGE_STAFF)
    now_s = ctx.now().now.timestamp()
    rows = ctx.store.staff.throttle.since(now_s - login_throttle.FORGET_AFTER_S)
    known = {r["username"].lower() for r in ctx.store.staff.all()}
    out: dict[str, Any] = {"accounts": [], "clients": [], "pairs": []}
    for row in rows:
        is_known = (row["account"] in known) if row["account"] else None
        out[_FAILURE_LISTS[row["scope"]]].append(login_throttle.describe(row, now_s, is_known))
    out["forget_after_s"] = int(login_throttle.FORGET_AFTER_S)
    return out


def list_staff(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    ctx.require(actor, MANAGE_STAFF)
    return ctx.store.staff.all()


def actor_for(ctx: Context, staff_id: str) -> Actor | None:
    """The Actor behind a session opened by `login`, or None once the account is disabled
    (a browser session outlives no deactivation)."""
    row = ctx.store.staff.get(staff_id)
    if row is None or not row["active"]:
        return None
    return Actor(row["id"], row["username"], row["role"], row["display_name"])


def kiosk_accounts(ctx: Context) -> list[dict[str, Any]]:
    """Who can log in on the kiosk (names and roles only, no secrets): its staff picker."""
    return ctx.store.staff.kiosk_accounts()
