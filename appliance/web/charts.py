"""Inline SVG charts for the tablet web app: a child's WHO growth chart, the battery's day.

Pure functions returning markup. The page's Content-Security-Policy forbids inline styles and
scripts, so the SVG carries presentation attributes only (stroke, fill, font-size); its
classes let the page's stylesheet restyle it. Every caller-supplied string is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any, NamedTuple

from appliance.clinical.growth import MAX_AGE_DAYS, reference_curves

DAYS_PER_MONTH = 30.4375  # WHO: 365.25 / 12
HOUR_S = 3600
X_TICK_MONTHS = 6
X_TICK_HOURS = 6

_UNITS = {"wfa": "kg", "hfa": "cm"}
# WHO chart convention: +/-3 SD red, +/-2 SD orange, median green.
_Z_COLOURS = {-3: "#c0392b", -2: "#e67e22", 0: "#27ae60", 2: "#e67e22", 3: "#c0392b"}
_POINT_COLOUR = "#1f3a93"
_VOLT_COLOUR, _AMP_COLOUR = "#1f6fb2", "#8e44ad"
_TEXT, _AXIS, _GRID = "#333333", "#666666", "#dddddd"
# Charts are drawn at a phone's width (400 units shown at about 370 px on a 412 px phone and
# 317 px on a 360 px one), so 16-unit text reads at 12.7 px or more everywhere: a chart drawn
# for a tablet and scaled down to a phone left its text at 8 px.
_FONT_SIZE = 16

Scale = Callable[[float], float]


class _Box(NamedTuple):
    """The plot area inside the margins, in SVG user units (y grows downwards)."""

    left: float
    top: float
    right: float
    bottom: float


def _scale(lo: float, hi: float, a: float, b: float) -> Scale:
    k = (b - a) / (hi - lo) if hi != lo else 0.0
    return lambda v: a + (v - lo) * k


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 x 10^n apart) covering lo..hi, about `count` steps."""
    if hi - lo < 1e-9:  # a flat series still gets an axis around its value
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / count
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    n = math.ceil((hi - first) / step - 1e-9)
    return [round(first + i * step, 10) for i in range(n + 1)]


def _num(v: float) -> str:
    """A number as a short label: 2.5, 10, 0.25 (no float noise, no trailing zeros)."""
    return f"{round(v, 6):g}"


def _xy(x: float, y: float) -> str:
    return f"{x:.1f},{y:.1f}"


def _text(
    x: float,
    y: float,
    s: str,
    *,
    anchor: str = "middle",
    cls: str = "",
    fill: str = _TEXT,
    size: int = _FONT_SIZE,
    **attrs: str,
) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return (
        f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"'
        f' fill="{fill}"{extra}>{escape(s)}</text>'
    )


def _svg(width: int, height: int, title: str, body: Iterable[str]) -> str:
    # <title> first: it is the accessible name of a role="img" SVG.
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
            f' width="{width}" height="{height}" role="img" font-family="sans-serif">',
            f"<title>{escape(title)}</title>",
            _text(width / 2, 18, title, cls="chart-title", font_weight="bold"),
            *body,
            "</svg>",
        ]
    )


def _x_axis(ticks: Sequence[tuple[float, str]], sx: Scale, box: _Box, caption: str) -> list[str]:
    out = [
        f'<line class="axis" x1="{box.left}" y1="{box.bottom}" x2="{box.right}"'
        f' y2="{box.bottom}" stroke="{_AXIS}"/>'
    ]
    for v, label in ticks:
        x = sx(v)
        out.append(
            f'<line class="grid" x1="{x:.1f}" y1="{box.top}" x2="{x:.1f}"'
            f' y2="{box.bottom}" stroke="{_GRID}"/>'
        )
        out.append(_text(x, box.bottom + 16, label, cls="x-tick"))
    if caption:
        out.append(_text((box.left + box.right) / 2, box.bottom + 34, caption, cls="x-caption"))
    return out


