"""keneya reminders: the day's SMS reminders to patients who agreed to them."""

from __future__ import annotations

from datetime import date

import click

from appliance.cli.common import as_option, emit, json_option, login_as, open_context, paths
from appliance.clinical.reminders import TemplateError
from appliance.facility_file import ReminderSettingsError, reminder_rules
from appliance.services import follow_up
from appliance.services import reminders as service


def _rules(ctx: click.Context):
    try:
        return reminder_rules(paths(ctx).facility_file)
    except ReminderSettingsError as e:
        raise click.ClickException(str(e)) from None


def _summary(out: dict) -> str:
    lines = [
        f"{out['on']} : {len(out['reminders'])} SMS ({out['cost_xof']} FCFA),"
        f" {len(out['over_cap'])} au-delà du plafond, {len(out['skipped'])} sans SMS"
        + ("" if out["enabled"] else " — rappels désactivés ([reminders] enabled)")
    ]
    for r in out["reminders"]:
        lines.append(f"  {r['phone']}  {r['kind']:<9}  {r['reason_codes']}  « {r['text']} »")
    for r in out["over_cap"]:
        lines.append(f"  plafond ({r['why']}) : {r['phone']}  {r['reason_codes']}")
    for s in out["skipped"]:
        lines.append(f"  sans SMS ({s['why']}) : {s['patient_id']}  {s['reason_code']}")
    return "\n".join(lines)


@click.group("reminders")
def reminders() -> None:
    """SMS reminders to patients who agreed to them (sent by keneya-modem)."""


@reminders.command("plan")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="The day (today).")
@as_option
@json_option
@click.pass_context
def plan_cmd(ctx, day, as_user, as_json):
    """What would be sent on a day, with the caps applied, and what is skipped and why."""
    rules = _rules(ctx)
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        if follow_up.needs_rebuild(kctx):
            follow_up.rebuild(kctx)
        on = day.date() if day else kctx.now().today
        try:
            out = service.plan(kctx, actor, on=on, rules=rules)
        except (ValueError, TemplateError) as e:
            raise click.ClickException(str(e)) from None
    emit(out, as_json, _summary(out))


@reminders.command("send")
@as_option
@json_option
@click.pass_context
def send_cmd(ctx, as_user, as_json):
    """Queue today's reminders for keneya-modem, which sends them in the daytime when the
    network is there. Run twice, nothing is queued twice."""
    rules = _rules(ctx)
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        if follow_up.needs_rebuild(kctx):
            follow_up.rebuild(kctx)
        on: date = kctx.now().today
        try:
            out = service.queue(kctx, actor, on=on, rules=rules)
        except (ValueError, TemplateError) as e:
            raise click.ClickException(str(e)) from None
    emit(
        out,
        as_json,
        f"{len(out['queued_ids'])} SMS en file pour keneya-modem\n" + _summary(out),
    )


COMMANDS = (reminders,)
