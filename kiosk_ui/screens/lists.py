"""The due lists (who to see again: today, coming, lost to follow-up) and the technician's
status page."""

from __future__ import annotations

import io
from typing import Any

from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.image import Image

from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.viewmodels.due import LIST_TITLES, LISTS, UPCOMING_DAYS, DueVM
from kiosk_ui.viewmodels.status import UPDATE_KEY, StatusVM
from kiosk_ui.widgets.confirm import ConfirmPanel
from kiosk_ui.widgets.due_row import DueRow
from kiosk_ui.widgets.progress import ProgressStrip
from kiosk_ui.widgets.theme import (
    DANGER,
    MUTED,
    OK,
    PRIMARY,
    SECONDARY,
    SELECTED,
    BigButton,
    Box,
    Text,
    Title,
)

LIGHT = (0.78, 0.78, 0.78, 1)  # a page button with nowhere to go
STATUS_ROW_MIN_H = dp(40)
# While an install runs, root rewrites its percent in the state file at each RAUC step; a
# small JSON file read this often costs nothing.
UPDATE_POLL_S = 3


class DueScreen(KioskScreen):
    """Three lists (today, upcoming, defaulters), one village or all, 20 rows a page.
    Each page is an indexed read, done on the UI thread (no facility-wide pass)."""

    screen_name = "due"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: DueVM | None = None
        self.error: str | None = None
        self.picking_village = False
        self.loading = False  # pages are read at once; kept for callers that wait on it
        self.body.spacing = dp(4)
        self.tabs = BoxLayout(size_hint_y=None, height=dp(56), spacing=dp(6))
        self.periods = BoxLayout(size_hint_y=None, height=dp(52), spacing=dp(6))
        self.rows = column()
        self.scroller = scrolling(self.rows)
        self.pager = BoxLayout(size_hint_y=None, height=dp(56), spacing=dp(6))
        self.previous_button = BigButton("", colour=PRIMARY, height=dp(56), size_hint_x=0.33)
        self.previous_button.bind(on_release=lambda *_: self.page(-1))
        self.range_label = Text("", bold=True, grow=False, halign="center", size_hint_x=0.34)
        self.next_button = BigButton("", colour=PRIMARY, height=dp(56), size_hint_x=0.33)
        self.next_button.bind(on_release=lambda *_: self.page(+1))
        for w in (self.previous_button, self.range_label, self.next_button):
            self.pager.add_widget(w)
        for w in (self.tabs, self.scroller, self.pager):
            self.body.add_widget(w)
        # made once (a label made anew renders a new texture): refresh updates their texts
        self.tab_buttons: dict[str, BigButton] = {}
        for name in LISTS:
            b = BigButton("", height=dp(56), font_size=sp(20), size_hint_x=0.22)
            b.bind(on_release=lambda _b, n=name: self.choose(list_name=n))
            self.tab_buttons[name] = b
            self.tabs.add_widget(b)
        self.village_button = BigButton("", height=dp(56), font_size=sp(19), size_hint_x=0.34)
        self.village_button.bind(on_release=lambda *_: self.pick_village())
        self.tabs.add_widget(self.village_button)
        self.period_buttons: dict[int, BigButton] = {}
        for days in UPCOMING_DAYS:  # shown with the upcoming list only
            b = BigButton("", height=dp(52), font_size=sp(20))
            b.bind(on_release=lambda _b, d=days: self.choose(days=d))
            self.period_buttons[days] = b
            self.periods.add_widget(b)
        self.village_buttons: dict[str, BigButton] = {}  # shown now, by village ("" = all)
        self.village_pool: dict[str, BigButton] = {}
        self.village_grid = GridLayout(cols=3, spacing=dp(6), size_hint_y=None)
        self.village_grid.bind(minimum_height=self.village_grid.setter("height"))
        self.empty_text = Text("", color=MUTED)
        self.error_box = Box("", colour=DANGER)
        self.row_widgets: list[DueRow] = []  # the rows shown now
        self.row_pool: list[DueRow] = []  # made once, shown again with other items

    def enter(self, **kw: Any) -> None:
        """`list` (today, upcoming, defaulters) opens that list at its first page; without
        it the screen shows what it showed last."""
        if self.vm is None:
            self.vm = DueVM(self.state)
        self.vm.state = self.state
        self.picking_village = False
        self.vm.load_villages()
        if "list" in kw or "village" in kw:
            self.vm.choose(list_name=kw.get("list", "today"), village=kw.get("village"))
        else:
            self.vm.load()
        self.refresh()

    def choose(self, **kw: Any) -> None:
        self.picking_village = False
        self.vm.choose(**kw)
        self.scroller.scroll_y = 1
        self.refresh()

    def page(self, step: int) -> None:
        if step > 0:
            self.vm.next_page()
        else:
            self.vm.previous_page()
        self.scroller.scroll_y = 1
        self.refresh()

    def pick_village(self) -> None:
        self.picking_village = not self.picking_village
        self.refresh()

    def refresh(self) -> None:
        if self.vm is None:
            return
        t, vm = self.t, self.vm
        for name, b in self.tab_buttons.items():
            b.text = t(LIST_TITLES[name])
            b.set_colour(SELECTED if name == vm.list else SECONDARY)
        self.village_button.text = t("Village : %(village)s") % {"village": vm.village or t("tous")}
        self.village_button.set_colour(SELECTED if self.picking_village else PRIMARY)
        upcoming = vm.list == "upcoming"
        if upcoming and self.periods.parent is None:
            self.body.add_widget(self.periods, index=self.body.children.index(self.scroller) + 1)
        elif not upcoming and self.periods.parent is not None:
            self.body.remove_widget(self.periods)
        for days, b in self.period_buttons.items():
            b.text = t("%(n)s jours") % {"n": days}
            b.set_colour(SELECTED if days == vm.days else SECONDARY)

        self.rows.clear_widgets()
        self.row_widgets = []
        self.village_buttons = {}
        if self.picking_village:
            self._village_grid()
        else:
            self._rows()
        self._pager()

    def _village_grid(self) -> None:
        """The villages as a grid of buttons, made once per village (shown again on each
        visit: a button made anew renders a new texture)."""
        t, vm = self.t, self.vm
        self.village_grid.clear_widgets()
        for name, shown in ((None, t("Tous les villages")), *((v, v) for v in vm.villages)):
            key = name or ""
            b = self.village_pool.get(key)
            if b is None:
                b = BigButton("", height=dp(56), font_size=sp(19))
                b.bind(on_release=lambda _b, v=name: self.choose(village=v))
                self.village_pool[key] = b
            b.text = shown
            b.set_colour(SELECTED if name == vm.village else SECONDARY)
            self.village_buttons[key] = b
            self.village_grid.add_widget(b)
        self.rows.add_widget(self.village_grid)

    def _rows(self) -> None:
        t, vm = self.t, self.vm
        if vm.error:
            self.error_box.text = vm.error
            self.rows.add_widget(self.error_box)
            return
        if not vm.items:
            self.empty_text.text = t("Personne dans cette liste.")
            self.rows.add_widget(self.empty_text)
        for i, item in enumerate(vm.items):
            if i == len(self.row_pool):
                row = DueRow()
                row.bind(
                    on_release=lambda r: self.kiosk.go("record", patient_id=r.item["patient_id"])
                )
                self.row_pool.append(row)
            row = self.row_pool[i]
            row.show(item)
            self.row_widgets.append(row)
            self.rows.add_widget(row)
        for row in self.row_pool[len(vm.items) :]:
            row.clear()  # a row not shown keeps no texture nor item

    def on_leave(self, *_args) -> None:
        """Left: the rows are emptied (their textures go); the pool stays, a page at most."""
        self.rows.clear_widgets()
        self.row_widgets = []
        for row in self.row_pool:
            row.clear()

    def _pager(self) -> None:
        t, vm = self.t, self.vm
        self.range_label.text = vm.range_text
        for button, text, may in (
            (self.previous_button, t("Précédent"), vm.has_previous),
            (self.next_button, t("Suivant"), vm.has_next),
        ):
            button.text = text
            button.disabled = not may or self.picking_village
            button.background_disabled_normal = ""
            button.disabled_color = MUTED  # still readable, plainly not a way forward
            button.set_colour(PRIMARY if not button.disabled else LIGHT)