def _y_axis(
    ticks: Sequence[float],
    sy: Scale,
    box: _Box,
    caption: str,
    *,
    right: bool = False,
    colour: str = _TEXT,
    grid: bool = True,
) -> list[str]:
    x = box.right if right else box.left
    sign = 1 if right else -1
    out = [
        f'<line class="axis" x1="{x}" y1="{box.top}" x2="{x}" y2="{box.bottom}" stroke="{_AXIS}"/>'
    ]
    for v in ticks:
        y = sy(v)
        if grid:
            out.append(
                f'<line class="grid" x1="{box.left}" y1="{y:.1f}" x2="{box.right}"'
                f' y2="{y:.1f}" stroke="{_GRID}"/>'
            )
        anchor = "start" if right else "end"
        out.append(_text(x + sign * 5, y + 4, _num(v), anchor=anchor, cls="y-tick", fill=colour))
    cx, cy = x + sign * 40, (box.top + box.bottom) / 2
    out.append(
        _text(
            cx,
            cy,
            caption,
            cls="y-caption",
            fill=colour,
            transform=f"rotate({90 * sign} {cx:.1f} {cy:.1f})",
        )
    )
    return out


def _path(segments: Iterable[Sequence[tuple[float, float]]], sx: Scale, sy: Scale) -> str:
    """SVG path data, one "M ... L ..." run per segment, so gaps stay gaps."""
    return " ".join("M" + " L".join(_xy(sx(x), sy(y)) for x, y in seg) for seg in segments if seg)


def _spread(ys: dict[int, float], gap: float) -> dict[int, float]:
    """Label positions moved apart, top to bottom, so no two are closer than `gap` (the
    curves' ends are close together at 5 years on a narrow chart)."""
    placed: dict[int, float] = {}
    previous = -math.inf
    for key, y in sorted(ys.items(), key=lambda kv: kv[1]):
        placed[key] = max(y, previous + gap)
        previous = placed[key]
    return placed


