"""The `keneya` command as scripts use it: the contract of the foundation issue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import keneya

pytestmark = pytest.mark.component


def run(home: Path, *args: str, stdin: str = "", pin: str | None = None):
    return keneya(home, *args, stdin=stdin, pin=pin, timeout=120)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    r = run(home, "seed", "--patients", "300", "--seed", "7", "--json")
    assert r.returncode == 0, r.stderr
    return home


@pytest.fixture(scope="module")
def logins(home):
    lines = (home / "demo-logins.txt").read_text().splitlines()
    return {role: (user, pin) for user, role, pin in (line.split() for line in lines)}


def search(home, logins, query, role="nurse"):
    user, pin = logins[role]
    r = run(home, "patient", "search", query, "--json", "--as", user, pin=pin)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_seed_wrote_one_login_per_role(logins):
    assert set(logins) == {
        "admin",
        "doctor",
        "midwife",
        "nurse",
        "matron",
        "health_worker",
        "technician",
    }
    assert all(pin.isdigit() and 4 <= len(pin) <= 8 for _, pin in logins.values())


def test_db_init_is_idempotent(tmp_path):
    for _ in range(2):
        r = run(tmp_path, "db", "init", "--facility-code", "KLB", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["facility_code"] == "KLB"


def test_search_json_contract(home, logins):
    rows = search(home, logins, "a")
    assert rows, "a one-letter prefix finds someone in 300 patients"
    for row in rows:
        assert {
            "id",
            "health_number",
            "family_name",
            "given_names",
            "sex",
            "birth_date",
            "score",
        } <= set(row)


def test_show_json_has_all_encounters_and_is_audited(home, logins):
    row = search(home, logins, "a")[0]
    user, pin = logins["doctor"]
    r = run(home, "patient", "show", row["id"], "--json", "--as", user, pin=pin)
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["id"] == row["id"] and isinstance(record["encounters"], list)
    admin, admin_pin = logins["admin"]
    r = run(home, "audit", "--patient", row["id"], "--json", "--as", admin, pin=admin_pin)
    trail = json.loads(r.stdout)
    assert any(a["action"] == "patient.view" and a["username"] == user for a in trail)


def test_search_pages_and_says_when_more(home, logins):
    user, pin = logins["nurse"]
    args = ("patient", "search", "traore", "--json", "--as", user)
    everyone = json.loads(run(home, *args, "--limit", "100", pin=pin).stdout)
    assert len(everyone) > 3
    r = run(home, *args, "--limit", "2", "--offset", "1", pin=pin)
    assert r.returncode == 0, r.stderr
    assert [p["id"] for p in json.loads(r.stdout)] == [p["id"] for p in everyone[1:3]]
    assert "plus de résultats : --offset 3" in r.stderr
    last = run(home, *args, "--offset", str(len(everyone) - 1), pin=pin)
    assert len(json.loads(last.stdout)) == 1 and "plus de résultats" not in last.stderr
    human = run(home, "patient", "search", "traore", "--limit", "1", "--as", user, pin=pin)
    assert human.stdout.strip().endswith("more results: --offset 1")
    beyond = run(home, "patient", "search", "traore", "--offset", "100000", "--as", user, pin=pin)
    assert "pas d'autres résultats après les 100000 premiers" in beyond.stdout


def test_pin_from_stdin(home, logins):
    user, pin = logins["midwife"]
    r = run(home, "patient", "search", "a", "--json", "--as", user, stdin=pin + "\n")
    assert r.returncode == 0, r.stderr


def test_register_then_encounter_then_correct(home, logins):
    user, pin = logins["nurse"]
    r = run(
        home,
        "patient",
        "register",
        "--family-name",
        "Dembélé",
        "--given-names",
        "Sali",
        "--sex",
        "F",
        "--age-years",
        "24",
        "--village",
        "Kalaban",
        "--json",
        "--as",
        user,
        pin=pin,
    )
    assert r.returncode == 0, r.stderr
    patient = json.loads(r.stdout)
    assert patient["birth_date_estimated"] is True
    data = json.dumps(
        {"care_date": "2026-01-05", "diagnoses": [{"code": "malaria_confirmed", "confirmed": True}]}
    )
    r = run(
        home,
        "encounter",
        "add",
        patient["health_number"],
        "--type",
        "consultation",
        "--data",
        data,
        "--json",
        "--as",
        user,
        pin=pin,
    )
    assert r.returncode == 0, r.stderr
    enc = json.loads(r.stdout)
    r = run(
        home,
        "encounter",
        "correct",
        enc["id"],
        "--data",
        data,
        "--reason",
        "typing error",
        "--json",
        "--as",
        user,
        pin=pin,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["supersedes"] == enc["id"]


def test_registering_a_duplicate_lists_candidates(home, logins):
    user, pin = logins["nurse"]
    args = [
        "patient",
        "register",
        "--family-name",
        "Guindo",
        "--given-names",
        "Yacouba",
        "--sex",
        "M",
        "--birth-date",
        "1990-02-03",
        "--village",
        "Kalaban",
        "--json",
        "--as",
        user,
    ]
    assert run(home, *args, pin=pin).returncode == 0
    r = run(home, *args, pin=pin)
    assert r.returncode == 3
    assert json.loads(r.stdout)["duplicates"][0]["family_name"] == "Guindo"


def test_staff_add_reads_secrets_from_stdin(home, logins):
    admin, admin_pin = logins["admin"]
    r = run(
        home,
        "staff",
        "add",
        "--name",
        "Nana Konaté",
        "--role",
        "midwife",
        "--pin-stdin",
        "--password-stdin",
        "--as",
        admin,
        "--json",
        stdin=f"{admin_pin}\n582039\nsecret-password\n",
    )
    assert r.returncode == 0, r.stderr
    user = json.loads(r.stdout)["username"]
    assert user == "nana.konate"  # made from the name, accents folded
    r = run(home, "patient", "search", "a", "--json", "--as", user, pin="582039")
    assert r.returncode == 0, r.stderr


def test_backup_cycle(home, tmp_path):
    r = run(home, "backup", "create", "--to", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    file = json.loads(r.stdout)["file"]
    assert run(home, "backup", "verify", file, "--json").returncode == 0


def test_clock_status_and_confirm(home, logins):
    r = run(home, "clock", "status", "--json")
    assert r.returncode == 0 and "trusted" in json.loads(r.stdout)
    user, pin = logins["midwife"]
    r = run(home, "clock", "confirm", "--json", "--as", user, pin=pin)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["trusted"] is True


# -- bad input: one line, exit status 2, never a traceback ------------------------------------
BAD = [
    ("patient", "search", "traore"),  # no --as
    ("patient", "search", "traore", "--as", "nobody"),
    ("patient", "search", "", "--as", "@nurse"),
    ("patient", "show", "no-such-patient", "--as", "@nurse"),
    ("patient", "show", "x", "--as", "@technician"),
    (
        "patient",
        "register",
        "--family-name",
        "X1",
        "--given-names",
        "Y",
        "--sex",
        "F",
        "--birth-date",
        "2001-01-01",
        "--as",
        "@nurse",
    ),
    (
        "patient",
        "register",
        "--family-name",
        "Sow",
        "--given-names",
        "Awa",
        "--sex",
        "F",
        "--birth-date",
        "3001-01-01",
        "--as",
        "@nurse",
    ),
    (
        "patient",
        "register",
        "--family-name",
        "Sow",
        "--given-names",
        "Awa",
        "--sex",
        "Q",
        "--birth-date",
        "2001-01-01",
        "--as",
        "@nurse",
    ),
    ("patient", "merge", "--keep", "a", "--merge", "b", "--reason", "r", "--as", "@nurse"),
    ("encounter", "add", "x", "--type", "growth", "--data", "{not json", "--as", "@nurse"),
    (
        "encounter",
        "add",
        "@patient",
        "--type",
        "growth",
        "--data",
        '{"care_date": "2026-01-01", "weight_kg": 300}',
        "--as",
        "@nurse",
    ),
    ("encounter", "add", "@patient", "--type", "surgery", "--data", "{}", "--as", "@nurse"),
    ("encounter", "correct", "no-such", "--data", "{}", "--reason", "x", "--as", "@nurse"),
    ("encounter", "void", "no-such", "--reason", "x", "--as", "@nurse"),
    ("audit", "--patient", "@patient", "--as", "@nurse"),
    (
        "staff",
        "add",
        "--name",
        "X",
        "--role",
        "chief",
        "--pin-stdin",
        "--no-password",
        "--as",
        "@admin",
    ),
    ("staff", "list", "--as", "@nurse"),
    ("clock", "confirm", "--time", "yesterday", "--as", "@nurse"),
    ("backup", "verify", "/nonexistent/file.db"),
    ("backup", "restore", "/nonexistent/file.db"),
    ("db", "init", "--facility-code", "bad code"),
    ("seed", "--patients", "10"),  # the database already has patients
    ("patient", "frobnicate"),
]


@pytest.mark.parametrize("args", BAD, ids=lambda a: " ".join(a[:3]))
def test_bad_input_gives_one_line_and_status_2(home, logins, args):
    patient = search(home, logins, "a")[0]["id"]
    pins = {}
    resolved = []
    for a in args:
        if a.startswith("@") and a[1:] in logins:
            user, pin = logins[a[1:]]
            pins["pin"] = pin
            resolved.append(user)
        elif a == "@patient":
            resolved.append(patient)
        else:
            resolved.append(a)
    stdin = ""
    if "staff" in args and "add" in args:
        stdin = f"{pins['pin']}\n482913\n"
    r = run(home, *resolved, pin=pins.get("pin", "000000") if "--as" in args else None, stdin=stdin)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("keneya: ")


def test_bad_input_on_a_missing_database(tmp_path):
    r = run(tmp_path / "empty", "patient", "search", "x", "--as", "nurse", pin="1234")
    assert r.returncode == 2 and "keneya db init" in r.stderr


def test_demo_builds_a_facility_and_sends_last_months_report(tmp_path):
    r = run(tmp_path, "demo", "--patients", "300", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["patients"] == 300 and len(out["logins"]) == 7
    sent = out["report_sent"]
    assert sent["status"] == "delivered" and sent["values"] > 0
    assert sent["import_summary"]["importCount"]["imported"] == sent["values"]
    assert (tmp_path / "dhis2-mapping.json").is_file()
    again = json.loads(run(tmp_path, "demo", "--json").stdout)["report_sent"]
    assert again["status"] == "delivered"  # the same figures are not queued twice
    assert again["drain"]["attempts"] == 0
    item = json.loads(run(tmp_path, "outbox", "list", "--json").stdout)[0]
    history = json.loads(run(tmp_path, "outbox", "show", item["id"], "--json").stdout)["history"]
    assert [a["http_status"] for a in history] == [200]


def test_report_send_queues_once_per_version(home, logins):
    user, pin = logins["admin"]
    r = run(home, "report", "send", "--period", "2026-10", "--json", "--as", user, pin=pin)
    assert r.returncode == 2 and "mapping" in r.stderr  # nothing provisioned yet
    mapping = Path(__file__).parents[2] / "appliance/reports/data/mapping-demo.json"
    args = [
        "report",
        "send",
        "--period",
        "2026-10",
        "--mapping",
        str(mapping),
        "--json",
        "--as",
        user,
    ]
    first = json.loads(run(home, *args, pin=pin).stdout)["item"]
    second = json.loads(run(home, *args, pin=pin).stdout)["item"]
    assert first["id"] == second["id"] and first["status"] == "queued"
    listed = json.loads(run(home, "outbox", "list", "--json").stdout)
    assert [i["id"] for i in listed] == [first["id"]]
    shown = json.loads(run(home, "outbox", "show", first["id"], "--json").stdout)
    assert shown["status"] == "queued" and shown["history"] == []  # never tried yet
    assert run(home, "outbox", "show", "no-such-item").returncode == 2
