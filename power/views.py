"""What `keneya power status|history|events` show, from store rows. Pure: `now` is passed in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from appliance.clock import from_iso, to_iso
from appliance.services.power import (  # one rule for every screen
    STALE_AFTER_S,
    monitor_silent_since,
)

STATUS_FIELDS = (
    "voltage_v",
    "current_a",
    "power_w",
    "soc_pct",
    "runtime_min",
    "charging",
    "state",
    "last_sample_at",
)


def status(row: dict[str, Any] | None, *, now: datetime) -> dict[str, Any]:
    """The `power status` document from the power_state row (None: nothing recorded yet)."""
    if row is None:
        out: dict[str, Any] = dict.fromkeys(STATUS_FIELDS)
        out |= {
            "sample_age_s": None,
            "stale": None,
            "source": None,
            "reason": None,
            "shutdown_deadline": None,
            "shutdown_in_s": None,
            "cancel_requested_by": None,
            "fault": None,
            "fault_detail": None,
            "planned_shutdown_at": None,
            "planned_shutdown_in_s": None,
            "message": "no power sample recorded yet (is keneya-power running?)",
        }
        return out
    age = (now - from_iso(row["sampled_at"])).total_seconds()
    deadline = row["shutdown_deadline"]
    planned = row.get("planned_shutdown_at")  # absent before migration 10
    out = {
        "voltage_v": row["voltage_v"],
        "current_a": row["current_a"],
        "power_w": row["power_w"],
        "soc_pct": row["soc"],
        "runtime_min": row["runtime_min"],
        "charging": None if row["charging"] is None else bool(row["charging"]),
        "state": row["state"],
        "last_sample_at": row["sampled_at"],
        "sample_age_s": round(age),
        "stale": age > STALE_AFTER_S,
        "source": row["source"],
        "reason": row["reason"],
        "shutdown_deadline": deadline,
        "shutdown_in_s": (
            None if deadline is None else round((from_iso(deadline) - now).total_seconds())
        ),
        "cancel_requested_by": row["cancel_requested_by"],
        "fault": row.get("fault"),
        "fault_detail": row.get("fault_detail"),
        "planned_shutdown_at": planned,
        "planned_shutdown_in_s": (
            None if planned is None else round((from_iso(planned) - now).total_seconds())
        ),
        "message": None,
    }
    silent = monitor_silent_since(row, now.timestamp())
    if silent is not None:
        out["stale"] = True
        out["message"] = (
            f"last sample {_duration(age)} ago: keneya-power is not running or cannot write"
        )
        if deadline is not None:  # a countdown nobody runs any more: no shutdown is coming
            out["message"] += "; the shutdown it counted down to will not happen by itself"
            out["shutdown_in_s"] = None
    elif age < -STALE_AFTER_S:
        out["message"] = "last sample is in the future (a simulation ran ahead of the clock)"
    return out


def _duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def status_text(s: dict[str, Any]) -> str:
    if s["state"] is None:
        return s["message"]
    lines = []
    if s["voltage_v"] is not None:
        flow = "charging" if s["charging"] else "discharging" if s["current_a"] < 0 else "idle"
        runtime = (
            ""
            if s["runtime_min"] is None
            else f", {_duration(s['runtime_min'] * 60)} to the safe shutdown"
        )
        lines.append(
            f"battery {s['voltage_v']:.2f} V, {s['current_a']:+.2f} A ({s['power_w']:+.1f} W),"
            f" charge {s['soc_pct']:.0f} %{runtime}, {flow}"
        )
    else:
        lines.append("battery: no reading (sensor fault)")
    lines.append(f"state: {s['state']}" + (f" ({s['reason']})" if s["reason"] else ""))
    if s.get("fault"):
        detail = s.get("fault_detail")
        lines.append(f"sensor fault: {s['fault']}" + (f" -- {detail}" if detail else ""))
    if s.get("planned_shutdown_at") and not s["shutdown_deadline"]:
        lines.append(
            f"safe shutdown expected at {s['planned_shutdown_at']}"
            f" (in {_duration(s['planned_shutdown_in_s'])})"
        )
    if s["state"] == "low_power_wait":
        lines.append(
            "services stopped to save the battery; they start again when it has recovered"
            " (or hold the panel button)"
        )
    if s["shutdown_deadline"] and s["shutdown_in_s"] is not None:
        cancel = f"; cancel asked by {s['cancel_requested_by']}" if s["cancel_requested_by"] else ""
        lines.append(
            f"shutdown at {s['shutdown_deadline']} (in {_duration(s['shutdown_in_s'])}){cancel}"
        )
    age = s["sample_age_s"]
    when = f"{_duration(age)} ago" if age >= 0 else f"{_duration(age)} ahead"
    lines.append(f"last sample: {s['last_sample_at']} ({when}, {s['source']})")
    if s["message"]:
        lines.append(s["message"])
    return "\n".join(lines)


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def history_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store rows (any resolution) -> points: time (bucket start), voltage, current, soc, state."""
    return [
        {
            "time": to_iso(datetime.fromtimestamp(r["start_s"], UTC)),
            "resolution_s": r["resolution_s"],
            "voltage_v": _r(r["v_avg"], 3),
            "voltage_min_v": _r(r["v_min"], 3),
            "voltage_max_v": _r(r["v_max"], 3),
            "current_a": _r(r["i_avg"], 3),
            "soc_pct": _r(r["soc_last"], 1),
            "state": r["state"],
            "samples": r["samples"],
            "faults": r["faults"],
        }
        for r in rows
    ]


def history_text(points: list[dict[str, Any]]) -> str:
    if not points:
        return "no power history in that window"

    def cell(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines = ["time                  res     volts    amps    soc  state"]
    for p in points:
        lines.append(
            f"{p['time'][:16].replace('T', ' ')}Z  {p['resolution_s'] // 60:>4}m"
            f"  {cell(p['voltage_v'], '6.2f')}  {cell(p['current_a'], '+6.2f')}"
            f"  {cell(p['soc_pct'], '5.1f')}  {p['state']}"
        )
    return "\n".join(lines)


def events_text(events: list[dict[str, Any]]) -> str:
    if not events:
        return "no power event recorded"
    return "\n".join(
        f"{e['at'][:19].replace('T', ' ')}Z  {e['kind']:<18} {e['reason'] or ''}" for e in events
    )