def growth_chart_svg(
    *,
    index: str,
    sex: str,
    points: list[tuple[int, float]],
    labels: dict[str, str],
    width: int = 400,
    height: int = 320,
) -> str:
    """WHO weight-for-age ("wfa", kg) or length/height-for-age ("hfa", cm) chart, 0-5 years.

    points: (age in days, value) as measured; those outside 0..MAX_AGE_DAYS are dropped.
    labels: title, x, y (and optionally months, the word after an age in a point's tooltip).
    """
    curves = reference_curves(index, sex)  # raises ValueError for an unknown index or sex
    unit = _UNITS[index]
    kept = sorted(
        (float(d), float(v)) for d, v in points if 0 <= d <= MAX_AGE_DAYS and 0 < v < math.inf
    )
    values = [v for curve in curves.values() for _, v in curve] + [v for _, v in kept]
    y_ticks = _ticks(min(values), max(values), 6)
    box = _Box(60, 34, width - 30, height - 50)  # room at the right for the curves' z labels
    sx = _scale(0, MAX_AGE_DAYS, box.left, box.right)
    sy = _scale(y_ticks[0], y_ticks[-1], box.bottom, box.top)
    x_ticks = [(m * DAYS_PER_MONTH, str(m)) for m in range(0, 61, X_TICK_MONTHS)]
    body = _x_axis(x_ticks, sx, box, labels["x"]) + _y_axis(y_ticks, sy, box, labels["y"])
    label_y = _spread({z: sy(curve[-1][1]) + 5 for z, curve in curves.items()}, _FONT_SIZE)
    for z, curve in curves.items():
        body.append(
            f'<path class="curve z{z}" d="{_path([curve], sx, sy)}" fill="none"'
            f' stroke="{_Z_COLOURS[z]}" stroke-width="{2.5 if z == 0 else 2}"/>'
        )
        body.append(
            _text(
                box.right + 4,
                label_y[z],
                f"{z:+d}" if z else "0",
                anchor="start",
                cls="z-label",
                fill=_Z_COLOURS[z],
            )
        )
    if kept:
        joined = " ".join(_xy(sx(d), sy(v)) for d, v in kept)
        body.append(
            f'<polyline class="measurements" points="{joined}"'
            f' fill="none" stroke="{_POINT_COLOUR}" stroke-width="2.5"/>'
        )
    months = labels.get("months", "months")
    for d, v in kept:
        tip = f"{d / DAYS_PER_MONTH:.1f} {months}, {_num(round(v, 2))} {unit}"
        body.append(
            f'<circle class="point" cx="{sx(d):.1f}" cy="{sy(v):.1f}" r="5"'
            f' fill="{_POINT_COLOUR}" stroke="#ffffff" stroke-width="2">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return _svg(width, height, labels["title"], body)


def _hour_ticks(start_s: float, end_s: float) -> list[tuple[float, str]]:
    """Every X_TICK_HOURS from the first whole UTC hour at or after start_s, as "HH:00"."""
    first = math.ceil(start_s / HOUR_S) * HOUR_S
    count = int((end_s - first) // (X_TICK_HOURS * HOUR_S)) + 1 if end_s >= first else 0
    times = (first + i * X_TICK_HOURS * HOUR_S for i in range(count))
    return [(t, datetime.fromtimestamp(t, UTC).strftime("%H:00")) for t in times]


def _series(rows: list[dict[str, Any]], key: str) -> list[list[tuple[float, float]]]:
    """Runs of (mid-bucket time, value), broken at a missing value or a gap in the buckets
    (more than twice the coarser of two neighbouring buckets' lengths)."""
    runs: list[list[tuple[float, float]]] = [[]]
    prev_t, prev_res = None, 0.0
    for r in rows:
        res = float(r.get("resolution_s") or 0)
        t = r["start_s"] + res / 2
        gap = prev_t is not None and res and t - prev_t > 2 * max(res, prev_res)
        if r.get(key) is None or gap:
            runs.append([])
        if r.get(key) is not None:
            runs[-1].append((t, float(r[key])))
        prev_t, prev_res = t, res
    return [run for run in runs if run]


def power_chart_svg(
    *,
    samples: list[dict],
    start_s: float,
    end_s: float,
    labels: dict[str, str],
    width: int = 400,
    height: int = 240,
) -> str:
    """Battery voltage (left axis, V) and net current (right axis, A; > 0 is charging) over
    start_s..end_s (Unix seconds), from rows of PowerRepo.history: start_s, resolution_s,
    v_avg, i_avg. labels: title, voltage, current, and empty (shown when nothing to draw).
    """
    rows = sorted(
        (r for r in samples if start_s <= r["start_s"] + (r.get("resolution_s") or 0) / 2 <= end_s),
        key=lambda r: r["start_s"],
    )
    volts, amps = _series(rows, "v_avg"), _series(rows, "i_avg")
    if not (volts or amps) or end_s <= start_s:
        empty = _text(width / 2, height / 2, labels.get("empty", "No data"), cls="empty")
        return _svg(width, height, labels["title"], [empty])
    v_values = [v for run in volts for _, v in run] or [0.0]
    # Net current's axis always shows zero, the line between charging and discharging.
    a_values = [a for run in amps for _, a in run] + [0.0]
    box = _Box(52, 32, width - 52, height - 40)
    sx = _scale(start_s, end_s, box.left, box.right)
    v_ticks = _ticks(min(v_values), max(v_values), 4)
    a_ticks = _ticks(min(a_values), max(a_values), 4)
    sv = _scale(v_ticks[0], v_ticks[-1], box.bottom, box.top)
    sa = _scale(a_ticks[0], a_ticks[-1], box.bottom, box.top)
    body = [
        *_x_axis(_hour_ticks(start_s, end_s), sx, box, ""),
        *_y_axis(v_ticks, sv, box, labels["voltage"], colour=_VOLT_COLOUR),
        *_y_axis(a_ticks, sa, box, labels["current"], right=True, colour=_AMP_COLOUR, grid=False),
        f'<line class="zero" x1="{box.left}" y1="{sa(0):.1f}" x2="{box.right}" y2="{sa(0):.1f}"'
        f' stroke="{_AMP_COLOUR}" stroke-dasharray="4 3" stroke-width="0.75"/>',
    ]
    for cls, runs, scale, colour in (
        ("voltage", volts, sv, _VOLT_COLOUR),
        ("current", amps, sa, _AMP_COLOUR),
    ):
        if runs:
            body.append(
                f'<path class="{cls}" d="{_path(runs, sx, scale)}" fill="none"'
                f' stroke="{colour}" stroke-width="1.5"/>'
            )
    return _svg(width, height, labels["title"], body)


# -- the dashboard's charts ---------------------------------------------------------------------
# Colour-blind-safe (Okabe-Ito) and never colour alone: each series also has its own dash
# pattern and marker shape, and the legend shows both.
_SERIES = (
    ("#0072b2", "", "circle"),
    ("#d55e00", "6 3", "square"),
    ("#009e73", "2 3", "triangle"),
    ("#cc79a7", "8 3 2 3", "diamond"),
)
_TARGET_COLOUR = "#000000"
_FEMALE, _MALE = "#cc79a7", "#0072b2"
MONTH_INITIALS = "JFMAMJJASOND"  # the same letters in French and English


def _dashboard_svg(width: int, height: int, title: str, body: Iterable[str]) -> str:
    # No width/height: the page's stylesheet sizes it, the PDF places it by its viewBox.
    return _svg(width, height, title, body).replace(f' width="{width}" height="{height}"', "", 1)


def _marker(shape: str, x: float, y: float, colour: str, r: float = 4.5) -> str:
    if shape == "square":
        return (
            f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}"'
            f' fill="{colour}"/>'
        )
    if shape == "triangle":
        pts = (
            f"{_xy(x, y - r * 1.2)} {_xy(x - r * 1.1, y + r * 0.8)} {_xy(x + r * 1.1, y + r * 0.8)}"
        )
        return f'<polygon points="{pts}" fill="{colour}"/>'
    if shape == "diamond":
        pts = f"{_xy(x, y - r * 1.3)} {_xy(x + r, y)} {_xy(x, y + r * 1.3)} {_xy(x - r, y)}"
        return f'<polygon points="{pts}" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}"/>'


def _text_width(s: str, size: int = _FONT_SIZE) -> float:
    return 0.56 * size * len(s)  # a sans-serif's average letter, enough to lay out a legend


def _legend_rows(labels: Sequence[str], width: int) -> int:
    """How many rows `_legend` takes for these labels (the chart grows to hold them)."""
    rows, x = 1, 12.0
    for label in labels:
        w = 34 + _text_width(label) + 16
        if x + w > width - 4 and x > 12:
            rows, x = rows + 1, 12.0
        x += w
    return rows if labels else 0


LEGEND_ROW = 22


def _legend(items: Sequence[tuple[str, str]], width: int, top: float) -> tuple[list[str], float]:
    """Legend entries (sample markup drawn at 0,0 → label) flowed left to right, wrapping at
    the chart's width. Returns the markup and the y just below it."""
    out, x, y = [], 12.0, top + 12
    for sample, label in items:
        w = 34 + _text_width(label) + 16
        if x + w > width - 4 and x > 12:
            x, y = 12.0, y + 22
        out.append(f'<g class="legend-item" transform="translate({x:.1f} {y:.1f})">{sample}</g>')
        out.append(_text(x + 32, y + 5, label, anchor="start", cls="legend"))
        x += w
    return out, y + 14


def _line_sample(colour: str, dash: str, shape: str, width: float = 2.5) -> str:
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<line x1="0" y1="0" x2="26" y2="0" stroke="{colour}" stroke-width="{width}"{dashes}/>'
        + (_marker(shape, 13, 0, colour) if shape else "")
    )


