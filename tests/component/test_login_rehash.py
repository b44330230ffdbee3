"""A hash made with older argon2 parameters (a card written before, the old PIN default) still
logs in, and is replaced by one with today's parameters in the login's own transaction."""

from __future__ import annotations

import argon2
import pytest
from argon2 import PasswordHasher

from appliance.services import auth
from appliance.services.errors import LoginFailed

pytestmark = pytest.mark.component

OLD = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)  # before this change
OLDER_PASSWORD = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


def params(stored: str) -> tuple[int, int]:
    found = argon2.extract_parameters(stored)
    return found.time_cost, found.memory_cost


def secrets_of(ctx, username: str) -> dict:
    return ctx.store.staff.by_username(username, with_secrets=True)


def audits(ctx, action: str) -> int:
    return ctx.store.conn.execute(
        "SELECT COUNT(*) FROM audit WHERE action = ?", (action,)
    ).fetchone()[0]


@pytest.fixture
def admin(ctx):
    auth.add_staff(
        ctx,
        None,
        username="awa.traore",
        display_name="Awa Traoré",
        role="admin",
        pin_hash=OLD.hash("482916"),
        password_hash=OLDER_PASSWORD.hash("soleil-du-sahel"),
    )
    return "awa.traore"


def test_the_pin_parameters_cost_more_than_the_passwords():
    pin, password = auth.PIN_HASHER, auth.PASSWORD_HASHER
    assert (pin.time_cost, pin.memory_cost, pin.parallelism) == (12, 19 * 1024, 1)
    assert (password.time_cost, password.memory_cost, password.parallelism) == (2, 19 * 1024, 1)
    assert params(auth.PIN_HASHER.hash("482916")) == (12, 19 * 1024)


def test_an_old_pin_hash_logs_in_and_is_rehashed_with_the_new_parameters(ctx, admin):
    before = secrets_of(ctx, admin)
    assert params(before["pin_hash"]) == (2, 19 * 1024)
    logins = audits(ctx, "login")
    assert auth.login(ctx, admin, pin="482916").role == "admin"
    after = secrets_of(ctx, admin)
    assert params(after["pin_hash"]) == (12, 19 * 1024)
    assert auth.PIN_HASHER.verify(after["pin_hash"], "482916")
    assert after["password_hash"] == before["password_hash"]  # only the secret that was used
    assert audits(ctx, "login") == logins + 1
    # the new hash is a PIN hash that logs in, and needs nothing more
    assert auth.login(ctx, admin, pin="482916").role == "admin"
    assert secrets_of(ctx, admin)["pin_hash"] == after["pin_hash"]


def test_an_old_password_hash_is_rehashed_with_the_password_parameters(ctx, admin):
    assert auth.login(ctx, admin, password="soleil-du-sahel", client="10.42.0.2")
    assert params(secrets_of(ctx, admin)["password_hash"]) == (2, 19 * 1024)


def test_a_wrong_pin_rehashes_nothing(ctx, admin):
    before = secrets_of(ctx, admin)["pin_hash"]
    with pytest.raises(LoginFailed):
        auth.login(ctx, admin, pin="111222")
    assert secrets_of(ctx, admin)["pin_hash"] == before


def test_the_new_hash_and_the_logins_audit_are_one_transaction(ctx, admin, monkeypatch):
    """If the audit row cannot be written, the new hash is not kept either."""
    before = secrets_of(ctx, admin)["pin_hash"]
    real_audit = type(ctx).audit

    def failing_audit(self, actor, action, **kw):
        if action == "login":
            raise OSError("disk full")
        return real_audit(self, actor, action, **kw)

    monkeypatch.setattr(type(ctx), "audit", failing_audit)
    with pytest.raises(OSError, match="disk full"):
        auth.login(ctx, admin, pin="482916")
    assert secrets_of(ctx, admin)["pin_hash"] == before
    monkeypatch.undo()
    assert auth.login(ctx, admin, pin="482916")
    assert params(secrets_of(ctx, admin)["pin_hash"]) == (12, 19 * 1024)
