"""What every screen shares: the body layout, a scrolling column, keeping a widget in a
scroll view's sight, running a blocking view-model call on a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.effects.scroll import ScrollEffect
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
    # always_overscroll off: content shorter than the view stays at its top whatever
    # scroll_y was left at (with it on, Kivy's default, it sinks and leaves a band above).
    # ScrollEffect: no spring-back past the ends, which kept moving scroll_y for a while
    # after the content changed and undid keep_in_view.
    sv = ScrollView(
        do_scroll_x=False,
        bar_width=dp(10),
        scroll_type=["bars", "content"],
        always_overscroll=False,
        effect_cls=ScrollEffect,
    )
    sv.add_widget(content)
    return sv


def window_rect(widget) -> tuple[float, float, float, float]:
    """(x, y, right, top) of `widget` in window coordinates."""
    x, y = widget.to_window(*widget.pos)
    return x, y, x + widget.width, y + widget.height


def in_view(sv: ScrollView, widget) -> bool:
    """Is `widget` whole inside the visible part of the scroll view `sv`?"""
    x, y, right, top = window_rect(widget)
    sx, sy, sright, stop = window_rect(sv)
    return y >= sy - 1 and top <= stop + 1 and x >= sx - 1 and right <= sright + 1


def keep_in_view(sv: ScrollView, widget, padding: float = 6, frames: int = 30) -> None:
    """Scroll `sv` (without animation) so `widget` is whole in its viewport, now and at each
    frame until it has stayed in view for a few frames (at most `frames`): a keyboard just
    shown, or a form just rebuilt, moves things only as the layout runs, over several frames
    (labels get their sizes a frame late, then their rows, then the form)."""
    left, settled = [frames], [0]

    def step(_dt: float = 0) -> bool:
        if widget.parent is None or sv.parent is None:
            return False
        content = sv.children[0] if sv.children else None
        if content is not None and content.height > sv.height and not in_view(sv, widget):
            sv.scroll_to(widget, padding=padding, animate=False)
            settled[0] = 0
        else:
            settled[0] += 1
        left[0] -= 1
        return left[0] > 0 and settled[0] < 4  # False ends the interval

    if step():
        Clock.schedule_interval(step, 0)


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
