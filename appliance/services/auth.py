"""Staff accounts: slow salted hashes, PIN and password logins, growing lockout."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.clock import from_iso, to_iso
from appliance.domain.permissions import MANAGE_STAFF, ROLES
from appliance.ids import uuid7
from appliance.services.context import Actor, Context
from appliance.services.errors import AccountLocked, Conflict, LoginFailed, NotFound

# argon2id (RFC 9106). 19 MiB and 2 passes is OWASP's minimum for argon2id: a Pi 3 with 1 GB
# can run it while the kiosk, the web app and the modem daemon are up.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
FREE_ATTEMPTS = 5
FIRST_LOCK = timedelta(minutes=1)
LONGEST_LOCK = timedelta(hours=1)
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


def lock_duration(failures: int) -> timedelta | None:
    """No lock for the first few failures, then 1, 2, 4 … minutes, at most an hour."""
    if failures < FREE_ATTEMPTS:
        return None
    return min(FIRST_LOCK * 2 ** (failures - FREE_ATTEMPTS), LONGEST_LOCK)


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
        "pin_hash": HASHER.hash(check_pin(pin)) if pin is not None else pin_hash,
        "password_hash": (
            HASHER.hash(check_password(password)) if password is not None else password_hash
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
    ctx: Context, username: str, *, pin: str | None = None, password: str | None = None
) -> Actor:
    """Check a PIN or a password. Every failure counts towards the lockout; the reply never
    says whether the username exists."""
    reading = ctx.now()
    row = ctx.store.staff.by_username((username or "").strip().lower(), with_secrets=True)
    if row is None or not row["active"]:
        HASHER.hash("spend-the-same-time")  # no timing difference for unknown users
        raise LoginFailed("wrong username or secret")
    if row["locked_until"] and from_iso(row["locked_until"]) > reading.now:
        ctx.audit(None, "login.locked", detail={"username": row["username"]}, reading=reading)
        raise AccountLocked(
            f"{row['username']} is locked until {row['locked_until']} "
            "after too many wrong attempts (an admin can unlock)"
        )
    stored = row["pin_hash"] if pin is not None else row["password_hash"]
    secret = pin if pin is not None else password
    ok = False
    if stored and secret is not None:
        try:
            ok = HASHER.verify(stored, secret)
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok:
        with ctx.store.transaction():
            # counted under the write lock: two wrong attempts at once both count
            failures = ctx.store.staff.get(row["id"])["failed_attempts"] + 1  # type: ignore[index]
            lock = lock_duration(failures)
            ctx.store.staff.set_login_state(
                row["id"],
                failed_attempts=failures,
                locked_until=to_iso(reading.now + lock) if lock else None,
            )
            ctx.audit(
                None,
                "login.failed",
                detail={"username": row["username"], "failures": failures},
                reading=reading,
            )
        raise LoginFailed("wrong username or secret")
    rehashed: dict[str, str] = {}
    if HASHER.check_needs_rehash(stored):  # hashed before the write lock is taken
        key = "pin_hash" if pin is not None else "password_hash"
        rehashed[key] = HASHER.hash(secret)  # type: ignore[arg-type]
    actor = Actor(row["id"], row["username"], row["role"], row["display_name"])
    with ctx.store.transaction():
        if row["failed_attempts"] or row["locked_until"]:
            ctx.store.staff.set_login_state(row["id"], failed_attempts=0, locked_until=None)
        if rehashed:
            ctx.store.staff.set_secret(row["id"], **rehashed)
        ctx.audit(actor, "login", reading=reading)
    return actor


def unlock(ctx: Context, actor: Actor, username: str) -> None:
    ctx.require(actor, MANAGE_STAFF)
    row = ctx.store.staff.by_username(username.strip().lower())
    if row is None:
        raise NotFound(f"no staff member {username!r}")
    with ctx.store.transaction():
        ctx.store.staff.set_login_state(row["id"], failed_attempts=0, locked_until=None)
        ctx.audit(actor, "staff.unlock", detail={"username": row["username"]})


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
