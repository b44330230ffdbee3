"""The library: a search field (on-screen keyboard) above the documents, French first; a
touch opens the reader, which shows the document's text a page at a time with big
« Précédente » / « Suivante » buttons (see viewmodels/library.py for why text, not the drawn
page)."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.textinput import TextInput

from appliance.web.i18n import N_
from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.viewmodels.library import LibraryVM, ReaderVM
from kiosk_ui.widgets.due_row import grow_to_text
from kiosk_ui.widgets.keyboard import AzertyKeyboard
from kiosk_ui.widgets.theme import MUTED, PRIMARY, SECONDARY, BigButton, Text, Title

DEBOUNCE_S = 0.2
ROW_H = dp(56)
BAR_H = dp(56)
HINT = N_("Chercher un guide ou un mot")


def _escape(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")


class LibraryScreen(KioskScreen):
    screen_name = "library"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: LibraryVM | None = None
        self._pending = None
        self.body.spacing = dp(4)
        self.body.padding = (dp(8), dp(4))
        top = BoxLayout(size_hint_y=None, height=BAR_H, spacing=dp(6))
        self.field = TextInput(
            multiline=False,
            font_size=sp(22),
            keyboard_mode="managed",
            write_tab=False,
            padding=(dp(10), dp(12)),
            hint_text_color=MUTED,
        )
        self.field.bind(text=self._typed, focus=self._focused)
        top.add_widget(self.field)
        self.kb_button = BigButton(
            "", colour=SECONDARY, size_hint_x=None, width=dp(150), height=BAR_H, font_size=sp(18)
        )
        self.kb_button.bind(on_release=lambda *_: self.show_keyboard(not self.keyboard_shown))
        top.add_widget(self.kb_button)
        self.body.add_widget(top)
        self.rows = column(spacing=dp(4))
        self.scroller = scrolling(self.rows)
        self.body.add_widget(self.scroller)
        self.message = Text("", color=MUTED)
        self.keyboard = AzertyKeyboard()
        self.keyboard.target = self.field
        self.keyboard.bind(on_enter=lambda *_: self.show_keyboard(False))
        self.keyboard.bind(on_hide=lambda *_: self.show_keyboard(False))
        self.row_buttons: list[BigButton] = []

    @property
    def keyboard_shown(self) -> bool:
        return self.keyboard.parent is not None

    def enter(self, **kw: Any) -> None:
        self.vm = LibraryVM(self.state)
        self.field.text = ""
        self.show_keyboard(False)
        self.vm.load()
        self.refresh()

    def show_keyboard(self, shown: bool) -> None:
        if shown and not self.keyboard_shown:
            self.body.add_widget(self.keyboard)
        elif not shown and self.keyboard_shown:
            self.body.remove_widget(self.keyboard)
            self.field.focus = False
        self.refresh()

    def _focused(self, _field, focused: bool) -> None:
        if focused and not self.keyboard_shown:
            self.show_keyboard(True)

    def _typed(self, _field, _text) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self._pending = Clock.schedule_once(lambda _dt: self.search_now(), DEBOUNCE_S)

    def search_now(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self.vm is not None:
            self.vm.set_query(self.field.text)
            self.scroller.scroll_y = 1
            self.refresh()

    def _row(self, i: int) -> BigButton:
        while len(self.row_buttons) <= i:
            b = BigButton("", colour=PRIMARY, font_size=sp(19), height=ROW_H)
            b.halign = "left"
            b.bold = False
            b.markup = True
            b.document = None
            grow_to_text(b, ROW_H, pad=dp(14))
            b.bind(on_release=self._open)
            self.row_buttons.append(b)
        return self.row_buttons[i]

    def _open(self, button: BigButton) -> None:
        if button.document is not None:
            d = button.document
            self.kiosk.go("library_reader", document_id=d["id"], page=d["page"])

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        self.field.hint_text = t(HINT)
        self.kb_button.text = t("Masquer le clavier") if self.keyboard_shown else t("Clavier")
        self.rows.clear_widgets()
        if self.vm.message:
            self.message.text = self.vm.message
            self.rows.add_widget(self.message)
        for i, d in enumerate(self.vm.documents):
            b = self._row(i)
            text = f"[b]{_escape(d['title'])}[/b]\n{_escape(d['detail'])}"
            if d["snippet"]:
                text += f" — {_escape(d['snippet'])}"
            b.text = text
            b.document = d
            self.rows.add_widget(b)
        for b in self.row_buttons[len(self.vm.documents) :]:
            b.text, b.document = "", None


class LibraryReaderScreen(KioskScreen):
    screen_name = "library_reader"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: ReaderVM | None = None
        self.body.spacing = dp(6)
        self.body.padding = (dp(10), dp(6))
        self.title = Title("")
        self.title.font_size = sp(21)
        self.body.add_widget(self.title)
        self.content = column(padding=(0, 0, dp(14), 0))
        self.text = Text("", font_size=sp(19))
        self.content.add_widget(self.text)
        self.scroller = scrolling(self.content)
        self.body.add_widget(self.scroller)
        bar = BoxLayout(size_hint_y=None, height=BAR_H, spacing=dp(8))
        self.back_button = BigButton("", colour=SECONDARY, height=BAR_H, font_size=sp(19))
        self.back_button.bind(on_release=lambda *_: self.kiosk.go("library"))
        self.previous_button = BigButton("", colour=PRIMARY, height=BAR_H, font_size=sp(19))
        self.previous_button.bind(on_release=lambda *_: self.turn(-1))
        self.where = Text("", grow=False, halign="center", font_size=sp(18))
        self.next_button = BigButton("", colour=PRIMARY, height=BAR_H, font_size=sp(19))
        self.next_button.bind(on_release=lambda *_: self.turn(+1))
        for w in (self.back_button, self.previous_button, self.where, self.next_button):
            bar.add_widget(w)
        self.body.add_widget(bar)

    def enter(self, **kw: Any) -> None:
        self.vm = ReaderVM(self.state, kw["document_id"], int(kw.get("page") or 1))
        self.scroller.scroll_y = 1
        self.refresh()

    def turn(self, step: int) -> None:
        if self.vm is not None:
            self.vm.go(self.vm.page + step)
            self.scroller.scroll_y = 1
            self.refresh()

    def refresh(self) -> None:
        vm, t = self.vm, self.t
        if vm is None:
            return
        self.title.text = vm.title
        self.text.text = vm.error or vm.text
        self.where.text = vm.where if vm.pages else ""
        self.back_button.text = t("Liste")
        self.previous_button.text = t("Précédente")
        self.next_button.text = t("Suivante")
        self.previous_button.disabled = vm.page <= 1
        self.next_button.disabled = vm.page >= vm.pages
