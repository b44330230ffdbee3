"""The technician status page in one call: battery, modem, hotspot, outbox, disk and clock.

Machine status only, never patient data: the technician role may call it, and it audits no
patient. The power daemon, the modem daemon and dnsmasq each leave their state somewhere (store
rows, store settings, the leases file); this reads them and imports none of those packages
but the power monitor's staleness limit (one rule for `keneya power status` and this page).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import re
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.backup import local, usb
from appliance.clock import from_iso, to_iso
from appliance.domain.permissions import INSTALL_UPDATE, MANAGE_STAFF, VIEW_STATUS, allowed
from appliance.services import update_state
from appliance.services.auth import login_failures
from appliance.services.context import Actor, Context
from appliance.services.power import STALE_AFTER_S, monitor_silent_since, staff_name
from appliance.store.diskspace import check, classify

HISTORY_S = 24 * 3600
# Enough for a chart on the kiosk's screen; 24 h of minute rows would be 1440.
MAX_HISTORY_POINTS = 300
# STALE_AFTER_S (appliance/services/power.py): the power monitor writes its state at least once
# a minute; three missed writes mean it is not running. The modem daemon writes its report when
# it changes and otherwise every MODEM_HEARTBEAT_S, the same three missed writes: every write
# costs the card about 60 kB (WAL frames, the -shm page, the ext4 journal's commit), so a
# heartbeat a minute was 85 MB a day for a modem that has nothing new to say.
MODEM_HEARTBEAT_S = 300.0
MODEM_SILENT_AFTER_S = 3 * MODEM_HEARTBEAT_S
# Set by keneya-modem when it stops cleanly, cleared when it starts.
MODEM_STOPPED_AT = "modem.stopped_at"
POWER_STATES = ("ok", "warn", "sensor_fault", "shutdown_pending", "low_power_wait", "critical")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
# The hotspot NetworkManager makes (provisioning/hotspot.py writes its profile); tablets open
# keneya.lan because Android resolves .local names poorly.
LAN_NAME = "keneya.lan"
HOTSPOT_ADDRESS = "10.42.0.1"
HOTSPOT_SSID_SETTING = "hotspot.ssid"
HOTSPOT_PASSPHRASE_FILE = "hotspot_passphrase"  # in the secrets folder, root 0600
# Who may see the Wi-Fi passphrase (inside the join QR code): not the clinical staff.
HOTSPOT_JOIN_ROLES = frozenset({"admin", "technician"})
# Who reads the power monitor's own lines (its reason, a fault's detail: English, technical);
# the clinical staff's status page keeps to the French names of states and faults.
TECHNICAL_DETAIL_ROLES = frozenset({"admin", "technician"})


def status(
    ctx: Context,
    actor: Actor,
    *,
    data_dir: Path,
    leases_file: Path | None = None,
    secrets_dir: Path | None = None,
    now_s: float | None = None,
) -> dict[str, Any]:
    """Everything the status page shows, JSON-serialisable. `now_s` (Unix seconds) fixes the
    end of the power history window; by default it is the clock's best estimate of now.
    `secrets_dir` holds the hotspot passphrase: the admin and the technician get what joins
    the hotspot (its SSID, the address to open and the QR code's text)."""
    ctx.require(actor, VIEW_STATUS)
    reading = ctx.now()
    out = machine_status(ctx, data_dir=data_dir, leases_file=leases_file, now_s=now_s)
    out["hotspot"] |= _hotspot_join(ctx, actor, secrets_dir)
    if actor.role not in TECHNICAL_DETAIL_ROLES:
        out["power"] |= {"reason": None, "fault_detail": None}
    out["update"] = out["update"] | {"may_install": allowed(actor.role, INSTALL_UPDATE)}
    if allowed(actor.role, MANAGE_STAFF):
        # who is being attacked on the hotspot: for the admin, who can clear it
        out["login_failures"] = login_failures(ctx, actor)
    try:
        ctx.audit(actor, "status.view", reading=reading)
    except (sqlite3.OperationalError, OSError) as e:
        # Machine state, no patient data: the technician must see it most when the disk is
        # full, and the page says so itself.
        if classify(e, ctx.store.path) is None:
            raise
    return out


def machine_status(
    ctx: Context, *, data_dir: Path, leases_file: Path | None = None, now_s: float | None = None
) -> dict[str, Any]:
    """The same without the hotspot's passphrase: what `keneya status` prints on the Pi's own
    console (no login: nothing here is patient data or a secret)."""
    return {
        "power": _power(ctx, now_s),
        "modem": _modem(ctx),
        "hotspot": _hotspot(leases_file),
        "outbox": _outbox(ctx),
        "disk": _disk(ctx, data_dir),
        "clock": _clock(ctx),
        "backup": backup_status(ctx.store, data_dir / "backups", ctx.now().now),
        "update": update_state.read(data_dir),
    }


# -- power -----------------------------------------------------------------------------------
def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _power(ctx: Context, now_s: float | None) -> dict[str, Any]:
    repo = ctx.store.power
    if now_s is None:
        end_s = ctx.now().now.timestamp()
        # A simulation can run ahead of the clock: the window then ends at the latest sample,
        # as in `keneya power history`.
        latest = repo.latest_sample()
        if latest is not None:
            end_s = max(end_s, latest["start_s"] + latest["resolution_s"])
    else:
        end_s = now_s
    history = thin(repo.history(end_s - HISTORY_S, until_s=end_s), MAX_HISTORY_POINTS)

    row = repo.state()
    if row is None:
        return {
            "state": "unknown",
            "reason": None,
            "voltage_v": None,
            "current_a": None,
            "soc_pct": None,
            "runtime_min": None,
            "shutdown_deadline": None,
            "planned_shutdown_at": None,
            "fault": None,
            "fault_detail": None,
            "cancel_requested_by": None,
            "cancel_requested_by_name": None,
            "sampled_at": None,
            "stale": None,
            "silent_since": None,
            "history": history,
        }
    try:
        age_s: float | None = end_s - from_iso(row["sampled_at"]).timestamp()
    except (TypeError, ValueError):
        age_s = None
    # Asked by a staff member for the shutdown now pending (the monitor acts on it at its
    # next reading); None otherwise.
    asked = row.get("cancel_for") is not None and row.get("cancel_for") == row.get(
        "shutdown_event_id"
    )
    cancel_by = row.get("cancel_requested_by") if asked else None
    return {
        "state": row["state"] if row["state"] in POWER_STATES else "unknown",
        "reason": row["reason"],
        "voltage_v": _r(row["voltage_v"], 3),
        "current_a": _r(row["current_a"], 3),
        "soc_pct": _r(row["soc"], 1),
        # Written by the daemon from its own estimate; None when it had none.
        "runtime_min": _r(row["runtime_min"], 1),
        "shutdown_deadline": row["shutdown_deadline"],
        # Written by the monitor from migration 10 on (older rows have no such columns).
        "planned_shutdown_at": row.get("planned_shutdown_at"),
        "fault": row.get("fault"),
        "fault_detail": row.get("fault_detail"),
        "cancel_requested_by": cancel_by,
        "cancel_requested_by_name": _display_name(ctx, cancel_by),
        "sampled_at": row["sampled_at"],
        "stale": None if age_s is None else age_s > STALE_AFTER_S,
        # When keneya-power last wrote, if it has gone silent since (then its state, and a
        # countdown in it, is no longer what is happening).
        "silent_since": monitor_silent_since(row, end_s),
        "history": history,
    }


def _display_name(ctx: Context, username: str | None) -> str | None:
    """The name staff know a colleague by; the username when the account is gone."""
    if not username:
        return None
    return staff_name(ctx.store, username)


def thin(rows: list[dict[str, Any]], max_points: int) -> list[dict[str, Any]]:
    """Store sample rows -> at most `max_points` chart points. Consecutive rows are merged
    (averages weighted by sample counts, the last state of charge), never skipped, so a short
    dip still moves its point."""
    if not rows:
        return []
    size = max(1, math.ceil(len(rows) / max_points))
    points = []
    for i in range(0, len(rows), size):
        group = rows[i : i + size]
        soc = [r["soc_last"] for r in group if r["soc_last"] is not None]
        points.append(
            {
                "t": int(group[0]["start_s"]),
                "voltage_v": _r(_weighted(group, "v_avg"), 3),
                "current_a": _r(_weighted(group, "i_avg"), 3),
                "soc_pct": _r(soc[-1] if soc else None, 1),
            }
        )
    return points


def _weighted(group: list[dict[str, Any]], col: str) -> float | None:
    pairs = [(r[col], r["samples"] or 0) for r in group if r[col] is not None]
    weight = sum(n for _, n in pairs)
    if weight:
        return sum(v * n for v, n in pairs) / weight
    # Rows with a value but no sample count (should not happen): a plain mean.
    return sum(v for v, _ in pairs) / len(pairs) if pairs else None


# -- modem -----------------------------------------------------------------------------------
def modem_report(store: Any) -> dict[str, Any]:
    """What keneya-modem last wrote: its status as one JSON setting (`modem.status`: state,
    since, SIM, registration, operator, signal, link, error…), when it wrote it, and the last
    upload. Empty fields when the daemon never ran or the value is unreadable."""
    raw = store.get_setting("modem.status")
    try:
        saved = json.loads(raw) if raw else {}
    except ValueError:
        saved = {}
    if not isinstance(saved, dict):
        saved = {}
    saved["updated_at"] = store.get_setting("modem.updated_at")
    saved["last_upload_at"] = store.get_setting("modem.last_upload_at")
    saved["stopped_at"] = store.get_setting(MODEM_STOPPED_AT)
    return saved


def modem_running(report: dict[str, Any], now: datetime) -> bool:
    """keneya-modem wrote its status lately and did not say it stopped (a killed daemon
    leaves no marker: it only goes silent)."""
    updated = report.get("updated_at")
    if not updated or report.get("stopped_at"):
        return False
    try:
        age_s = (now - from_iso(updated)).total_seconds()
    except (TypeError, ValueError):
        return False
    return age_s <= MODEM_SILENT_AFTER_S


def _modem(ctx: Context) -> dict[str, Any]:
    """The modem daemon's last report, for the status page. A report left by a daemon that
    stopped, or went silent, is not the modem's state now: the network fields are cleared."""
    report = modem_report(ctx.store)
    running = modem_running(report, ctx.now().now)
    try:
        signal_dbm = None if report.get("signal_dbm") is None else int(report["signal_dbm"])
    except (TypeError, ValueError, OverflowError):
        signal_dbm = None
    state = "link_up" if report.get("link_up") else (report.get("state") or "unknown")
    gone = bool(report.get("updated_at")) and not running
    if gone:
        state = "stopped" if report.get("stopped_at") else "silent"
    return {
        "state": state,
        "operator": None if gone else report.get("operator"),
        "signal_dbm": None if gone else signal_dbm,
        "registration": None if gone else report.get("registration"),
        "last_upload_at": report["last_upload_at"],
        "updated_at": report["updated_at"],
        "daemon_running": running,
        "stopped_at": report.get("stopped_at"),
    }


# -- hotspot ---------------------------------------------------------------------------------
def _hotspot(leases_file: Path | None) -> dict[str, Any]:
    if leases_file is None:
        return {"clients": [], "leases_file": None, "available": False}
    try:
        text = Path(leases_file).read_text(encoding="utf-8", errors="replace")
    except OSError:  # missing, unreadable: dnsmasq not running or not installed
        return {"clients": [], "leases_file": str(leases_file), "available": False}
    return {
        "clients": parse_leases(text),
        "leases_file": str(leases_file),
        "available": True,
    }


def hotspot_join(ctx: Context, actor: Actor, secrets_dir: Path | None) -> dict[str, Any]:
    """What joins the hotspot (SSID, address, join payload) alone, for the join QR image."""
    ctx.require(actor, VIEW_STATUS)
    return _hotspot_join(ctx, actor, secrets_dir)


def _hotspot_join(ctx: Context, actor: Actor, secrets_dir: Path | None) -> dict[str, Any]:
    """SSID, address and join payload, only for a role that may see the passphrase and only
    when first boot has set both; otherwise nothing (the page then shows no QR code). The
    payload holds the passphrase: the web API leaves it out and points to the QR image."""
    if actor.role not in HOTSPOT_JOIN_ROLES or secrets_dir is None:
        return {}
    ssid = ctx.store.get_setting(HOTSPOT_SSID_SETTING)
    try:
        passphrase = (Path(secrets_dir) / HOTSPOT_PASSPHRASE_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # not provisioned yet, or this process is not root
        return {}
    passphrase = passphrase.strip("\r\n")
    if not ssid or not passphrase:
        return {}
    return {
        "ssid": ssid,
        "address": f"http://{LAN_NAME}/",
        "address_ip": f"http://{HOTSPOT_ADDRESS}/",
        "join_payload": wifi_join_payload(ssid, passphrase),
    }


# Characters the Wi-Fi QR format (ZXing's "WIFI:" barcode contents, which Android and iOS
# cameras read) requires to be escaped with a backslash inside a field.
_WIFI_SPECIAL = frozenset('\\;,:"')


def _wifi_escape(value: str) -> str:
    return "".join("\\" + c if c in _WIFI_SPECIAL else c for c in value)


def wifi_join_payload(ssid: str, passphrase: str) -> str:
    """The text of a QR code that joins a WPA2 network: `WIFI:T:WPA;S:<ssid>;P:<psk>;;`."""
    return f"WIFI:T:WPA;S:{_wifi_escape(ssid)};P:{_wifi_escape(passphrase)};;"


def parse_leases(text: str) -> list[dict[str, Any]]:
    """dnsmasq leases, one per line: `<expiry epoch> <mac> <ip> <hostname|*> <client-id|*>`
    (expiry 0: never). Lines that do not fit (the DHCPv6 `duid` line, IPv6 leases, a line cut
    by a power failure) are skipped."""
    clients = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        expiry, mac, ip, hostname = fields[:4]
        mac = mac.lower()
        if not expiry.isdigit() or not _MAC.match(mac):
            continue
        try:
            ipaddress.ip_address(ip)
            expires = None if int(expiry) == 0 else to_iso(datetime.fromtimestamp(int(expiry), UTC))
        except (ValueError, OverflowError, OSError):
            continue
        clients.append(
            {
                "mac": mac,
                "ip": ip,
                "hostname": None if hostname == "*" else hostname,
                "expires": expires,
            }
        )
    return clients


# -- outbox, disk, clock ---------------------------------------------------------------------
def _outbox(ctx: Context) -> dict[str, Any]:
    repo = ctx.store.outbox
    return {
        **repo.counts(),
        "next_attempt_at": repo.next_due_at(),
        "last_delivered_at": repo.last_delivered_at(),
        "last_error": repo.pending_error(),
    }


def _disk(ctx: Context, data_dir: Path) -> dict[str, Any]:
    usage = shutil.disk_usage(data_dir)
    database = Path(ctx.store.path)
    size = 0
    for path in (database, database.with_name(database.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):  # no WAL right after a checkpoint
            size += path.stat().st_size
    problem = check(data_dir)  # full, or read-only for this process (an SD card with errors)
    return {
        "total_bytes": usage.total,
        "free_bytes": usage.free,
        "used_pct": round(usage.used / usage.total * 100, 1) if usage.total else 0.0,
        "database_bytes": size,
        "problem": None if problem is None else problem.to_dict() | {"message": str(problem)},
    }


def backup_status(store: Any, backups_dir: Path, now: datetime) -> dict[str, Any]:
    """The newest good backup on the data partition (its age; `warn` after 2 days or with
    none) and the last USB stick backup (writing, done: the stick may be removed, failed)."""
    stick = usb.read_status(store)
    if stick and stick.get("state") == "writing":
        # A write takes a minute or two; one "writing" for longer was cut (a power failure),
        # or came back with a restored database.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            if (now - from_iso(stick["at"])).total_seconds() > 15 * 60:
                stick["state"] = "interrupted"
    return {**local.newest(backups_dir, now=now), "usb": stick}


def _clock(ctx: Context) -> dict[str, Any]:
    # Clock.status() already carries "now" (best estimate) and "trusted".
    return ctx.clock.status()
