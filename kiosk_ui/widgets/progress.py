"""A flat progress bar in the kiosk's colours (Kivy's ProgressBar is a thin grey image that
reads poorly at arm's length)."""

from __future__ import annotations

from kivy.graphics import Color, Line, Rectangle
from kivy.metrics import dp
from kivy.properties import NumericProperty
from kivy.uix.widget import Widget

from kiosk_ui.widgets.theme import OK, SECONDARY

TRACK = (0.86, 0.86, 0.84, 1)  # the part still to do, visible on the page background


class ProgressStrip(Widget):
    """`value` out of `max`, drawn as a filled share of a bar 28 dp high with an outline."""

    value = NumericProperty(0)
    max = NumericProperty(100)

    def __init__(self, **kw):
        kw.setdefault("size_hint_y", None)
        kw.setdefault("height", dp(28))
        super().__init__(**kw)
        with self.canvas:
            Color(*TRACK)
            self._track = Rectangle()
            Color(*OK)
            self._fill = Rectangle()
            Color(*SECONDARY)
            self._outline = Line(width=dp(1))
        self.bind(pos=self._draw, size=self._draw, value=self._draw, max=self._draw)
        self._draw()

    @property
    def share(self) -> float:
        """The filled share, 0..1."""
        return max(0.0, min(1.0, self.value / self.max)) if self.max > 0 else 0.0

    def _draw(self, *_) -> None:
        self._track.pos, self._track.size = self.pos, self.size
        self._fill.pos, self._fill.size = self.pos, (self.width * self.share, self.height)
        self._outline.rectangle = (self.x, self.y, self.width, self.height)