def _month_axis(months: Sequence[str], sx: Scale, box: _Box, *, centred: bool) -> list[str]:
    """Month initials under the plot: at month ends (cumulative lines start from 0 at the year's
    start) or at the middle of each month's slot (bars)."""
    out = [
        f'<line class="axis" x1="{box.left}" y1="{box.bottom}" x2="{box.right}"'
        f' y2="{box.bottom}" stroke="{_AXIS}"/>'
    ]
    for i, month in enumerate(months):
        x = sx(i + 0.5) if centred else sx(i + 1)
        initial = MONTH_INITIALS[int(month[5:7]) - 1] if len(month) >= 7 else month
        out.append(_text(x, box.bottom + 17, initial, cls="x-tick"))
    return out


def _values_axis(
    top: float, box: _Box, *, percent: bool, floor: float = 0.0
) -> tuple[list[float], Scale, list[str]]:
    ticks = _ticks(min(floor, 0.0), max(top, 1e-9 if percent else 1.0), 4)
    sy = _scale(ticks[0], ticks[-1], box.bottom, box.top)
    out = []
    for v in ticks:
        y = sy(v)
        out.append(
            f'<line class="grid" x1="{box.left}" y1="{y:.1f}" x2="{box.right}" y2="{y:.1f}"'
            f' stroke="{_GRID}"/>'
        )
        label = f"{_num(round(v * 100, 1))} %" if percent else _num(v)
        out.append(_text(box.left - 5, y + 5, label, anchor="end", cls="y-tick"))
    out.append(
        f'<line class="axis" x1="{box.left}" y1="{box.top}" x2="{box.left}" y2="{box.bottom}"'
        f' stroke="{_AXIS}"/>'
    )
    return ticks, sy, out


