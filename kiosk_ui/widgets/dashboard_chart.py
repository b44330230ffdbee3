"""One of the dashboard's charts drawn with Kivy's canvas (the kiosk draws no SVG): cumulative
doses against the target line, monthly lines, side-by-side bars against a threshold line, or
the age pyramid. Series differ by colour (colour-blind-safe) and by marker shape, and the
legend shows both; the second bar series and the women's bars are pale with an outline."""

from __future__ import annotations

from kivy.graphics import Color, Ellipse, Line, Rectangle, Triangle
from kivy.metrics import dp, sp
from kivy.properties import DictProperty
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk_ui.widgets.theme import TEXT

MONTH_INITIALS = "JFMAMJJASOND"
SERIES = ((0.0, 0.447, 0.698), (0.835, 0.369, 0.0), (0.0, 0.62, 0.451), (0.8, 0.475, 0.655))
PALE = ((0.8, 0.89, 0.95), (0.98, 0.87, 0.78), (0.8, 0.93, 0.88), (0.96, 0.88, 0.93))
MARKERS = ("circle", "square", "triangle", "circle")
BLACK, GRID = (0.0, 0.0, 0.0), (0.85, 0.85, 0.85)
FEMALE, FEMALE_PALE, MALE = SERIES[3], PALE[3], SERIES[0]


def ticks(top: float, percent: bool) -> list[float]:
    """Four round steps from 0 covering `top`."""
    top = max(top, 0.1 if percent else 1.0)
    raw = top / 4
    mag = 10 ** len(str(int(raw * (100 if percent else 1)))) / 10 / (100 if percent else 1)
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = int(top / step + 0.999)
    return [round(i * step, 6) for i in range(n + 1)]


def dashed(x1: float, y1: float, x2: float, y2: float, width: float) -> None:
    """A dashed line of any width (Kivy dashes only 1 px lines): the target and threshold
    lines must read as the reference from across the room."""
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
    on, off = dp(9), dp(5)
    t = 0.0
    while t < length:
        end = min(t + on, length)
        Line(
            points=[x1 + (x2 - x1) * t / length, y1 + (y2 - y1) * t / length,
                    x1 + (x2 - x1) * end / length, y1 + (y2 - y1) * end / length],
            width=width,
        )  # fmt: skip
        t = end + off


