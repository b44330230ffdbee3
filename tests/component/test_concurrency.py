"""Several processes on one database file, as on the Pi (web, kiosk, daemons), and a
process killed mid-write, as by a power cut."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from appliance.store import Store

pytestmark = pytest.mark.component

WRITER = textwrap.dedent("""
    import sys
    from appliance.services import auth, patients
    from appliance.services.context import Context
    from appliance.store import Store

    db, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Store(db) as store:
        ctx = Context.open(store, boot_id="b")
        nurse = auth.login(ctx, "nurse", pin="904716")
        for i in range(count):
            given = f"{tag} {chr(65 + i % 26)}{chr(65 + i // 26 % 26)}"
            patients.register(ctx, nurse, {
                "family_name": "Sangaré", "given_names": given,
                "sex": "F", "birth_date": f"{1950 + i % 50}-01-01"}, accept_duplicates=True)
            print(i, flush=True)
""")


@pytest.fixture
def shared_db(tmp_path, ctx, actors):
    path = ctx.store.path
    ctx.store.close()
    return path


def _writer(db, tag, count):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), tag, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_registering_at_once_never_share_a_number(shared_db):
    procs = [_writer(shared_db, tag, 40) for tag in ("Web", "Kiosk")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with Store(shared_db) as store:
        rows = store.query("SELECT sequence, health_number FROM patients")
        assert len(rows) == 80
        assert len({r["sequence"] for r in rows}) == 80
        assert len({r["health_number"] for r in rows}) == 80


def test_a_killed_writer_loses_nothing_it_committed(shared_db):
    proc = _writer(shared_db, "Cut", 10_000)
    committed = -1
    deadline = time.monotonic() + 120
    while committed < 30 and time.monotonic() < deadline:  # let it write a while
        committed = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up, as when the power goes
    proc.wait()
    with Store(shared_db) as store:
        assert store.integrity_check() == []
        n = store.query_one("SELECT COUNT(*) AS n FROM patients")["n"]
        assert n >= committed + 1  # every patient reported as registered is there
        audits = store.query_one(
            "SELECT COUNT(*) AS n FROM audit WHERE action = 'patient.register'"
        )["n"]
        assert audits >= committed + 1
