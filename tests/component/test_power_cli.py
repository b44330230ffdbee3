"""`keneya power …` as scripts and systemd use it: the real executable in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.store import Store
from power.cli import run_text
from power.daemon import Summary
from power.views import STATUS_FIELDS
from tests.conftest import running, sigterm

pytestmark = pytest.mark.component

KENEYA = str(Path(sys.executable).parent / "keneya")


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KENEYA_HOME", "KENEYA_PIN", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    }
    return env | extra


def keneya(home: Path, *args: str, pin: str | None = None, timeout: float = 120):
    env = clean_env(**({"KENEYA_PIN": pin} if pin else {}))
    return subprocess.run(
        [KENEYA, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def simulated_day(tmp_path_factory):
    """A home where the daemon ran one simulated sunny day (from midnight) on the simulator."""
    home = tmp_path_factory.mktemp("home")
    r = keneya(
        home,
        *("power", "run", "--simulate", "sunny", "--speed", "100000"),
        *("--duration", "86400", "--start-hour", "0", "--json"),
    )
    assert r.returncode == 0, r.stderr
    return home, json.loads(r.stdout)


def test_simulated_day_completes_and_leaves_samples(simulated_day):
    home, summary = simulated_day
    assert summary["stopped_by"] == "duration"
    assert summary["samples"] == 86400 // 5 + 1 and summary["faults"] == 0
    assert summary["shutdown_executed"] is False
    with Store(home / "keneya.db") as store:
        assert store.integrity_check() == []
        totals = store.power.totals()
        assert sum(t["samples"] for t in totals.values()) == summary["samples"]


def test_status_json_fields(simulated_day):
    home, _ = simulated_day
    r = keneya(home, "power", "status", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert set(STATUS_FIELDS) <= set(s)
    assert 11.0 < s["voltage_v"] < 15.0
    assert isinstance(s["current_a"], float) and isinstance(s["power_w"], float)
    assert 0 <= s["soc_pct"] <= 100
    assert s["runtime_min"] is None or s["runtime_min"] > 0
    assert isinstance(s["charging"], bool)
    assert s["state"] == "ok"
    assert s["last_sample_at"].endswith("Z") and isinstance(s["sample_age_s"], int)
    assert s["source"] == "simulator:sunny"
    human = keneya(home, "power", "status")
    assert human.returncode == 0 and "last sample" in human.stdout


def test_history_json_is_a_list_of_points(simulated_day):
    home, _ = simulated_day
    r = keneya(home, "power", "history", "--hours", "24", "--json")
    assert r.returncode == 0, r.stderr
    points = json.loads(r.stdout)
    assert 1400 <= len(points) <= 1441  # one per minute
    for p in points:
        assert {"time", "voltage_v", "current_a", "soc_pct", "state"} <= set(p)
        assert p["resolution_s"] == 60
    times = [p["time"] for p in points]
    assert times == sorted(times)
    assert max(p["current_a"] for p in points) > 1  # the panel charged at noon
    assert keneya(home, "power", "history", "--hours", "2").stdout.count("\n") >= 100


def run_scenario(home: Path, name: str) -> dict:
    """A whole scenario (no --duration: its own length), a reading a minute, from midnight;
    no --speed: as fast as the CPU allows (days of simulated time in seconds)."""
    r = keneya(
        home,
        *("power", "run", "--simulate", name),
        *("--start-hour", "0", "--interval", "60", "--json"),
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_simulated_recovery_reports_the_wait_and_the_services_back(tmp_path):
    out = run_scenario(tmp_path, "recovery")
    assert out["samples"] == 5 * 1440 + 1 and out["stopped_by"] == "duration"
    assert out["shutdown_executed"] is True and out["shutdown_how"] == "low_power_wait"
    assert out["shutdown_decided_h"] < out["shutdown_executed_h"] < out["services_back_h"]
    assert out["shutdown_executed_at"] < out["services_back_at"]
    assert out["poweroff_at"] is None and out["cutoff_at"] is None and out["margin_s"] is None
    assert out["margin_if_running_s"] >= 1800 and out["wait_wh"] > 0
    assert out["events"]["low_power_wait"] == out["events"]["services_resumed"] == 1
    events = keneya(tmp_path, "power", "events", "--json")
    order = [e["kind"] for e in json.loads(events.stdout)][::-1]
    assert order.index("low_power_wait") < order.index("services_resumed")
    status = json.loads(keneya(tmp_path, "power", "status", "--json").stdout)
    assert status["state"] in ("ok", "warn") and status["fault"] is None


def test_a_simulated_dead_sensor_stops_in_time_holds_and_comes_back(tmp_path):
    out = run_scenario(tmp_path, "dead-sensor")
    # blind: the wait, then the read-only hold on the worst-case estimate, well before the
    # cut that comes with the appliance running on
    assert out["state"] == "critical"
    assert out["shutdown_hows"] == ["low_power_wait", "critical_hold"]
    assert out["poweroff_at"] is None
    assert out["shutdown_executed_h"] < out["cutoff_if_running_h"] - 0.5
    # no voltage can say the battery recovered: the policy's blind retry reboots the Pi 20 h
    # into the hold (a fresh database: the clock is not trusted, no 11:00 UTC retry)
    assert out["stopped_by"] == "reboot" and out["reboot_by"] == "blind_retry"
    assert 19.9 < out["reboot_h"] - out["hold_started_h"] < 20.1
    assert out["back_by"] == "reboot" and out["back_at"] == out["boots_at"][0]
    text = run_text(out)
    assert "critical: records closed, filesystems read-only" in text
    assert "(blind_retry)" in text and "the reboot booted the Pi" in text
    human = keneya(tmp_path, "power", "status")
    assert human.returncode == 0
    assert "state: critical" in human.stdout and "sensor fault: sensor_lost" in human.stdout
    status = json.loads(keneya(tmp_path, "power", "status", "--json").stdout)
    assert status["fault"] == "sensor_lost" and "worst case" in status["fault_detail"]
    assert status["voltage_v"] is None


def test_the_wait_switches_the_3g_sticks_hub_named_in_the_facility_file(tmp_path):
    (tmp_path / "facility.toml").write_text(
        '[power]\ncapacity_ah = 40\n\n[power.wait]\nmodem_usb_hub = "1-1"\n', encoding="utf-8"
    )
    r = keneya(
        tmp_path,
        *("power", "run", "--simulate", "recovery", "--speed", "1e9"),
        *("--start-hour", "0", "--interval", "60"),
    )
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stdout.splitlines() if line.startswith("simulated: ")]
    assert said == [
        "simulated: systemctl stop keneya-web keneya-kiosk keneya-modem",
        "simulated: uhubctl -l 1-1 -a off",
        "simulated: uhubctl -l 1-1 -a on",
        "simulated: systemctl start keneya-modem keneya-web keneya-kiosk",
    ]
    assert "services stopped 20" in r.stdout and "by low_power_wait" in r.stdout
    assert "services back 20" in r.stdout
    (tmp_path / "facility.toml").write_text('[power.wait]\nhub = "1-1"\n', encoding="utf-8")
    r = keneya(tmp_path, "power", "run", "--simulate", "sunny", "--duration", "10")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "[power.wait] unknown keys: hub" in r.stderr


def test_no_sample_yet_is_nulls_and_exit_0(tmp_path):
    r = keneya(tmp_path, "power", "status", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert all(s[f] is None for f in STATUS_FIELDS)
    assert "no power sample" in s["message"]
    assert not (tmp_path / "keneya.db").exists()  # reading never creates the database
    human = keneya(tmp_path, "power", "status")
    assert human.returncode == 0 and "no power sample" in human.stdout
    assert json.loads(keneya(tmp_path, "power", "history", "--json").stdout) == []


@pytest.mark.parametrize(
    "args",
    [
        ("power", "run", "--simulate", "rainy"),
        ("power", "run", "--simulate", "sunny", "--speed", "-1"),
        ("power", "run", "--simulate", "sunny", "--speed", "0"),
        ("power", "run", "--speed", "10"),
        ("power", "history", "--hours", "0"),
        ("power", "history", "--hours", "-3"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args):
    r = keneya(tmp_path, *args)
    assert r.returncode == 2
    assert r.stderr.startswith("keneya: ") and r.stderr.count("\n") == 1, r.stderr


def test_a_broken_facility_file_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "facility.toml").write_text('[power]\nchemistry = "nickel-iron"\n')
    r = keneya(tmp_path, "power", "run", "--simulate", "sunny", "--duration", "10")
    assert r.returncode == 2
    assert "chemistry" in r.stderr and r.stderr.count("\n") == 1


# -- cancel-shutdown -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def staffed(tmp_path_factory):
    home = tmp_path_factory.mktemp("staffed")
    r = keneya(home, "seed", "--patients", "5", "--seed", "3")
    assert r.returncode == 0, r.stderr
    lines = (home / "demo-logins.txt").read_text().splitlines()
    logins = {role: (user, pin) for user, role, pin in (line.split() for line in lines)}
    return home, logins


def pend_shutdown(home: Path) -> int:
    """What the daemon writes when it decides a shutdown."""
    with Store(home / "keneya.db") as store:
        eid = store.power.add_event(
            {"at": "2026-10-15T04:30:00Z", "clock_trusted": 1, "kind": "shutdown_decided"}
        )
        store.power.set_state(
            {
                "sampled_at": "2026-10-15T04:30:00Z",
                "clock_trusted": 1,
                "source": "ina219",
                "state": "shutdown_pending",
                "shutdown_event_id": eid,
                "shutdown_deadline": "2026-10-15T04:32:00Z",
            },
            clear_cancel=True,
        )
    return eid


def test_nurse_may_cancel_a_pending_shutdown(staffed):
    home, logins = staffed
    eid = pend_shutdown(home)
    user, pin = logins["nurse"]
    r = keneya(home, "power", "cancel-shutdown", "--as", user, "--json", pin=pin)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["cancel_requested"] is True and out["by"] == user
    with Store(home / "keneya.db") as store:
        state = store.power.state()
        assert state["cancel_for"] == eid and state["cancel_requested_by"] == user
        audit = store.query("SELECT * FROM audit WHERE action = 'power.cancel_shutdown'")
        assert audit and audit[-1]["username"] == user


@pytest.mark.parametrize("role", ["matron", "health_worker"])
def test_other_roles_may_not(staffed, role):
    home, logins = staffed
    pend_shutdown(home)
    user, pin = logins[role]
    r = keneya(home, "power", "cancel-shutdown", "--as", user, pin=pin)
    assert r.returncode == 2
    assert "may not cancel" in r.stderr and r.stderr.count("\n") == 1
    with Store(home / "keneya.db") as store:
        assert store.power.state()["cancel_for"] is None


def test_cancel_needs_a_login_and_says_when_nothing_is_pending(staffed):
    home, logins = staffed
    r = keneya(home, "power", "cancel-shutdown")
    assert r.returncode == 2 and "--as" in r.stderr
    with Store(home / "keneya.db") as store:
        store.power.set_state(
            {"sampled_at": "2026-10-15T05:00:00Z", "clock_trusted": 1, "source": "ina219"}
            | {"state": "ok"},
            clear_cancel=True,
        )
    user, pin = logins["technician"]
    r = keneya(home, "power", "cancel-shutdown", "--as", user, "--json", pin=pin)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cancel_requested"] is False


# -- systemd: notify socket and SIGTERM ------------------------------------------------------


def test_sigterm_stops_the_daemon_cleanly(tmp_path, notify_listener):
    env = clean_env(NOTIFY_SOCKET=notify_listener.address, WATCHDOG_USEC="2000000")
    argv = [KENEYA, "--home", str(tmp_path), "power", "run", "--simulate", "sunny", "--speed", "1"]
    with running(argv, env) as proc:
        notify_listener.wait_for("READY=1")
        notify_listener.wait_for("WATCHDOG=1")
        out, err = sigterm(proc)
        notify_listener.wait_for("STOPPING=1")
    assert proc.returncode == 0, err
    assert "stopped (signal)" in out
    with Store(tmp_path / "keneya.db") as store:
        assert store.integrity_check() == []
        assert sum(t["samples"] for t in store.power.totals().values()) >= 1
        assert store.power.state()["source"] == "simulator:sunny"


def test_without_the_sensor_the_daemon_runs_degraded_and_says_why(tmp_path, notify_listener):
    """Under qemu (the boot test) or on a Pi with I2C off there is no /dev/i2c-N: the daemon
    still tells systemd it is ready, keeps pinging, and status names the missing sensor."""
    bus = 99
    assert not Path(f"/dev/i2c-{bus}").exists()
    (tmp_path / "facility.toml").write_text(f"[power]\nbus_number = {bus}\n", encoding="utf-8")
    env = clean_env(NOTIFY_SOCKET=notify_listener.address, WATCHDOG_USEC="2000000")
    argv = [KENEYA, "--home", str(tmp_path), "power", "run", "--interval", "0.5"]
    with running(argv, env) as proc:
        ready = notify_listener.wait_for("READY=1")
        notify_listener.wait_for("WATCHDOG=1")
        still_running = proc.poll() is None
        status = keneya(tmp_path, "power", "status", "--json")
        out, err = sigterm(proc)
    assert "STATUS=ina219: sensor_fault" in ready
    assert still_running, err
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["state"] == "sensor_fault"
    assert f"capteur INA219 introuvable sur le bus I2C {bus}" in state["reason"]
    assert f"/dev/i2c-{bus} missing" in state["reason"]
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "state sensor_fault" in out
    # a missing bus is opened again once a minute, not at every reading: one open, one fault
    with Store(tmp_path / "keneya.db") as store:
        kinds = [e["kind"] for e in store.power.events(limit=100)]
    assert kinds.count("sensor_fault") == 1


def test_a_second_monitor_on_the_same_home_exits_2_and_a_killed_one_leaves_no_lock(
    tmp_path, notify_listener
):
    env = clean_env(NOTIFY_SOCKET=notify_listener.address)
    argv = [KENEYA, "--home", str(tmp_path), "power", "run", "--simulate", "sunny", "--speed", "1"]
    with running(argv, env) as first:
        notify_listener.wait_for("READY=1")
        second = keneya(tmp_path, "power", "run", "--simulate", "sunny", "--duration", "60")
        first.kill()  # kill -9: no chance to clean up; the kernel lets the flock go
        first.wait(timeout=30)
    assert second.returncode == 2, second.stderr
    assert second.stderr == f"keneya: another keneya-power is running (pid {first.pid})\n"
    assert (tmp_path / "keneya-power.lock").exists()
    third = keneya(tmp_path, "power", "run", "--simulate", "sunny", "--duration", "60", "--json")
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["stopped_by"] == "duration"
    with Store(tmp_path / "keneya.db") as store:
        # the second monitor wrote nothing: one reading every 5 s, not two
        rows = store.query("SELECT samples FROM power_samples_1m")
        assert rows and max(r["samples"] for r in rows) <= 12


def test_the_help_says_a_simulation_runs_as_fast_as_the_cpu_allows(tmp_path):
    r = keneya(tmp_path, "power", "run", "--help")
    assert r.returncode == 0
    assert "Default: as fast as the CPU allows." in " ".join(r.stdout.split())


def test_a_simulation_applies_the_facility_files_decisions_to_the_scenarios_hardware(tmp_path):
    plain = run_scenario(tmp_path / "plain", "cloudy")
    home = tmp_path / "strict"
    home.mkdir()
    (home / "facility.toml").write_text("[power.thresholds]\nv_low = 11.7\n", encoding="utf-8")
    strict = run_scenario(home, "cloudy")
    # a higher v_low decides the shutdown hours earlier on the same overcast days
    assert strict["shutdown_decided_h"] < plain["shutdown_decided_h"] - 1
    # the file's chemistry on the scenario's lead-acid battery: tried, and said once
    other = tmp_path / "lifepo4"
    other.mkdir()
    (other / "facility.toml").write_text('[power]\nchemistry = "lifepo4"\n', encoding="utf-8")
    r = keneya(other, "power", "run", "--simulate", "cloudy", "--duration", "600", "--json")
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if "chemistry" in line]
    assert said == [
        "keneya power: the facility file says chemistry = lifepo4, the cloudy scenario's"
        " battery is lead-acid: the file's thresholds are tried on it"
    ]
    plain_run = keneya(
        tmp_path / "plain", "power", "run", "--simulate", "cloudy", "--duration", "60"
    )
    assert "chemistry" not in plain_run.stderr


def test_each_line_is_said_once_and_the_summary_in_time_order(tmp_path):
    wait = tmp_path / "wait"
    first = keneya(
        wait,
        *("power", "run", "--simulate", "ageing", "--start-hour", "0", "--interval", "60"),
        *("--duration", str(75 * 3600), "--json"),
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["state"] == "low_power_wait"
    # restarted on the same boot during the wait: it goes on, said once
    again = keneya(wait, "power", "run", "--simulate", "ageing", "--duration", "600", "--json")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("the low-power wait of ") == 1
    held = keneya(
        tmp_path / "held",
        *("power", "run", "--simulate", "ageing", "--start-hour", "0", "--interval", "60"),
    )
    assert held.returncode == 0, held.stderr
    both = held.stdout + held.stderr
    assert both.count("read-only hold: records closed") == 1
    summary = held.stdout[held.stdout.index("stopped (") :].splitlines()
    hours = [float(m[1]) for line in summary if (m := re.search(r"\(([0-9.]+) h\)", line))]
    assert len(hours) >= 5 and hours == sorted(hours)
    assert summary.index(next(s for s in summary if s.startswith("charge controller cut"))) < (
        summary.index(next(s for s in summary if s.startswith("back by itself")))
    )
    assert not any(s.startswith("services back") for s in summary)  # "back by itself" says it


def test_the_summary_lists_what_happened_in_time_order():
    out = Summary().to_dict() | {
        "stopped_by": "duration",
        "state": "critical",
        "shutdown_executed": True,
        "shutdown_how": "low_power_wait",
        "shutdown_executed_at": "2026-10-15T20:00:00Z",
        "shutdown_executed_h": 20.0,
        "services_back_at": "2026-10-16T11:00:00Z",
        "services_back_h": 35.0,
        "cutoff_at": "2026-10-16T04:00:00Z",
        "cutoff_h": 28.0,
    }
    lines = run_text(out).splitlines()
    assert [line.split(" 2026")[0] for line in lines[1:]] == [
        "services stopped",
        "charge controller cut the load",
        "services back",
    ]
