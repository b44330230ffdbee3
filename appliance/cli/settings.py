"""`keneya settings`: the facility settings (e.g. malaria_vaccine), on the Pi's console."""

from __future__ import annotations

import click

from appliance.cli.common import emit, json_option, open_context
from appliance.domain.facility_settings import SettingError
from appliance.services import settings as service


def _line(row: dict) -> str:
    default = " (par défaut)" if row["is_default"] else ""
    return f"{row['key']} = {row['value']}{default}  # {row['description']}"


@click.group("settings")
def settings() -> None:
    """Facility settings: list them, read one, change one."""


@settings.command("list")
@json_option
@click.pass_context
def list_cmd(ctx, as_json):
    """Every facility setting with its value."""
    with open_context(ctx) as kctx:
        rows = service.list_settings(kctx)
    emit(rows, as_json, "\n".join(_line(r) for r in rows))


@settings.command("get")
@click.argument("key")
@json_option
@click.pass_context
def get_cmd(ctx, key, as_json):
    """One setting's value (on / off)."""
    with open_context(ctx) as kctx:
        try:
            row = service.get(kctx, key)
        except SettingError as e:
            raise click.ClickException(str(e)) from None
    emit(row, as_json, row["value"])


@settings.command("set")
@click.argument("key")
@click.argument("value")
@json_option
@click.pass_context
def set_cmd(ctx, key, value, as_json):
    """Change a setting, e.g. `keneya settings set malaria_vaccine on`. The due lists are
    brought up to date at once when the setting changes them."""
    with open_context(ctx) as kctx:
        try:
            row = service.set_value(kctx, key, value)
        except SettingError as e:
            raise click.ClickException(str(e)) from None
    text = f"{row['key']} = {row['value']}" + ("" if row["changed"] else " (inchangé)")
    if row["due_rebuilt"]:
        done = row["due_rebuilt"]
        text += f"\nrendez-vous recalculés : {done['patients']} patients, {done['items']} éléments"
    emit(row, as_json, text)


COMMANDS = (settings,)