def _empty(width: int, height: int, title: str, message: str) -> str:
    return _dashboard_svg(
        width, height, title, [_text(width / 2, height / 2, message, cls="empty")]
    )


def immunization_monitoring_svg(
    *,
    months: Sequence[str],
    series: Sequence[dict[str, Any]],
    annual_target: float | None,
    labels: dict[str, str],
    width: int = 400,
    height: int = 270,
) -> str:
    """WHO's cumulative immunization monitoring chart: for each antigen the doses given since
    January, added month by month (a line from 0 at the year's start to each month's end),
    against the target line (annual target × m/12); the gap between them is the children
    still to reach. series: {"label", "cumulative": [doses to the end of each month, None
    after the last month counted]}. labels: title, target, empty (no dose and no target)."""
    n = len(months)
    values = [v for s in series for v in s["cumulative"] if v is not None]
    if not n or not (values or annual_target):
        return _empty(width, height, labels["title"], labels.get("empty", "-"))
    rows = _legend_rows(
        [labels["target"]] * bool(annual_target) + [x["label"] for x in series], width
    )
    height += LEGEND_ROW * rows
    box = _Box(54, 34, width - 14, height - 40 - LEGEND_ROW * rows)
    sx = _scale(0, n, box.left, box.right)
    top = max(values + [annual_target or 0])
    _ticks_y, sy, body = _values_axis(top, box, percent=False)
    body += _month_axis(months, sx, box, centred=False)
    legend: list[tuple[str, str]] = []
    if annual_target:
        end = sy(annual_target * n / 12)
        # the target line: thick, black, long dashes — the reference every line is read against
        body.append(
            f'<line class="target" x1="{sx(0):.1f}" y1="{sy(0):.1f}" x2="{sx(n):.1f}"'
            f' y2="{end:.1f}" stroke="{_TARGET_COLOUR}" stroke-width="2" stroke-dasharray="10 5"/>'
        )
        legend.append((_line_sample(_TARGET_COLOUR, "10 5", "", 2), labels["target"]))
    for (colour, dash, shape), s in zip(_SERIES, series, strict=False):
        points = [(0.0, 0.0)] + [
            (i + 1.0, float(v)) for i, v in enumerate(s["cumulative"]) if v is not None
        ]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<path class="series" d="{_path([points], sx, sy)}" fill="none" stroke="{colour}"'
            f' stroke-width="2.5"{dashes}/>'
        )
        for x, v in points[1:]:
            body.append(_marker(shape, sx(x), sy(v), colour))
        legend.append((_line_sample(colour, dash, shape), s["label"]))
    items, _below = _legend(legend, width, box.bottom + 24)
    return _dashboard_svg(width, height, labels["title"], body + items)


