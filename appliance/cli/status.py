"""`keneya status`: the technician's view on the Pi's console (power, modem, hotspot, queue,
disk, clock, backups), with no login since it holds no patient data."""

from __future__ import annotations

import click

from appliance.cli.common import emit, json_option, open_context, paths
from appliance.services import update_state
from appliance.services.status import machine_status
from appliance.web.i18n import Translator
from appliance.web.labels import backup_rows

NEVER_WROTE = "keneya-power has not written yet: journalctl -u keneya-power"
# Under this much free space the data partition's history starts being pruned.
DISK_WARN_PCT = 5


@click.command("status")
@click.option("--leases-file", type=click.Path(dir_okay=False), help="dnsmasq's leases file.")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@json_option
@click.pass_context
def status(ctx, leases_file, lang, as_json):
    """The appliance's state in one screen; a line starting with ! needs looking at."""
    p = paths(ctx)
    with open_context(ctx) as c:
        s = machine_status(c, data_dir=p.data_dir, leases_file=leases_file)
    t = Translator(lang)
    power, modem, disk, clock = s["power"], s["modem"], s["disk"], s["clock"]
    free_pct = 100 - disk["used_pct"]
    rows = [  # (needs looking at, text)
        power_row(power),
        (
            modem["state"] in ("stopped", "silent"),
            f"modem:   {modem['state']}" + (f" ({modem['operator']})" if modem["operator"] else ""),
        ),
        (
            False,
            f"hotspot: {len(s['hotspot']['clients'])} client(s)"
            if s["hotspot"]["available"]
            else "hotspot: no information",
        ),
        (
            s["outbox"].get("failed", 0) > 0,
            "outbox:  " + ", ".join(f"{k} {s['outbox'].get(k, 0)}" for k in ("queued", "failed")),
        ),
        (
            free_pct < DISK_WARN_PCT or disk.get("problem") is not None,
            f"disk:    {disk['free_bytes'] // 2**20} MiB free ({free_pct:.0f} %)"
            + (f": {disk['problem']['message']}" if disk.get("problem") else ""),
        ),
        (False, f"clock:   {clock['now']} ({'trusted' if clock['trusted'] else 'NOT confirmed'})"),
    ]
    rows += [
        (warn, f"{label or t('Sauvegardes')}: {value}")
        for label, value, warn in backup_rows(s["backup"], t)
    ]
    update = s["update"]
    rows += [
        (line.startswith(("Dernière mise à jour", "Mise à jour disponible"))
         and (update.get("last") or {}).get("outcome") in ("failed", "rolled_back", "refused"),
         f"update:  {line}")
        for line in update_state.summary(update)
    ]  # fmt: skip
    lines = [f"{'!' if warn else ' '} {text}" for warn, text in rows]
    emit(
        s | {"power": {k: v for k, v in power.items() if k != "history"}}, as_json, "\n".join(lines)
    )


def power_row(power: dict) -> tuple[bool, str]:
    """The power line. A monitor that never wrote, or went silent (its last state, even a
    countdown, is then nobody's), needs looking at as much as a low battery."""
    text = f"power:   {power['state']}"
    if power["voltage_v"] is not None:
        text += f", {power['voltage_v']} V"
        if power["soc_pct"] is not None:
            text += f", {power['soc_pct']} %"
    if power["sampled_at"] is None:
        return True, text + f" ({NEVER_WROTE})"
    silent = power.get("silent_since")
    if silent:
        since = silent[:16].replace("T", " ")
        return True, text + f" (keneya-power silent since {since} UTC)"
    return power["state"] != "ok" or bool(power["stale"]), text


COMMANDS = (status,)
