"""Referrals to the CSRéf and evacuations in the monthly report, against a hand-counted
facility whose referral forms are written with the referral service: the month's first and
last days count, the days on either side do not, a voided form does not, an ambulance or a
moto-ambulance is an evacuation and the family's own means a referral. The district's DHIS2
gets the counts only if its mapping has them; the PDF and the CSV always show them."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from appliance.domain.referrals import referral_rules_from
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.outbox.sender import Dhis2Config, drain
from appliance.reports import formats
from appliance.reports.pdf import to_pdf
from appliance.services import patients
from appliance.services import referrals as referral_service
from appliance.services import reports as report_service

pytestmark = pytest.mark.component
DATA = Path(__file__).parents[2] / "appliance/reports/data"
RULES = referral_rules_from({"receiving": [{"code": "KATI", "name": "CSRéf de Kati"}]})
TOKEN = "d2p_referral_token"

# (care date, reason, transport, voided): the fixture clock reads 15 October 2026.
FORMS = (
    ("2026-08-31", "severe_preeclampsia", "ambulance", False),  # the day before September
    ("2026-09-01", "severe_preeclampsia", "ambulance", False),  # first day: evacuation
    ("2026-09-01", "severe_preeclampsia", "own_means", False),  # first day: referral
    ("2026-09-14", "severe_malaria", "motorbike_ambulance", False),  # evacuation
    ("2026-09-20", "severe_preeclampsia", "ambulance", True),  # voided: not counted
    ("2026-09-30", "severe_malaria", "own_means", False),  # last day: referral
    ("2026-09-30", "severe_malaria", "public_transport", False),  # last day: referral
    ("2026-10-01", "severe_malaria", "ambulance", False),  # the day after September
)
# September, counted by hand from FORMS.
SEPTEMBER = {
    ("severe_preeclampsia", "evacuation"): 1,
    ("severe_preeclampsia", "referral"): 1,
    ("severe_malaria", "evacuation"): 1,
    ("severe_malaria", "referral"): 2,
}


def _patient(ctx, actor, given, sex, born):
    return patients.register(
        ctx,
        actor,
        {"family_name": "Sidibé", "given_names": given, "sex": sex, "birth_date": born,
         "village": "Kalaban"},
        accept_duplicates=True,
    )["id"]  # fmt: skip


@pytest.fixture
def referred(ctx, actors):
    midwife = actors["midwife"]
    woman = _patient(ctx, midwife, "Rokia", "F", "2001-01-10")
    child = _patient(ctx, midwife, "Moussa", "M", "2023-03-03")
    for day, reason, transport, voided in FORMS:
        made = referral_service.create(
            ctx,
            midwife,
            woman if reason == "severe_preeclampsia" else child,
            {"care_date": day, "reason": reason, "urgency": "urgent", "to_facility": "KATI",
             "transport": transport},
            rules=RULES,
        )  # fmt: skip
        if voided:
            referral_service.void(ctx, midwife, made["id"], reason="wrong patient")


def _counts(report):
    return {(d["reason"], d["transfer"]): v for c, d, v in report.rows() if c == "REFERRAL_CSREF"}


def test_the_month_counts_each_form_once_by_reason_and_transport(ctx, actors, referred):
    doctor = actors["doctor"]
    september = report_service.monthly(ctx, doctor, "2026-09")
    assert _counts(september) == SEPTEMBER
    assert september.total("REFERRAL_CSREF") == 5
    assert september.total("REFERRAL") == 0  # encounters noting a referral: none here
    assert _counts(report_service.monthly(ctx, doctor, "2026-08")) == {
        ("severe_preeclampsia", "evacuation"): 1
    }
    assert _counts(report_service.monthly(ctx, doctor, "2026-10")) == {
        ("severe_malaria", "evacuation"): 1
    }


def test_pdf_csv_and_table_show_them_in_french(ctx, actors, referred):
    report = report_service.monthly(ctx, actors["doctor"], "2026-09")
    rows = list(csv.DictReader(io.StringIO(formats.to_csv(report, "fr"))))
    mine = {
        (r["reason"], r["transfer"]): (r["Détail"], r["Valeur"])
        for r in rows
        if r["indicator"] == "REFERRAL_CSREF"
    }
    assert mine == {
        ("severe_preeclampsia", "referral"): ("Pré-éclampsie sévère, Référence", "1"),
        ("severe_preeclampsia", "evacuation"): ("Pré-éclampsie sévère, Évacuation", "1"),
        ("severe_malaria", "referral"): ("Paludisme grave, Référence", "2"),
        ("severe_malaria", "evacuation"): ("Paludisme grave, Évacuation", "1"),
    }
    # rows in the form's order of reasons, referrals before evacuations
    assert [k for k in mine] == [
        ("severe_preeclampsia", "referral"),
        ("severe_preeclampsia", "evacuation"),
        ("severe_malaria", "referral"),
        ("severe_malaria", "evacuation"),
    ]
    english = formats.to_csv(report, "en")
    assert "Referrals to the CSRéf and evacuations" in english
    assert "Severe malaria, Evacuation" in english
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(to_pdf(report))).pages)
    assert "Références au CSRéf et évacuations" in text
    assert "Paludisme grave, Référence" in text
    assert "Références au CSRéf et évacuations : 5" in formats.to_table(report)


def _without_referrals_to_csref(tmp_path):
    mapping = json.loads((DATA / "mapping-demo.json").read_text(encoding="utf-8"))
    mapping["dataElements"] = [
        de for de in mapping["dataElements"] if de["indicator"] != "REFERRAL_CSREF"
    ]
    path = tmp_path / "district-mapping.json"
    path.write_text(json.dumps(mapping), encoding="utf-8")
    return path


def test_dhis2_gets_them_only_when_the_mapping_has_them(ctx, actors, referred, tmp_path):
    report = report_service.monthly(ctx, actors["doctor"], "2026-09")
    demo = formats.load_mapping()
    cells = {
        (de["dataElement"], combo_uid): (de["match"]["reason"], transfer)
        for de in demo["dataElements"]
        if de["indicator"] == "REFERRAL_CSREF"
        for transfer, combo_uid in demo["categoryCombos"][de["categoryCombo"]]["options"].items()
    }
    payload, unmapped = formats.to_dhis2(report, demo)
    sent = {
        cells[(v["dataElement"], v["categoryOptionCombo"])]: int(v["value"])
        for v in payload["dataValues"]
        if (v["dataElement"], v["categoryOptionCombo"]) in cells
    }
    assert sent == SEPTEMBER
    assert not [u for u in unmapped if u["indicator"] == "REFERRAL_CSREF"]

    # a district whose data set lacks them: listed as unmapped, not sent
    lacking = formats.load_mapping(_without_referrals_to_csref(tmp_path))
    payload, unmapped = formats.to_dhis2(report, lacking)
    assert not {(v["dataElement"], v["categoryOptionCombo"]) for v in payload["dataValues"]} & set(
        cells
    )
    assert {
        (u["disaggregation"]["reason"], u["disaggregation"]["transfer"]): u["value"]
        for u in unmapped
        if u["indicator"] == "REFERRAL_CSREF"
    } == SEPTEMBER


def test_the_demo_dhis2_imports_them(ctx, actors, referred, tmp_path):
    metadata = Dhis2Metadata(json.loads((DATA / "dhis2-demo-metadata.json").read_text()))
    clock = [datetime(2026, 11, 1, 8, tzinfo=UTC)]  # after the item was queued

    def sleep(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)

    with Dhis2Sim(metadata, tokens=(TOKEN,)) as sim:
        item, payload, _ = report_service.queue_for_dhis2(
            ctx, actors["doctor"], "2026-09", DATA / "mapping-demo.json"
        )
        config = Dhis2Config(base_url=sim.url, token=TOKEN, timeout_s=5.0)
        summary = drain(ctx.store, config, now=lambda: clock[0], sleep=sleep)
        assert summary.delivered == [item["id"]]
        mapping = formats.load_mapping()
        held = sim.query(dataset=mapping["dataSet"], period="202609", org_unit=mapping["orgUnit"])
    ours = {
        de["dataElement"] for de in mapping["dataElements"] if de["indicator"] == "REFERRAL_CSREF"
    }
    assert sum(int(v["value"]) for v in held if v["dataElement"] in ours) == 5
    assert len(payload["dataValues"]) == len(held)
