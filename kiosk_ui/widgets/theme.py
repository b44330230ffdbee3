"""Colours and sizes of the kiosk: high contrast, read at arm's length, touched with a finger.

Body text >= 18 sp, titles >= 28 sp, touch targets >= 48 dp (buttons 56-64 dp high).
Every text colour on every background it is drawn on has a WCAG contrast >= 4.5:1 (read in
sunlight): PAIRS lists them and a test checks each."""

from __future__ import annotations

from kivy.graphics import Color, Rectangle
from kivy.metrics import dp, sp
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.togglebutton import ToggleButton

BG = (0.97, 0.97, 0.95, 1)
TEXT = (0.05, 0.05, 0.05, 1)
MUTED = (0.25, 0.25, 0.25, 1)
PRIMARY = (0.04, 0.26, 0.52, 1)
HEADER = (0.08, 0.16, 0.28, 1)
SECONDARY = (0.30, 0.33, 0.38, 1)
OK = (0.05, 0.42, 0.18, 1)
DANGER = (0.70, 0.05, 0.05, 1)
# A burnt orange: the bright (0.90, 0.45, 0.02) gave white text 3.1:1; this one 5.2:1.
ORANGE = (0.72, 0.29, 0.00, 1)
SELECTED = ORANGE
WHITE = (1, 1, 1, 1)
HINT = (0.40, 0.40, 0.40, 1)  # a TextInput's hint on white: 7:1 (Kivy's grey is 4.0:1)
COUNTDOWN_BG = (0.55, 0.02, 0.02, 1)
MODERATE = (0.52, 0.39, 0.00, 1)  # a dark ochre: the yellow (0.60, 0.45, 0) was 4.4:1
SEVERITY = {
    "urgent": (0.72, 0.04, 0.04, 1),
    "high": ORANGE,
    "moderate": MODERATE,
    "warn": ORANGE,
    "info": PRIMARY,
    "ok": OK,
    "normal": OK,
}

BODY = sp(20)
SMALL = sp(18)
TITLE = sp(28)
HUGE = sp(44)
BUTTON_H = dp(60)
ROW_H = dp(56)
PAD = dp(8)


def relative_luminance(colour) -> float:
    """WCAG 2 relative luminance of an sRGB colour with channels in 0..1."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg, bg) -> float:
    """WCAG contrast ratio (1..21) of two opaque colours."""
    hi, lo = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def min_contrast(font_size: float, bold: bool) -> float:
    """WCAG AA: 4.5:1, or 3:1 for large text (here: bold and >= 24 px)."""
    return 3.0 if bold and font_size >= 24 else 4.5


# Every (text colour, background) the kiosk draws: white on the coloured buttons, boxes,
# header, power banner and countdown; dark, muted and coloured text on the page background.
PAIRS: dict[str, tuple[tuple, tuple]] = {
    "text on page": (TEXT, BG),
    "muted on page": (MUTED, BG),
    "danger text on page": (DANGER, BG),
    "ok text on page": (OK, BG),
    "orange text on page": (ORANGE, BG),
    "primary text on page": (PRIMARY, BG),
    "text on white": (TEXT, WHITE),
    "hint on white": (HINT, WHITE),
    "white on header": (WHITE, HEADER),
    "white on primary": (WHITE, PRIMARY),
    "white on secondary": (WHITE, SECONDARY),
    "white on ok": (WHITE, OK),
    "white on danger": (WHITE, DANGER),
    "white on selected": (WHITE, SELECTED),
    "white on countdown": (WHITE, COUNTDOWN_BG),
    **{f"white on severity {name}": (WHITE, colour) for name, colour in SEVERITY.items()},
    **{f"severity {name} text on page": (colour, BG) for name, colour in SEVERITY.items()},
}


def severity_colour(severity: str | None) -> tuple:
    return SEVERITY.get(severity or "", PRIMARY)


def paint(widget, colour) -> None:
    """A solid background that follows the widget (labels and layouts have none)."""
    with widget.canvas.before:
        c = Color(*colour)
        rect = Rectangle(pos=widget.pos, size=widget.size)
    widget._bg_colour, widget._bg_rect = c, rect

    def follow(*_):
        rect.pos, rect.size = widget.pos, widget.size

    widget.bind(pos=follow, size=follow)


def repaint(widget, colour) -> None:
    widget._bg_colour.rgba = colour


class BigButton(Button):
    """A flat, high-contrast button 60 dp high with 22 sp text."""

    def __init__(self, text: str = "", colour=PRIMARY, **kw):
        kw.setdefault("font_size", sp(22))
        kw.setdefault("size_hint_y", None)
        kw.setdefault("height", BUTTON_H)
        kw.setdefault("bold", True)
        super().__init__(
            text=text,
            background_normal="",
            background_down="",
            background_color=colour,
            color=WHITE,
            halign="center",
            valign="middle",
            **kw,
        )
        self._colour = colour
        self.bind(size=self._wrap, state=self._pressed)

    def _wrap(self, *_):
        self.text_size = (self.width - dp(8), None)

    def _pressed(self, _w, state):
        r, g, b, a = self._colour
        self.background_color = (r * 0.6, g * 0.6, b * 0.6, a) if state == "down" else self._colour

    def set_colour(self, colour) -> None:
        self._colour = colour
        self.background_color = colour


class Choice(ToggleButton):
    """A toggle button of a select field (one of a group, or free for checkboxes)."""

    def __init__(self, text: str = "", **kw):
        kw.setdefault("font_size", sp(20))
        kw.setdefault("size_hint_y", None)
        kw.setdefault("height", ROW_H)
        super().__init__(
            text=text,
            background_normal="",
            background_down="",
            color=WHITE,
            halign="center",
            valign="middle",
            **kw,
        )
        self.bind(state=self._show, size=self._wrap)
        self._show(self, self.state)

    def _wrap(self, *_):
        self.text_size = (self.width - dp(6), None)

    def _show(self, _w, state):
        self.background_color = SELECTED if state == "down" else SECONDARY


class Text(Label):
    """Dark text on the light background, wrapped to the widget's width, growing in height."""

    def __init__(self, text: str = "", font_size=BODY, color=TEXT, grow=True, **kw):
        kw.setdefault("halign", "left")
        kw.setdefault("valign", "middle")
        if grow:
            kw.setdefault("size_hint_y", None)
        super().__init__(text=text, font_size=font_size, color=color, **kw)
        self._grow = grow
        self.bind(width=self._wrap, texture_size=self._fit, text=self._fit)
        self._wrap()
        self._fit()  # an empty label would otherwise keep Kivy's default 100 px

    def _wrap(self, *_):
        self.text_size = (max(self.width - dp(8), 1), None)

    def _fit(self, *_):
        if self._grow:
            # empty: no height at all (no empty band where an error or a note may come)
            self.height = max(self.texture_size[1] + dp(8), dp(32)) if self.text else 0


class Title(Text):
    def __init__(self, text: str = "", **kw):
        kw.setdefault("font_size", TITLE)
        kw.setdefault("bold", True)
        super().__init__(text, **kw)


class Box(Text):
    """A coloured box of white text (alerts, live feedback, errors)."""

    def __init__(self, text: str = "", colour=PRIMARY, **kw):
        kw.setdefault("padding", (dp(10), dp(6)))
        super().__init__(text, color=WHITE, **kw)
        paint(self, colour)

    def _wrap(self, *_):
        self.text_size = (max(self.width - dp(20), 1), None)

    def _fit(self, *_):
        self.height = max(self.texture_size[1] + dp(4), dp(48)) if self.text else 0
