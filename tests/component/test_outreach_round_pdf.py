"""The outreach sheet of a seeded facility's busiest village: every item the service lists for
the round (upcoming ones included) is on the paper, each under its own person."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader

from appliance.reports.outreach_pdf import render
from appliance.seed.facility import seed_facility
from appliance.services import auth, follow_up
from appliance.services.context import Context
from appliance.store import Store

pytestmark = pytest.mark.component
TODAY = date(2026, 11, 1)


def test_every_item_of_a_seeded_villages_round_is_printed(tmp_path):
    seed_facility(
        tmp_path / "k.db", patients=2500, seed=5, years=3, logins_dir=tmp_path, today=TODAY
    )
    user, _, pin = next(
        line.split()
        for line in (tmp_path / "demo-logins.txt").read_text().splitlines()
        if line.split()[1] == "nurse"
    )
    noon = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC).timestamp()
    with Store(tmp_path / "k.db") as store:
        ctx = Context.open(store, machine_time=lambda: noon, boot_id="test")
        nurse = auth.login(ctx, user, pin=pin)
        by_village = Counter(
            r[0]
            for r in store.conn.execute(
                "SELECT village FROM due_items WHERE village != '' AND ends_on >= ?",
                (TODAY.isoformat(),),
            )
        )
        village = by_village.most_common(1)[0][0]
        round_day = TODAY + timedelta(days=30)
        data = follow_up.outreach(ctx, nurse, village=village, on=round_day)
        pdf = render(data, facility="CSCom de démonstration", printed_on=TODAY)

    items = data["items"]
    assert len(items) >= 40  # a real round, over several pages
    assert any(i["state"] == "upcoming" for i in items)
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) >= 2
    assert f"Tournée de {village} - {round_day:%d/%m/%Y}" in text
    assert f"Rendez-vous : {len(items)}" in text
    people = {i["patient_id"]: i["contact"]["health_number"] for i in items}
    assert f"Personnes : {len(people)}" in text
    # each person once, with as many item rows (due dates) as the service gave them
    blocks = re.split(r"\n(?=[^\n]*  -  N° )", text)
    rows_by_number = {}
    for block in blocks[1:]:
        number = re.search(r"N° (\S+)", block).group(1)
        assert number not in rows_by_number
        rows_by_number[number] = len(re.findall(r"\d\d/\d\d/\d{4}\s+(?:à |en |perdu)", block))
    expected = Counter(i["contact"]["health_number"] for i in items)
    assert rows_by_number == dict(expected)
