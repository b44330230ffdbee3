"""A full and a read-only data folder, for real: a small tmpfs filled to the last byte or
remounted read-only (tests/conftest.py SmallDisk), under the store, the real `keneya` CLI, the
power daemon and the web app. What is checked is what a technician and staff would see: the
message naming the cause, exit status 2 without a traceback, the battery still watched, the
readings kept and written once there is room, pages that say the disk is full."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.services import auth, patients
from appliance.services.context import Context
from appliance.store import Store
from appliance.store.diskspace import (
    DiskFull,
    DiskProblem,
    ReadOnlyFolder,
    classify,
    disk_errors,
    open_store,
)
from power.daemon import Settings
from power.policy import State
from power.shutdown import STOP_SERVICES
from power.sim import get
from power.simulated import simulated_daemon
from tests.conftest import PINS, running, sigterm

pytestmark = pytest.mark.component

KENEYA = str(Path(sys.executable).parent / "keneya")
PASSWORD = {"admin": "pass-admin-1", "nurse": "pass-nurse-1"}
WAIT_S = 120  # only ever reached when something hangs: every wait ends on an event


def full_fr(folder: Path) -> str:
    return f"disque plein : libérez de la place sur {folder} (0,0 Mo libres sur 4,0 Mo)"


def full_line(folder: Path) -> str:
    """The CLI's line on a full 4 MiB disk: French, then English."""
    return f"{full_fr(folder)} / disk full: free some space on {folder} (0.0 MB free of 4.0 MB)"


def read_only_line(folder: Path) -> str:
    return f"dossier en lecture seule : {folder} / read-only folder: {folder}"


def make_home(home: Path) -> dict:
    """A provisioned database with an admin, a nurse (password and PIN) and one patient; closed
    afterwards, so its -shm and -wal files are gone as after a clean stop."""
    with Store(home / "keneya.db", create=True) as store:
        store.set_setting("facility_code", "KLB")
        ctx = Context.open(store, boot_id="boot-1")
        auth.add_staff(
            ctx, None, username="admin", display_name="Admin", role="admin",
            password=PASSWORD["admin"],
        )  # fmt: skip
        admin = auth.login(ctx, "admin", password=PASSWORD["admin"])
        auth.add_staff(
            ctx, admin, username="nurse", display_name="Awa Nurse", role="nurse",
            password=PASSWORD["nurse"], pin=PINS["nurse"],
        )  # fmt: skip
        nurse = auth.login(ctx, "nurse", password=PASSWORD["nurse"])
        patient = patients.register(
            ctx,
            nurse,
            {"family_name": "Traoré", "given_names": "Aminata", "sex": "F",
             "birth_date": "1995-03-14", "village": "Kalaban"},
        )  # fmt: skip
    assert not (home / "keneya.db-shm").exists()
    return patient


