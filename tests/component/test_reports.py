"""The monthly report through the service layer and the CLI, against hand-counted care recorded
with the services (superseded and voided versions, month boundaries, age at each visit)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from appliance.reports.formats import ADX_NS
from appliance.services import encounters, patients
from appliance.services import reports as report_service
from appliance.services.errors import PermissionDenied

pytestmark = pytest.mark.component
DAY = 86400


def _person(ctx, nurse, family, given, sex, born):
    return patients.register(
        ctx,
        nurse,
        {
            "family_name": family,
            "given_names": given,
            "sex": sex,
            "birth_date": born,
            "village": "Kalaban",
        },
        accept_duplicates=True,
    )["id"]


def _consult(day, codes, *, new=True, referral=False):
    data = {"care_date": day, "new_case": new, "diagnoses": [{"code": c} for c in codes]}
    if referral:
        data["referral"] = {"to": "CSRef Kati", "reason": "anémie sévère"}
    return data


@pytest.fixture
def october(ctx, actors, aminata, fake_time):
    """Care around October 2026; the expected counts are written in each test."""
    nurse = actors["nurse"]

    def add(pid, kind, data):
        return encounters.add(ctx, nurse, pid, kind, data)

    am = aminata["id"]
    issa = _person(ctx, nurse, "Coulibaly", "Issa", "M", "2025-10-20")  # turns 1 on Oct 20
    awa = _person(ctx, nurse, "Diarra", "Awa", "F", "2025-10-05")  # turns 1 on Oct 5
    fatou = _person(ctx, nurse, "Keita", "Fatou", "F", "2000-01-01")
    kadia = _person(ctx, nurse, "Sangaré", "Kadia", "F", "1998-05-05")
    mariam = _person(ctx, nurse, "Konaté", "Mariam", "F", "1990-02-02")
    newborn = _person(ctx, nurse, "Sangaré", "Bakary", "M", "2026-10-13")
    moussa = _person(ctx, nurse, "Touré", "Moussa", "M", "2024-06-01")
    sira = _person(ctx, nurse, "Dembélé", "Sira", "F", "2024-01-01")
    # registered as born in 2022; his birth date is corrected to 2020 after his weighing below
    oumar = _person(ctx, nurse, "Cissé", "Oumar", "M", "2022-01-01")

    # Consultations
    add(am, "consultation", _consult("2026-09-30", ["malaria_confirmed"]))  # September
    add(am, "consultation", _consult("2026-10-01", ["malaria_confirmed", "anaemia"], referral=True))
    first = add(am, "consultation", _consult("2026-10-05", ["diarrhoea"]))
    encounters.correct(
        ctx, nurse, first["id"], _consult("2026-10-05", ["pneumonia"]), reason="wrong diagnosis"
    )
    wrong = add(am, "consultation", _consult("2026-10-06", ["typhoid"]))
    encounters.void(ctx, nurse, wrong["id"], reason="wrong patient")
    moved = add(am, "consultation", _consult("2026-10-07", ["typhoid"]))
    encounters.correct(
        ctx, nurse, moved["id"], _consult("2026-09-29", ["typhoid"]), reason="wrong date"
    )
    add(issa, "consultation", _consult("2026-10-10", ["diarrhoea"]))  # 11 months old

    # ANC
    add(fatou, "anc", {"care_date": "2026-10-02", "contact_number": 1})
    add(mariam, "anc", {"care_date": "2026-09-30", "contact_number": 1})  # September
    void_anc = add(mariam, "anc", {"care_date": "2026-10-02", "contact_number": 1})
    encounters.void(ctx, nurse, void_anc["id"], reason="duplicate entry")
    add(kadia, "anc", {"care_date": "2026-10-03", "contact_number": 4})
    add(
        kadia,
        "anc",
        {
            "care_date": "2026-10-12",
            "contact_number": 5,
            "referral": {"to": "CSRef", "reason": "pré-éclampsie"},
        },
    )
    add(am, "anc", {"care_date": "2026-10-14", "contact_number": 8})

    # Deliveries and postnatal care
    add(kadia, "delivery", {"care_date": "2026-10-13", "place": "facility"})
    add(
        mariam, "delivery", {"care_date": "2026-10-13", "place": "home", "skilled_attendant": False}
    )
    add(kadia, "postnatal", {"care_date": "2026-10-14", "subject": "mother", "days_after_birth": 1})
    add(
        newborn,
        "postnatal",
        {"care_date": "2026-10-14", "subject": "newborn", "days_after_birth": 1},
    )

    # Immunization: Issa fully immunized before his birthday; Awa only BCG.
    series = [("bcg", 1, "2025-10-21")]
    for dose, day in ((1, "2025-12-01"), (2, "2026-01-01"), (3, "2026-02-01")):
        series += [(a, dose, day) for a in ("penta", "opv", "pcv", "rota")]
    series.append(("mr", 1, "2026-10-10"))
    for antigen, dose, day in series:
        add(issa, "immunization", {"care_date": day, "antigen": antigen, "dose": dose})
    add(awa, "immunization", {"care_date": "2025-10-06", "antigen": "bcg", "dose": 1})
    void_dose = add(awa, "immunization", {"care_date": "2026-10-08", "antigen": "mr", "dose": 1})
    encounters.void(ctx, nurse, void_dose["id"], reason="wrong child")

    # Growth
    add(issa, "growth", {"care_date": "2026-10-10", "weight_kg": 9.0})
    add(awa, "growth", {"care_date": "2026-10-08", "muac_mm": 110})  # SAM, new
    add(moussa, "growth", {"care_date": "2026-09-01", "muac_mm": 120})  # MAM 41 days before
    add(moussa, "growth", {"care_date": "2026-10-12", "muac_mm": 120})  # so not new
    add(sira, "growth", {"care_date": "2026-07-01", "muac_mm": 120})  # MAM 100 days before
    add(sira, "growth", {"care_date": "2026-10-09", "weight_kg": 9.5, "muac_mm": 120})  # new
    add(oumar, "growth", {"care_date": "2026-10-05", "weight_kg": 20.0})
    # over five after all: growth is refused for him now, the measure taken stays on his record
    patients.update(ctx, nurse, oumar, {"birth_date": "2020-01-01"})

    # Family planning and chronic care
    add(am, "family_planning", {"care_date": "2026-10-03", "method": "pill_coc", "user": "new"})
    add(
        fatou,
        "family_planning",
        {"care_date": "2026-10-04", "method": "implant", "user": "continuing"},
    )
    fp_removal = {"method": "implant", "user": "continuing", "removal": True}
    add(fatou, "family_planning", {"care_date": "2026-10-09", **fp_removal})
    add(mariam, "family_planning", {"care_date": "2026-09-30", "method": "iud", "user": "new"})
    add(am, "chronic", {"care_date": "2026-10-02", "condition": "hypertension"})
    add(am, "chronic", {"care_date": "2026-10-12", "condition": "hypertension"})
    add(mariam, "chronic", {"care_date": "2026-10-03", "condition": "diabetes"})

    # After the fixture clock's 15 October: the end of the month and the next one.
    fake_time.advance(18 * DAY)  # 2 November
    add(am, "consultation", _consult("2026-10-31", ["malaria_confirmed"], new=False))
    add(am, "consultation", _consult("2026-11-01", ["malaria_confirmed"]))  # November
    add(issa, "consultation", _consult("2026-10-25", ["pneumonia"]))  # 12 months old
    add(issa, "immunization", {"care_date": "2026-10-25", "antigen": "yf", "dose": 1})
    add(issa, "growth", {"care_date": "2026-10-25", "weight_kg": 9.2})
    add(am, "family_planning", {"care_date": "2026-10-20", "method": "pill_coc", "user": "new"})
    return {"issa": issa, "awa": awa}


@pytest.fixture
def report(ctx, actors, october):
    return report_service.monthly(ctx, actors["doctor"], "2026-10")


def test_consultations_by_case_sex_and_age_at_the_visit(report):
    assert report.value("CONSULT", case="new", sex="F", age="25-49y") == 2
    assert report.value("CONSULT", case="returning", sex="F", age="25-49y") == 1
    # Issa turned one on 20 October: one visit in each age group.
    assert report.value("CONSULT", case="new", sex="M", age="0-11m") == 1
    assert report.value("CONSULT", case="new", sex="M", age="1-4y") == 1
    assert report.total("CONSULT") == 5


def test_diagnoses_count_current_versions_only(report):
    assert report.value("DIAG", diagnosis="malaria_confirmed", sex="F", age="25-49y") == 2
    assert report.value("DIAG", diagnosis="anaemia", sex="F", age="25-49y") == 1
    assert report.value("DIAG", diagnosis="pneumonia", sex="F", age="25-49y") == 1  # corrected
    assert report.value("DIAG", diagnosis="diarrhoea", sex="F", age="25-49y") == 0  # superseded
    assert report.value("DIAG", diagnosis="typhoid", sex="F", age="25-49y") == 0  # voided, moved
    assert report.value("DIAG", diagnosis="diarrhoea", sex="M", age="0-11m") == 1
    assert report.value("DIAG", diagnosis="pneumonia", sex="M", age="1-4y") == 1
    assert report.total("DIAG") == 6


def test_maternal_indicators(report):
    assert report.value("ANC1") == 1
    assert report.value("ANC4") == 2  # Kadia once (contacts 4 and 5), Aminata (8)
    assert report.value("ANC8") == 1
    assert report.value("DELIV_SKILLED") == 1
    assert report.value("DELIV_FACILITY") == 1
    assert report.value("PNC", subject="mother") == 1
    assert report.value("PNC", subject="newborn") == 1
    assert report.value("REFERRAL", source="consultation") == 1
    assert report.value("REFERRAL", source="anc") == 1
    assert report.total("REFERRAL") == 2


def test_immunization_indicators(report):
    assert report.value("IMM", antigen="mr", dose="1", age="0-11m") == 1  # Awa's was voided
    assert report.value("IMM", antigen="yf", dose="1", age="12-23m") == 1
    assert report.total("IMM") == 2  # earlier doses are outside the month
    assert report.value("FIC", sex="M") == 1
    assert report.value("FIC", sex="F") == 0


def test_growth_and_malnutrition(report):
    assert report.value("WEIGHED", sex="M") == 1  # Issa twice, counted once; Oumar is six
    assert report.value("WEIGHED", sex="F") == 1
    assert report.value("SAM_NEW", sex="F") == 1
    assert report.value("MAM_NEW", sex="F") == 1
    assert report.value("MAM_NEW", sex="M") == 0


def test_family_planning_and_chronic(report):
    assert report.value("FP", method="pill_coc", user="new") == 1
    assert report.value("FP", method="implant", user="continuing") == 1
    assert report.total("FP") == 2
    assert report.value("CHRONIC", condition="hypertension") == 1
    assert report.value("CHRONIC", condition="diabetes") == 1


def test_neighbouring_months(ctx, actors, october):
    september = report_service.monthly(ctx, actors["doctor"], "2026-09")
    november = report_service.monthly(ctx, actors["doctor"], "2026-11")
    assert september.value("CONSULT", case="new", sex="F", age="25-49y") == 2  # 29 and 30
    assert september.value("ANC1") == 1
    assert november.total("CONSULT") == 1
    assert november.value("DIAG", diagnosis="malaria_confirmed", sex="F", age="25-49y") == 1


def test_permission_audit_and_bad_period(ctx, actors, store):
    with pytest.raises(PermissionDenied):
        report_service.monthly(ctx, actors["technician"], "2026-10")
    with pytest.raises(ValueError, match="YYYY-MM"):
        report_service.monthly(ctx, actors["doctor"], "2026-13")
    with pytest.raises(ValueError, match="not started"):
        report_service.monthly(ctx, actors["doctor"], "2026-11")
    before = store.audit.count()
    report_service.monthly(ctx, actors["doctor"], "2026-10")
    row = store.query_one("SELECT action, username, detail FROM audit ORDER BY id DESC LIMIT 1")
    assert store.audit.count() == before + 1
    assert row["action"] == "report.monthly" and row["username"] == "doctor"
    assert json.loads(row["detail"])["period"] == "2026-10"


# --- the CLI, in process (the group is registered in main.py separately) ---


@pytest.fixture
def keneya(tmp_path, monkeypatch, pins, capsys):
    from appliance.cli import main as main_module
    from appliance.cli.reports import report as report_group

    if "report" not in main_module.cli.commands:
        monkeypatch.setitem(main_module.cli.commands, "report", report_group)
    monkeypatch.setenv("KENEYA_HOME", str(tmp_path))

    def run(*args, role="doctor"):
        monkeypatch.setenv("KENEYA_PIN", pins[role])
        code = 0
        try:
            main_module.main(list(args))
        except SystemExit as e:
            code = e.code or 0
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_formats(keneya, october, tmp_path):
    code, out, err = keneya("report", "monthly", "--period", "2026-10", "--as", "doctor")
    assert code == 0, err
    assert "Consultations curatives : 5" in out
    code, out, err = keneya(
        "report", "monthly", "--period", "2026-10", "--format", "dhis2-json", "--as", "doctor"
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["period"] == "202610" and payload["dataValues"]
    assert "CHRONIC" in err  # the demo mapping leaves it out, and says so
    code, out, _ = keneya(
        "report", "monthly", "--period", "2026-10", "--format", "adx", "--as", "doctor"
    )
    root = ET.fromstring(out.encode())
    assert root.tag == f"{{{ADX_NS}}}adx"
    code, out, _ = keneya(
        "report", "monthly", "--period", "2026-10", "--format", "csv", "--as", "doctor"
    )
    assert out.splitlines()[0].startswith("Indicateur,Détail,Valeur,indicator,")
    pdf = tmp_path / "r.pdf"
    code, _, err = keneya(
        "report", "monthly", "--period", "2026-10", "--format", "pdf", "--out", str(pdf),
        "--as", "doctor",
    )  # fmt: skip
    assert code == 0, err
    assert pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    "args, role",
    [
        (("--period", "2026-13", "--as", "doctor"), "doctor"),
        (("--period", "oct", "--as", "doctor"), "doctor"),
        (("--period", "2026-10", "--as", "technician"), "technician"),
        (("--period", "2026-10", "--format", "xls", "--as", "doctor"), "doctor"),
        (("--period", "2026-10"), "doctor"),
        (("--period", "2026-10", "--format", "pdf", "--as", "doctor"), "doctor"),
    ],
)
def test_cli_bad_input_gives_one_line_and_status_2(keneya, actors, args, role):
    code, out, err = keneya("report", "monthly", *args, role=role)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("keneya: ")


def test_repo_reads_only_the_fields_the_indicators_use(store, october):
    from datetime import date

    from appliance.store.reports import REPORT_FIELDS, ReportRepo

    visits = list(
        ReportRepo(store).visits(
            start=date(2026, 10, 1), end=date(2026, 10, 31), growth_from=date(2026, 8, 2)
        )
    )
    for v in visits:
        assert set(v.data) <= set(REPORT_FIELDS[v.type])
        assert v.type == "growth" or date(2026, 10, 1) <= v.care_date <= date(2026, 10, 31)
    referred = [v for v in visits if v.type == "consultation" and v.data["referral"]]
    assert len(referred) == 1
    assert referred[0].data["diagnoses"] == ["malaria_confirmed", "anaemia"]
    assert min(v.care_date for v in visits if v.type == "growth") == date(2026, 9, 1)


def test_a_pregnancy_reaching_its_fourth_contact_earlier_is_not_counted_again(
    ctx, actors, aminata, fake_time
):
    """The store reads a pregnancy's earlier contacts (44 weeks back) for the women seen in
    the month: contact 4 in September, contacts 5 and 6 in October count nothing in October."""
    nurse, doctor = actors["nurse"], actors["doctor"]
    am = aminata["id"]
    for day, number, sp in (("2026-09-02", 4, 2), ("2026-10-01", 5, 3), ("2026-10-14", 6, 4)):
        encounters.add(
            ctx, nurse, am, "anc", {"care_date": day, "contact_number": number, "iptp_dose": sp}
        )
    october = report_service.monthly(ctx, doctor, "2026-10")
    assert october.value("ANC4") == 0 and october.value("IPTP2") == 0
    assert october.value("IPTP3") == 1  # the third SP dose was given on 1 October
    september = report_service.monthly(ctx, doctor, "2026-09")
    assert september.value("ANC4") == 1 and september.value("IPTP2") == 1
