"""`keneya status` and the status service when keneya-power is silent (killed mid-countdown,
stopped by a restore) or never wrote (a facility file it cannot read): the console flags
both with `!`; the status service says since when and names who asked to cancel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.clock import to_iso
from appliance.paths import Paths
from appliance.services import auth
from appliance.services.status import status
from appliance.store import Store
from power.views import STALE_AFTER_S
from tests.conftest import keneya

pytestmark = pytest.mark.component

NEVER_WROTE = "keneya-power has not written yet: journalctl -u keneya-power"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    r = keneya(home, "db", "init", "--facility-code", "KLB", "--json")
    assert r.returncode == 0, r.stderr
    return home


def write_state(home: Path, **row) -> None:
    with Store(Paths.for_home(home).database) as store:
        store.power.set_state(
            {"clock_trusted": True, "source": "ina219", "soc": 9.0} | row, clear_cancel=True
        )


def power_line(home: Path) -> str:
    r = keneya(home, "status")
    assert r.returncode == 0, r.stderr
    (line,) = [line for line in r.stdout.splitlines() if line[2:].startswith("power:")]
    return line


def test_a_monitor_that_never_wrote_is_flagged(home):
    assert power_line(home) == f"! power:   unknown ({NEVER_WROTE})"


def test_a_monitor_killed_mid_countdown_is_flagged_silent(home):
    killed = datetime.now(UTC) - timedelta(seconds=STALE_AFTER_S + 120)
    write_state(
        home,
        sampled_at=to_iso(killed),
        state="shutdown_pending",
        voltage_v=11.3,
        shutdown_event_id=None,
        shutdown_deadline=to_iso(killed + timedelta(seconds=105)),
    )
    since = killed.strftime("%Y-%m-%d %H:%M")
    assert power_line(home) == (
        f"! power:   shutdown_pending, 11.3 V, 9.0 % (keneya-power silent since {since} UTC)"
    )
    power = json.loads(keneya(home, "status", "--json").stdout)["power"]
    assert power["silent_since"] == to_iso(killed) and power["stale"] is True


def test_a_monitor_writing_is_not_flagged(home):
    write_state(home, sampled_at=to_iso(datetime.now(UTC)), state="ok", voltage_v=12.8, soc=80.0)
    assert power_line(home) == "  power:   ok, 12.8 V, 80.0 %"


def test_the_status_service_names_the_silence_and_the_staff_member(ctx, store, tmp_path):
    admin = None
    for role, name in (("admin", "Admin Test"), ("nurse", "Seydou Diarra"), ("matron", "M")):
        auth.add_staff(
            ctx,
            admin,
            username=f"{role}.t",
            display_name=name,
            role=role,
            password="correct horse battery",
        )
        if admin is None:
            admin = auth.login(ctx, "admin.t", password="correct horse battery")
    matron = auth.login(ctx, "matron.t", password="correct horse battery")
    now_s = ctx.now().now.timestamp()
    sampled = datetime.fromtimestamp(now_s - 30, UTC)
    eid = store.power.add_event(
        {"at": to_iso(sampled), "clock_trusted": 1, "kind": "shutdown_decided"}
    )
    store.power.set_state(
        {
            "sampled_at": to_iso(sampled),
            "clock_trusted": True,
            "source": "ina219",
            "state": "shutdown_pending",
            "reason": "voltage 11.3 V < 11.4 V",
            "shutdown_event_id": eid,
            "shutdown_deadline": to_iso(sampled + timedelta(seconds=105)),
            "fault_detail": "night current -3.25 A is 4x the appliance's highest draw",
        },
        clear_cancel=True,
    )
    store.power.request_cancel(by="nurse.t", at=to_iso(sampled))
    power = status(ctx, admin, data_dir=tmp_path, now_s=now_s)["power"]
    assert power["silent_since"] is None  # 30 s old, deadline ahead: alive
    assert power["cancel_requested_by"] == "nurse.t"
    assert power["cancel_requested_by_name"] == "Seydou Diarra"
    assert power["reason"] and power["fault_detail"]  # the admin reads the technician's lines
    # 61 s past the deadline: the monitor would have acted; it is silent
    late = status(ctx, admin, data_dir=tmp_path, now_s=now_s - 30 + 105 + 61)["power"]
    assert late["silent_since"] == to_iso(sampled) and late["stale"] is False
    # a matron's status page keeps to the French names: no English lines of the monitor
    power = status(ctx, matron, data_dir=tmp_path, now_s=now_s)["power"]
    assert power["reason"] is None and power["fault_detail"] is None
