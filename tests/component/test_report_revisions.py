"""A corrected month reaches DHIS2 without over-reporting: the report is queued with the service,
drained into the DHIS2 simulator (which imports like DHIS2: upserts, DELETE imports, zeros of
elements that are not zero-significant not stored), corrected so that cells fall to 0, queued
and drained again; the simulator then holds exactly the corrected figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.outbox import DELETIONS_KEY
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.outbox.sender import Dhis2Config, drain
from appliance.reports import formats
from appliance.services import encounters
from appliance.services import reports as report_service

pytestmark = pytest.mark.component
DATA = Path(__file__).parents[2] / "appliance/reports/data"
MAPPING = DATA / "mapping-demo.json"
TOKEN = "d2p_revision_token"


class FakeClock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def sim():
    metadata = Dhis2Metadata(json.loads((DATA / "dhis2-demo-metadata.json").read_text()))
    with Dhis2Sim(metadata, tokens=(TOKEN,)) as s:
        yield s


def held(sim) -> dict[tuple[str, str], str]:
    mapping = formats.load_mapping(MAPPING)
    values = sim.query(dataset=mapping["dataSet"], period="202609", org_unit=mapping["orgUnit"])
    return {(v["dataElement"], v["categoryOptionCombo"]): v["value"] for v in values}


def expected(payload) -> dict[tuple[str, str], str]:
    """What DHIS2 keeps of a payload: every value but the zeros it does not store."""
    zero = set(formats.load_mapping(MAPPING)["zeroSignificant"])
    return {
        (v["dataElement"], v["categoryOptionCombo"]): v["value"]
        for v in payload["dataValues"]
        if v["value"] != "0" or v["dataElement"] in zero
    }


def test_a_cell_revised_to_zero_is_removed_from_dhis2(ctx, actors, aminata, sim):
    nurse, doctor = actors["nurse"], actors["doctor"]
    # September: one pneumonia consultation and one family-planning visit, later found wrong
    consult = encounters.add(
        ctx,
        nurse,
        aminata["id"],
        "consultation",
        {"care_date": "2026-09-10", "diagnoses": [{"code": "pneumonia"}]},
    )
    fp = encounters.add(
        ctx,
        nurse,
        aminata["id"],
        "family_planning",
        {"care_date": "2026-09-12", "method": "pill_coc", "user": "new"},
    )
    encounters.add(
        ctx, nurse, aminata["id"], "anc", {"care_date": "2026-09-14", "contact_number": 1}
    )
    config = Dhis2Config(base_url=sim.url, token=TOKEN, timeout_s=5.0)
    clock = FakeClock()

    v1, payload1, _ = report_service.queue_for_dhis2(ctx, doctor, "2026-09", MAPPING)
    assert DELETIONS_KEY not in payload1  # nothing sent before
    assert drain(ctx.store, config, now=clock.now, sleep=clock.sleep).delivered == [v1["id"]]
    assert held(sim) == expected(payload1)
    before = held(sim)

    # both visits were another patient's
    encounters.void(ctx, nurse, consult["id"], reason="wrong patient")
    encounters.void(ctx, nurse, fp["id"], reason="wrong patient")
    v2, payload2, _ = report_service.queue_for_dhis2(ctx, doctor, "2026-09", MAPPING)
    assert v2["version"] == 2
    gone = {(c["dataElement"], c["categoryOptionCombo"]) for c in payload2[DELETIONS_KEY]}
    assert gone and gone <= set(before)  # only cells DHIS2 holds
    summary = drain(ctx.store, config, now=clock.now, sleep=clock.sleep)
    assert summary.delivered == [v2["id"]]

    after = held(sim)
    assert after == expected(payload2)  # no count of v1 left over
    assert not gone & set(after)
    assert ctx.store.outbox.get(v2["id"])["import_summary"]["importCount"]["deleted"] == len(gone)
    # the figures a district reads: no consultation, no FP user, still one first ANC contact
    mapping = formats.load_mapping(MAPPING)
    anc1 = next(d["dataElement"] for d in mapping["dataElements"] if d["indicator"] == "ANC1")
    assert [v for (de, _), v in after.items() if de == anc1] == ["1"]


def test_resending_the_same_correction_changes_nothing(ctx, actors, aminata, sim):
    nurse, doctor = actors["nurse"], actors["doctor"]
    wrong = encounters.add(
        ctx,
        nurse,
        aminata["id"],
        "consultation",
        {"care_date": "2026-09-03", "diagnoses": [{"code": "malaria_confirmed"}]},
    )
    encounters.add(
        ctx, nurse, aminata["id"], "anc", {"care_date": "2026-09-14", "contact_number": 4}
    )
    config = Dhis2Config(base_url=sim.url, token=TOKEN, timeout_s=5.0)
    clock = FakeClock()
    report_service.queue_for_dhis2(ctx, doctor, "2026-09", MAPPING)
    drain(ctx.store, config, now=clock.now, sleep=clock.sleep)
    encounters.void(ctx, nurse, wrong["id"], reason="wrong patient")
    v2, _, _ = report_service.queue_for_dhis2(ctx, doctor, "2026-09", MAPPING)
    drain(ctx.store, config, now=clock.now, sleep=clock.sleep)
    corrected = held(sim)
    # queued again: the same text, so the same item (no third version, nothing new to send)
    again, _, _ = report_service.queue_for_dhis2(ctx, doctor, "2026-09", MAPPING)
    assert again["id"] == v2["id"]
    assert held(sim) == corrected
