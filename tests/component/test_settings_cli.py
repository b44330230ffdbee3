"""`keneya settings`: facility settings listed, read and changed on the console, a bad key or
value refused in one French line, and the due lists following the malaria vaccine setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.paths import Paths
from appliance.services import follow_up
from appliance.services.context import Context
from appliance.store import Store
from tests.conftest import keneya

pytestmark = pytest.mark.component


def run(home: Path, *args: str):
    return keneya(home, *args, timeout=120)


def malaria_items(home: Path) -> int:
    with Store(Paths.for_home(home).database) as store:
        sql = "SELECT count(*) FROM due_items WHERE reason_code LIKE 'malaria:%'"
        return store.conn.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    r = run(home, "seed", "--patients", "200", "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    return home


def test_list_and_get_show_the_default_until_set(tmp_path):
    assert run(tmp_path, "db", "init", "--facility-code", "KLB").returncode == 0
    r = run(tmp_path, "settings", "list", "--json")
    assert r.returncode == 0, r.stderr
    [row] = json.loads(r.stdout)
    assert row["key"] == "malaria_vaccine" and row["value"] == "off" and row["is_default"]
    assert "Vaccin antipaludique" in row["description"]
    human = run(tmp_path, "settings", "list").stdout
    assert human.startswith("malaria_vaccine = off (par défaut)")
    assert run(tmp_path, "settings", "get", "malaria_vaccine").stdout == "off\n"


@pytest.mark.parametrize(
    ("typed", "shown"), [("on", "on"), ("1", "on"), ("OFF", "off"), ("0", "off"), ("oui", "on")]
)
def test_set_accepts_on_off_and_1_0(tmp_path, typed, shown):
    assert run(tmp_path, "db", "init", "--facility-code", "KLB").returncode == 0
    r = run(tmp_path, "settings", "set", "malaria_vaccine", typed, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["value"] == shown
    got = json.loads(run(tmp_path, "settings", "get", "malaria_vaccine", "--json").stdout)
    assert got["value"] == shown and not got["is_default"]
    with Store(Paths.for_home(tmp_path).database) as store:
        assert Context.open(store).malaria_vaccine is (shown == "on")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "malaria_vaccine", "peut-être"), "valeur « peut-être » refusée"),
        (("set", "malaria_vaccine", "2"), "écrire on ou off"),
        (("set", "vaccin", "on"), "réglage inconnu « vaccin »"),
        (("get", "vaccin"), "réglages connus : malaria_vaccine"),
    ],
)
def test_bad_key_or_value_is_one_french_line(tmp_path, args, message):
    assert run(tmp_path, "db", "init", "--facility-code", "KLB").returncode == 0
    r = run(tmp_path, "settings", *args)
    assert r.returncode == 2 and r.stdout == ""
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert run(tmp_path, "settings", "get", "malaria_vaccine").stdout == "off\n"  # unchanged


def test_turning_the_vaccine_on_and_off_rebuilds_the_due_items(home):
    assert run(home, "due", "rebuild").returncode == 0
    assert malaria_items(home) == 0
    r = run(home, "settings", "set", "malaria_vaccine", "on")
    assert r.returncode == 0, r.stderr
    assert "rendez-vous recalculés" in r.stdout
    assert malaria_items(home) > 0  # the seeded children from 5 months now have R21 doses
    with Store(Paths.for_home(home).database) as store:
        assert not follow_up.needs_rebuild(Context.open(store))
        [audit] = store.query("SELECT detail FROM audit WHERE action = 'settings.set'")
        assert json.loads(audit["detail"]) == {"key": "malaria_vaccine", "from": "off", "to": "on"}
    again = run(home, "settings", "set", "malaria_vaccine", "on")
    assert "(inchangé)" in again.stdout and "recalculés" not in again.stdout
    assert run(home, "settings", "set", "malaria_vaccine", "off").returncode == 0
    assert malaria_items(home) == 0
