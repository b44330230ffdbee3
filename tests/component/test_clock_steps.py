"""Clock steps within one boot: a stored offset is dropped when the machine clock is stepped
(chrony, `date -s`); NTP vouching for the new time keeps it trusted, nothing else does. Fake
machine and boot clocks, never a sleep. Then the forms: a warning beside the care date while
the clock is unconfirmed, and no pre-filled date the clock cannot know."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from appliance import clock as clock_module
from appliance.clock import Clock
from appliance.domain.encounters import InvalidEncounter
from appliance.paths import Paths
from appliance.services import audit, auth, encounters
from appliance.services.context import Context
from appliance.web.app import create_app
from appliance.web.core import WebSettings
from kiosk_ui.viewmodels.encounter import EncounterVM
from kiosk_ui.viewmodels.state import KioskState

pytestmark = pytest.mark.component

EPOCH_BOOT = datetime(1970, 1, 2, 0, 0, tzinfo=UTC)  # a Pi that never had the time
TRUE = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)
WARNING = "L'horloge de l'appareil n'est pas confirmée : vérifiez la date des soins"


class Machine:
    """The machine's wall clock and its boot clock (CLOCK_BOOTTIME), moved by hand."""

    def __init__(self, start: datetime = EPOCH_BOOT):
        self.wall = start.timestamp()
        self.boot = 12.0
        self.synced = False

    def advance(self, seconds: float) -> None:  # time passing: both move
        self.wall += seconds
        self.boot += seconds

    def step(self, seconds: float) -> None:  # `date -s`, chrony's makestep: only the wall
        self.wall += seconds

    def clock(self, store, boot_id: str = "boot-1") -> Clock:
        return Clock(
            store,
            machine_time=lambda: self.wall,
            boot_time=lambda: self.boot,
            boot_id=boot_id,
            synchronized=lambda: self.synced,
        )


@pytest.fixture
def machine() -> Machine:
    return Machine()


def steps(store) -> list[dict]:
    return store.query("SELECT * FROM clock_steps ORDER BY id")


def step_audits(store) -> list[dict]:
    return store.query("SELECT * FROM audit WHERE action = 'clock.step' ORDER BY id")


def test_the_reported_bug_a_step_after_a_1970_confirmation(store, actors, aminata, machine):
    ctx = Context(store, machine.clock(store))
    audit.confirm_clock(ctx, actors["nurse"], TRUE)  # the clock said 2 January 1970
    machine.advance(600)
    assert ctx.now().trusted and ctx.now().now == TRUE + timedelta(seconds=600)
    machine.step(TRUE.timestamp() - EPOCH_BOOT.timestamp())  # `date -s` to the right time
    reading = ctx.now()
    assert not reading.trusted  # not 2083, trusted
    assert reading.now.year == 2026 and reading.now == reading.machine
    status = ctx.clock.status()
    assert status["trusted"] is False and status["offset_s"] is None
    assert status["stepped_at"] == status["machine_time"]
    with pytest.raises(InvalidEncounter, match="future"):  # 2056 is refused, not trusted
        encounters.add(
            ctx,
            actors["nurse"],
            aminata["id"],
            "consultation",
            {"care_date": "2056-01-01", "diagnoses": [{"code": "malaria_confirmed"}]},
        )
    saved = encounters.add(
        ctx,
        actors["nurse"],
        aminata["id"],
        "consultation",
        {"care_date": "2026-10-15", "diagnoses": [{"code": "malaria_confirmed"}]},
    )
    assert saved["clock_trusted"] is False


def test_a_year_turned_decades_too_far_is_not_a_plausible_confirmation(store, actors, machine):
    ctx = Context(store, machine.clock(store))
    with pytest.raises(clock_module.ClockError, match="plausible"):
        audit.confirm_clock(ctx, actors["nurse"], TRUE.replace(year=2083))
    assert not ctx.now().trusted


def test_a_step_forward_without_ntp_is_kept_once_and_audited(store, machine):
    clock = machine.clock(store)
    clock.mark_trusted("staff", TRUE)
    machine.advance(30)
    machine.step(3600)
    first = clock.now()
    assert not first.trusted and first.source is None and first.stepped_at == first.machine
    machine.advance(120)
    later = clock.now()
    assert not later.trusted and later.stepped_at == first.stepped_at  # since when, unchanged
    assert len(steps(store)) == 1
    assert steps(store)[0]["step_s"] == pytest.approx(3600)
    [row] = step_audits(store)
    assert row["clock_trusted"] == 0 and '"trusted": false' in row["detail"]


def test_a_step_backward_is_a_step_too(store, machine):
    machine.step(TRUE.timestamp() - EPOCH_BOOT.timestamp())
    clock = machine.clock(store)
    clock.mark_trusted("modem", TRUE + timedelta(minutes=5))
    machine.step(-3 * 3600)  # someone set the clock three hours back
    reading = clock.now()
    assert not reading.trusted
    assert steps(store)[0]["step_s"] == pytest.approx(-3 * 3600)


