"""The low-battery strip at the top of every screen and the full-screen shutdown countdown."""

from __future__ import annotations

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from kiosk_ui.widgets.theme import HUGE, WHITE, Text, paint

BANNER_H = dp(40)


class PowerBanner(BoxLayout):
    """Hidden (0 px) without a message; an orange strip with bold white text otherwise."""

    def __init__(self, **kw):
        kw.setdefault("size_hint_y", None)
        super().__init__(height=0, **kw)
        paint(self, (0.85, 0.30, 0.0, 1))
        self.label = Text("", font_size=sp(20), color=WHITE, bold=True, grow=False, halign="center")
        self.add_widget(self.label)
        self.opacity = 0

    @property
    def text(self) -> str:
        return self.label.text

    def show(self, message: str | None) -> None:
        self.label.text = message or ""
        self.height = BANNER_H if message else 0
        self.opacity = 1 if message else 0


class ShutdownCountdown(FloatLayout):
    """Covers the whole window (and swallows every touch) while a shutdown is pending."""

    def __init__(self, **kw):
        super().__init__(**kw)
        paint(self, (0.55, 0.02, 0.02, 0.96))
        self.label = Text(
            "",
            font_size=HUGE,
            color=WHITE,
            bold=True,
            grow=False,
            halign="center",
            size_hint=(0.9, 0.8),
            pos_hint={"center_x": 0.5, "center_y": 0.5},
        )
        self.add_widget(self.label)

    @property
    def text(self) -> str:
        return self.label.text

    def show(self, text: str) -> None:
        self.label.text = text

    def on_touch_down(self, touch):
        return True

    def on_touch_move(self, touch):
        return True

    def on_touch_up(self, touch):
        return True
