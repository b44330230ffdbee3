"""The low-battery strip at the top of every screen and the full-screen shutdown countdown."""

from __future__ import annotations

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from kiosk_ui.widgets.theme import (
    COUNTDOWN_BG,
    HUGE,
    OK,
    ORANGE,
    SELECTED,
    WHITE,
    BigButton,
    Text,
    paint,
)

BANNER_H = dp(40)
OVERLAY_BUTTON_H = dp(96)
OVERLAY_BOTTOM = dp(76)


class PowerBanner(BoxLayout):
    """Hidden (0 px) without a message; an orange strip with bold white text otherwise (the
    theme's burnt orange: white on the old bright one was 4.2:1)."""

    def __init__(self, **kw):
        kw.setdefault("size_hint_y", None)
        super().__init__(height=0, **kw)
        paint(self, ORANGE)
        self.label = Text("", font_size=sp(20), color=WHITE, bold=True, grow=False, halign="center")
        self.add_widget(self.label)
        self.opacity = 0
        # a long line wraps to two on the 800 px screen: the strip grows with it
        self.label.bind(texture_size=lambda *_: self._fit())

    @property
    def text(self) -> str:
        return self.label.text

    def show(self, message: str | None) -> None:
        self.label.text = message or ""
        self.opacity = 1 if message else 0
        self._fit()

    def _fit(self) -> None:
        if not self.label.text:
            self.height = 0
            return
        self.height = max(BANNER_H, self.label.texture_size[1] + dp(8))


class ShutdownCountdown(FloatLayout):
    """Covers the whole window while a shutdown is pending: the big countdown, "Enregistrer"
    (saves the open form) and "Annuler l'arrêt" (roles allowed to cancel; otherwise a line
    says who may). Only its buttons act: a touch anywhere else on it is taken, so it never
    lands on the form underneath (whose values stay as they are)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        # opaque: the form's own buttons must not show through as if they could be pressed
        paint(self, COUNTDOWN_BG)
        column_ = BoxLayout(
            orientation="vertical",
            # [left, top, right, bottom]: the buttons stay above the bottom 76 px, where the
            # forms' own Enregistrer / Annuler are, so a finger already on its way to the
            # form's Annuler does not land on "Annuler l'arrêt"
            padding=(dp(24), dp(16), dp(24), OVERLAY_BOTTOM),
            spacing=dp(10),
            size_hint=(1, 1),
            pos_hint={"x": 0, "y": 0},
        )
        self.label = Text("", font_size=HUGE, color=WHITE, bold=True, grow=False, halign="center")
        # the message and the note grow with their lines and take no height when empty:
        # the countdown above takes what is left
        self.message = Text("", font_size=sp(24), color=WHITE, bold=True, halign="center")
        self.note = Text("", font_size=sp(20), color=WHITE, halign="center")
        self.buttons = BoxLayout(size_hint_y=None, height=OVERLAY_BUTTON_H, spacing=dp(16))
        self.save_button = BigButton("", colour=OK, height=OVERLAY_BUTTON_H, font_size=sp(28))
        self.cancel_button = BigButton(
            "", colour=SELECTED, height=OVERLAY_BUTTON_H, font_size=sp(28)
        )
        self.buttons.add_widget(self.save_button)
        self.buttons.add_widget(self.cancel_button)
        for w in (self.label, self.message, self.buttons, self.note):
            column_.add_widget(w)
        self.add_widget(column_)

    @property
    def text(self) -> str:
        return self.label.text

    def show(self, text: str) -> None:
        self.label.text = text

    def set_buttons(self, *, save: str | None, cancel: str | None, note: str = "") -> None:
        """Button texts; None hides that button. `note`: the line under them."""
        for button, text in ((self.save_button, save), (self.cancel_button, cancel)):
            if text is None:
                if button.parent is not None:
                    self.buttons.remove_widget(button)
                button.disabled = True
                continue
            button.text, button.disabled = text, False
            if button.parent is None:
                # save on the left, cancel on the right, whichever came back first
                index = len(self.buttons.children) if button is self.save_button else 0
                self.buttons.add_widget(button, index=index)
        self.note.text = note

    def say(self, message: str) -> None:
        self.message.text = message

    def on_touch_down(self, touch):
        super().on_touch_down(touch)
        return True

    def on_touch_move(self, touch):
        super().on_touch_move(touch)
        return True

    def on_touch_up(self, touch):
        super().on_touch_up(touch)
        return True