@pytest.mark.parametrize("drift", [1.5, -1.5])
def test_a_slew_under_the_tolerance_keeps_the_offset(store, machine, drift):
    clock = machine.clock(store)
    clock.mark_trusted("staff", TRUE)
    machine.advance(3600)
    machine.step(drift)  # NTP slewing, or the two clocks read a moment apart
    reading = clock.now()
    assert reading.trusted and reading.source == "staff"
    assert reading.now == TRUE + timedelta(seconds=3600 + drift)
    assert steps(store) == []


def test_a_step_ntp_vouches_for_is_trusted_with_the_offset_dropped(store, machine):
    clock = machine.clock(store)
    clock.mark_trusted("staff", TRUE)
    machine.advance(60)
    machine.step(TRUE.timestamp() - EPOCH_BOOT.timestamp() + 2)  # chrony: right to 2 s
    machine.synced = True
    reading = clock.now()
    assert reading.trusted and reading.source == "ntp"
    assert reading.now == reading.machine  # the 56-year offset is gone
    events = store.clock.for_boot("boot-1")
    assert [(e["source"], e["offset_s"]) for e in events][-1] == ("ntp", 0.0)
    assert steps(store) == []
    [row] = step_audits(store)
    assert row["clock_trusted"] == 1 and '"source": "ntp"' in row["detail"]
    machine.advance(3600)
    assert clock.now().now == reading.now + timedelta(hours=1)  # no second step seen
    assert len(store.clock.for_boot("boot-1")) == 2


def test_ntp_before_anything_else_this_boot_trusts_the_clock_once(store):
    machine = Machine(datetime(2026, 12, 4, 6, 0, tzinfo=UTC))
    clock = machine.clock(store)
    assert not clock.now().trusted  # chrony has not synchronised yet
    machine.advance(90)
    machine.synced = True  # the 3G link came up and chrony reached a server
    reading = clock.now()
    assert reading.trusted and reading.source == "ntp" and reading.now == reading.machine
    machine.advance(60)
    assert clock.now().trusted
    events = store.clock.for_boot("boot-1")
    assert [(e["source"], e["offset_s"]) for e in events] == [("ntp", 0.0)]  # recorded once


def test_ntp_state_says_nothing_of_a_clock_moved_by_hand(store, monkeypatch):
    import appliance.clock as clock_module

    monkeypatch.setattr(clock_module, "ntp_synchronized", lambda *_: True)
    moved = Clock(store, machine_time=lambda: EPOCH_BOOT.timestamp() + 3e8, boot_id="b")
    assert not moved.now().trusted  # a test's or the demo's clock: the kernel's is not it
    real = Clock(store, boot_id="b2")
    assert real.now().trusted and real.now().source == "ntp"


def test_ntp_cannot_vouch_for_an_implausible_time(store, machine):
    clock = machine.clock(store)
    clock.mark_trusted("staff", TRUE)
    machine.step(3600)  # from 1970 to 1970: NTP says synchronised, but no
    machine.synced = True
    assert not clock.now().trusted


def test_after_a_step_a_new_confirmation_trusts_again_and_a_second_step_is_seen(store, machine):
    clock = machine.clock(store)
    clock.mark_trusted("staff", TRUE)
    machine.step(86_400)
    assert not clock.now().trusted
    machine.advance(10)
    again = clock.mark_trusted("staff", TRUE + timedelta(seconds=10))
    assert again.trusted and again.now == TRUE + timedelta(seconds=10)
    machine.advance(50)
    assert clock.now().now == TRUE + timedelta(seconds=60)  # the new offset holds
    machine.step(-600)
    assert not clock.now().trusted
    assert [s["after_event"] for s in steps(store)] == [
        e["id"] for e in store.clock.for_boot("boot-1")
    ]


def test_the_modem_network_time_trusts_the_clock_again_after_a_step(store, machine):
    from modem.cli import _network_time

    clock = machine.clock(store)
    clock.mark_trusted("staff", TRUE)
    machine.step(TRUE.timestamp() - EPOCH_BOOT.timestamp())
    assert not clock.now().trusted
    _network_time(clock, TRUE + timedelta(seconds=1))
    reading = clock.now()
    assert reading.trusted and reading.source == "modem"


def test_events_from_before_boot_times_were_kept_are_trusted_as_before(store, machine):
    store.clock.add(
        boot_id="boot-1",
        source="staff",
        machine_time=clock_module.to_iso(EPOCH_BOOT),
        true_time=clock_module.to_iso(TRUE),
        offset_s=(TRUE - EPOCH_BOOT).total_seconds(),
    )
    machine.step(86_400)
    assert machine.clock(store).now().trusted  # no boot time to compare with


