"""What `power status` and `power history` show, from store rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.clock import to_iso
from power import views

NOW = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)


def state_row(**kw):
    row = {
        "sampled_at": to_iso(NOW - timedelta(seconds=30)),
        "clock_trusted": 1,
        "source": "ina219",
        "voltage_v": 12.41,
        "current_a": -0.42,
        "power_w": -5.21,
        "soc": 78.0,
        "runtime_min": 860,
        "charging": 0,
        "state": "ok",
        "reason": None,
        "shutdown_event_id": None,
        "shutdown_deadline": None,
        "cancel_for": None,
        "cancel_requested_by": None,
        "cancel_requested_at": None,
    }
    return row | kw


def test_no_sample_yet_is_nulls_and_a_message():
    s = views.status(None, now=NOW)
    for field in views.STATUS_FIELDS:
        assert s[field] is None
    assert "no power sample" in s["message"]
    assert views.status_text(s) == s["message"]


def test_status_fields_from_the_state_row():
    s = views.status(state_row(), now=NOW)
    assert s["voltage_v"] == 12.41 and s["current_a"] == -0.42 and s["power_w"] == -5.21
    assert s["soc_pct"] == 78.0 and s["runtime_min"] == 860
    assert s["charging"] is False and s["state"] == "ok"
    assert s["sample_age_s"] == 30 and s["stale"] is False and s["message"] is None
    assert "12.41 V" in views.status_text(s) and "discharging" in views.status_text(s)


def test_an_old_sample_says_how_old():
    old = state_row(sampled_at=to_iso(NOW - timedelta(hours=5)))
    s = views.status(old, now=NOW)
    assert s["stale"] is True and s["sample_age_s"] == 5 * 3600
    assert "5.0 h ago" in s["message"] and "not running" in s["message"]


def test_pending_shutdown_shows_the_countdown():
    deadline = to_iso(NOW + timedelta(seconds=95))
    s = views.status(
        state_row(state="shutdown_pending", shutdown_deadline=deadline, reason="charge 14 %"),
        now=NOW,
    )
    assert s["shutdown_in_s"] == 95 and s["shutdown_deadline"] == deadline
    assert "in 95 s" in views.status_text(s)


def test_a_countdown_nobody_runs_any_more_is_not_shown_as_coming():
    """keneya-power killed mid-countdown: its row still says shutdown_pending, 8 minutes past
    the deadline; no 'in -480 s'."""
    dead = state_row(
        state="shutdown_pending",
        sampled_at=to_iso(NOW - timedelta(seconds=100)),
        shutdown_deadline=to_iso(NOW - timedelta(seconds=480)),
    )
    s = views.status(dead, now=NOW)
    assert s["stale"] is True and s["shutdown_in_s"] is None
    text = views.status_text(s)
    assert "-480" not in text and "will not happen by itself" in text and "not running" in text


def test_history_points_carry_their_resolution():
    rows = [
        {
            "resolution_s": 900,
            "start_s": int(NOW.timestamp()),
            "samples": 180,
            "faults": 0,
            "v_avg": 12.3456,
            "v_min": 12.2,
            "v_max": 12.5,
            "i_avg": -0.4321,
            "soc_last": 70.04,
            "state": "warn",
            "clock_trusted": 1,
        }
    ]
    [p] = views.history_points(rows)
    assert p["time"] == "2026-10-15T12:00:00.000000Z"
    assert p["resolution_s"] == 900
    assert (p["voltage_v"], p["current_a"], p["soc_pct"], p["state"]) == (
        12.346,
        -0.432,
        70.0,
        "warn",
    )
    assert "15m" in views.history_text([p])


def test_a_named_fault_shows_its_detail_and_the_planned_shutdown():
    planned = to_iso(NOW + timedelta(hours=5))
    row = state_row(
        state="sensor_fault",
        fault="wrong_shunt",
        fault_detail="night current -3.25 A is 4x the appliance's highest draw",
        planned_shutdown_at=planned,
        runtime_min=300,
    )
    s = views.status(row, now=NOW)
    assert s["fault"] == "wrong_shunt" and s["fault_detail"].startswith("night current")
    assert s["planned_shutdown_at"] == planned and s["planned_shutdown_in_s"] == 5 * 3600
    text = views.status_text(s)
    assert "sensor fault: wrong_shunt -- night current -3.25 A" in text
    assert "safe shutdown expected at " + planned + " (in 5.0 h)" in text
    assert "5.0 h to the safe shutdown" in text  # runtime counts to the shutdown point


def test_a_row_from_before_migration_10_has_no_fault():
    s = views.status(state_row(), now=NOW)  # no fault keys at all
    assert s["fault"] is None and s["fault_detail"] is None
    assert s["planned_shutdown_at"] is None and s["planned_shutdown_in_s"] is None
    assert "sensor fault" not in views.status_text(s)
    empty = views.status(None, now=NOW)
    assert empty["fault"] is None and empty["planned_shutdown_at"] is None


def test_the_low_power_wait_says_the_services_come_back():
    s = views.status(state_row(state="low_power_wait", reason="voltage 11.3 V"), now=NOW)
    text = views.status_text(s)
    assert "state: low_power_wait (voltage 11.3 V)" in text
    assert "start again when it has recovered" in text