def status_row(label: str, value: str) -> BoxLayout:
    """A label and its value side by side, as tall as the longer of the two once wrapped (a
    sensor fault's detail, a long address): the row grows instead of its text overflowing."""
    row = BoxLayout(size_hint_y=None, height=STATUS_ROW_MIN_H, spacing=dp(8))
    name = Text(label, color=MUTED, grow=False, size_hint_x=0.42)
    shown = Text(value, bold=True, grow=False, size_hint_x=0.58)

    def fit(*_):
        tallest = max(name.texture_size[1], shown.texture_size[1])
        row.height = max(STATUS_ROW_MIN_H, tallest + dp(8))

    name.bind(texture_size=fit)
    shown.bind(texture_size=fit)
    row.add_widget(name)
    row.add_widget(shown)
    return row


class StatusScreen(KioskScreen):
    """The technician's page: read on each visit, and let go when left (seen seldom; nothing
    of it is kept between visits). An update on offer and an install's progress come first,
    under the title: the page is many screens long at 800x480."""

    screen_name = "status"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: StatusVM | None = None
        self.error: str | None = None
        self.content = column()
        self.body.add_widget(scrolling(self.content))
        # made once, filled by _show_update (a label made anew renders a new texture)
        self.update_block = column()
        # plain bold text and a green button: the blue boxes below are section titles
        self.offer_text = Text("", bold=True)
        self.install_button = BigButton("", colour=OK)
        self.install_button.bind(on_release=lambda *_: self.ask_install())
        self.update_note = Text("", color=MUTED)
        self.update_message = Box("", colour=OK)
        self.update_error = Box("", colour=DANGER)
        self.progress_text = Text("", bold=True)
        self.progress_bar = ProgressStrip()
        self.update_rows = column()  # the rows of the "Mises à jour" section
        self.confirm_panel: ConfirmPanel | None = None
        self._poll = None

    def enter(self, **kw: Any) -> None:
        self.vm = StatusVM(self.state)
        self.error = None
        try:
            self.vm.load()
        except Exception as e:
            self.error = self.state.error_text(e)
        self.refresh()

    def on_leave(self, *_args) -> None:
        self._stop_polling()
        self._close_confirm()
        self.content.clear_widgets()
        self.update_block.clear_widgets()
        self.update_rows.clear_widgets()
        self.vm = None

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        self.content.clear_widgets()
        self.update_rows.clear_widgets()
        self.content.add_widget(Title(t("État de l'appareil")))
        if self.error:
            self.content.add_widget(Box(self.error, colour=DANGER))
            return
        self.content.add_widget(self.update_block)
        if self.vm.join_png:
            # The hotspot's join QR code: a tablet's camera joins the Wi-Fi from it.
            texture = CoreImage(io.BytesIO(self.vm.join_png), ext="png").texture
            self.content.add_widget(
                Image(texture=texture, size_hint_y=None, height=dp(220), fit_mode="contain")
            )
            self.content.add_widget(Box(self.vm.join_text, colour=PRIMARY))
        for section in self.vm.sections:
            self.content.add_widget(Box(section["title"], colour=PRIMARY, bold=True))
            if section.get("key") == UPDATE_KEY:
                self.content.add_widget(self.update_rows)
                continue
            for label, value in section["rows"]:
                self.content.add_widget(status_row(str(label), str(value)))
        self._show_update()

    # -- the update --------------------------------------------------------------------------
    def _show_update(self) -> None:
        """The block under the title and the section's rows, from the view-model; polling
        the state file while an install is asked for or under way."""
        vm, block = self.vm.updates, self.update_block
        block.clear_widgets()
        if vm.offer_text:
            self.offer_text.text = vm.offer_text
            block.add_widget(self.offer_text)
        if vm.button:
            self.install_button.text = vm.button
            block.add_widget(self.install_button)
        if vm.note:
            self.update_note.text = vm.note
            block.add_widget(self.update_note)
        progress = vm.progress
        if progress:
            self.progress_text.text = progress["text"]
            self.progress_bar.max = progress["max"]
            self.progress_bar.value = progress["value"]
            block.add_widget(self.progress_text)
            block.add_widget(self.progress_bar)
        for box, text in ((self.update_message, vm.message), (self.update_error, vm.error)):
            if text:
                box.text = text
                block.add_widget(box)
        self.update_rows.clear_widgets()
        section = next((s for s in self.vm.sections if s.get("key") == UPDATE_KEY), None)
        for label, value in section["rows"] if section else ():
            self.update_rows.add_widget(status_row(str(label), str(value)))
        if vm.polling:
            self._start_polling()
        else:
            self._stop_polling()

    def ask_install(self) -> None:
        """The button: the question, over the page, before anything starts."""
        self._close_confirm()
        vm = self.vm.updates if self.vm else None
        if vm is None or not vm.ask():
            return
        q = vm.question
        self.confirm_panel = ConfirmPanel(
            q["text"], note=q["note"], cancel=q["cancel"], confirm=q["confirm"]
        )
        self.confirm_panel.bind(
            on_confirm=lambda *_: self.install(), on_dismiss=lambda *_: self._asked()
        )
        self.confirm_panel.open(animation=False)

    def _asked(self) -> None:
        if self.vm is not None:
            self.vm.updates.cancel()
        self.confirm_panel = None

    def install(self) -> None:
        if self.vm is None:
            return
        self.vm.updates.confirm()
        self.vm.reload_update()
        self._show_update()

    def poll_update(self) -> None:
        """The state file read again (root writes the install's percent into it)."""
        if self.vm is None:
            self._stop_polling()
            return
        self.vm.reload_update()
        self._show_update()

    def _start_polling(self) -> None:
        if self._poll is None:
            self._poll = Clock.schedule_interval(lambda _dt: self.poll_update(), UPDATE_POLL_S)

    def _stop_polling(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None

    def _close_confirm(self) -> None:
        if self.confirm_panel is not None:
            self.confirm_panel.dismiss(animation=False)
            self.confirm_panel = None