def env(**extra: str) -> dict[str, str]:
    drop = ("KENEYA_HOME", "KENEYA_PIN", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    return (
        {k: v for k, v in os.environ.items() if k not in drop} | {"PYTHONUNBUFFERED": "1"} | extra
    )


def keneya(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KENEYA, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env(**extra),
        timeout=WAIT_S,
        stdin=subprocess.DEVNULL,
    )


def one_line_exit_2(r: subprocess.CompletedProcess, expected: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr == f"keneya: {expected}\n"


# -- the classification on a real disk ---------------------------------------------------------


def test_a_write_on_a_full_disk_is_disk_full_and_works_again_once_freed(small_disk):
    folder = small_disk.path
    make_home(folder)
    with Store(folder / "keneya.db") as store:  # open before: its -shm file exists
        small_disk.fill()
        with pytest.raises(DiskFull) as caught, disk_errors(store.path):
            store.set_setting("note", "x" * 100_000)
        problem = caught.value
        assert isinstance(problem, OSError) and problem.errno == 28
        assert isinstance(problem.__cause__, sqlite3.OperationalError)
        assert str(problem) == full_line(folder)
        assert store.get_setting("note") is None  # reads go on
        small_disk.free()
        store.set_setting("note", "x" * 100_000)  # the same connection writes again
        assert len(store.get_setting("note")) == 100_000


def test_opening_needs_no_write_when_the_schema_is_current(small_disk):
    """Another process holds the database (its -shm exists, as on the Pi): a new Store opens
    normally on a full disk, WAL mode and migrations included, since neither writes."""
    folder = small_disk.path
    make_home(folder)
    with Store(folder / "keneya.db"):
        small_disk.fill()
        with Store(folder / "keneya.db") as second:
            assert not second.read_only and second.migrate() == []
            assert second.get_setting("facility_code") == "KLB"


def test_opening_a_full_disk_reads_the_file_as_it_is(small_disk):
    folder = small_disk.path
    patient = make_home(folder)
    small_disk.fill()
    # SQLite cannot size its -shm file: "disk I/O error", which the free space explains
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error") as caught:
        Store(folder / "keneya.db")
    assert isinstance(classify(caught.value, folder / "keneya.db"), DiskFull)
    with open_store(folder / "keneya.db") as store:
        assert store.read_only
        assert store.patients.get(patient["id"])["family_name"] == "Traoré"
        with pytest.raises(DiskFull), disk_errors(store.path):
            store.set_setting("note", "x")
    # an error the disk did not cause is left alone
    busy = sqlite3.OperationalError("no such table: nowhere")
    assert classify(busy, folder / "keneya.db") is None


def test_a_read_only_folder_is_named(small_disk):
    folder = small_disk.path
    patient = make_home(folder)
    small_disk.read_only()
    with pytest.raises(sqlite3.OperationalError, match="unable to open database file") as caught:
        Store(folder / "keneya.db")
    problem = classify(caught.value, folder / "keneya.db")
    assert isinstance(problem, ReadOnlyFolder) and str(problem) == read_only_line(folder)
    with pytest.raises(ReadOnlyFolder), disk_errors(folder / "keneya.db"):
        (folder / "new.txt").write_text("x")
    with open_store(folder / "keneya.db") as store:  # records stay readable
        assert store.read_only
        assert store.patients.get(patient["id"])["given_names"] == "Aminata"


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_on_a_full_disk_names_it_in_one_line(small_disk):
    home = small_disk.path
    make_home(home)
    small_disk.fill()
    one_line_exit_2(keneya(home, "db", "init", "--facility-name", "Kalaban"), full_line(home))
    one_line_exit_2(
        keneya(home, "patient", "search", "Traoré", "--as", "nurse", KENEYA_PIN=PINS["nurse"]),
        full_line(home),
    )  # the login writes its audit row
    # a command that only reads still answers, from the file as it is
    r = keneya(home, "power", "status", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] is None and "Traceback" not in r.stderr


def test_cli_on_a_full_disk_while_another_process_holds_the_database(small_disk):
    home = small_disk.path
    make_home(home)
    with Store(home / "keneya.db"):  # as keneya-power does on the Pi: -shm exists
        small_disk.fill()
        one_line_exit_2(keneya(home, "db", "init", "--facility-name", "K" * 200), full_line(home))


def test_cli_on_a_read_only_home_names_the_folder(small_disk):
    home = small_disk.path
    make_home(home)
    small_disk.read_only()
    one_line_exit_2(keneya(home, "db", "init", "--facility-name", "Kalaban"), read_only_line(home))
    r = keneya(home, "power", "events", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    r = keneya(home, "status")  # the technician's console flags it
    assert r.returncode == 0, r.stderr
    (disk,) = [line for line in r.stdout.splitlines() if "disk:" in line]
    assert disk.startswith("!") and read_only_line(home).split(" / ")[0] in disk


# -- the power daemon --------------------------------------------------------------------------

COARSE = Settings(sample_s=60, batch_s=60)
ORIGIN = datetime(2026, 10, 15, tzinfo=UTC)


def stored_samples(database: Path) -> int:
    with Store(database) as store:
        return sum(t["samples"] for t in store.power.totals().values())


def test_the_daemon_watches_the_battery_with_no_database_at_all(tmp_path):
    """Nothing can be opened (full disk, unreadable file): it still reads, decides and stops
    the services for the low-power wait; what it could not write is counted."""

    def refuse() -> Store:
        raise DiskFull(tmp_path)

    lines: list[str] = []
    scenario = get("cloudy")
    with simulated_daemon(
        None, scenario, origin=ORIGIN, settings=COARSE, reopen=refuse, echo=lines.append,
        database=tmp_path / "keneya.db",
    ) as sim:  # fmt: skip
        summary = sim.daemon.run(duration_s=scenario.end_s)
    # cloudy days end in the wait, still sampling at the scenario's end
    assert summary.stopped_by == "duration" and summary.state == "low_power_wait"
    assert sim.commands.calls == [STOP_SERVICES]
    assert summary.execution.how == "low_power_wait"
    assert summary.execution.checkpoints == (None, None)  # no store: nothing to checkpoint
    assert summary.writes == 0 and summary.write_errors > 0
    assert summary.event_counts["shutdown_decided"] == 1
    assert 0 < summary.unwritten_rows <= 2 * 1440
    assert sum("cannot write to the database" in line for line in lines) == 1  # said once


def test_the_daemon_keeps_its_readings_and_writes_them_once_freed(small_disk):
    database = small_disk.path / "keneya.db"
    make_home(small_disk.path)
    lines: list[str] = []
    with (
        Store(database) as store,
        simulated_daemon(
            store, get("sunny"), origin=ORIGIN, settings=COARSE, echo=lines.append,
            reopen=lambda: open_store(database, create=True),
        ) as sim,
    ):  # fmt: skip
        d, clock = sim.daemon, sim.rig.clock
        for _ in range(10):
            d.step()
            clock.advance(60)
        small_disk.fill()
        for _ in range(600):  # ten hours on a full disk
            d.step()
            clock.advance(60)
        assert d.summary.write_errors > 0
        assert d.state in (State.OK, State.WARN)  # still deciding
        assert any(full_fr(small_disk.path) in line for line in lines)
        small_disk.free()
        for _ in range(3):
            d.step()
            clock.advance(60)
        assert any("takes writes again" in line for line in lines)
        summary = d.summary
    assert summary.unwritten_rows == 0 and summary.unwritten_events == 0
    assert stored_samples(database) == summary.samples


def test_the_daemon_started_on_a_full_disk_opens_the_database_once_there_is_room(small_disk):
    database = small_disk.path / "keneya.db"
    make_home(small_disk.path)
    small_disk.fill()
    store = open_store(database, create=True)
    assert store.read_only
    with simulated_daemon(
        store, get("sunny"), origin=ORIGIN, settings=COARSE,
        reopen=lambda: open_store(database, create=True),
    ) as sim:  # fmt: skip
        d, clock = sim.daemon, sim.rig.clock
        for _ in range(30):
            d.step()
            clock.advance(60)
        assert d.store.read_only and d.summary.writes == 0
        small_disk.free()
        for _ in range(3):
            d.step()
            clock.advance(60)
        assert not d.store.read_only and d.summary.writes > 0
        summary = d.summary
    store.close()
    assert stored_samples(database) == summary.samples


def test_the_daemon_prunes_old_history_when_the_disk_runs_short(small_disk):
    """keneya-power is the one process that always runs: its loop keeps the floor."""
    database = small_disk.path / "keneya.db"
    make_home(small_disk.path)
    start = int(ORIGIN.timestamp())
    old = [
        {"start_s": t, "samples": 180, "faults": 0, "v_avg": 12.5, "v_min": 12.4,
         "v_max": 12.6, "i_avg": 0.5, "soc_last": 80.0, "state": "ok", "clock_trusted": 1}
        for t in range(start - 60 * 86400, start - 3 * 86400, 900)
    ]  # fmt: skip
    with Store(database) as store:
        store.power.add_samples(old, table="power_samples_15m")
    lines: list[str] = []
    floor = Settings(sample_s=60, batch_s=60, min_free_fraction=0.99)  # always under it
    with (
        Store(database) as store,
        simulated_daemon(
            store, get("sunny"), origin=ORIGIN, settings=floor, echo=lines.append
        ) as sim,
    ):
        d, clock = sim.daemon, sim.rig.clock
        d.step()
        assert 0 < d.summary.pruned < len(old)  # a few short batches per step
        for _ in range(3):  # the next steps go on, without waiting for the next check
            clock.advance(60)
            d.step()
        summary = d.summary
        left = store.query_one("SELECT COUNT(*) AS n FROM power_samples_15m")["n"]
        kept = store.counts()
    assert summary.pruned == len(old) == 57 * 96 and left == 0
    assert kept["patients"] == 1 and kept["audit"] > 0 and kept["staff"] == 2
    assert any(
        line.startswith("pruned to keep room on the disk: 0 sent outbox items") for line in lines
    )


class Lines:
    """A process's stderr read line by line on a thread, so the test can wait for a line."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str) -> str:
        while True:
            try:
                line = self._queue.get(timeout=WAIT_S)
            except queue.Empty:
                pytest.fail(f"no line with {text!r} in {WAIT_S} s; last lines: {self.seen[-5:]}")
            if line is None:
                pytest.fail(f"the process ended before a line with {text!r}: {self.seen[-5:]}")
            self.seen.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        while (line := self._queue.get(timeout=WAIT_S)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


def test_power_run_starts_on_a_full_disk_and_writes_what_it_kept_once_freed(small_disk):
    home = small_disk.path
    make_home(home)
    small_disk.fill()
    argv = [KENEYA, "--home", str(home), "power", "run", "--simulate", "cloudy"]
    argv += ["--speed", "3600", "--interval", "60", "--report-every", "1800", "--json"]
    with running(argv, env()) as proc:
        err = Lines(proc.stderr)
        first = err.wait_for("keneya power: ")
        assert first.startswith(f"keneya power: {full_line(home)}; the battery is watched")
        err.wait_for("cannot write to the database")
        for _ in range(3):  # half-hourly status lines: it goes on reading and deciding
            assert re.search(r"Z  (ok|warn|shutdown_pending) ", err.wait_for(" V "))
        small_disk.free()
        err.wait_for("takes writes again")
        proc.send_signal(signal.SIGTERM)
        out = proc.stdout.read()
        rest = err.rest()
        assert proc.wait(timeout=WAIT_S) == 0, rest
    assert "Traceback" not in rest
    summary = json.loads(out)
    assert summary["write_errors"] > 0 and summary["unwritten_rows"] == 0
    assert stored_samples(home / "keneya.db") == summary["samples"] > 0


def test_power_run_starts_on_a_read_only_home(small_disk):
    home = small_disk.path
    make_home(home)
    small_disk.read_only()
    argv = [KENEYA, "--home", str(home), "power", "run", "--simulate", "sunny"]
    argv += ["--speed", "100000", "--duration", "7200", "--json"]
    r = subprocess.run(argv, capture_output=True, text=True, env=env(), timeout=WAIT_S)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith(f"keneya power: {read_only_line(home)}; the battery is watched")
    assert "Traceback" not in r.stderr
    summary = json.loads(r.stdout)
    assert summary["stopped_by"] == "duration" and summary["samples"] == 7200 // 5 + 1
    assert summary["writes"] == 0 and summary["unwritten_rows"] > 0


# -- the web app -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Just enough of a browser: one cookie, no redirects followed."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookie: str | None = None

    def request(self, method: str, path: str, data: dict | None = None, *, json_body=None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=body, headers=headers, method=method)
        opener = urllib.request.build_opener(NoRedirect)
        try:
            r = opener.open(req, timeout=WAIT_S)
        except urllib.error.HTTPError as e:
            r = e
        cookie = r.headers.get("set-cookie")
        if cookie:
            self.cookie = cookie.split(";")[0]
        return r.status, r.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def serve(notify_listener):
    """serve(home) → a Browser on `keneya serve` for that home, ready (READY=1)."""
    with contextlib.ExitStack() as stack:
        started = []

        def start(home: Path) -> Browser:
            port = free_port()
            argv = [KENEYA, "--home", str(home), "serve", "--port", str(port)]
            proc = stack.enter_context(running(argv, env(NOTIFY_SOCKET=notify_listener.address)))
            started.append(proc)
            notify_listener.wait_for("READY=1")
            return Browser(f"http://127.0.0.1:{port}")

        yield start
        for proc in started:
            _, err = sigterm(proc)
            assert "Traceback" not in err, err


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def test_web_app_starts_on_a_full_disk_and_says_so(small_disk, serve):
    home = small_disk.path
    make_home(home)
    small_disk.fill()
    browser = serve(home)
    status, page = browser.request("GET", "/")
    assert status == 507
    assert full_fr(home) in page and "Connexion impossible" in page
    assert 'name="password"' not in page  # no login form that could only fail
    assert browser.request("GET", "/static/app.css")[0] == 200
    status, body = browser.request(
        "POST", "/api/v1/session", json_body={"username": "nurse", "password": PASSWORD["nurse"]}
    )
    assert status == 507
    answer = json.loads(body)
    assert answer["error"] == full_fr(home) and answer["problem"] == "disk_full"
    assert answer["free_bytes"] == 0 and answer["total_bytes"] == 4 * 1024 * 1024
    small_disk.free()  # the technician made room: the login form is back
    status, page = browser.request("GET", "/")
    assert status == 200 and csrf_of(page)


def test_web_pages_on_a_disk_that_fills_while_logged_in(small_disk, serve):
    home = small_disk.path
    patient = make_home(home)
    browser = serve(home)
    token = csrf_of(browser.request("GET", "/")[1])
    status, _ = browser.request(
        "POST", "/login", {"username": "nurse", "password": PASSWORD["nurse"], "csrf": token}
    )
    assert status == 303
    small_disk.fill()
    # pages that only read open, with the banner
    for path in ("/", "/patients"):
        status, page = browser.request("GET", path)
        assert status == 200 and full_fr(home) in page, path
    # the status page (machine state, no patient data) answers, its audit row waiting
    status, page = browser.request("GET", "/status")
    assert status == 200 and full_fr(home) in page
    # a search and a record are audited: without their audit row they are refused, saying why
    for path in ("/patients?q=Traor", f"/patients/{patient['id']}"):
        status, page = browser.request("GET", path)
        assert status == 507, path
        assert full_fr(home) in page and "Disque plein" in page and "Rien n" in page
        assert "Une erreur est survenue" not in page


def test_web_app_on_a_read_only_home(small_disk, serve):
    home = small_disk.path
    make_home(home)
    small_disk.read_only()
    browser = serve(home)
    status, page = browser.request("GET", "/")
    assert status == 503
    assert f"dossier en lecture seule : {home}" in page
    assert browser.request("GET", "/static/htmx.min.js")[0] == 200


def test_disk_problems_are_oserrors_and_store_errors(tmp_path):
    from appliance.store import StoreError

    for problem in (DiskFull(tmp_path), ReadOnlyFolder(tmp_path)):
        assert isinstance(problem, DiskProblem | StoreError | OSError)
        assert isinstance(problem, StoreError) and isinstance(problem, OSError)