def test_the_clock_of_another_boot_is_not_affected(store, machine):
    machine.clock(store, "boot-0").mark_trusted("staff", TRUE)
    machine.step(3600)
    clock = machine.clock(store)
    assert not clock.now().trusted and clock.now().stepped_at is None  # just untrusted


# -- the NTP probe ------------------------------------------------------------------------------
@pytest.mark.parametrize("state, synced", [(0, True), (4, True), (5, False)])
def test_ntp_synchronized_reads_the_kernel_state(monkeypatch, tmp_path, state, synced):
    monkeypatch.setattr(clock_module, "_adjtimex_state", lambda: state)
    (tmp_path / "synchronized").touch()  # the kernel's word wins over timesyncd's file
    assert clock_module.ntp_synchronized(tmp_path / "synchronized") is synced


def test_ntp_synchronized_falls_back_to_the_timesync_flag(monkeypatch, tmp_path):
    monkeypatch.setattr(clock_module, "_adjtimex_state", lambda: None)
    flag = tmp_path / "synchronized"
    assert clock_module.ntp_synchronized(flag) is False
    flag.touch()
    assert clock_module.ntp_synchronized(flag) is True


def test_the_kernel_can_be_asked_without_privileges():
    state = clock_module._adjtimex_state()
    assert state is None or 0 <= state <= 5  # TIME_OK … TIME_ERROR


# -- the forms ----------------------------------------------------------------------------------
@pytest.fixture
def web(tmp_path, ctx, actors, machine):
    auth.add_staff(
        ctx,
        actors["admin"],
        username="web.nurse",
        display_name="Nurse",
        role="nurse",
        password="pass-web-nurse",
    )
    options = {
        "boot_id": "boot-1",
        "boot_time": lambda: machine.boot,
        "synchronized": lambda: machine.synced,
    }
    settings = WebSettings(
        Paths.for_home(tmp_path), now=lambda: machine.wall, clock_options=options
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        web_login(client)
        yield client


def web_login(client) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
    r = client.post(
        "/login", data={"username": "web.nurse", "password": "pass-web-nurse", "csrf": token}
    )
    assert r.status_code == 303


def care_date_field(html: str) -> str:
    m = re.search(r'<input name="care_date" value="([^"]*)"', html)
    assert m, "no care date field"
    return m.group(1)


def test_web_form_warns_and_leaves_an_implausible_date_empty(web, aminata, machine, store):
    url = f"/patients/{aminata['id']}/encounters/new?type=consultation"
    html = web.get(url).text  # the machine says 2 January 1970, nobody confirmed it
    assert care_date_field(html) == ""
    assert WARNING.replace("'", "&#39;") in html
    machine.step(TRUE.timestamp() - EPOCH_BOOT.timestamp())  # plausible, still unconfirmed
    web_login(web)  # the step ended the session: its idle time is counted on the wall clock
    html = web.get(url).text
    assert care_date_field(html) == "2026-10-15" and WARNING.replace("'", "&#39;") in html
    machine.clock(store).mark_trusted("staff", TRUE)
    html = web.get(url).text
    assert care_date_field(html) == "2026-10-15" and "vérifiez la date des soins" not in html


def test_web_form_refuses_a_care_date_before_2000_beside_the_field(web, aminata, machine, store):
    token = re.search(r'name="csrf" value="([^"]+)"', web.get("/").text).group(1)
    r = web.post(
        f"/patients/{aminata['id']}/encounters/new",
        data={
            "csrf": token,
            "type": "consultation",
            "care_date": "1970-01-02",
            "diagnoses-0-code": "malaria_confirmed",
        },
    )
    assert r.status_code == 422
    assert "Cette date est trop ancienne (au plus tôt le 01/01/2000) : vérifiez-la." in r.text
    assert WARNING.replace("'", "&#39;") in r.text  # the warning stays beside the date


def test_kiosk_form_warns_and_leaves_an_implausible_date_empty(store, actors, aminata, machine):
    state = KioskState(Context(store, machine.clock(store)))
    state.actor = actors["nurse"]
    vm = EncounterVM(state, aminata["id"], "consultation")
    assert vm.values["care_date"] == ""
    assert vm.warnings == {"care_date": [WARNING]}
    machine.step(TRUE.timestamp() - EPOCH_BOOT.timestamp())
    vm = EncounterVM(state, aminata["id"], "consultation")
    assert vm.values["care_date"] == "15/10/2026" and vm.warnings == {"care_date": [WARNING]}
    machine.clock(store).mark_trusted("staff", TRUE)
    vm = EncounterVM(state, aminata["id"], "consultation")
    assert vm.values["care_date"] == "15/10/2026" and vm.warnings == {}
    english = KioskState(Context(store, machine.clock(store, "boot-2")), lang="en")
    english.actor = actors["nurse"]
    assert EncounterVM(english, aminata["id"], "consultation").warnings == {
        "care_date": ["The device's clock is not confirmed: check the date of care"]
    }