class DashboardChart(Widget):
    plot = DictProperty({})

    def __init__(self, **kw):
        super().__init__(**kw)
        self._labels: list[Label] = []
        self.bind(pos=self.redraw, size=self.redraw, plot=self.redraw)

    def _label(self, text: str, x: float, y: float, anchor: str = "center", size=None) -> Label:
        lab = Label(text=text, font_size=size or sp(16), color=TEXT, size_hint=(None, None))
        lab.texture_update()
        lab.size = lab.texture_size
        lab.center_y = y
        if anchor == "right":
            lab.right = x
        elif anchor == "left":
            lab.x = x
        else:
            lab.center_x = x
        self._labels.append(lab)
        self.add_widget(lab)
        return lab

    def _marker(self, shape: str, x: float, y: float, r: float) -> None:
        if shape == "square":
            Rectangle(pos=(x - r, y - r), size=(2 * r, 2 * r))
        elif shape == "triangle":
            Triangle(points=[x - r * 1.2, y - r, x + r * 1.2, y - r, x, y + r * 1.3])
        else:
            Ellipse(pos=(x - r, y - r), size=(2 * r, 2 * r))

    def redraw(self, *_):
        for lab in self._labels:
            self.remove_widget(lab)
        self._labels = []
        self.canvas.before.clear()
        plot = self.plot
        if self.width < 100 or self.height < 100 or not plot:
            return
        with self.canvas.before:
            Color(1, 1, 1, 1)
            Rectangle(pos=self.pos, size=self.size)
        if plot["kind"] == "pyramid":
            self._pyramid(plot["groups"])
        else:
            self._months(plot)

    def _legend(self, items: list[tuple[str, int, str]], y: float) -> None:
        """(label, series index or -1 for the black line, "line"/"bar"/"pale") in one row."""
        x = self.x + dp(8)
        for text, k, how in items:
            with self.canvas.before:
                if k < 0:
                    Color(*BLACK, 1)
                    dashed(x, y, x + dp(24), y, dp(1.3))
                elif how == "pale":
                    Color(*PALE[k], 1)
                    Rectangle(pos=(x, y - dp(7)), size=(dp(24), dp(14)))
                    Color(*SERIES[k], 1)
                    Line(rectangle=(x, y - dp(7), dp(24), dp(14)), width=dp(1.2))
                elif how == "bar":
                    Color(*SERIES[k], 1)
                    Rectangle(pos=(x, y - dp(7)), size=(dp(24), dp(14)))
                else:
                    Color(*SERIES[k], 1)
                    Line(points=[x, y, x + dp(24), y], width=dp(1.5))
                    self._marker(MARKERS[k], x + dp(12), y, dp(4.5))
            lab = self._label(text, x + dp(30), y, anchor="left", size=sp(16))
            x = lab.right + dp(16)

    def _months(self, plot: dict) -> None:
        months, series = plot["months"], plot["series"]
        percent = plot.get("percent", False)
        n = max(len(months), 1)
        values = [v for _, vs in series for v in vs if v is not None]
        top = max(values + [plot.get("target") or 0, (plot.get("line") or 0) * 1.5, 0])
        floor = min(values + [0])
        steps = ticks(top, percent)
        lo = -steps[1] if floor < 0 else 0.0
        hi = steps[-1]
        left, bottom = self.x + dp(58), self.y + dp(26)
        w, h = self.right - dp(10) - left, self.top - dp(34) - bottom
        cumulative = plot["kind"] == "cumulative"

        def px(i: float) -> float:
            return left + w * i / n

        def py(v: float) -> float:
            return bottom + h * (v - lo) / ((hi - lo) or 1)

        def fmt(v: float) -> str:
            return f"{round(v * 100)} %" if percent else f"{v:g}"

        with self.canvas.before:
            for v in steps + ([lo] if lo < 0 else []):
                Color(*GRID, 1)
                Line(points=[left, py(v), left + w, py(v)], width=1)
            Color(*TEXT)
            Line(points=[left, bottom + h, left, bottom, left + w, bottom], width=1.2)
        for v in steps + ([lo] if lo < 0 else []):
            self._label(fmt(v), left - dp(5), py(v), anchor="right")
        for i, month in enumerate(months):
            x = px(i + 1) if cumulative else px(i + 0.5)
            initial = MONTH_INITIALS[int(month[5:7]) - 1]
            self._label(initial, x, self.y + dp(12))
        legend: list[tuple[str, int, str]] = []
        with self.canvas.before:
            if cumulative and plot.get("target"):
                Color(*BLACK, 1)
                end = plot["target"] * n / 12
                dashed(px(0), py(0), px(n), py(end), dp(1.3))
            if plot["kind"] == "bars":
                slot = w / n
                each = slot * 0.8 / max(len(series), 1)
                for k, (_label, vs) in enumerate(series):
                    for i, v in enumerate(vs):
                        if v is None:
                            continue
                        x, y0, y1 = left + slot * i + slot * 0.1 + k * each, py(0), py(v)
                        Color(*(PALE[k] if k % 2 else SERIES[k]), 1)
                        Rectangle(pos=(x, min(y0, y1)), size=(each, abs(y1 - y0)))
                        if k % 2:
                            Color(*SERIES[k], 1)
                            Line(rectangle=(x, min(y0, y1), each, abs(y1 - y0)), width=dp(1))
                if plot.get("line"):
                    Color(*BLACK, 1)
                    y = py(plot["line"])
                    dashed(left, y, left + w, y, dp(1.3))
            else:
                for k, (_label, vs) in enumerate(series):
                    Color(*SERIES[k % 4], 1)
                    pts = [(0.0, 0.0)] if cumulative else []
                    pts += [
                        (i + 1.0 if cumulative else i + 0.5, v)
                        for i, v in enumerate(vs)
                        if v is not None
                    ]
                    flat = [c for i, v in pts for c in (px(i), py(v))]
                    if len(pts) > 1:
                        Line(points=flat, width=dp(1.5))
                    for i, v in pts[1 if cumulative else 0 :]:
                        self._marker(MARKERS[k % 4], px(i), py(v), dp(4))
        if cumulative and plot.get("target"):
            legend.append(("", -1, "line"))
        for k, (label, _vs) in enumerate(series):
            how = ("pale" if k % 2 else "bar") if plot["kind"] == "bars" else "line"
            legend.append((label, k % 4, how))
        if plot["kind"] == "bars" and plot.get("line"):
            legend.append((f"{round(plot['line'] * 100)} %", -1, "line"))
        self._legend(
            [(self.target_text if k < 0 and not text else text, k, how) for text, k, how in legend],
            self.top - dp(14),
        )

    target_text = ""  # set by the screen: « Cible » / « Target »

    def _pyramid(self, groups: list[tuple[str, int, int]]) -> None:
        if not groups:
            return
        top_n = max([max(f, m) for _, f, m in groups] + [1])
        centre = dp(100)
        half = (self.width - centre - dp(16)) / 2
        mid_l, mid_r = self.x + dp(8) + half, self.x + dp(8) + half + centre
        k = (half - dp(48)) / top_n
        area_top, area_bottom = self.top - dp(34), self.y + dp(6)
        row = (area_top - area_bottom) / len(groups)
        with self.canvas.before:
            for i, (_g, f, m) in enumerate(groups):  # youngest at the bottom
                y = area_bottom + i * row + row * 0.1
                Color(*FEMALE_PALE, 1)
                Rectangle(pos=(mid_l - f * k, y), size=(f * k, row * 0.8))
                Color(*FEMALE, 1)
                Line(rectangle=(mid_l - f * k, y, f * k, row * 0.8), width=dp(1))
                Color(*MALE, 1)
                Rectangle(pos=(mid_r, y), size=(m * k, row * 0.8))
        for i, (g, f, m) in enumerate(groups):
            cy = area_bottom + i * row + row / 2
            self._label(g, (mid_l + mid_r) / 2, cy)
            self._label(str(f), mid_l - f * k - dp(4), cy, anchor="right")
            self._label(str(m), mid_r + m * k + dp(4), cy, anchor="left")
        self._label(self.women_text, mid_l - dp(4), self.top - dp(14), anchor="right")
        self._label(self.men_text, mid_r + dp(4), self.top - dp(14), anchor="left")

    women_text = ""
    men_text = ""
