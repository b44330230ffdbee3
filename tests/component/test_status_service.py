"""The technician status page: permissions, power, modem, hotspot, outbox, disk, clock, audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from appliance.clock import to_iso
from appliance.outbox import enqueue_report
from appliance.services.errors import PermissionDenied
from appliance.services.status import MAX_HISTORY_POINTS, parse_leases, status

pytestmark = pytest.mark.component

START = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)  # the conftest FakeTime start
NOW_S = START.timestamp()
T0 = "2026-10-15T08:00:00.000000Z"

LEASES = (
    "1792060200 aa:bb:cc:dd:ee:01 10.42.0.11 tablet-maternite 01:aa:bb:cc:dd:ee:01\n"
    "0 AA:BB:CC:DD:EE:02 10.42.0.12 * *\n"
    "this line was cut by a power failure\n"
)


def minute(t, *, n=12, v=12.4, i=-0.4, soc=70.0, state="ok"):
    return {
        "start_s": t,
        "samples": n,
        "faults": 0,
        "v_avg": v,
        "v_min": v - 0.05,
        "v_max": v + 0.05,
        "i_avg": i,
        "soc_last": soc,
        "state": state,
        "clock_trusted": True,
    }


def power_state(**over):
    row = {
        "sampled_at": to_iso(START),
        "clock_trusted": True,
        "source": "ina219",
        "voltage_v": 12.31,
        "current_a": -0.42,
        "power_w": -5.2,
        "soc": 64.5,
        "runtime_min": 410.0,
        "charging": False,
        "state": "warn",
        "reason": "battery below 12.4 V",
        "shutdown_event_id": None,
        "shutdown_deadline": None,
    }
    return row | over


def enqueue(store, dataset: str, value: int) -> dict:
    return enqueue_report(
        store,
        facility="KLB",
        dataset=dataset,
        period="202609",
        payload={"dataSet": dataset, "dataValues": [{"value": str(value)}]},
        now=T0,
    )


def call(ctx, actor, tmp_path, **kw):
    kw.setdefault("now_s", NOW_S)
    return status(ctx, actor, data_dir=tmp_path, **kw)


def test_the_technician_may_view_status_and_it_is_json(ctx, actors, tmp_path):
    out = call(ctx, actors["technician"], tmp_path)
    assert set(out) == {"power", "modem", "hotspot", "outbox", "disk", "clock", "backup", "update"}
    json.dumps(out)


@pytest.mark.parametrize("actor", [None, "technician"])
def test_no_logged_in_actor_is_refused(ctx, tmp_path, actor):
    # Every role holds VIEW_STATUS, so only someone not logged in is refused.
    with pytest.raises(PermissionDenied):
        call(ctx, actor, tmp_path)


def test_every_role_may_view_status(ctx, actors, tmp_path):
    for actor in actors.values():
        call(ctx, actor, tmp_path)


def test_power_without_any_record_is_unknown(ctx, actors, tmp_path):
    power = call(ctx, actors["technician"], tmp_path)["power"]
    assert power["state"] == "unknown"
    assert power["voltage_v"] is None and power["sampled_at"] is None
    assert power["history"] == []


def test_power_fields_come_from_the_state_row_and_samples(ctx, actors, store, tmp_path):
    store.power.set_state(
        power_state(
            state="shutdown_pending",
            shutdown_event_id=None,
            shutdown_deadline="2026-10-15T09:45:00.000000Z",
        )
    )
    start = int(NOW_S) // 60 * 60
    store.power.add_samples(
        [
            minute(start - 600, v=12.5, soc=66.0),
            minute(start - 300, v=12.4, soc=65.0),
            minute(start - 30 * 3600, v=13.0),  # older than 24 h: left out
        ]
    )
    power = call(ctx, actors["technician"], tmp_path)["power"]
    assert power["state"] == "shutdown_pending"
    assert power["reason"] == "battery below 12.4 V"
    assert power["voltage_v"] == 12.31
    assert power["current_a"] == -0.42
    assert power["soc_pct"] == 64.5
    assert power["runtime_min"] == 410.0
    assert power["shutdown_deadline"] == "2026-10-15T09:45:00.000000Z"
    assert power["sampled_at"] == to_iso(START)
    assert power["stale"] is False
    assert power["history"] == [
        {"t": start - 600, "voltage_v": 12.5, "current_a": -0.4, "soc_pct": 66.0},
        {"t": start - 300, "voltage_v": 12.4, "current_a": -0.4, "soc_pct": 65.0},
    ]


def test_a_state_row_not_written_for_minutes_is_stale(ctx, actors, store, tmp_path):
    store.power.set_state(power_state())
    power = call(ctx, actors["technician"], tmp_path, now_s=NOW_S + 3600)["power"]
    assert power["state"] == "warn" and power["stale"] is True


def test_a_day_of_minutes_is_thinned_for_the_chart(ctx, actors, store, tmp_path):
    start = int(NOW_S) // 60 * 60 - 24 * 3600 + 60
    store.power.add_samples(
        # one minute's dip, which stride sampling could drop
        [
            minute(start + 60 * k, v=10.0 if k == 701 else 12.4, soc=50 + k / 100)
            for k in range(1440)
        ]
    )
    history = call(ctx, actors["technician"], tmp_path)["power"]["history"]
    assert 250 <= len(history) <= MAX_HISTORY_POINTS
    assert history[0]["t"] == start
    assert [p["t"] for p in history] == sorted(p["t"] for p in history)
    assert min(p["voltage_v"] for p in history) < 12.4  # merged, not skipped
    assert max(p["voltage_v"] for p in history) == 12.4
    assert history[-1]["soc_pct"] == pytest.approx(50 + 1439 / 100, abs=0.05)


def test_outbox_counts(ctx, actors, store, tmp_path):
    enqueue(store, "dsA", 1)
    enqueue(store, "dsA", 2)  # supersedes the first
    enqueue(store, "dsB", 1)
    item = store.outbox.claim_next(now=T0)
    store.outbox.mark_retry(
        item["id"], error="timeout", next_attempt_at="2026-10-15T10:00:00.000000Z"
    )
    outbox = call(ctx, actors["technician"], tmp_path)["outbox"]
    assert outbox == {
        "queued": 2,
        "sending": 0,
        "delivered": 0,
        "failed": 0,
        "superseded": 1,
        "next_attempt_at": T0,
        "last_delivered_at": None,
        "last_error": "timeout",
    }


def test_outbox_last_delivery(ctx, actors, store, tmp_path):
    enqueue(store, "dsA", 1)
    item = store.outbox.claim_next(now=T0)
    store.outbox.mark_delivered(item["id"], at="2026-10-15T08:01:00.000000Z", import_summary={})
    outbox = call(ctx, actors["technician"], tmp_path)["outbox"]
    assert outbox["delivered"] == 1 and outbox["queued"] == 0
    assert outbox["last_delivered_at"] == "2026-10-15T08:01:00.000000Z"
    assert outbox["next_attempt_at"] is None and outbox["last_error"] is None


def test_hotspot_clients_from_the_leases_file(ctx, actors, tmp_path):
    leases = tmp_path / "dnsmasq.leases"
    leases.write_text(LEASES)
    hotspot = call(ctx, actors["technician"], tmp_path, leases_file=leases)["hotspot"]
    assert hotspot["available"] is True
    assert hotspot["leases_file"] == str(leases)
    assert hotspot["clients"] == [
        {
            "mac": "aa:bb:cc:dd:ee:01",
            "ip": "10.42.0.11",
            "hostname": "tablet-maternite",
            "expires": "2026-10-15T10:30:00.000000Z",
        },
        {"mac": "aa:bb:cc:dd:ee:02", "ip": "10.42.0.12", "hostname": None, "expires": None},
    ]


def test_hotspot_without_leases_file(ctx, actors, tmp_path):
    missing = tmp_path / "nope.leases"
    hotspot = call(ctx, actors["technician"], tmp_path, leases_file=missing)["hotspot"]
    assert hotspot == {"clients": [], "leases_file": str(missing), "available": False}
    hotspot = call(ctx, actors["technician"], tmp_path)["hotspot"]
    assert hotspot == {"clients": [], "leases_file": None, "available": False}


@pytest.mark.parametrize(
    "line",
    [
        "",
        "duid 00:01:00:01:2c:1f:aa:bb:cc:dd:ee:ff",
        "soon aa:bb:cc:dd:ee:01 10.42.0.11 x *",
        "1792060200 not-a-mac 10.42.0.11 x *",
        "1792060200 aa:bb:cc:dd:ee:01 10.42.0.999 x *",
        "1792060200 aa:bb:cc:dd:ee:01",
        "99999999999999999999 aa:bb:cc:dd:ee:01 10.42.0.11 x *",
        "1792060200 12345678 fd00::11 host 00:01:00:01",  # a DHCPv6 lease
    ],
)
def test_malformed_lease_lines_are_skipped(line):
    assert parse_leases(line + "\n") == []


def test_modem_unknown_until_the_daemon_writes(ctx, actors, tmp_path):
    modem = call(ctx, actors["technician"], tmp_path)["modem"]
    assert modem == {
        "state": "unknown",
        "operator": None,
        "signal_dbm": None,
        "registration": None,
        "last_upload_at": None,
        "updated_at": None,
        "daemon_running": False,
        "stopped_at": None,
    }


def modem_wrote(store, **status) -> None:
    """As keneya-modem leaves its report: one JSON setting, its time, the last upload."""
    store.set_settings(
        {
            "modem.status": json.dumps(status),
            "modem.updated_at": "2026-10-15T09:29:00.000000Z",
            "modem.last_upload_at": "2026-10-15T07:00:00.000000Z",
        }
    )


def test_modem_settings(ctx, actors, store, tmp_path):
    modem_wrote(
        store,
        state="registered",
        operator="Orange Mali",
        signal_dbm=-87,
        registration="home",
        link_up=False,
    )
    modem = call(ctx, actors["technician"], tmp_path)["modem"]
    assert modem == {
        "state": "registered",
        "operator": "Orange Mali",
        "signal_dbm": -87,
        "registration": "home",
        "last_upload_at": "2026-10-15T07:00:00.000000Z",
        "updated_at": "2026-10-15T09:29:00.000000Z",
        "daemon_running": True,
        "stopped_at": None,
    }
    modem_wrote(store, state="ready", signal_dbm="garbage", link_up=True)
    modem = call(ctx, actors["technician"], tmp_path)["modem"]
    assert modem["signal_dbm"] is None and modem["state"] == "link_up"
    store.set_setting("modem.status", "{not json")
    assert call(ctx, actors["technician"], tmp_path)["modem"]["state"] == "unknown"


def test_a_stopped_or_silent_modem_daemon_is_not_the_modem_state(ctx, actors, store, tmp_path):
    modem_wrote(store, state="registered", operator="Orange Mali", signal_dbm=-87)
    store.set_setting("modem.stopped_at", "2026-10-15T09:29:30.000000Z")  # a clean stop
    modem = call(ctx, actors["technician"], tmp_path)["modem"]
    assert modem["state"] == "stopped" and not modem["daemon_running"]
    assert modem["operator"] is None and modem["signal_dbm"] is None
    # written 14 minutes ago: within three heartbeats, still the modem's state
    store.set_settings({"modem.stopped_at": None, "modem.updated_at": "2026-10-15T09:16:00Z"})
    assert call(ctx, actors["technician"], tmp_path)["modem"]["daemon_running"]
    store.set_settings({"modem.updated_at": "2026-10-15T09:14:00Z"})
    modem = call(ctx, actors["technician"], tmp_path)["modem"]  # killed 16 minutes ago
    assert modem["state"] == "silent" and modem["operator"] is None


def test_disk_numbers(ctx, actors, store, tmp_path):
    disk = call(ctx, actors["technician"], tmp_path)["disk"]
    assert disk["total_bytes"] > 0 and disk["free_bytes"] > 0
    assert 0 < disk["used_pct"] <= 100
    assert disk["database_bytes"] >= store.path.stat().st_size > 0


def test_clock(ctx, actors, tmp_path):
    clock = call(ctx, actors["technician"], tmp_path)["clock"]
    assert clock["now"] == to_iso(START)
    assert clock["trusted"] is False
    assert clock["boot_id"] == "boot-1"


def test_one_audit_row_and_no_patient(ctx, actors, store, tmp_path):
    before = store.audit.count()
    call(ctx, actors["technician"], tmp_path)
    assert store.audit.count() == before + 1
    [row] = store.query("SELECT * FROM audit WHERE action = 'status.view'")
    assert row["username"] == "technician" and row["role"] == "technician"
    assert row["encounter_id"] is None and row["detail"] is None
    assert store.query("SELECT * FROM audit WHERE patient_id IS NOT NULL") == []
