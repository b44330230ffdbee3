"""A yes-or-no question over the whole window, in the number pad's style: the question, a
note under it, « Annuler » on the left and the action on the right."""

from __future__ import annotations

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.modalview import ModalView

from kiosk_ui.widgets.theme import BG, MUTED, OK, SECONDARY, BigButton, Text, paint

CONFIRM_BUTTON_H = dp(64)


class ConfirmPanel(ModalView):
    """`on_confirm` fires when the action's button is pressed; either button closes it. A
    touch beside the panel does nothing (auto_dismiss off): the question needs an answer."""

    __events__ = ("on_confirm",)

    def __init__(self, text: str, *, note: str = "", cancel: str, confirm: str, **kw):
        kw.setdefault("size_hint", (0.8, None))  # as high as its content
        kw.setdefault("auto_dismiss", False)
        super().__init__(background="", background_color=(0, 0, 0, 0.6), **kw)
        root = BoxLayout(orientation="vertical", spacing=dp(10), padding=dp(14), size_hint_y=None)
        root.bind(minimum_height=self._fit)
        paint(root, BG)
        self.question = Text(text, font_size=sp(22), bold=True)
        self.note = Text(note, font_size=sp(20), color=MUTED)
        buttons = BoxLayout(size_hint_y=None, height=CONFIRM_BUTTON_H, spacing=dp(16))
        self.cancel_button = BigButton(cancel, colour=SECONDARY, height=CONFIRM_BUTTON_H)
        self.confirm_button = BigButton(confirm, colour=OK, height=CONFIRM_BUTTON_H)
        self.cancel_button.bind(on_release=lambda *_: self.dismiss(animation=False))
        self.confirm_button.bind(on_release=lambda *_: self._confirm())
        buttons.add_widget(self.cancel_button)
        buttons.add_widget(self.confirm_button)
        for w in (self.question, self.note, buttons):
            root.add_widget(w)
        self.add_widget(root)

    def _fit(self, root, height: float) -> None:
        root.height = self.height = height

    def _confirm(self) -> None:
        self.dismiss(animation=False)
        self.dispatch("on_confirm")

    def on_confirm(self) -> None:
        pass
