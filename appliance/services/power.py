"""Calling off a pending low-battery shutdown: the one path the kiosk, the web app and
`keneya power cancel-shutdown` share. The power daemon reads the request at its next sample."""

from __future__ import annotations

from typing import Any

from appliance.domain.permissions import CANCEL_SHUTDOWN, ROLES, allowed
from appliance.services.context import Actor, Context
from appliance.services.errors import Conflict, PermissionDenied

# Roles the permission table lets cancel, in the table's order (for "who may" lines).
CANCEL_ROLES = tuple(r for r in ROLES if allowed(r, CANCEL_SHUTDOWN))
NOTHING_PENDING = "no shutdown is pending"
REQUESTED = "cancel requested: keneya-power calls off the shutdown at its next reading"


class NothingPending(Conflict):
    """No shutdown is counting down: nothing to cancel."""


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
