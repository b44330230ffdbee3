"""The DHIS2 simulator over real HTTP on 127.0.0.1: authentication, JSON and ADX imports,
upsert counts, dry runs, conflicts and the fault endpoint."""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import urlsplit

import pytest

from appliance.outbox.dhis2_sim import DEFAULT_COC, Dhis2Metadata, Dhis2Sim, adx_period

pytestmark = pytest.mark.component

TOKEN = "d2p_simulatortoken"
METADATA = {
    "dataSets": ["dsMonthly01"],
    "dataElements": ["deConsult01", "deMalaria01"],
    "orgUnits": ["ouKalaban01"],
    "categoryOptionCombos": ["cocUnder5yr"],
}
ADX = b"""<?xml version="1.0" encoding="UTF-8"?>
<adx xmlns="urn:ihe:qrph:adx:2015" exported="2026-11-01T08:00:00Z">
  <group orgUnit="ouKalaban01" period="2026-10-01/P1M" dataSet="dsMonthly01">
    <dataValue dataElement="deConsult01" value="41"/>
    <dataValue dataElement="deMalaria01" categoryOptionCombo="cocUnder5yr" value="7"/>
  </group>
</adx>"""


def dvs(**values: str) -> dict:
    return {
        "dataSet": "dsMonthly01",
        "period": "202610",
        "orgUnit": "ouKalaban01",
        "dataValues": [{"dataElement": de, "value": v} for de, v in values.items()],
    }


@pytest.fixture
def sim(tmp_path):
    with Dhis2Sim(
        Dhis2Metadata(METADATA),
        tokens=(TOKEN,),
        users={"district": "s3cret"},
        data_file=tmp_path / "values.json",
    ) as s:
        yield s


def call(sim, method, path, body=None, *, auth=f"ApiToken {TOKEN}", ctype="application/json"):
    parts = urlsplit(sim.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Content-Type": ctype}
    if auth:
        headers["Authorization"] = auth
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn.request(method, path, body=raw, headers=headers)
    response = conn.getresponse()
    data = json.loads(response.read() or b"null")
    conn.close()
    return response.status, data


def test_system_info_needs_credentials(sim):
    assert call(sim, "GET", "/api/system/info", auth=None)[0] == 401
    assert call(sim, "GET", "/api/system/info", auth="ApiToken wrong")[0] == 401
    status, info = call(sim, "GET", "/api/system/info")
    assert status == 200 and info["version"].startswith("2.")


def test_basic_authentication(sim):
    good = "Basic " + base64.b64encode(b"district:s3cret").decode()
    bad = "Basic " + base64.b64encode(b"district:nope").decode()
    assert call(sim, "GET", "/api/system/info", auth=good)[0] == 200
    assert call(sim, "GET", "/api/system/info", auth=bad)[0] == 401


def test_post_without_credentials_imports_nothing(sim):
    status, body = call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="3"), auth=None)
    assert status == 401 and body["httpStatusCode"] == 401
    assert sim.values == {}


def test_json_import_then_upsert_counts(sim):
    status, body = call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="41", deMalaria01="7"))
    assert status == 200
    assert body["httpStatusCode"] == 200 and body["status"] == "OK"
    summary = body["response"]
    assert summary["responseType"] == "ImportSummary"
    assert summary["status"] == "SUCCESS"
    assert summary["importCount"] == {"imported": 2, "updated": 0, "ignored": 0, "deleted": 0}
    # the same again changes nothing; one changed value is an update
    _, body = call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="41", deMalaria01="8"))
    assert body["response"]["importCount"] == {
        "imported": 0,
        "updated": 1,
        "ignored": 1,
        "deleted": 0,
    }
    assert len(sim.values) == 2


def test_dry_run_stores_nothing(sim):
    status, body = call(sim, "POST", "/api/dataValueSets?dryRun=true", dvs(deConsult01="1"))
    assert status == 200
    assert body["response"]["importCount"]["imported"] == 1
    assert body["response"]["importOptions"]["dryRun"] is True
    assert sim.values == {}


def test_adx_import_reads_the_namespace_and_the_period(sim):
    status, body = call(sim, "POST", "/api/dataValueSets", ADX, ctype="application/adx+xml")
    assert status == 200, body
    assert body["response"]["importCount"]["imported"] == 2
    status, got = call(
        sim, "GET", "/api/dataValueSets?dataSet=dsMonthly01&period=202610&orgUnit=ouKalaban01"
    )
    assert status == 200
    by_de = {v["dataElement"]: v for v in got["dataValues"]}
    assert by_de["deConsult01"]["value"] == "41"
    assert by_de["deConsult01"]["categoryOptionCombo"] == DEFAULT_COC
    assert by_de["deMalaria01"]["categoryOptionCombo"] == "cocUnder5yr"


