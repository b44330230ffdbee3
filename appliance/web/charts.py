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
