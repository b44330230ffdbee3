"""`keneya modem …` as systemd and a technician use it: the real executable in a subprocess,
the E173 simulator on a real pty, the DHIS2 simulator on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.outbox import enqueue_report
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.store import Store
from tests.conftest import running, sigterm

pytestmark = pytest.mark.component

KENEYA = str(Path(sys.executable).parent / "keneya")
TOKEN = "d2p_cli_token"
CONTRACT = {
    "present",
    "model",
    "imei",
    "sim",
    "registration",
    "operator",
    "mcc_mnc",
    "signal_dbm",
    "signal_bars",
    "link_up",
    "last_upload_at",
    "outbox_pending",
}


def env(**extra: str) -> dict[str, str]:
    drop = ("KENEYA_HOME", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    return {k: v for k, v in os.environ.items() if k not in drop} | extra


def keneya(home: Path, *args: str, timeout: float = 60):
    return subprocess.run(
        [KENEYA, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env(),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def wait_for(predicate, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds  # a guard against hanging, not a measure
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_status_before_the_daemon_ever_ran(tmp_path):
    Store(tmp_path / "keneya.db", create=True).close()
    r = keneya(tmp_path, "modem", "status", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= CONTRACT
    assert out["present"] is False and out["link_up"] is False and out["outbox_pending"] == 0
    assert out["daemon_running"] is False and out["updated_at"] is None
    text = keneya(tmp_path, "modem", "status")
    assert "has not run yet" in text.stdout


def test_status_without_a_database_is_a_clear_error(tmp_path):
    r = keneya(tmp_path, "modem", "status")
    assert r.returncode == 2 and "keneya db init" in r.stderr and "Traceback" not in r.stderr


def test_the_daemon_sends_a_queued_report_over_the_simulated_modem_and_link(
    tmp_path, notify_listener
):
    meta = {"dataSets": ["dsCli"], "dataElements": ["deCli"], "orgUnits": ["ouCli"]}
    with Dhis2Sim(Dhis2Metadata(meta), tokens=(TOKEN,)) as dhis2:
        with Store(tmp_path / "keneya.db", create=True) as store:
            store.set_settings({"dhis2_url": dhis2.url, "facility_code": "CLI"})
            item = enqueue_report(
                store,
                facility="CLI",
                dataset="dsCli",
                period="202610",
                payload={
                    "dataSet": "dsCli",
                    "period": "202610",
                    "orgUnit": "ouCli",
                    "dataValues": [{"dataElement": "deCli", "value": "12"}],
                },
            )
        secrets = tmp_path / "secrets"
        secrets.mkdir(mode=0o700)
        (secrets / "dhis2_token").write_text(TOKEN + "\n")
        argv = [KENEYA, "--home", str(tmp_path), "modem", "run", "--simulate"]
        argv += ["--outage", "3600", "1", "--seed", "3"]
        daemon_env = env(NOTIFY_SOCKET=notify_listener.address, WATCHDOG_USEC="4000000")
        with running(argv, daemon_env) as proc:
            notify_listener.wait_for("READY=1")

            def delivered():
                with Store(tmp_path / "keneya.db") as s:
                    return s.outbox.get(item["id"])["status"] == "delivered"

            wait_for(delivered, seconds=60, what="the report to be delivered")
            status = json.loads(keneya(tmp_path, "modem", "status", "--json").stdout)
            notify_listener.wait_for("WATCHDOG=1")
            out, err = sigterm(proc)
            notify_listener.wait_for("STOPPING=1")
        values = dhis2.query(dataset="dsCli", period="202610", org_unit="ouCli")
    assert proc.returncode == 0, err
    assert "keneya-modem stopped" in out
    assert [v["value"] for v in values] == ["12"] and dhis2.compressed_requests == 1
    assert status["state"] == "ready" and status["present"] is True
    assert status["model"] == "E173" and status["imei"].endswith("4567")
    assert status["registration"] == "home" and status["mcc_mnc"] == "61002"
    assert status["link_up"] is True and status["outbox_pending"] == 0
    assert status["last_upload_at"] and status["daemon_running"] is True
    with Store(tmp_path / "keneya.db") as store:
        # the modem's network time made the clock trusted (the simulator's is plausible)
        assert json.loads(store.get_setting("modem.status"))["state"] == "ready"
        assert store.integrity_check() == []


def test_without_a_stick_the_daemon_runs_degraded_instead_of_failing(tmp_path):
    r = keneya(tmp_path, "modem", "run", "--duration", "3")
    assert r.returncode == 0, r.stderr
    status = json.loads(keneya(tmp_path, "modem", "status", "--json").stdout)
    assert status["state"] == "stopped" and status["last_state"] == "absent"
    assert status["present"] is False and "plugged in" in status["error"]
    assert status["daemon_running"] is False and status["stopped_at"]  # stopped, not stale
    text = keneya(tmp_path, "modem", "status").stdout
    assert text.startswith("modem: keneya-modem stopped at ") and "last saw absent" in text


@pytest.fixture
def simulated_stick(tmp_path):
    link = tmp_path / "ttyE173"
    proc = subprocess.Popen(
        [KENEYA, "--home", str(tmp_path), "modem", "simulate", "--pty-link", str(link)]
        + ["--registration-delay", "0.1", "--seed", "5"],
        env=env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(link.exists, seconds=30, what="the simulated port")
        yield link
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_sms_test_through_the_simulated_stick(tmp_path, simulated_stick):
    Store(tmp_path / "keneya.db", create=True).close()
    time.sleep(0.3)  # registration delay of the simulated network
    r = keneya(tmp_path, "modem", "sms-test", "+22370000000", "--device", str(simulated_stick))
    assert r.returncode == 0, r.stderr
    assert "sent to +22370000000 (message reference" in r.stdout


def test_sms_test_refuses_a_bad_number_and_says_when_there_is_no_stick(tmp_path):
    Store(tmp_path / "keneya.db", create=True).close()
    r = keneya(tmp_path, "modem", "sms-test", "district")
    assert r.returncode == 2 and "not a phone number" in r.stderr
    r = keneya(tmp_path, "modem", "sms-test", "+22370000000")
    assert r.returncode == 2 and "plugged in" in r.stderr and "Traceback" not in r.stderr


def test_the_systemd_unit_runs_the_daemon_with_notify_and_a_watchdog():
    import configparser

    # not strict: systemd adds up repeated keys (SystemCallFilter= twice); the last one wins here
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(Path(__file__).parents[3] / "image_build" / "units" / "keneya-modem.service")
    service = unit["Service"]
    assert service["Type"] == "notify" and service["ExecStart"].endswith("keneya modem run")
    # the watchdog outlasts the longest wait between pings: a 60 s send or SMS
    assert int(service["WatchdogSec"]) > 2 * 60
    assert unit["Install"]["WantedBy"] == "multi-user.target"


# -- the APN ----------------------------------------------------------------------------------
def apn_json(home: Path, *args: str) -> dict:
    r = keneya(home, "modem", "apn", *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_apn_of_each_malian_network_and_where_it_comes_from(tmp_path):
    from modem.apn import DATABASE, database_missing_hint

    assert DATABASE.exists(), database_missing_hint(DATABASE)
    orange = apn_json(tmp_path, "61002")
    assert (orange["apn"], orange["username"], orange["password"]) == (
        "internet",
        "internet",
        "internet",
    )
    assert orange["auth"] == "pap-or-chap" and orange["operator"] == "Orange Mali"
    assert orange["source"].startswith("mobile-broadband-provider-info ")
    assert str(DATABASE) in orange["source"] and orange["alternatives"] == ["iew"]
    malitel = apn_json(tmp_path, "61001")
    assert (malitel["apn"], malitel["username"], malitel["password"]) == (
        "web.malitel3.ml",
        "internet",
        "internet",
    )
    telecel = apn_json(tmp_path, "61003")
    assert telecel["apn"] == "internet" and telecel["source"] == "built-in table"
    assert telecel["auth"] == "none" and telecel["note"]
    text = keneya(tmp_path, "modem", "apn", "61001")
    assert text.returncode == 0
    assert "APN web.malitel3.ml" in text.stdout and "username internet" in text.stdout
    assert "from mobile-broadband-provider-info" in text.stdout


def test_apn_without_the_database_and_for_an_unknown_network(tmp_path):
    missing = str(tmp_path / "serviceproviders.xml")
    fallback = apn_json(tmp_path, "61001", "--database", missing)
    assert fallback["source"] == "built-in table" and fallback["username"] == "internet"
    r = keneya(tmp_path, "modem", "apn", "99999")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "no APN known for network 99999" in r.stderr
    assert "[modem] apn" in r.stderr and "Traceback" not in r.stderr
    r = keneya(tmp_path, "modem", "apn", "99999", "--database", missing)
    assert r.returncode == 2 and "apt-get install mobile-broadband-provider-info" in r.stderr
    r = keneya(tmp_path, "modem", "apn", "orange")
    assert r.returncode == 2 and "not an MCC-MNC" in r.stderr


def test_apn_from_the_facility_file_wins(tmp_path):
    (tmp_path / "facility.toml").write_text(
        '[modem]\napn = "sante.ml"\nusername = "cscom"\npassword = "s3cret"\nauth = "chap"\n'
    )
    own = apn_json(tmp_path, "61002")
    assert (own["apn"], own["username"], own["password"], own["auth"]) == (
        "sante.ml",
        "cscom",
        "s3cret",
        "chap",
    )
    assert own["source"] == "facility file"
    assert own["overridden"] == ["apn", "username", "password", "auth"]
    (tmp_path / "facility.toml").write_text('[modem]\nauth = "eap"\n')
    r = keneya(tmp_path, "modem", "apn", "61002")
    assert r.returncode == 2 and "auth must be one of" in r.stderr


def test_telecel_reaches_ready_and_a_stop_shows_at_once(tmp_path):
    Store(tmp_path / "keneya.db", create=True).close()
    argv = [KENEYA, "--home", str(tmp_path), "modem", "run", "--simulate", "--operator", "telecel"]
    with running(argv + ["--outage", "3600", "1"], env()) as proc:

        def ready():
            r = keneya(tmp_path, "modem", "status", "--json")
            return r.returncode == 0 and (s := json.loads(r.stdout))["state"] == "ready" and s

        status = wait_for(ready, seconds=60, what="the simulated Telecel SIM to be ready")
        _, err = sigterm(proc)
    assert proc.returncode == 0, err
    assert status["mcc_mnc"] == "61003" and status["operator"] == "TELECEL"
    assert status["apn"] == "internet"  # the built-in table: no longer stuck at no_apn
    assert status["daemon_running"] is True
    after = json.loads(keneya(tmp_path, "modem", "status", "--json").stdout)
    assert after["daemon_running"] is False and after["stopped_at"]
    # what it last saw is not the modem's state now
    assert after["state"] == "stopped" and after["last_state"] == "ready"
    assert after["operator"] is None and after["signal_dbm"] is None and after["apn"] is None
    assert "stopped at" in keneya(tmp_path, "modem", "status").stdout
