"""The outreach sheet: every item printed, French words, page numbers, defaulters marked."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

from pypdf import PdfReader

from appliance.reports.outreach_pdf import render, state_on

ROUND = date(2026, 12, 20)
PRINTED = date(2026, 12, 5)


def _item(n: int, due: date, *, pid: str, reason: str, code: str = "penta:1", **contact) -> dict:
    return {
        "patient_id": pid,
        "kind": "immunization",
        "reason": reason,
        "reason_code": code,
        "due_date": due.isoformat(),
        "overdue_from": (due + timedelta(days=28)).isoformat(),
        "defaulter_from": (due + timedelta(days=56)).isoformat(),
        "ends_on": (due + timedelta(days=365)).isoformat(),
        "state": "due",
        "contact": {
            "family_name": "Traoré",
            "given_names": f"Aminata {pid}",
            "health_number": f"DEMO-{pid}",
            "phone": "+22376000000",
            "village": "Banankoro",
            **contact,
        },
    }


def _text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(p.extract_text() for p in reader.pages)


def _many(n: int) -> list[dict]:
    # three items a person; due dates from 80 days before the round to 10 days after it
    return [
        _item(
            i,
            ROUND + timedelta(days=i % 90 - 80),
            pid=f"{i // 3:05d}",
            reason=f"Rendez-vous numéro {i:04d}",
        )
        for i in range(n)
    ]


def test_every_item_of_a_long_round_is_printed_over_several_pages():
    items = _many(170)
    pages, text = _text(
        render(
            {"village": "Banankoro", "date": ROUND.isoformat(), "items": items},
            facility="CSCom de Banankoro",
            printed_on=PRINTED,
        )
    )
    assert pages >= 3
    printed = set(re.findall(r"Rendez-vous numéro (\d{4})", text))
    assert printed == {f"{i:04d}" for i in range(170)}
    assert set(re.findall(r"N° DEMO-(\d{5})", text)) == {f"{i:05d}" for i in range(57)}
    for n in range(1, pages + 1):
        assert f"page {n}/{pages}" in text
    assert "Rendez-vous : 170" in text
    assert "Personnes : 57" in text


def test_title_facility_dates_and_states_in_french():
    items = [
        _item(0, ROUND + timedelta(days=5), pid="a", reason="VAA 1"),  # after the round
        _item(1, ROUND - timedelta(days=3), pid="b", reason="RR 1"),  # due on the round
        _item(2, ROUND - timedelta(days=40), pid="c", reason="Penta 3"),  # overdue
        _item(3, ROUND - timedelta(days=70), pid="d", reason="VPI 1"),  # defaulter
    ]
    _, text = _text(
        render(
            {"village": "Banankoro", "date": ROUND.isoformat(), "items": items},
            facility="CSCom de Banankoro",
            printed_on=PRINTED,
        )
    )
    assert "Tournée de Banankoro - 20/12/2026" in text
    assert "CSCom de Banankoro" in text
    assert "Imprimé le 05/12/2026" in text
    assert re.search(r"VAA 1\s*25/12/2026\s*à venir", text)
    assert re.search(r"RR 1\s*17/12/2026\s*à faire \(3 j\)", text)
    assert re.search(r"Penta 3\s*10/11/2026\s*en retard \(40 j\)", text)
    assert re.search(r"VPI 1\s*11/10/2026\s*perdu de vue \(70 j\)", text)
    # only the defaulter's block is marked for tracing
    assert text.count("PERDU DE VUE") == 1
    assert re.search(r"Aminata d\b.*PERDU DE VUE", text)
    for words, n in (("À venir", 1), ("À faire", 1), ("En retard", 1), ("Perdu de vue", 1)):
        assert f"{words} : {n}" in text
    assert text.count("Notes :") == 4


def test_a_childs_guardian_and_whose_phone_it_is():
    child = _item(
        0,
        ROUND,
        pid="k",
        reason="Penta 1",
        phone_of="mother",
        mother_family_name="Coulibaly",
        mother_given_names="Awa",
        birth_date="2026-10-01",
        sex="F",
    )
    adult = _item(1, ROUND, pid="z", reason="Suivi", phone=None)
    _, text = _text(
        render(
            {"village": "Banankoro", "date": ROUND.isoformat(), "items": [child, adult]},
            facility="CSCom",
            printed_on=PRINTED,
        )
    )
    assert "Mère ou tutrice : Coulibaly Awa" in text
    assert "Téléphone : +22376000000 (de la mère)" in text
    assert "2 mois" in text and "fille/femme" in text
    assert "Téléphone : aucun" in text


def test_one_households_items_stay_in_one_block():
    items = [
        _item(0, ROUND, pid="x", reason="Penta 2"),
        _item(1, ROUND, pid="x", reason="VPO 2"),
    ]
    _, text = _text(
        render(
            {"village": "Banankoro", "date": ROUND.isoformat(), "items": items},
            facility="CSCom",
            printed_on=PRINTED,
        )
    )
    assert text.count("N° DEMO-x") == 1
    assert "Personnes : 1" in text and "Rendez-vous : 2" in text


def test_an_hiv_visit_is_printed_without_its_diagnosis():
    item = _item(0, ROUND, pid="h", reason="Suivi VIH", code="chronic:hiv")
    _, text = _text(
        render(
            {"village": "Banankoro", "date": ROUND.isoformat(), "items": [item]},
            facility="CSCom",
            printed_on=PRINTED,
        )
    )
    assert "VIH" not in text
    assert "Suivi au centre de santé" in text


def test_an_empty_round_says_so():
    _, text = _text(
        render(
            {"village": "Kolondiéba", "date": ROUND.isoformat(), "items": []},
            facility="CSCom",
            printed_on=PRINTED,
        )
    )
    assert "Personne à voir" in text and "Rendez-vous : 0" in text
    assert "page 1/1" in text


def test_state_on_the_rounds_day_follows_the_dates():
    item = _item(0, date(2026, 12, 1), pid="s", reason="x")
    assert state_on(item, date(2026, 11, 30)) == "upcoming"
    assert state_on(item, date(2026, 12, 1)) == "due"
    assert state_on(item, date(2026, 12, 29)) == "overdue"
    assert state_on(item, date(2027, 1, 26)) == "defaulter"
