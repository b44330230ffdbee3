"""What every screen shares: the body layout, a scrolling column, running a blocking
view-model call on a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.scrollview import ScrollView

from kiosk_ui.widgets.theme import PAD

if TYPE_CHECKING:
    from kiosk_ui.app import KioskRoot


def column(**kw) -> GridLayout:
    kw.setdefault("spacing", dp(6))
    g = GridLayout(cols=1, size_hint_y=None, **kw)
    g.bind(minimum_height=g.setter("height"))
    return g


def scrolling(content: GridLayout) -> ScrollView:
    sv = ScrollView(do_scroll_x=False, bar_width=dp(10), scroll_type=["bars", "content"])
    sv.add_widget(content)
    return sv


class KioskScreen(Screen):
    """A screen's body (the header and power banner belong to the root, above every screen).
    `enter(**kw)` is called before it is shown, `refresh()` rebuilds its texts."""

    screen_name = ""
    show_home = True

    def __init__(self, kiosk: KioskRoot, **kw):
        super().__init__(name=self.screen_name, **kw)
        self.kiosk = kiosk
        self.body = BoxLayout(orientation="vertical", padding=PAD, spacing=PAD)
        self.add_widget(self.body)

    @property
    def state(self):
        return self.kiosk.state

    def t(self, msgid: str) -> str:
        return self.kiosk.tr(msgid)

    def enter(self, **kw: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        pass

    def load_in_background(self, work: Callable[[], Any]) -> None:
        """Run the view-model's blocking load (a facility-wide pass) off the UI thread, then
        refresh, unless the screen was entered again meanwhile. `loading` says it runs; an
        exception becomes `error`."""
        vm = self.vm

        def done(result: Any) -> None:
            if vm is not self.vm:
                return
            self.loading = False
            if isinstance(result, Exception):
                self.error = self.state.error_text(result)
            self.refresh()

        self.loading = True
        self.refresh()
        self.in_background(work, done)

    def in_background(self, work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Run a blocking view-model call off the UI thread; `done(result or exception)`
        runs back on the Kivy thread."""

        def run() -> None:
            try:
                result: Any = work()
            except Exception as e:  # shown by `done`, never lost
                result = e
            Clock.schedule_once(lambda _dt: done(result), 0)

        threading.Thread(target=run, name=f"kiosk-{self.name}", daemon=True).start()