def test_adx_without_its_namespace_is_refused(sim):
    bad = ADX.replace(b'xmlns="urn:ihe:qrph:adx:2015"', b"")
    status, _ = call(sim, "POST", "/api/dataValueSets", bad, ctype="application/adx+xml")
    assert status == 400


def test_adx_periods():
    assert adx_period("2026-10-01/P1M") == "202610"
    assert adx_period("2026-10-05/P1D") == "20261005"


def test_unknown_data_element_is_a_conflict_and_the_rest_imports(sim):
    status, body = call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="4", deGhost001="9"))
    assert status == 200
    summary = body["response"]
    assert summary["status"] == "WARNING"
    assert summary["importCount"]["imported"] == 1
    assert summary["importCount"]["ignored"] == 1
    assert summary["conflicts"][0]["object"] == "deGhost001"


def test_nothing_importable_answers_409(sim):
    payload = dvs(deConsult01="4")
    payload["orgUnit"] = "ouNowhere01"
    status, body = call(sim, "POST", "/api/dataValueSets", payload)
    assert status == 409
    assert body["httpStatusCode"] == 409
    assert body["response"]["conflicts"][0]["property"] == "orgUnit"
    assert sim.values == {}


def test_unknown_data_set_is_an_error(sim):
    payload = dvs(deConsult01="4")
    payload["dataSet"] = "dsUnknown01"
    status, body = call(sim, "POST", "/api/dataValueSets", payload)
    assert status == 409
    assert body["response"]["status"] == "ERROR"


def test_faults_endpoint_queues_a_server_error(sim):
    assert call(sim, "POST", "/__faults", {"kind": "status", "status": 503}, auth=None)[0] == 200
    assert call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="1"))[0] == 503
    assert sim.values == {}
    assert call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="1"))[0] == 200


def test_values_survive_in_the_data_file(sim, tmp_path):
    call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="5"))
    again = Dhis2Sim(Dhis2Metadata(METADATA), data_file=tmp_path / "values.json")
    try:
        assert [v["value"] for v in again.values.values()] == ["5"]
    finally:
        again.server.server_close()


def test_a_bad_fault_request_is_refused(sim):
    assert call(sim, "POST", "/__faults", {"kind": "explode"}, auth=None)[0] == 400


# -- what DHIS2 keeps when a report is sent again ---------------------------------------------
def held(sim) -> dict[str, str]:
    values = sim.query(dataset="dsMonthly01", period="202610", org_unit="ouKalaban01")
    return {v["dataElement"]: v["value"] for v in values}


def test_an_import_upserts_and_never_removes_a_value_left_out(sim):
    call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="41", deMalaria01="7"))
    call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="40"))
    assert held(sim) == {"deConsult01": "40", "deMalaria01": "7"}  # the old 7 stays


def test_delete_strategy_removes_the_values_named(sim):
    call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="41", deMalaria01="7"))
    status, body = call(
        sim, "POST", "/api/dataValueSets?importStrategy=DELETE", dvs(deMalaria01="7")
    )
    assert status == 200 and body["response"]["importCount"]["deleted"] == 1
    assert held(sim) == {"deConsult01": "41"}
    # deleting it again: nothing there, ignored, no conflict
    status, body = call(
        sim, "POST", "/api/dataValueSets?importStrategy=DELETE", dvs(deMalaria01="7")
    )
    assert body["response"]["importCount"] == {
        "imported": 0,
        "updated": 0,
        "ignored": 1,
        "deleted": 0,
    }


def test_zeros_are_stored_only_for_zero_significant_elements(tmp_path):
    metadata = Dhis2Metadata({**METADATA, "zeroIsSignificant": ["deConsult01"]})
    with Dhis2Sim(metadata, tokens=(TOKEN,)) as sim:
        call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="0", deMalaria01="0"))
        assert held(sim) == {"deConsult01": "0"}
        call(sim, "POST", "/api/dataValueSets", dvs(deConsult01="3", deMalaria01="7"))
        # DHIS2 2.36+ (DHIS2-11624): a zero for an element whose zeros it does not store
        # removes the value already there
        status, body = call(
            sim, "POST", "/api/dataValueSets", dvs(deConsult01="0", deMalaria01="0")
        )
        assert body["response"]["importCount"]["deleted"] == 1
        assert held(sim) == {"deConsult01": "0"}
