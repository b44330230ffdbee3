"""Referral on the 800x480 touchscreen: the form as wrapped grids of toggles (urgency, reason,
receiving centre, transport, SMS consent) under the patient's name and today's vital signs,
the save button always in reach on the right; and the list of referrals awaiting return."""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from appliance.web.i18n import N_
from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.screens.forms import ChoiceGrid
from kiosk_ui.viewmodels.referral import CONSENT, FIELD_NAMES, ReferralsVM, ReferralVM
from kiosk_ui.widgets.due_row import grow_to_text
from kiosk_ui.widgets.theme import DANGER, MUTED, OK, SECONDARY, BigButton, Box, Text, Title

TITLE = N_("Référer au CSRéf")
SAVE = N_("Enregistrer la référence")
BACK = N_("Retour au dossier")
WAITING_TITLE = N_("En attente de contre-référence")
NONE_WAITING = N_("Aucune référence en attente.")
RETURN_ON_TABLET = N_("La contre-référence se saisit sur une tablette : Références.")


class ReferralScreen(KioskScreen):
    screen_name = "referral"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: ReferralVM | None = None
        self.body.orientation = "horizontal"
        self.content = column(spacing=dp(6), padding=(0, 0, dp(14), 0))
        self.scroll = scrolling(self.content)
        self.body.add_widget(self.scroll)
        self.side = GridLayout(cols=1, spacing=dp(8), size_hint_x=0.28)
        self.body.add_widget(self.side)
        self.grids: dict[str, ChoiceGrid] = {}
        self.save_button: BigButton | None = None
        self.back_button: BigButton | None = None

    def enter(self, patient_id: str | None = None, **kw: Any) -> None:
        if patient_id is not None:
            self.vm = ReferralVM(self.state, patient_id)
            self.vm.open()
            self.scroll.scroll_y = 1
        self.refresh()

    def refresh(self) -> None:
        vm, t = self.vm, self.t
        if vm is None:
            return
        self.content.clear_widgets()
        self.side.clear_widgets()
        self.grids = {}
        self.content.add_widget(Title(t(TITLE)))
        if vm.name:
            self.content.add_widget(Text(vm.name, color=MUTED))
        for error in vm.errors:
            self.content.add_widget(Box(error, colour=DANGER))
        if vm.saved is not None:
            for line in vm.result_lines:
                self.content.add_widget(Text(line, font_size=sp(20)))
        elif vm.rules is not None and vm.rules.receiving:
            self.content.add_widget(Text(vm.vitals_text, color=MUTED, font_size=sp(18)))
            for name in ("urgency", "reason", "to_facility", "transport"):
                self.content.add_widget(Text(t(FIELD_NAMES[name]), bold=True, font_size=sp(19)))
                grid = ChoiceGrid(
                    vm.choices(name),
                    [vm.values.get(name)],
                    group=f"referral-{name}",
                    on_pick=lambda picked, n=name: vm.set(n, picked[0] if picked else None),
                )
                self.grids[name] = grid
                self.content.add_widget(grid)
            consent = ChoiceGrid(
                [(True, t(CONSENT))],
                [True] if vm.values.get("sms_consent") else [],
                group=None,
                on_pick=lambda picked: vm.set("sms_consent", bool(picked)),
            )
            self.grids["sms_consent"] = consent
            self.content.add_widget(consent)
            self.save_button = BigButton(t(SAVE), colour=OK, font_size=sp(20))
            grow_to_text(self.save_button, self.save_button.height)
            self.save_button.bind(on_release=lambda *_: self.save())
            self.side.add_widget(self.save_button)
        self.back_button = BigButton(t(BACK), colour=SECONDARY, font_size=sp(20))
        grow_to_text(self.back_button, self.back_button.height)
        self.back_button.bind(
            on_release=lambda *_: self.kiosk.go("record", patient_id=vm.patient_id)
        )
        self.side.add_widget(self.back_button)
        self.side.add_widget(BoxLayout())

    def save(self) -> None:
        if self.vm is not None:
            self.vm.save()
            self.scroll.scroll_y = 1  # the result, or the error, is at the top
            self.refresh()


class ReferralsScreen(KioskScreen):
    screen_name = "referrals"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: ReferralsVM | None = None
        self.rows = column(spacing=dp(6))
        self.body.add_widget(scrolling(self.rows))
        self.row_buttons: list[BigButton] = []

    def enter(self, **kw: Any) -> None:
        self.vm = ReferralsVM(self.state)
        self.vm.load()
        self.refresh()

    def refresh(self) -> None:
        vm, t = self.vm, self.t
        if vm is None:
            return
        self.rows.clear_widgets()
        self.row_buttons = []
        self.rows.add_widget(Title(t(WAITING_TITLE)))
        if vm.error:
            self.rows.add_widget(Box(vm.error, colour=DANGER))
        for row in vm.rows:
            b = BigButton(
                row["text"], colour=DANGER if row["late"] else SECONDARY, font_size=sp(19)
            )
            b.halign = "left"
            grow_to_text(b, dp(60))
            b.bind(
                on_release=lambda _b, pid=row["patient_id"]: self.kiosk.go("record", patient_id=pid)
            )
            self.row_buttons.append(b)
            self.rows.add_widget(b)
        if not vm.rows and not vm.error:
            self.rows.add_widget(Text(t(NONE_WAITING), color=MUTED))
        self.rows.add_widget(Text(t(RETURN_ON_TABLET), color=MUTED, font_size=sp(17)))
