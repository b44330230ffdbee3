"""`keneya outbox list|drain` and `keneya dhis2-sim`, run through click against a real
database in a temp home and the simulator on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from appliance.cli.common import Env
from appliance.cli.outbox import COMMANDS
from appliance.outbox import enqueue_report
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.paths import Paths
from appliance.store import Store

pytestmark = pytest.mark.component

TOKEN = "d2p_cli_token"
METADATA = {"dataSets": ["dsM"], "dataElements": ["deConsult01"], "orgUnits": ["ouK"]}


@click.group()
@click.option("--home", required=True)
@click.pass_context
def app(ctx, home):
    ctx.obj = Env(Paths.for_home(home))


for _command in COMMANDS:
    app.add_command(_command)


@pytest.fixture
def home(tmp_path):
    with Store(tmp_path / "keneya.db", create=True) as s:
        enqueue_report(
            s,
            facility="KLB",
            dataset="dsM",
            period="202610",
            payload={
                "dataSet": "dsM",
                "period": "202610",
                "orgUnit": "ouK",
                "dataValues": [{"dataElement": "deConsult01", "value": "3"}],
            },
            kind="dhis2-datavalueset",
            now="2026-11-01T08:00:00.000000Z",
        )
    return tmp_path


def keneya(home, *args):
    return CliRunner().invoke(app, ["--home", str(home), *args], catch_exceptions=False)


def write_token(home, token=TOKEN):
    secrets = home / "secrets"
    secrets.mkdir(exist_ok=True)
    path = secrets / "dhis2_token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def test_list_json(home):
    result = keneya(home, "outbox", "list", "--json")
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.output)
    assert set(item) >= {
        "id",
        "kind",
        "period",
        "status",
        "attempts",
        "last_error",
        "delivered_at",
        "import_summary",
    }
    assert item["status"] == "queued" and item["period"] == "202610"


def test_drain_without_an_address_says_what_to_do(home):
    result = keneya(home, "outbox", "drain")
    assert result.exit_code == 2
    assert "--url" in result.output and "dhis2_url" in result.output


def test_drain_without_a_token_says_where_it_goes(home):
    result = keneya(home, "outbox", "drain", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "dhis2_token" in result.output


def test_drain_delivers_with_the_setting_and_the_secret(home):
    write_token(home)
    with Dhis2Sim(Dhis2Metadata(METADATA), tokens=(TOKEN,)) as sim:
        with Store(home / "keneya.db") as s:
            s.set_setting("dhis2_url", sim.url)
        result = keneya(home, "outbox", "drain", "--json")
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.output)["delivered"]) == 1
        assert sim.posts == 1
    listed = json.loads(keneya(home, "outbox", "list", "--json").output)
    assert listed[0]["status"] == "delivered"
    assert listed[0]["import_summary"]["importCount"]["imported"] == 1


def test_drain_with_a_refused_token_reports_the_failure(home, tmp_path):
    token_file = tmp_path / "other_token"
    token_file.write_text("wrong")
    with Dhis2Sim(Dhis2Metadata(METADATA), tokens=(TOKEN,)) as sim:
        result = keneya(home, "outbox", "drain", "--url", sim.url, "--token-file", str(token_file))
    assert result.exit_code == 0
    assert "failed 1" in result.output
    listed = json.loads(keneya(home, "outbox", "list", "--json").output)
    assert "401" in listed[0]["last_error"]


def test_dhis2_sim_command_serves(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(METADATA))
    code = "from appliance.cli.outbox import dhis2_sim; dhis2_sim()"
    args = ["--port", "0", "--metadata", str(meta), "--token", TOKEN]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        line = proc.stderr.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/system/info", headers={"Authorization": f"ApiToken {TOKEN}"})
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_list_says_when_a_report_went_by_sms(home):
    """A report sent by SMS while the 3G is down stays queued for its upload; the list says the
    district already has its SMS summary."""
    runner = CliRunner()
    with Store(home / "keneya.db") as s:
        (item,) = s.outbox.list()
        s.outbox.sms_start(item["id"], number="+22370000000", encode=lambda mid: ["K1"], now="x")
        s.outbox.sms_part_sent(item["id"], message_ref=5, now="2026-11-06T08:00:00.000000Z")
    r = runner.invoke(app, ["--home", str(home), "outbox", "list"])
    assert r.exit_code == 0, r.output
    assert "queued" in r.output and "SMS sent 2026-11-06 08:00Z" in r.output
    r = runner.invoke(app, ["--home", str(home), "outbox", "list", "--json"])
    assert json.loads(r.output)[0]["sms_sent_at"] == "2026-11-06T08:00:00.000000Z"
