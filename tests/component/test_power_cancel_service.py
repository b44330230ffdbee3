"""Calling off a pending shutdown through the service the kiosk, the web app and the CLI share:
the permission table decides, the request and its audit row are one transaction."""

from __future__ import annotations

import json

import pytest

from appliance.services.errors import PermissionDenied
from appliance.services.power import (
    CANCEL_ROLES,
    NothingPending,
    cancel_shutdown,
    may_cancel,
)

DECIDED_AT = "2026-10-15T09:28:00.000000Z"
DEADLINE = "2026-10-15T09:32:00.000000Z"


def pend(store) -> int:
    """What keneya-power writes when it decides a shutdown."""
    eid = store.power.add_event({"at": DECIDED_AT, "clock_trusted": 1, "kind": "shutdown_decided"})
    store.power.set_state(
        {
            "sampled_at": DECIDED_AT,
            "clock_trusted": True,
            "source": "ina219",
            "state": "shutdown_pending",
            "soc": 9.0,
            "shutdown_event_id": eid,
            "shutdown_deadline": DEADLINE,
        },
        clear_cancel=True,
    )
    return eid


def cancels(store) -> list[dict]:
    return store.query("SELECT * FROM audit WHERE action = 'power.cancel_shutdown'")


def test_the_roles_of_the_permission_table():
    assert set(CANCEL_ROLES) == {"admin", "doctor", "nurse", "midwife", "technician"}


def test_a_nurse_cancels_with_one_audit_row(ctx, actors, store):
    eid = pend(store)
    out = cancel_shutdown(ctx, actors["nurse"])
    assert out == {
        "cancel_requested": True,
        "shutdown_deadline": DEADLINE,
        "by": "nurse",
        "message": "cancel requested: keneya-power calls off the shutdown at its next reading",
    }
    row = store.power.state()
    assert row["cancel_for"] == eid and row["cancel_requested_by"] == "nurse"
    (audit,) = cancels(store)
    assert audit["username"] == "nurse" and audit["role"] == "nurse"
    assert json.loads(audit["detail"])["shutdown_event_id"] == eid
    assert audit["at"] == row["cancel_requested_at"]


@pytest.mark.parametrize("role", ["matron", "health_worker"])
def test_a_role_without_the_permission_is_refused_and_nothing_is_written(ctx, actors, store, role):
    pend(store)
    assert not may_cancel(actors[role])
    with pytest.raises(PermissionDenied, match="may not cancel a shutdown"):
        cancel_shutdown(ctx, actors[role])
    assert store.power.state()["cancel_for"] is None
    assert cancels(store) == []


def test_the_request_and_its_audit_row_are_one_transaction(ctx, actors, store, monkeypatch):
    pend(store)

    def broken(_entry):
        raise OSError("audit cannot be written")

    monkeypatch.setattr(store.audit, "append", broken)
    with pytest.raises(OSError):
        cancel_shutdown(ctx, actors["technician"])
    # no audit row, so no request either: the monitor will not call the shutdown off
    assert store.power.state()["cancel_for"] is None


def test_nothing_pending_is_said_plainly_and_writes_nothing(ctx, actors, store):
    out = cancel_shutdown(ctx, actors["admin"])  # no power row at all
    assert out["cancel_requested"] is False and out["message"] == "no shutdown is pending"
    store.power.set_state(
        {"sampled_at": DECIDED_AT, "clock_trusted": True, "source": "ina219", "state": "ok"}
    )
    with pytest.raises(NothingPending, match="no shutdown is pending"):
        cancel_shutdown(ctx, actors["doctor"], strict=True)
    assert store.power.state()["cancel_requested_by"] is None
    assert cancels(store) == []


def test_not_logged_in_is_refused(ctx, store):
    pend(store)
    with pytest.raises(PermissionDenied):
        cancel_shutdown(ctx, None)  # type: ignore[arg-type]
