"""The due list (who to see again) and the technician's status page."""

from __future__ import annotations

import io
from typing import Any

from kivy.core.image import Image as CoreImage
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.image import Image

from appliance.web.i18n import N_
from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.viewmodels.due import DueVM
from kiosk_ui.viewmodels.status import StatusVM
from kiosk_ui.widgets.theme import (
    DANGER,
    MUTED,
    PRIMARY,
    SECONDARY,
    SELECTED,
    BigButton,
    Box,
    Text,
    Title,
)

PERIODS = ((0, N_("Aujourd'hui")), (7, N_("7 jours")), (30, N_("30 jours")))


class DueScreen(KioskScreen):
    screen_name = "due"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: DueVM | None = None
        self.days = 0
        self.error: str | None = None
        self.loading = False
        self.body.spacing = dp(4)
        self.periods = BoxLayout(size_hint_y=None, height=dp(56), spacing=dp(6))
        self.body.add_widget(self.periods)
        self.items = column()
        self.body.add_widget(scrolling(self.items))

    def enter(self, **kw: Any) -> None:
        self.vm = DueVM(self.state)
        self.load(self.days)

    def load(self, days: int) -> None:
        """A pass over every record: off the UI thread, with a word while it runs."""
        self.days, self.error = days, None
        vm = self.vm
        self.load_in_background(lambda: vm.load(days=days))

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        self.periods.clear_widgets()
        self.periods.add_widget(Title(t("À revoir"), font_size=sp(26), grow=False))
        for days, msgid in PERIODS:
            b = BigButton(
                t(msgid),
                colour=SELECTED if days == self.days else SECONDARY,
                height=dp(56),
                font_size=sp(20),
                size_hint_x=0.5,
            )
            b.bind(on_release=lambda _b, d=days: self.load(d))
            self.periods.add_widget(b)
        self.items.clear_widgets()
        if self.error:
            self.items.add_widget(Box(self.error, colour=DANGER))
        if self.loading:
            self.items.add_widget(Text(t("Calcul de la liste en cours…"), color=MUTED))
            return
        if not self.vm.items and not self.error:
            self.items.add_widget(Text(t("Personne à revoir."), color=MUTED))
        if self.vm.total > len(self.vm.items):
            self.items.add_widget(
                Text(
                    t("%(n)s personnes : les %(shown)s premières sont affichées.")
                    % {"n": self.vm.total, "shown": len(self.vm.items)},
                    color=MUTED,
                )
            )
        for item in self.vm.items:
            b = BigButton(
                f"{item['name']} — {item['reason']}\n{item['due_date']} · "
                f"{item['status_label']} · {item.get('village') or ''} "
                f"{item.get('phone') or ''}",
                colour=DANGER if item["status"] == "overdue" else PRIMARY,
                height=dp(72),
                font_size=sp(19),
            )
            b.halign = "left"
            b.bind(
                on_release=lambda _b, pid=item["patient_id"]: self.kiosk.go(
                    "record", patient_id=pid
                )
            )
            self.items.add_widget(b)


class StatusScreen(KioskScreen):
    screen_name = "status"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: StatusVM | None = None
        self.error: str | None = None
        self.content = column()
        self.body.add_widget(scrolling(self.content))

    def enter(self, **kw: Any) -> None:
        self.vm = StatusVM(self.state)
        self.error = None
        try:
            self.vm.load()
        except Exception as e:
            self.error = self.state.error_text(e)
        self.refresh()

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        self.content.clear_widgets()
        self.content.add_widget(Title(t("État de l'appareil")))
        if self.error:
            self.content.add_widget(Box(self.error, colour=DANGER))
            return
        if self.vm.join_png:
            # The hotspot's join QR code: a tablet's camera joins the Wi-Fi from it.
            texture = CoreImage(io.BytesIO(self.vm.join_png), ext="png").texture
            self.content.add_widget(
                Image(texture=texture, size_hint_y=None, height=dp(220), fit_mode="contain")
            )
            self.content.add_widget(Box(self.vm.join_text, colour=PRIMARY))
        for section in self.vm.sections:
            self.content.add_widget(Box(section["title"], colour=PRIMARY, bold=True))
            for label, value in section["rows"]:
                row = GridLayout(cols=2, size_hint_y=None, height=dp(40))
                row.add_widget(Text(str(label), color=MUTED, grow=False))
                shown = Text(str(value), bold=True, grow=False)
                # a long value (a sensor fault's detail) wraps: the row grows with it
                shown.bind(
                    texture_size=lambda w, size, r=row: setattr(
                        r, "height", max(dp(40), size[1] + dp(8))
                    )
                )
                row.add_widget(shown)
                self.content.add_widget(row)
