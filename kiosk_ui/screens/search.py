"""Search: a text field typed on the azerty on-screen keyboard; results follow the typing
(debounced 0.15 s); touching a result opens the record."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.textinput import TextInput

from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.viewmodels.search import SearchVM
from kiosk_ui.widgets.keyboard import AzertyKeyboard
from kiosk_ui.widgets.theme import MUTED, PRIMARY, SECONDARY, BigButton, Text

DEBOUNCE_S = 0.15


class SearchScreen(KioskScreen):
    screen_name = "search"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: SearchVM | None = None
        self._pending = None
        self.body.spacing = dp(4)
        top = BoxLayout(size_hint_y=None, height=dp(56), spacing=dp(6))
        self.field = TextInput(
            multiline=False,
            font_size=sp(24),
            keyboard_mode="managed",  # our keyboard below, never the system's
            write_tab=False,
            padding=(dp(10), dp(12)),
        )
        self.field.bind(text=self._typed)
        top.add_widget(self.field)
        self.kb_button = BigButton(
            "", colour=SECONDARY, size_hint_x=None, width=dp(150), height=dp(56), font_size=sp(18)
        )
        self.kb_button.bind(on_release=lambda *_: self.toggle_keyboard())
        top.add_widget(self.kb_button)
        self.body.add_widget(top)
        self.results = column()
        self.body.add_widget(scrolling(self.results))
        self.keyboard = AzertyKeyboard()
        self.keyboard.target = self.field
        self.keyboard.bind(on_enter=lambda *_: self.search_now())
        self.body.add_widget(self.keyboard)
        self.result_buttons: list[BigButton] = []

    def enter(self, **kw: Any) -> None:
        self.vm = SearchVM(self.state)
        self.field.text = ""
        self.show_keyboard(True)
        self.refresh()

    def show_keyboard(self, shown: bool) -> None:
        if shown and self.keyboard.parent is None:
            self.body.add_widget(self.keyboard)
        elif not shown and self.keyboard.parent is not None:
            self.body.remove_widget(self.keyboard)
        self.refresh()

    def toggle_keyboard(self) -> None:
        self.show_keyboard(self.keyboard.parent is None)

    def _typed(self, _field, _text) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self._pending = Clock.schedule_once(lambda _dt: self.search_now(), DEBOUNCE_S)

    def search_now(self) -> None:
        self._pending = None
        if self.vm is None:
            return
        self.vm.set_query(self.field.text)
        self.refresh()

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        self.field.hint_text = t("Nom, numéro de santé ou téléphone")
        self.kb_button.text = t("Masquer le clavier") if self.keyboard.parent else t("Clavier")
        self.results.clear_widgets()
        self.result_buttons = []
        if self.vm.message:
            self.results.add_widget(Text(self.vm.message, color=MUTED))
        for r in self.vm.results:
            b = BigButton(f"{r['name']} — {r['detail']}", colour=PRIMARY, font_size=sp(20))
            b.halign = "left"
            b.patient_id = r["id"]
            b.bind(on_release=lambda _b, pid=r["id"]: self.kiosk.go("record", patient_id=pid))
            self.result_buttons.append(b)
            self.results.add_widget(b)
