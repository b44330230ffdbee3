"""Calling off a pending low-battery shutdown: the one path the kiosk, the web app and
`keneya power cancel-shutdown` share. The power daemon reads the request at its next sample."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appliance.clock import from_iso
from appliance.domain.permissions import CANCEL_SHUTDOWN, ROLES, allowed
from appliance.services.context import Actor, Context
from appliance.services.errors import Conflict, PermissionDenied

# keneya-power writes its state at least once a minute; three missed writes mean it is not
# running (or cannot write). `keneya power status` and every screen go by this one figure.
STALE_AFTER_S = 180.0

# Roles the permission table lets cancel, in the table's order (for "who may" lines).
CANCEL_ROLES = tuple(r for r in ROLES if allowed(r, CANCEL_SHUTDOWN))
NOTHING_PENDING = "no shutdown is pending"
REQUESTED = "cancel requested: keneya-power calls off the shutdown at its next reading"
# The monitor acts within a sample or two of the deadline: a countdown still "pending" this
# long after it is a row nobody is updating any more.
DEADLINE_PASSED_S = 60.0


class NothingPending(Conflict):
    """No shutdown is counting down: nothing to cancel."""


def monitor_silent_since(row: Mapping[str, Any] | None, now_s: float) -> str | None:
    """The last time keneya-power wrote (the row's sampled_at) when it has since gone silent
    (killed, crashed, stopped by a restore): its row is older than the monitor's own staleness
    limit, or it still counts down to a deadline passed more than a minute ago. None while the
    monitor is alive, or when it never wrote. `now_s` is the clock's best estimate (the monitor
    writes in that time), in Unix seconds."""
    if not row:
        return None
    sampled = row.get("sampled_at")
    try:
        age_s = now_s - from_iso(sampled).timestamp()
    except (TypeError, ValueError):
        return None
    if age_s > STALE_AFTER_S:
        return sampled
    if row.get("state") == "shutdown_pending":
        try:
            late_s = now_s - from_iso(row["shutdown_deadline"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return None
        if late_s > DEADLINE_PASSED_S:
            return sampled
    return None


def staff_name(store: Any, username: str) -> str:
    """The name staff know a colleague by (who asked for or made a cancel); the username when
    the account is gone."""
    staff = store.staff.by_username(username)
    return (staff or {}).get("display_name") or username


def may_cancel(actor: Actor | None) -> bool:
    return actor is not None and allowed(actor.role, CANCEL_SHUTDOWN)


def cancel_shutdown(ctx: Context, actor: Actor, *, strict: bool = False) -> dict[str, Any]:
    """Ask keneya-power to call off the pending shutdown, as `actor`.

    The request and its audit row are written in one transaction: either both are in the
    database or neither. With nothing pending the answer says so (`cancel_requested` false)
    and nothing is written; `strict` raises NothingPending instead (screens that offered a
    cancel which has meanwhile become moot)."""
    if isinstance(actor, Actor) and not may_cancel(actor):
        raise PermissionDenied(
            f"{actor.username} ({actor.role}) may not cancel a shutdown"
            f" (roles: {', '.join(sorted(CANCEL_ROLES))})"
        )
    ctx.require(actor, CANCEL_SHUTDOWN)
    reading = ctx.now()
    with ctx.store.transaction():
        row = ctx.store.power.request_cancel(by=actor.username, at=reading.iso())
        if row is not None:
            ctx.audit(
                actor,
                "power.cancel_shutdown",
                detail={
                    "shutdown_event_id": row["shutdown_event_id"],
                    "shutdown_deadline": row["shutdown_deadline"],
                },
                reading=reading,
            )
    if row is None and strict:
        raise NothingPending(NOTHING_PENDING)
    return {
        "cancel_requested": row is not None,
        "shutdown_deadline": row["shutdown_deadline"] if row else None,
        "by": actor.username,
        "message": REQUESTED if row else NOTHING_PENDING,
    }
