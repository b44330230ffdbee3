"""Facility settings (appliance/domain/facility_settings.py) read and changed on the
appliance: `keneya settings`, and first boot through the facility file's [settings] table.

A change that alters the due lists (the malaria vaccine) rebuilds the stored due items at
once, so the lists, reminders and reports follow it without waiting for the night."""

from __future__ import annotations

from typing import Any

from appliance.domain import facility_settings as fs
from appliance.services import follow_up
from appliance.services.context import Actor, Context


def _row(ctx: Context, key: str) -> dict[str, Any]:
    s = fs.setting(key)
    stored = ctx.store.get_setting(key)
    return {
        "key": key,
        "value": fs.shown(key, stored),
        "default": fs.shown(key, s.default),
        "is_default": stored is None,
        "description": s.description,
    }


def list_settings(ctx: Context) -> list[dict[str, Any]]:
    return [_row(ctx, key) for key in fs.SETTINGS]


def get(ctx: Context, key: str) -> dict[str, Any]:
    return _row(ctx, key)


def set_value(ctx: Context, key: str, value: Any, *, actor: Actor | None = None) -> dict[str, Any]:
    """Store a setting (SettingError for an unknown key or a bad value), audited; the due
    items are rebuilt when the change alters them."""
    canonical = fs.parse(key, value)
    before = ctx.store.get_setting(key)
    changed = before != canonical
    if changed:
        with ctx.store.transaction():
            ctx.store.set_setting(key, canonical)
            ctx.audit(
                actor,
                "settings.set",
                detail={"key": key, "from": fs.shown(key, before), "to": fs.shown(key, canonical)},
            )
    rebuilt = None
    if changed and fs.setting(key).changes_due_items and follow_up.needs_rebuild(ctx):
        rebuilt = follow_up.rebuild(ctx)
    return _row(ctx, key) | {"changed": changed, "due_rebuilt": rebuilt}
