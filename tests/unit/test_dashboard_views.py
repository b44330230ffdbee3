"""The dashboard's charts, the data turned into them, and the ASACO's one-page PDF."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from pypdf import PdfReader

from appliance.reports.dashboard_pdf import to_pdf
from appliance.web import charts
from appliance.web import dashboard_view as view
from appliance.web.i18n import Translator
from tests.dashboard_sample import example, sample

NS = "{http://www.w3.org/2000/svg}"
FR, EN = Translator("fr"), Translator("en")


def _svg(markup: str) -> ET.Element:
    root = ET.fromstring(markup)
    assert root.tag == NS + "svg" and root.get("width") is None and root.get("viewBox")
    assert root[0].tag == NS + "title" and root[0].text
    assert "style=" not in markup and "<script" not in markup  # the page's CSP
    return root


def _by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]


def test_monitoring_chart_draws_the_target_from_zero_to_the_annual_target():
    svg = charts.immunization_monitoring_svg(
        months=MONTHS,
        series=[{"label": "Penta 1",
                 "cumulative": [36 * (i + 1) if i < 5 else None for i in range(12)]}],
        annual_target=432,
        labels={"title": "Suivi", "target": "Cible"},
    )  # fmt: skip
    root = _svg(svg)
    (target,) = _by_class(root, "target")
    assert float(target.get("y2")) < float(target.get("y1"))  # rises to the right
    (line,) = _by_class(root, "series")
    assert line.get("d").count("L") == 5  # from 0 to the 5 months counted, none after
    assert "Cible" in svg and "Penta 1" in svg


def test_monitoring_chart_without_target_still_draws_the_doses():
    root = _svg(
        charts.immunization_monitoring_svg(
            months=MONTHS,
            series=[{"label": "RR 1", "cumulative": [5, 9] + [None] * 10}],
            annual_target=None,
            labels={"title": "Suivi", "target": "Cible"},
        )
    )
    assert _by_class(root, "target") == [] and len(_by_class(root, "series")) == 1


def test_dropout_bars_and_the_ten_percent_line():
    root = _svg(
        charts.dropout_svg(
            months=MONTHS,
            series=[
                {"label": "P1→P3", "rates": [0.12, 0.08] + [None] * 10},
                {"label": "P1→RR1", "rates": [-0.05, 0.2] + [None] * 10},
            ],
            labels={"title": "Abandon", "threshold": "Seuil OMS 10 %"},
        )
    )
    assert len(_by_class(root, "bar")) == 4 and len(_by_class(root, "threshold")) == 1
    hatched = [b for b in _by_class(root, "bar") if b.get("fill").startswith("url(#")]
    assert len(hatched) == 2  # the second series told apart without colour


def test_pyramid_puts_women_left_and_men_right():
    root = _svg(
        charts.pyramid_svg(
            groups=[{"group": "0-11m", "F": 10, "M": 20}, {"group": "1-4", "F": 30, "M": 0}],
            labels={"title": "Pyramide", "F": "Femmes", "M": "Hommes"},
        )
    )
    f, m = _by_class(root, "female"), _by_class(root, "male")
    assert len(f) == len(m) == 2
    assert all(
        float(a.get("x")) + float(a.get("width")) <= float(b.get("x"))
        for a, b in zip(f, m, strict=True)
    )


@pytest.mark.parametrize("draw", ["trend", "dropout", "pyramid", "monitoring"])
def test_empty_data_says_so(draw):
    labels = {"title": "T", "target": "C", "threshold": "S", "F": "F", "M": "M", "empty": "Rien"}
    svg = {
        "trend": lambda: charts.trend_svg(months=MONTHS, series=[], labels=labels),
        "dropout": lambda: charts.dropout_svg(months=MONTHS, series=[], labels=labels),
        "pyramid": lambda: charts.pyramid_svg(groups=[], labels=labels),
        "monitoring": lambda: charts.immunization_monitoring_svg(
            months=MONTHS, series=[], annual_target=None, labels=labels
        ),
    }[draw]()
    assert "Rien" in svg
    _svg(svg)


def test_labels_are_escaped():
    svg = charts.trend_svg(
        months=MONTHS,
        series=[{"label": "<b>&", "values": [1] * 12}, {"label": "x", "values": [2] * 12}],
        labels={"title": "a<b"},
    )  # fmt: skip
    _svg(svg)
    assert "<b>" not in svg


@pytest.mark.parametrize("lang, t", [("fr", FR), ("en", EN)])
def test_key_charts_have_a_caption_and_their_numbers(lang, t):
    data = example()
    made = view.key_charts(data, t, lang)
    assert [c["name"] for c in made] == list(view.CHART_NAMES)
    for chart in made:
        _svg(chart["svg"])
        assert chart["caption"] and chart["table"]["head"] and chart["table"]["rows"]
    monitoring = made[0]["table"]
    counted = view.counted_months(data)
    assert len(monitoring["rows"]) == len(counted)
    penta1 = view.indicator(data, "penta1")
    last = next(e for e in penta1["to_date"] if e["month"] == counted[-1])
    assert str(last["numerator"]) in monitoring["rows"][-1]


def test_without_population_the_captions_ask_for_it():
    made = view.key_charts(sample(population=False), FR, "fr")
    assert "[population]" in made[0]["caption"] and "[population]" in made[1]["caption"]
    assert "Cible cumulée" not in made[0]["table"]["head"]


def test_indicator_labels_follow_the_readers_language():
    data = sample()
    fr = view.sections(data, FR, "fr")
    en = view.sections(data, EN, "en")
    assert fr[0]["title"] == "Vaccination" and en[0]["title"] == "Immunization"
    assert {r["label"] for s in en for r in s["rows"]} >= {"MR 1", "ANC 1"}


def test_pdf_is_one_page_with_the_key_figures():
    data = example()
    body = to_pdf(data)
    reader = PdfReader(io.BytesIO(body))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "Tableau de bord" in text and "ASACO" in text
    for f in view.key_figures(data, "fr"):
        assert f"{f['to_date']:,}".replace(",", " ") in text, f["code"]
    assert "Suivi cumul" in text  # the monitoring chart's title


def test_pdf_of_an_earlier_month_and_without_population():
    data = sample(population=False)
    text = PdfReader(io.BytesIO(to_pdf(data, month="2026-02"))).pages[0].extract_text()
    assert "février 2026" in text and "[population]" in text
