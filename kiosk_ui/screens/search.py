"""Search: a text field typed on the azerty on-screen keyboard; results follow the typing
(debounced 0.15 s); touching a result opens the record. The results get the height: the field
and the keyboard toggle share one row, result rows are compact (48 px, taller only when their
text wraps), and ⏎ runs the search and hides the keyboard so the whole list shows."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.textinput import TextInput

from appliance.web.i18n import N_
from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.viewmodels.search import MORE, SearchVM
from kiosk_ui.widgets.due_row import grow_to_text
from kiosk_ui.widgets.keyboard import AzertyKeyboard
from kiosk_ui.widgets.theme import MUTED, PRIMARY, SECONDARY, BigButton, Text

DEBOUNCE_S = 0.15
TOP_H = dp(52)  # the field and the keyboard toggle
RESULT_H = dp(48)  # a result row: a finger's target, and two rows show above the keyboard
HINT = N_("Nom, numéro de santé ou téléphone")


class SearchScreen(KioskScreen):
    screen_name = "search"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: SearchVM | None = None
        self._pending = None
        self.body.spacing = dp(4)
        self.body.padding = (dp(8), dp(4))
        top = BoxLayout(size_hint_y=None, height=TOP_H, spacing=dp(6))
        self.field = TextInput(
            multiline=False,
            font_size=sp(22),
            keyboard_mode="managed",  # our keyboard below, never the system's
            write_tab=False,
            padding=(dp(10), dp(10)),
            hint_text_color=MUTED,  # Kivy's grey hint was 3.98:1 on the white field
        )
        self.field.bind(text=self._typed, focus=self._focused)
        top.add_widget(self.field)
        self.kb_button = BigButton(
            "", colour=SECONDARY, size_hint_x=None, width=dp(150), height=TOP_H, font_size=sp(18)
        )
        self.kb_button.bind(on_release=lambda *_: self.toggle_keyboard())
        top.add_widget(self.kb_button)
        self.body.add_widget(top)
        self.results = column(spacing=dp(4))
        self.scroller = scrolling(self.results)
        self.body.add_widget(self.scroller)
        self.message = Text("", color=MUTED)
        self.keyboard = AzertyKeyboard()
        self.keyboard.target = self.field
        self.keyboard.bind(on_enter=lambda *_: self.enter_pressed())
        self.keyboard.bind(on_hide=lambda *_: self.show_keyboard(False))
        self.body.add_widget(self.keyboard)
        # Rows made once and shown again with other patients (a search returns at most a
        # page): typing never makes new widgets, whose textures the memory kept.
        self.row_pool: list[BigButton] = []
        self.result_buttons: list[BigButton] = []  # the rows shown now
        # After a full page: the next page in place of this one.
        self.more_button = BigButton("", colour=SECONDARY, font_size=sp(20), height=RESULT_H)
        self.more_button.bind(on_release=lambda *_: self.next_page())

    def enter(self, **kw: Any) -> None:
        self.vm = SearchVM(self.state)
        self.field.text = ""
        self.show_keyboard(True)
        self.scroller.scroll_y = 1
        self.refresh()

    def on_leave(self, *_args) -> None:
        """Left: the rows go (their texts emptied, so their textures go too); the pool
        stays, bounded by a page."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self.results.clear_widgets()
        self.result_buttons = []
        for b in self.row_pool:
            b.text = ""
            b.patient_id = None
        self.message.text = ""
        self.more_button.text = ""
        self.vm = None

    @property
    def keyboard_shown(self) -> bool:
        return self.keyboard.parent is not None

    def show_keyboard(self, shown: bool) -> None:
        if shown and self.keyboard.parent is None:
            self.body.add_widget(self.keyboard)
        elif not shown and self.keyboard.parent is not None:
            self.body.remove_widget(self.keyboard)
            self.field.focus = False
        self.refresh()

    def toggle_keyboard(self) -> None:
        self.show_keyboard(not self.keyboard_shown)

    def _focused(self, _field, focused: bool) -> None:
        if focused and not self.keyboard_shown:  # a tap on the field brings the keyboard
            self.show_keyboard(True)

    def enter_pressed(self) -> None:
        """⏎: search now and put the keyboard away, so the whole list shows."""
        self.search_now()
        self.show_keyboard(False)

    def _typed(self, _field, _text) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self._pending = Clock.schedule_once(lambda _dt: self.search_now(), DEBOUNCE_S)

    def search_now(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self._pending = None
        if self.vm is None:
            return
        self.vm.set_query(self.field.text)
        self.scroller.scroll_y = 1
        self.refresh()

    def next_page(self) -> None:
        if self.vm is None:
            return
        self.vm.next_page()
        self.scroller.scroll_y = 1
        self.refresh()

    def _row(self, i: int) -> BigButton:
        while len(self.row_pool) <= i:
            b = BigButton("", colour=PRIMARY, font_size=sp(20), height=RESULT_H)
            b.halign = "left"
            b.bold = False  # the name alone in bold (markup), the details plain
            b.markup = True
            b.patient_id = None
            grow_to_text(b, RESULT_H, pad=dp(10))  # a long name wraps and the row grows
            b.bind(on_release=self._open)
            self.row_pool.append(b)
        return self.row_pool[i]

    def _open(self, button: BigButton) -> None:
        if button.patient_id is not None:
            self.kiosk.go("record", patient_id=button.patient_id)

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        self.field.hint_text = t(HINT)
        self.kb_button.text = t("Masquer le clavier") if self.keyboard_shown else t("Clavier")
        self.results.clear_widgets()
        self.result_buttons = []
        if self.vm.message:
            self.message.text = self.vm.message
            self.results.add_widget(self.message)
        for i, r in enumerate(self.vm.results):
            b = self._row(i)
            b.text = f"[b]{_escape(r['name'])}[/b] — {_escape(r['detail'])}"
            b.patient_id = r["id"]
            self.result_buttons.append(b)
            self.results.add_widget(b)
        for b in self.row_pool[len(self.vm.results) :]:
            b.text = ""  # rows not shown keep no texture
            b.patient_id = None
        self.more_button.text = t(MORE) if self.vm.more else ""
        if self.vm.more:
            self.results.add_widget(self.more_button)


def _escape(text: str) -> str:
    """Names are typed by staff: a bracket must not be read as Kivy markup."""
    return (text or "").replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")
