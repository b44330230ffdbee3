"""WHO reference curves and the web app's inline SVG charts."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from appliance.clinical import growth as g
from appliance.web.charts import growth_chart_svg, power_chart_svg

NS = "{http://www.w3.org/2000/svg}"
LABELS = {"title": "Poids pour l'âge", "x": "Âge (mois)", "y": "Poids (kg)"}
POWER_LABELS = {"title": "Batterie", "voltage": "Tension (V)", "current": "Courant (A)"}
MIDNIGHT = datetime(2024, 3, 1, tzinfo=UTC).timestamp()


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(NS + tag) if cls in e.get("class", "").split()]


# -- reference curves -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "index, sex, median",
    [("wfa", "M", 3.3464), ("wfa", "F", 3.2322), ("hfa", "M", 49.8842), ("hfa", "F", 49.1477)],
)
def test_median_curve_starts_at_the_birth_median(index, sex, median):
    curves = g.reference_curves(index, sex)
    assert curves[0][0] == (0.0, pytest.approx(median, abs=1e-12))


@pytest.mark.parametrize("sex", ["M", "F"])
def test_curves_cover_the_table_and_keep_the_last_day(sex):
    curves = g.reference_curves("wfa", sex)
    assert sorted(curves) == [-3, -2, 0, 2, 3]
    days = [d for d, _ in curves[0]]
    assert days[:3] == [0.0, 30.0, 60.0]
    assert days[-2:] == [1830.0, float(g.MAX_AGE_DAYS)]
    # the lines never cross: -3 < -2 < 0 < 2 < 3 at every age
    for i in range(len(days)):
        column = [curves[z][i][1] for z in (-3, -2, 0, 2, 3)]
        assert column == sorted(column) and len(set(column)) == 5


@pytest.mark.parametrize("sex", ["M", "F"])
@pytest.mark.parametrize("index", ["wfa", "hfa"])
def test_every_curve_point_scores_back_to_its_z(index, sex):
    score = {"wfa": g.wfa, "hfa": g.hfa}[index]
    curves = g.reference_curves(index, sex, z_values=(-3, -2, -1, 0, 1, 2, 3), step_days=7)
    for z, curve in curves.items():
        for day, value in curve:
            assert score(sex, day, value) == pytest.approx(z, abs=1e-6), (z, day)


def test_weight_curves_beyond_3_sd_follow_whos_restricted_rule():
    curves = g.reference_curves("wfa", "F", z_values=(-4, 4), step_days=100)
    for z, curve in curves.items():
        for day, value in curve:
            assert g.wfa("F", day, value) == pytest.approx(z, abs=1e-6)


def test_expanded_table_sd_values():
    # WHO expanded WFA table, boys at 365 days: SD3neg 6.926, SD2 11.983 (3 decimals)
    curves = g.reference_curves("wfa", "M", day_from=365, day_to=365)
    assert curves[-3] == [(365.0, pytest.approx(6.926, abs=5e-4))]
    assert curves[2] == [(365.0, pytest.approx(11.983, abs=5e-4))]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"index": "wfh", "sex": "M"},
        {"index": "wfa", "sex": "X"},
        {"index": "hfa", "sex": None},
        {"index": "wfa", "sex": "M", "day_to": g.MAX_AGE_DAYS + 1},
        {"index": "wfa", "sex": "M", "step_days": 0},
    ],
)
def test_reference_curves_reject_bad_arguments(kwargs):
    index, sex = kwargs.pop("index"), kwargs.pop("sex")
    with pytest.raises(ValueError):
        g.reference_curves(index, sex, **kwargs)


# -- growth chart ---------------------------------------------------------------------------


def test_growth_chart_is_well_formed_svg_with_curves_and_points():
    points = [(0, 3.3), (61, 5.6), (183, 7.9), (400, 9.4)]
    svg = growth_chart_svg(index="wfa", sex="M", points=points, labels=LABELS)
    assert svg.startswith("<svg")
    root = _parse(svg)
    assert root.tag == NS + "svg"
    assert root.get("role") == "img"
    assert root.get("viewBox") == "0 0 400 320"  # drawn at a phone's width
    assert root[0].tag == NS + "title" and root[0].text == LABELS["title"]
    curves = _by_class(root, "path", "curve")
    assert len(curves) == 5
    classes = {c.get("class").split()[1]: c.get("stroke") for c in curves}
    assert set(classes) == {"z-3", "z-2", "z0", "z2", "z3"}
    assert classes["z-3"] == classes["z3"] != classes["z-2"] == classes["z2"] != classes["z0"]
    circles = _by_class(root, "circle", "point")
    assert len(circles) == len(points)
    assert [c.find(NS + "title").text for c in circles][1] == "2.0 months, 5.6 kg"
    assert len(_by_class(root, "polyline", "measurements")) == 1
    x_ticks = [t.text for t in _by_class(root, "text", "x-tick")]
    assert x_ticks == [str(m) for m in range(0, 61, 6)]


def test_growth_chart_points_are_drawn_where_the_curves_are():
    # a child exactly on the median at 1 year sits on the z0 line's vertex for day 360
    curves = g.reference_curves("hfa", "F")
    day, median = curves[0][12]
    svg = growth_chart_svg(index="hfa", sex="F", points=[(int(day), median)], labels=LABELS)
    root = _parse(svg)
    (circle,) = _by_class(root, "circle", "point")
    (z0,) = _by_class(root, "path", "z0")
    vertex = z0.get("d").split()[12].lstrip("ML")
    assert vertex == f"{circle.get('cx')},{circle.get('cy')}"
    assert circle.find(NS + "title").text.endswith(" cm")


def test_growth_chart_drops_points_outside_0_to_1856_days():
    points = [(-1, 3.0), (0, 3.3), (1856, 18.0), (1857, 18.1), (3000, 25.0)]
    svg = growth_chart_svg(index="wfa", sex="F", points=points, labels=LABELS)
    circles = _by_class(_parse(svg), "circle", "point")
    assert [c.find(NS + "title").text for c in circles] == [
        "0.0 months, 3.3 kg",
        "61.0 months, 18 kg",
    ]


def test_growth_chart_without_points_still_draws_the_curves():
    root = _parse(growth_chart_svg(index="hfa", sex="M", points=[], labels=LABELS))
    assert len(_by_class(root, "path", "curve")) == 5
    assert not _by_class(root, "circle", "point")
    assert not _by_class(root, "polyline", "measurements")


def test_growth_chart_escapes_labels():
    labels = {"title": "A < B & C", "x": "x <i>", "y": "y & z"}
    svg = growth_chart_svg(index="wfa", sex="M", points=[(30, 4.0)], labels=labels)
    assert "A &lt; B &amp; C" in svg and "x &lt;i&gt;" in svg and "y &amp; z" in svg
    assert "<i>" not in svg
    root = _parse(svg)
    assert root.find(NS + "title").text == "A < B & C"


def test_growth_chart_rejects_an_unknown_index():
    with pytest.raises(ValueError):
        growth_chart_svg(index="bmi", sex="M", points=[], labels=LABELS)


# -- power chart ----------------------------------------------------------------------------


def _samples(start, hours=24, bucket_s=900, skip=()):
    return [
        {
            "resolution_s": bucket_s,
            "start_s": start + i * bucket_s,
            "samples": 15,
            "faults": 0,
            "v_avg": 12.2 + 0.01 * (i % 40),
            "v_min": 12.0,
            "v_max": 13.0,
            "i_avg": -0.4 if i % 2 else 1.1,
            "soc_last": 80,
            "state": "ok",
            "clock_trusted": 1,
        }
        for i in range(hours * 3600 // bucket_s)
        if i not in skip
    ]


def test_power_chart_with_no_samples_says_so():
    labels = {**POWER_LABELS, "empty": "Pas de données"}
    root = _parse(power_chart_svg(samples=[], start_s=0, end_s=86400, labels=labels))
    assert [t.text for t in _by_class(root, "text", "empty")] == ["Pas de données"]
    default = _parse(power_chart_svg(samples=[], start_s=0, end_s=86400, labels=POWER_LABELS))
    assert [t.text for t in _by_class(default, "text", "empty")] == ["No data"]
    assert not list(default.iter(NS + "path"))


def test_power_chart_has_a_tick_every_6_hours():
    svg = power_chart_svg(
        samples=_samples(MIDNIGHT), start_s=MIDNIGHT, end_s=MIDNIGHT + 86400, labels=POWER_LABELS
    )
    root = _parse(svg)
    ticks = [t.text for t in _by_class(root, "text", "x-tick")]
    assert ticks == [f"{h % 24:02d}:00" for h in range(0, 25, 6)]
    assert len(_by_class(root, "path", "voltage")) == 1
    assert len(_by_class(root, "path", "current")) == 1
    captions = [t.text for t in _by_class(root, "text", "y-caption")]
    assert captions == ["Tension (V)", "Courant (A)"]
    assert not _by_class(root, "text", "empty")


def test_power_chart_ticks_start_at_the_first_whole_hour():
    start = MIDNIGHT + 10 * 3600 + 20 * 60  # 10:20 UTC
    svg = power_chart_svg(
        samples=_samples(MIDNIGHT, hours=48),
        start_s=start,
        end_s=start + 86400,
        labels=POWER_LABELS,
    )
    ticks = [t.text for t in _by_class(_parse(svg), "text", "x-tick")]
    assert ticks == ["11:00", "17:00", "23:00", "05:00"]


def test_power_chart_breaks_the_line_at_missing_buckets():
    samples = _samples(MIDNIGHT, skip=range(40, 48))
    samples[10]["v_avg"] = None
    svg = power_chart_svg(
        samples=samples, start_s=MIDNIGHT, end_s=MIDNIGHT + 86400, labels=POWER_LABELS
    )
    root = _parse(svg)
    (volts,) = _by_class(root, "path", "voltage")
    (amps,) = _by_class(root, "path", "current")
    assert volts.get("d").count("M") == 3  # the None and the 2-hour hole
    assert amps.get("d").count("M") == 2


@pytest.mark.parametrize("which", ["growth", "power", "empty"])
def test_charts_have_no_inline_style_or_script(which):
    if which == "growth":
        svg = growth_chart_svg(index="wfa", sex="F", points=[(10, 3.5)], labels=LABELS)
    else:
        samples = _samples(MIDNIGHT) if which == "power" else []
        svg = power_chart_svg(
            samples=samples, start_s=MIDNIGHT, end_s=MIDNIGHT + 86400, labels=POWER_LABELS
        )
    low = svg.lower()
    assert "style=" not in low and "<style" not in low
    assert "<script" not in low
    attrs = {a for e in _parse(svg).iter() for a in e.attrib}
    assert not [a for a in attrs if a.lower().startswith("on")] and "style" not in attrs
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg


def test_growth_chart_z_labels_do_not_overlap():
    root = _parse(growth_chart_svg(index="hfa", sex="M", points=[], labels=LABELS))
    ys = sorted(float(t.get("y")) for t in _by_class(root, "text", "z-label"))
    assert len(ys) == 5
    size = float(_by_class(root, "text", "z-label")[0].get("font-size"))
    assert all(b - a >= size for a, b in zip(ys, ys[1:], strict=False)), ys
