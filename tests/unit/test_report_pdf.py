"""The French PDF: builds with accents and the facility header (content is compressed)."""

from __future__ import annotations

from datetime import date

from appliance.reports.monthly import Period, Report, key
from appliance.reports.pdf import to_pdf


def test_pdf_builds():
    report = Report(
        Period(2026, 10),
        {key("DIAG", {"diagnosis": "malaria_confirmed", "sex": "F", "age": "1-4y"}): 3},
        facility_code="KLB",
        facility_name="CSCom de Kalaban — Koro",
        generated_on=date(2026, 11, 2),
    )
    data = to_pdf(report)
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
