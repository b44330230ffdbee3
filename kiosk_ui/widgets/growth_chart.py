"""The child's growth on WHO reference curves (weight- or height-for-age, 0-5 years)."""

from __future__ import annotations

from functools import lru_cache

from kivy.graphics import Color, Ellipse, Line, Rectangle
from kivy.metrics import dp, sp
from kivy.properties import ListProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from appliance.clinical.growth import MAX_AGE_DAYS, reference_curves
from kiosk_ui.widgets.theme import TEXT

# z-score line colours: -3/+3 red, -2/+2 orange, median green
Z_COLOURS = {
    -3: (0.8, 0.1, 0.1),
    -2: (0.9, 0.55, 0.0),
    0: (0.1, 0.55, 0.2),
    2: (0.9, 0.55, 0.0),
    3: (0.8, 0.1, 0.1),
}
UNITS = {"wfa": "kg", "hfa": "cm"}


@lru_cache(maxsize=8)
def _curves(index: str, sex: str) -> dict:
    return reference_curves(index, sex)


class GrowthChart(Widget):
    """Reference lines from `reference_curves(index, sex)` and the child's points
    [(age_days, value)] joined by a thick blue line."""

    index = StringProperty("wfa")
    sex = StringProperty("F")
    points = ListProperty([])
    title = StringProperty("")
    year_format = StringProperty("%(n)s a")  # the age axis: "3 a" in French, "3 y" in English

    def __init__(self, **kw):
        super().__init__(**kw)
        self._labels: list[Label] = []
        self.bind(
            pos=self.redraw,
            size=self.redraw,
            index=self.redraw,
            sex=self.redraw,
            points=self.redraw,
            title=self.redraw,
            year_format=self.redraw,
        )

    def _label(
        self, text: str, x: float, y: float, size: float | None = None, anchor="center"
    ) -> None:
        lab = Label(text=text, font_size=size or sp(18), color=TEXT, size_hint=(None, None))
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

    def redraw(self, *_):
        for lab in self._labels:
            self.remove_widget(lab)
        self._labels = []
        self.canvas.before.clear()
        if self.width < 50 or self.height < 50 or self.sex not in ("F", "M"):
            return
        curves = _curves(self.index, self.sex)
        values = [v for line in curves.values() for _, v in line]
        values += [v for _, v in self.points]
        lo, hi = min(values), max(values)
        span = (hi - lo) or 1.0
        lo, hi = lo - span * 0.03, hi + span * 0.03
        left, bottom = self.x + dp(44), self.y + dp(26)
        w, h = self.width - dp(52), self.height - dp(34) - (dp(26) if self.title else 0)

        def xy(day: float, value: float) -> tuple[float, float]:
            return left + w * day / MAX_AGE_DAYS, bottom + h * (value - lo) / (hi - lo)

        with self.canvas.before:
            Color(1, 1, 1, 1)
            Rectangle(pos=(left, bottom), size=(w, h))
            Color(0.75, 0.75, 0.75, 1)
            for year in range(1, 5):
                x, _ = xy(year * 365.25, lo)
                Line(points=[x, bottom, x, bottom + h], width=1)
            Color(*TEXT)
            Line(rectangle=(left, bottom, w, h), width=1.2)
            for z, line in sorted(curves.items()):
                Color(*Z_COLOURS.get(z, (0.4, 0.4, 0.4)), 1)
                pts = [c for d, v in line for c in xy(d, v)]
                Line(points=pts, width=dp(1.5) if z == 0 else dp(1.1))
            if self.points:
                Color(0.05, 0.2, 0.75, 1)
                pts = [c for d, v in sorted(self.points) for c in xy(d, v)]
                if len(self.points) > 1:
                    Line(points=pts, width=dp(2))
                r = dp(5)
                for d, v in self.points:
                    x, y = xy(d, v)
                    Ellipse(pos=(x - r, y - r), size=(2 * r, 2 * r))
        for year in range(6):
            x, _ = xy(year * 365.25, lo)
            # the first and last labels end at the plot's edges: none sticks out of the chart
            anchor = "left" if year == 0 else "right" if year == 5 else "center"
            self._label(self.year_format % {"n": year}, x, self.y + dp(12), anchor=anchor)
        for frac in (0, 0.5, 1):
            v = lo + (hi - lo) * frac
            self._label(f"{v:.0f}", left - dp(4), bottom + h * frac, anchor="right")
        self._label(UNITS.get(self.index, ""), self.x + dp(2), bottom + h + dp(12), anchor="left")
        if self.title:
            self._label(self.title, self.center_x, self.top - dp(13), size=sp(18))