def trend_svg(
    *,
    months: Sequence[str],
    series: Sequence[dict[str, Any]],
    labels: dict[str, str],
    percent: bool = False,
    width: int = 400,
    height: int = 250,
) -> str:
    """Twelve months of one or more indicators: one series as bars (a count: consultations,
    new visits), several as lines with their markers. series: {"label", "values": [per month,
    None where not counted]}; percent: values are fractions shown as %. labels: title, empty."""
    n = len(months)
    values = [v for s in series for v in s["values"] if v is not None]
    if not n or not values:
        return _empty(width, height, labels["title"], labels.get("empty", "-"))
    bars = len(series) == 1
    rows = 0 if bars else _legend_rows([x["label"] for x in series], width)
    height += LEGEND_ROW * rows
    box = _Box(58, 34, width - 14, height - 30 - LEGEND_ROW * rows)
    sx = _scale(0, n, box.left, box.right)
    _t, sy, body = _values_axis(max(values), box, percent=percent)
    body += _month_axis(months, sx, box, centred=True)
    if bars:
        colour = _SERIES[0][0]
        slot = (box.right - box.left) / n
        for i, v in enumerate(series[0]["values"]):
            if v is None:
                continue
            y = sy(v)
            body.append(
                f'<rect class="bar" x="{sx(i) + slot * 0.15:.1f}" y="{min(y, sy(0)):.1f}"'
                f' width="{slot * 0.7:.1f}" height="{abs(sy(0) - y):.1f}" fill="{colour}">'
                f"<title>{escape(months[i])}: {escape(_fmt(v, percent))}</title></rect>"
            )
        return _dashboard_svg(width, height, labels["title"], body)
    legend = []
    for (colour, dash, shape), s in zip(_SERIES, series, strict=False):
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(s["values"]):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((i + 0.5, float(v)))
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<path class="series" d="{_path(runs, sx, sy)}" fill="none" stroke="{colour}"'
            f' stroke-width="2.5"{dashes}/>'
        )
        body += [_marker(shape, sx(x), sy(v), colour) for run in runs for x, v in run]
        legend.append((_line_sample(colour, dash, shape), s["label"]))
    items, _below = _legend(legend, width, box.bottom + 22)
    return _dashboard_svg(width, height, labels["title"], body + items)


def _fmt(v: float, percent: bool) -> str:
    return f"{_num(round(v * 100, 1))} %" if percent else _num(v)


def _hatch(pattern_id: str, colour: str) -> str:
    return (
        f'<defs><pattern id="{pattern_id}" width="6" height="6" patternUnits="userSpaceOnUse"'
        f' patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{colour}" stroke-width="3"/></pattern></defs>'
    )


