"""What staff read about the battery (kiosk banner and web pages): plain dict rows, as an old
database or the monitor's new columns give them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.clock import to_iso
from appliance.web.i18n import Translator
from appliance.web.power_texts import (
    banner,
    countdown_seconds,
    duration_text,
    planned_time,
    who_may_cancel,
)
from kiosk_ui.viewmodels.power import PowerVM

NOW = datetime(2026, 10, 15, 17, 30, tzinfo=UTC)
FR, EN = Translator("fr"), Translator("en")


def row(**over) -> dict:
    """An old-style row: no fault, fault_detail nor planned_shutdown_at keys at all."""
    base = {
        "sampled_at": to_iso(NOW),
        "state": "ok",
        "soc": 70.0,
        "runtime_min": None,
        "shutdown_event_id": None,
        "shutdown_deadline": None,
        "cancel_for": None,
        "cancel_requested_by": None,
    }
    return base | over


def say(r, t=FR, **kw):
    return banner(r, t, NOW.timestamp(), **kw)


@pytest.mark.parametrize(
    ("minutes", "fr", "en"),
    [
        (0, "0 min", "0 min"),
        (41.6, "42 min", "42 min"),
        (119, "119 min", "119 min"),
        (120, "2 h", "2 h"),
        (1145, "19 h", "19 h"),
    ],
)
def test_durations_are_written_humanely(minutes, fr, en):
    assert duration_text(minutes, FR) == fr and duration_text(minutes, EN) == en


def test_low_battery_counts_to_the_shutdown_point():
    assert say(row(state="warn", soc=34.4, runtime_min=1145)) == (
        "Batterie faible : 34 % (arrêt dans environ 19 h)"
    )
    assert say(row(state="warn", soc=34.4, runtime_min=1145), EN) == (
        "Low battery: 34% (shutdown in about 19 h)"
    )
    assert say(row(state="warn", soc=23.4, runtime_min=41.6)) == (
        "Batterie faible : 23 % (arrêt dans environ 42 min)"
    )
    assert say(row(state="warn", soc=23.4)) == "Batterie faible : 23 %"
    assert say(row(state="warn", soc=None)) == "Batterie faible"


def test_a_lost_sensor_says_when_the_shutdown_is_planned():
    planned = to_iso(NOW + timedelta(hours=4, minutes=12))
    lost = row(state="sensor_fault", fault="sensor_lost", planned_shutdown_at=planned)
    assert say(lost) == "Capteur batterie en panne — arrêt prévu vers 21:42"
    assert say(lost, EN) == "Battery sensor failed — shutdown planned around 21:42"
    assert say(row(state="sensor_fault")) == "Capteur batterie en panne"
    # the blind estimate can run in the warn state too: the sensor is what staff must know
    assert say(row(state="warn", fault="sensor_lost", planned_shutdown_at=planned)).endswith(
        "21:42"
    )


@pytest.mark.parametrize("fault", ["reversed_shunt", "wrong_shunt", "chip_reset", "implausible"])
def test_a_wiring_fault_sends_staff_to_the_technician(fault):
    r = row(state="ok", fault=fault, fault_detail="night current -3.25 A is 4x ...")
    assert say(r) == "Capteur batterie mal branché ou mal réglé — voir l'écran technicien"
    assert "technician" in say(r, EN)
    assert "3.25" not in say(r)  # the detail is for the status screens
    # low battery (voltage-only fallback) matters more to staff than the wiring
    assert say(row(state="warn", fault=fault, soc=30, runtime_min=90)).startswith(
        "Batterie faible : 30 %"
    )


def test_the_wait_and_the_critical_poweroff_are_said():
    assert "services arrêtés" in say(row(state="low_power_wait"))
    assert say(row(state="critical")) == "Batterie épuisée : l'appareil s'éteint"
    assert say(row(state="critical"), EN) != say(row(state="critical"))


def test_countdown_and_who_cancelled_it():
    pending = row(
        state="shutdown_pending",
        shutdown_event_id=7,
        shutdown_deadline=to_iso(NOW + timedelta(seconds=105)),
    )
    assert countdown_seconds(pending, NOW.timestamp()) == 105
    assert say(pending) == "Arrêt dans 1:45 — enregistrez votre travail"
    asked = pending | {"cancel_for": 7, "cancel_requested_by": "nurse"}
    assert countdown_seconds(asked, NOW.timestamp()) is None
    assert say(asked, name_of={"nurse": "Awa Diarra"}.get) == "Arrêt annulé par Awa Diarra"
    # a request left from an earlier shutdown does not cancel this one
    assert countdown_seconds(asked | {"cancel_for": 6}, NOW.timestamp()) == 105
    # once the monitor acted: its event names who, for ten minutes
    event = {"at": to_iso(NOW - timedelta(minutes=3)), "detail": {"by": "nurse"}}
    after = row(state="warn", soc=12, runtime_min=30)
    assert say(after, cancelled=event) == "Arrêt annulé par nurse"
    old = event | {"at": to_iso(NOW - timedelta(minutes=30))}
    assert say(after, cancelled=old).startswith("Batterie faible")


def test_who_may_cancel_names_the_roles_of_the_permission_table():
    line = who_may_cancel(FR)
    for role in ("Administrateur", "Médecin", "Sage-femme", "Technicien"):
        assert role in line
    assert "Matrone" not in line and "Agent de santé" not in line


def test_planned_time_has_a_date_when_far():
    near = {"sampled_at": to_iso(NOW), "planned_shutdown_at": to_iso(NOW + timedelta(hours=3))}
    assert planned_time(near) == "20:30"
    far = near | {"planned_shutdown_at": to_iso(NOW + timedelta(days=2))}
    assert planned_time(far) == "17/10/2026 17:30"
    assert planned_time({"sampled_at": to_iso(NOW)}) is None


class DictPower:
    """A store whose power repo returns a plain dict row (no migration 10 columns)."""

    def __init__(self, state):
        self._state = state
        self.power = self
        self.staff = self

    def state(self):
        return self._state

    def last_event(self, kinds):
        return None

    def by_username(self, username):
        return {"display_name": "Awa Diarra"} if username == "nurse" else None

    def get_setting(self, key, default=None):
        return default


def test_the_view_model_reads_plain_rows():
    vm = PowerVM(DictPower(row(state="warn", soc=34, runtime_min=1145)), now=NOW.timestamp)
    vm.poll()
    assert vm.banner == "Batterie faible : 34 % (arrêt dans environ 19 h)"
    asked = row(
        state="shutdown_pending",
        shutdown_event_id=3,
        shutdown_deadline=to_iso(NOW + timedelta(seconds=60)),
        cancel_for=3,
        cancel_requested_by="nurse",
    )
    vm = PowerVM(DictPower(asked), now=NOW.timestamp)
    vm.poll()
    assert vm.countdown_s is None and vm.banner == "Arrêt annulé par Awa Diarra"


SILENT_FR = "Surveillance de la batterie arrêtée — prévenez le technicien"


def pending_since(sampled_s_ago: float, deadline_in_s: float) -> dict:
    """A countdown row the monitor wrote `sampled_s_ago` seconds before NOW."""
    return row(
        state="shutdown_pending",
        sampled_at=to_iso(NOW - timedelta(seconds=sampled_s_ago)),
        voltage_v=11.3,
        shutdown_event_id=7,
        shutdown_deadline=to_iso(NOW + timedelta(seconds=deadline_in_s)),
    )


def test_a_monitor_silent_past_its_staleness_limit_counts_nothing_down():
    from power.views import STALE_AFTER_S

    # killed mid-countdown, one second past the limit: no frozen 0:00, the silent line
    stale = pending_since(STALE_AFTER_S + 1, deadline_in_s=-(STALE_AFTER_S + 1) + 105)
    assert countdown_seconds(stale, NOW.timestamp()) is None
    assert say(stale) == SILENT_FR
    assert say(stale, EN) == "Battery monitoring stopped — tell the technician"
    # a cancel asked before it died does not make it "cancelled" either
    assert say(stale | {"cancel_for": 7, "cancel_requested_by": "nurse"}) == SILENT_FR
    # any state: a silent monitor watches no battery
    assert say(row(state="ok", sampled_at=to_iso(NOW - timedelta(hours=3)))) == SILENT_FR
    # one second under the limit the countdown still runs
    alive = pending_since(STALE_AFTER_S - 1, deadline_in_s=30)
    assert countdown_seconds(alive, NOW.timestamp()) == 30
    assert say(alive) == "Arrêt dans 0:30 — enregistrez votre travail"


def test_a_countdown_a_minute_past_its_deadline_is_over():
    # fresh row but a deadline long gone: nobody is carrying the shutdown out
    assert say(pending_since(20, deadline_in_s=-61)) == SILENT_FR
    assert countdown_seconds(pending_since(20, deadline_in_s=-61), NOW.timestamp()) is None
    # at the deadline the monitor needs a sample or two to act: 0:00 meanwhile
    assert (
        say(pending_since(20, deadline_in_s=-59)) == "Arrêt dans 0:00 — enregistrez votre travail"
    )


def test_the_view_model_compares_with_the_clock_the_monitor_writes_in():
    # the machine's time runs 2 h behind the confirmed clock (a Pi without a real-time
    # clock): a row written 10 s ago by the clock is not 2 h in the future, nor is it silent
    fresh = pending_since(10, deadline_in_s=95)
    behind = NOW.timestamp() - 7200
    vm = PowerVM(DictPower(fresh), now=lambda: behind, estimate=NOW.timestamp)
    vm.poll()
    assert vm.silent_since is None and vm.countdown_s == 95
    stale = pending_since(600, deadline_in_s=-500)
    vm = PowerVM(DictPower(stale), now=lambda: behind, estimate=NOW.timestamp)
    vm.poll()
    assert vm.countdown_s is None and vm.banner == SILENT_FR
    assert vm.silent_since == stale["sampled_at"]
