"""Every alert, due reason and status value the engine can produce reads in English too.

Each alert family is raised for real (alerts_for over made-up records), each due reason code
the schedules know is rendered, and each status label is looked up in the English catalogue:
the English must differ from the French and hold no French accented word, so a French
literal added without its template and translation fails here."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from appliance.clinical import alerts as al
from appliance.clinical import due as du
from appliance.clinical import immunization as imm
from appliance.clinical import pregnancy as preg
from appliance.clinical.texts import msg, num, render, value_text
from appliance.web import labels, power_texts
from appliance.web.i18n import Translator, catalog

ON = date(2026, 10, 15)
EN = Translator("en")
# A French accented letter in an English text: a word left untranslated.
FRENCH = re.compile(r"[àâçéèêëîïôûùüÿœæÀÂÇÉÈÊËÎÏÔÛÙÜŸŒÆ]")


def iso(d: date) -> str:
    return d.isoformat()


def enc(kind: str, care: date, eid: str, **data) -> dict:
    return {
        "id": eid,
        "type": kind,
        "care_date": iso(care),
        "data": {"care_date": iso(care), **data},
    }


def english_of(french: str, english: str, what: str) -> None:
    assert english != french, f"{what}: English is the French: {french!r}"
    assert not FRENCH.search(english), f"{what}: French left in {english!r}"


# -- alerts ---------------------------------------------------------------------------------

ALL_ANC_SIGNS = list(al._ANC_SIGNS)
ALL_IMCI_SIGNS = list(al._IMCI_SIGNS)


def _records() -> list[tuple[dict, list[dict]]]:
    """Records that raise every alert rule between them."""
    d = ON - timedelta(days=1)
    young = {"id": "w1", "sex": "F", "birth_date": "2010-03-01"}  # 16
    young_anc = [
        enc(
            "anc",
            ON - timedelta(days=40),
            "a1",
            lmp=iso(ON - timedelta(weeks=26)),
            parity=6,
            miscarriages=3,
            previous_caesarean=True,
            previous_stillbirth=True,
            previous_difficult_delivery=True,
            previous_pph=True,
            last_birth_date=iso(ON - timedelta(weeks=26) - timedelta(days=200)),
            height_cm=140.5,
            hb_g_dl=6.5,
            known_conditions=["hypertension", "diabetes", "heart_disease", "hiv"],
        ),
        enc(
            "anc",
            d,
            "a2",
            temperature_c=39.2,
            pulse_bpm=130,
            spo2_pct=88,
            bp_systolic=165,
            bp_diastolic=112,
            danger_signs=ALL_ANC_SIGNS,
        ),
    ]
    old = {"id": "w2", "sex": "F", "birth_date": "1985-01-01"}  # 41
    old_anc = [
        enc(
            "anc",
            d,
            "b1",
            gestational_age_weeks=20,
            pulse_bpm=50,
            bp_systolic=145,
            bp_diastolic=95,
            hb_g_dl=9.0,
        )
    ]
    mild = {"id": "w3", "sex": "F", "birth_date": "1998-01-01"}
    mild_anc = [enc("anc", d, "m1", gestational_age_weeks=24, hb_g_dl=10.5)]
    sam_child = {"id": "c1", "sex": "M", "birth_date": iso(ON - timedelta(days=400))}
    sam = [
        enc(
            "growth", ON - timedelta(days=30), "g1", weight_kg=8.0, height_cm=72.0, measured="lying"
        ),
        enc(
            "growth",
            d,
            "g2",
            weight_kg=7.6,
            height_cm=72.5,
            measured="lying",
            muac_mm=108,
            oedema=True,
        ),
        enc("consultation", d, "k1", danger_signs=ALL_IMCI_SIGNS),
    ]
    mam_child = {"id": "c2", "sex": "F", "birth_date": iso(ON - timedelta(days=500))}
    mam = [enc("growth", d, "g3", weight_kg=8.2, height_cm=76.0, measured="lying", muac_mm=120)]
    chronic_patient = {"id": "h1", "sex": "M", "birth_date": "1960-01-01"}
    chronic = [
        enc(
            "chronic",
            ON - timedelta(days=90),
            f"h-{cond}",
            condition=cond,
            next_visit=iso(ON - timedelta(days=40)),
        )
        for cond in al._CONDITIONS
    ] + [
        enc(
            "chronic",
            d,
            "h-crisis",
            condition="hypertension",
            bp_systolic=200,
            bp_diastolic=125,
            next_visit=iso(ON + timedelta(days=30)),
        )
    ]
    return [
        (young, young_anc),
        (old, old_anc),
        (mild, mild_anc),
        (sam_child, sam),
        (mam_child, mam),
        (chronic_patient, chronic),
    ]


def every_alert() -> list[al.Alert]:
    return [a for patient, encs in _records() for a in al.alerts_for(patient, encs, ON)]


def test_the_records_raise_every_alert_rule():
    found = {a.code for a in every_alert()}
    expected = (
        {f"anc.danger_sign.{s}" for s in ALL_ANC_SIGNS}
        | {f"child.imci_danger_sign.{s}" for s in ALL_IMCI_SIGNS}
        | {
            "anc.vital.fever",
            "anc.vital.pulse_high",
            "anc.vital.pulse_low",
            "anc.vital.spo2_low",
            "anc.hypertension.severe",
            "anc.hypertension.raised",
            "anc.anaemia.moderate",
            "anc.anaemia.mild",
            "pregnancy.high_risk.age_under_18",
            "pregnancy.high_risk.age_over_35",
            "pregnancy.high_risk.grand_multiparity",
            "pregnancy.high_risk.recurrent_miscarriage",
            "pregnancy.high_risk.previous_caesarean",
            "pregnancy.high_risk.previous_stillbirth",
            "pregnancy.high_risk.previous_difficult_delivery",
            "pregnancy.high_risk.previous_pph",
            "pregnancy.high_risk.short_birth_interval",
            "pregnancy.high_risk.short_stature",
            "pregnancy.high_risk.severe_anaemia",
            "pregnancy.high_risk.known_hypertension",
            "pregnancy.high_risk.known_diabetes",
            "pregnancy.high_risk.known_heart_disease",
            "pregnancy.high_risk.known_hiv",
            "child.sam",
            "child.mam",
            "child.growth_faltering",
            "chronic.missed_follow_up",
            "chronic.bp_crisis",
        }
    )
    assert expected <= found, sorted(expected - found)


def test_every_alert_reads_in_english():
    alerts = every_alert()
    assert len(alerts) > 40
    for a in alerts:
        assert a.reason_msg, f"{a.code}: reason without its template"
        # the French stored with the alert is the template filled in French
        assert al.reason_text(a) == a.reason
        assert al.reason_text(a.to_json(), None) == a.reason  # as the API and kiosk get it
        english_of(a.reason, al.reason_text(a.to_json(), EN), f"{a.code} reason")
        english_of(a.action, al.action_text(a.to_json(), EN), f"{a.code} action")


def test_measures_use_the_readers_decimal_separator():
    a = next(a for a in every_alert() if a.code == "anc.vital.fever")
    assert "T° 39,2 °C (≥ 38 °C)" in a.reason
    assert "Temp. 39.2 °C (≥ 38 °C)" in al.reason_text(a.to_json(), EN)
    assert value_text(num(-2.5)) == "−2,5" and value_text(num(-2.5), EN) == "−2.5"


def test_an_alert_without_a_template_shows_its_stored_text():
    """An alert computed by an older version (no reason_msg) is shown as it was stored."""
    old = {"code": "x", "severity": "high", "reason": "Ancien texte", "action": "Faire"}
    assert al.reason_text(old, EN) == "Ancien texte"


def test_nested_messages_and_lists_are_translated():
    text = render(
        "%(reason)s ; valeur à vérifier : %(check)s",
        {"reason": msg("PB %(muac)s mm (< %(limit)s mm)", muac=108, limit=115), "check": ["x"]},
        EN,
    )
    assert text == "MUAC 108 mm (< 115 mm); value to check: x"


def test_a_translation_with_wrong_placeholders_shows_the_french_not_a_crash():
    def bad(message: str) -> str:
        return "BP %(systolic)s" if message.startswith("TA") else message

    args = {"s": 165, "d": 112, "date": "14/10/2026"}
    text = render("TA %(s)s/%(d)s mmHg (CPN du %(date)s)", args, bad)
    assert text == "TA 165/112 mmHg (CPN du 14/10/2026)"


# -- due reasons ----------------------------------------------------------------------------


def every_reason_code() -> list[tuple[str, str]]:
    """(kind, reason code) of every item the schedules can list."""
    sched = imm.load_schedule()
    out = []
    for sex in ("F", "M"):
        birth = ON - timedelta(days=20 * 365)
        for dd in imm.due_doses(
            sex, birth, [], ON, malaria_vaccine=True, schedule=sched, horizon_days=40 * 365
        ):
            out.append(("immunization", f"{dd.antigen}:{dd.dose}"))
    for antigen in du.ANTIGEN_LABELS:  # every antigen, whatever its dose
        out.append(("immunization", f"{antigen}:1"))
    out += [("anc", f"anc:{n}") for n in range(1, len(preg.ANC_WEEKS) + 1)]
    out.append(("refer_delivery", f"refer_delivery:{preg.REFER_WEEK}w"))
    out += [("td", f"td:{n}") for n in range(1, 6)]
    out += [("iptp", f"iptp:{n}") for n in range(1, 6)]
    out += [
        ("pnc", f"pnc:{who}:{code}")
        for who in du.PNC_SUBJECTS
        for (_n, code, _d, _f, _l) in preg.PNC_CONTACTS
    ]
    out += [("family_planning", f"fp:{m}") for m in du.FP_LABELS]
    out += [("chronic", f"chronic:{c}") for c in du.CHRONIC_LABELS]
    out += [("growth_monitoring", "growth:monthly"), ("growth_monitoring", "growth:quarterly")]
    return sorted(set(out))


def test_every_due_reason_code_reads_in_english():
    codes = every_reason_code()
    assert len(codes) > 50
    for kind, code in codes:
        item = {"kind": kind, "reason_code": code, "reason": "?"}
        assert du.reason_message(kind, code) is not None, code
        french = du.reason_text(item)
        assert "%" not in french, code
        english_of(french, du.reason_text(item, EN), code)


def test_listed_items_keep_their_french_and_read_in_english():
    """Items due_for_patient really makes (a newborn, a pregnant woman, after a delivery, on
    each family planning method, on each chronic condition): the stored French is the
    template filled in French, and each has its English."""
    baby = {"id": "b", "sex": "F", "birth_date": iso(ON - timedelta(days=2))}
    woman = {"id": "w", "sex": "F", "birth_date": "1995-01-01"}
    records = [(baby, [])]
    records.append(
        (woman, [enc("anc", ON - timedelta(days=1), "a", lmp=iso(ON - timedelta(weeks=10)))])
    )
    records.append((woman, [enc("delivery", ON - timedelta(days=1), "d", outcome="live_birth")]))
    for method in du.FP_LABELS:
        data = {"method": method, "quantity": 1, "user": "new"}
        fp = [enc("family_planning", ON - timedelta(days=300), "f", **data)]
        if method == "lam":
            fp.insert(0, enc("delivery", ON - timedelta(days=301), "d", outcome="live_birth"))
        records.append((woman, fp))
    for cond in du.CHRONIC_LABELS:
        records.append((woman, [enc("chronic", ON - timedelta(days=10), "c", condition=cond)]))
    kinds = set()
    for patient, encs in records:
        for item in du.due_for_patient(patient, encs, ON, horizon_days=400):
            j = item.to_json()
            kinds.add(item.kind)
            assert du.reason_text(j) == item.reason
            english_of(item.reason, du.reason_text(j, EN), item.reason_code)
    assert kinds >= {"immunization", "anc", "td", "iptp", "pnc", "family_planning", "chronic"}


def test_an_unknown_reason_code_shows_the_stored_text():
    item = {"kind": "new_kind", "reason_code": "new:1", "reason": "Nouveau motif"}
    assert du.reason_text(item, EN) == "Nouveau motif"


# -- status values --------------------------------------------------------------------------

STATUS_TABLES = {
    "labels.STATUS": labels.STATUS,
    "labels.MODEM": labels.MODEM,
    "labels.USB_STATES": labels.USB_STATES,
    "labels.CLOCK_SOURCES": labels.CLOCK_SOURCES,
    "labels.ZSCORES": labels.ZSCORES,
    "power_texts.FAULTS": power_texts.FAULTS,
    "power_texts.STATES": power_texts.STATES,
}


@pytest.mark.parametrize("table", sorted(STATUS_TABLES))
def test_every_status_value_has_its_english(table):
    english = catalog("en")
    for code, french in STATUS_TABLES[table].items():
        assert english.get(french, "").strip(), f"{table}[{code!r}] {french!r}: no English"
        assert not FRENCH.search(english[french]), f"{table}[{code!r}]: {english[french]!r}"


@pytest.mark.parametrize(
    "table",
    [
        "ANTIGEN_LABELS",
        "PNC_LABELS",
        "PNC_SUBJECTS",
        "CHRONIC_LABELS",
        "FP_LABELS",
        "REASONS",
    ],
)
def test_every_part_of_a_due_reason_is_in_the_catalogue(table):
    """Abbreviations too (VAA is YF in English): a missing one would pass as English above."""
    english = catalog("en")
    missing = [f for f in getattr(du, table).values() if not english.get(f, "").strip()]
    assert not missing, f"du.{table}: no English for {missing}"


# -- dose suggestions (the encounter form's live feedback) ----------------------------------


def test_every_dose_suggestion_and_refusal_reads_in_english():
    from appliance.clinical import dosing

    shown = refused = 0
    for code in ("malaria_confirmed", "malaria_suspected", "pneumonia", "diarrhoea", "fever"):
        for age in (-1, 10, 100, 400, 900, 1900, 4000, 20000):
            for weight in (None, 2.0, 3.5, 4.5, 6.3, 8.0, 12.0, 19.5, 25.0, 70.0, 300.0):
                try:
                    suggestions = dosing.suggest(code, weight, age)
                except dosing.DosingRefused as e:
                    refused += 1
                    assert dosing.refusal_text(e) in str(e)  # the French half of the CLI's
                    english_of(dosing.refusal_text(e), dosing.refusal_text(e, EN), e.code)
                    continue
                for s in suggestions:
                    shown += 1
                    for part in ("drug", "dose", "note"):
                        assert dosing.text_of(s, part) == getattr(s, part)
                        english_of(getattr(s, part), dosing.text_of(s, part, EN), part)
    assert shown > 50 and refused > 20


# -- the catalogue itself -------------------------------------------------------------------


def test_the_catalogue_has_no_duplicate_msgid():
    """Several people insert entries: Babel would keep the last of two silently."""
    from collections import Counter

    from appliance.web.i18n import LOCALE_DIR

    text = (LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    ids = [
        "".join(re.findall(r'"(.*)"', m)) for m in re.findall(r'^msgid ((?:".*"\n)+)', text, re.M)
    ]
    twice = [i for i, n in Counter(ids).items() if n > 1]
    assert not twice, f"msgids entered twice: {twice}"
    assert len(ids) == len(catalog("en")) + 1  # + the header; every entry parsed