def dropout_svg(
    *,
    months: Sequence[str],
    series: Sequence[dict[str, Any]],
    labels: dict[str, str],
    threshold: float = 0.10,
    width: int = 400,
    height: int = 250,
) -> str:
    """Drop-out rates since January, month by month (Penta1→Penta3, Penta1→RR1): bars side by
    side, one solid and one hatched, against WHO's 10 % line (above it, too many children
    start and do not finish). A negative rate (more last doses than first) is drawn below 0.
    series: {"label", "rates": [fraction or None]}. labels: title, threshold, empty."""
    n = len(months)
    values = [v for s in series for v in s["rates"] if v is not None]
    if not n or not values:
        return _empty(width, height, labels["title"], labels.get("empty", "-"))
    rows = _legend_rows([x["label"] for x in series] + [labels["threshold"]], width)
    height += LEGEND_ROW * rows
    box = _Box(58, 34, width - 14, height - 36 - LEGEND_ROW * rows)
    sx = _scale(0, n, box.left, box.right)
    _t, sy, body = _values_axis(
        max(values + [threshold * 1.5]), box, percent=True, floor=min(values)
    )
    body += _month_axis(months, sx, box, centred=True)
    slot = (box.right - box.left) / n
    each = slot * 0.8 / max(len(series), 1)
    legend = []
    for k, ((colour, _dash, _shape), s) in enumerate(zip(_SERIES, series, strict=False)):
        fill = colour
        if k % 2:
            pid = f"hatch-{k}"
            body.insert(0, _hatch(pid, colour))
            fill = f"url(#{pid})"
        for i, v in enumerate(s["rates"]):
            if v is None:
                continue
            y0, y = sy(0), sy(v)
            body.append(
                f'<rect class="bar" x="{sx(i) + slot * 0.1 + k * each:.1f}" y="{min(y, y0):.1f}"'
                f' width="{each:.1f}" height="{abs(y0 - y):.1f}" fill="{fill}"'
                f' stroke="{colour}" stroke-width="1">'
                f"<title>{escape(s['label'])} {escape(months[i])}: {_fmt(v, True)}</title></rect>"
            )
        sample = (
            f'<rect x="0" y="-7" width="26" height="14" fill="{fill}" stroke="{colour}"'
            ' stroke-width="1"/>'
        )
        legend.append((sample, s["label"]))
    y = sy(threshold)
    body.append(
        f'<line class="threshold" x1="{box.left}" y1="{y:.1f}" x2="{box.right}" y2="{y:.1f}"'
        f' stroke="{_TARGET_COLOUR}" stroke-width="2" stroke-dasharray="10 5"/>'
    )
    legend.append((_line_sample(_TARGET_COLOUR, "10 5", "", 2), labels["threshold"]))
    items, _below = _legend(legend, width, box.bottom + 24)
    return _dashboard_svg(width, height, labels["title"], body + items)


def pyramid_svg(
    *,
    groups: Sequence[dict[str, Any]],
    labels: dict[str, str],
    width: int = 400,
    height: int | None = None,
) -> str:
    """The patients seen by age group and sex: women and girls to the left (hatched), men and
    boys to the right (solid), the youngest at the bottom, each bar with its count.
    groups: {"group", "F", "M"} youngest first. labels: title, F, M, empty."""
    rows = list(groups)
    height = height or 34 + 34 + 24 * max(len(rows), 1)
    top = max([max(r.get("F") or 0, r.get("M") or 0) for r in rows] + [0])
    if not rows or not top:
        return _empty(width, height, labels["title"], labels.get("empty", "-"))
    centre_w = 84  # the age groups between the two halves
    box = _Box(8, 52, width - 8, height - 10)
    half = (box.right - box.left - centre_w) / 2
    mid_l, mid_r = box.left + half, box.left + half + centre_w
    # the counts at the bars' ends need room: the longest bar stops short of the edge
    k = (half - 44) / top
    row_h = (box.bottom - box.top) / len(rows)
    body = [
        _hatch("hatch-f", _FEMALE),
        _text(mid_l - 4, 44, labels["F"], anchor="end", cls="side"),
        _text(mid_r + 4, 44, labels["M"], anchor="start", cls="side"),
    ]
    for i, r in enumerate(reversed(rows)):
        y = box.top + i * row_h
        f, m = r.get("F") or 0, r.get("M") or 0
        bar_h = row_h * 0.78
        body.append(
            f'<rect class="bar female" x="{mid_l - f * k:.1f}" y="{y:.1f}" width="{f * k:.1f}"'
            f' height="{bar_h:.1f}" fill="url(#hatch-f)" stroke="{_FEMALE}" stroke-width="1"/>'
        )
        body.append(
            f'<rect class="bar male" x="{mid_r:.1f}" y="{y:.1f}" width="{m * k:.1f}"'
            f' height="{bar_h:.1f}" fill="{_MALE}"/>'
        )
        cy = y + bar_h / 2 + 5
        body.append(_text((mid_l + mid_r) / 2, cy, str(r["group"]), cls="age", size=14))
        body.append(_text(mid_l - f * k - 3, cy, str(f), anchor="end", cls="count", size=14))
        body.append(_text(mid_r + m * k + 3, cy, str(m), anchor="start", cls="count", size=14))
    return _dashboard_svg(width, height, labels["title"], body)
