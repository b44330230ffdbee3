"""A row of the due list: the state in a coloured word on the left, who and what on the right,
as tall as its text needs (a long name or reason wraps instead of being cut)."""

from __future__ import annotations

from kivy.metrics import dp, sp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

from kiosk_ui.widgets.theme import OK, ORANGE, PRIMARY, TEXT, WHITE, paint, repaint

ROW_MIN_H = dp(64)
STATE_COLOURS = {
    "urgent": (0.72, 0.04, 0.04, 1),
    "overdue": ORANGE,  # white on it 5.2:1 (the brighter orange was 4.4:1)
    "due": PRIMARY,
    "upcoming": OK,
    "defaulter": (0.40, 0.10, 0.45, 1),
}
ROW_BG = (1, 1, 1, 1)
ROW_PRESSED = (0.82, 0.86, 0.92, 1)


def grow_to_text(widget, min_height: float, pad: float = dp(12)) -> None:
    """A wrapped label or button grows with its text (never cut below its last line)."""

    def fit(*_):
        widget.height = max(min_height, widget.texture_size[1] + pad)

    widget.bind(texture_size=fit)


class DueRow(ButtonBehavior, BoxLayout):
    """Made once and shown again with another item (`show`): the list pages through
    thousands of items with the same twenty rows."""

    def __init__(self, item: dict | None = None, **kw):
        super().__init__(
            orientation="horizontal",
            size_hint_y=None,
            height=ROW_MIN_H,
            spacing=dp(8),
            padding=(0, 0, dp(6), 0),
            **kw,
        )
        self.item: dict = {}
        paint(self, ROW_BG)
        self.state_label = Label(
            color=WHITE,
            bold=True,
            font_size=sp(18),
            size_hint_x=None,
            width=dp(118),
            halign="center",
            valign="middle",
        )
        self.state_label.bind(size=lambda w, s: setattr(w, "text_size", (s[0] - dp(8), None)))
        paint(self.state_label, PRIMARY)
        self.add_widget(self.state_label)
        self.text_label = Label(
            markup=True, color=TEXT, font_size=sp(18), halign="left", valign="middle"
        )
        self.text_label.bind(
            width=lambda w, width: setattr(w, "text_size", (max(width - dp(4), 1), None))
        )
        self.text_label.bind(
            texture_size=lambda _w, s: setattr(self, "height", max(ROW_MIN_H, s[1] + dp(12)))
        )
        self.add_widget(self.text_label)
        if item is not None:
            self.show(item)

    def show(self, item: dict) -> None:
        self.item = item
        self.state_label.text = item["state_label"]
        repaint(self.state_label, STATE_COLOURS.get(item["state"], PRIMARY))
        details = " · ".join(
            p for p in (item["when"], item["village"], item["phone"], item["guardian"]) if p
        )
        self.text_label.text = (
            f"[b]{_escape(item['name'])}[/b] — {_escape(item['reason'])}\n{_escape(details)}"
        )

    def clear(self) -> None:
        """Shown no more: no item, no text (an empty label keeps no texture)."""
        self.item = {}
        self.state_label.text = ""
        self.text_label.text = ""

    def on_state(self, _w, state):
        repaint(self, ROW_PRESSED if state == "down" else ROW_BG)


def _escape(text: str) -> str:
    """Names are typed by staff: a bracket must not be read as Kivy markup."""
    return (text or "").replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")
