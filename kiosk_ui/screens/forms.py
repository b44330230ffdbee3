"""Encounter form (one row per field; numbers on the NumPad; live feedback under the form)
and patient registration (with the duplicate warning)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.spinner import Spinner, SpinnerOption
from kivy.uix.textinput import TextInput

from appliance.web.i18n import N_
from appliance.web.labels import ENCOUNTER_TYPES
from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.viewmodels.encounter import EncounterVM
from kiosk_ui.viewmodels.register import RegisterVM
from kiosk_ui.widgets.keyboard import AzertyKeyboard
from kiosk_ui.widgets.pads import NumPad
from kiosk_ui.widgets.theme import (
    DANGER,
    OK,
    PRIMARY,
    ROW_H,
    SECONDARY,
    WHITE,
    BigButton,
    Box,
    Choice,
    Text,
    Title,
    severity_colour,
)

MAX_TOGGLES = 4  # more choices than this: a spinner


class BigOption(SpinnerOption):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.font_size = sp(20)
        self.height = ROW_H


def field_row(label: str, widget, errors: list[str], warnings: Sequence[str] = ()) -> GridLayout:
    """Label on the left, input on the right, its warnings then its errors in red under it."""
    row = GridLayout(cols=1, size_hint_y=None, spacing=dp(2))
    row.bind(minimum_height=row.setter("height"))
    line = BoxLayout(size_hint_y=None, height=ROW_H, spacing=dp(6))
    line.add_widget(Text(label, font_size=sp(19), bold=True, grow=False, size_hint_x=0.36))
    line.add_widget(widget)
    row.add_widget(line)
    for message in warnings:
        row.add_widget(Text(message, color=severity_colour("high"), font_size=sp(18)))
    for message in errors:
        row.add_widget(Text(message, color=DANGER, font_size=sp(18)))
    return row


class EncounterScreen(KioskScreen):
    screen_name = "encounter"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: EncounterVM | None = None
        self.patient_id: str | None = None
        self.kind = ""
        self.error: str | None = None
        self.inputs: dict[str, Any] = {}
        self.numpad: NumPad | None = None
        self.body.spacing = dp(4)
        self.title = Title("", font_size=sp(26))
        self.body.add_widget(self.title)
        self.form = column()
        self.body.add_widget(scrolling(self.form))
        self.live = column(spacing=dp(2))
        self.body.add_widget(self.live)
        bar = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(8))
        self.save_button = BigButton("", colour=OK)
        self.save_button.bind(on_release=lambda *_: self.save())
        self.cancel_button = BigButton("", colour=DANGER)
        self.cancel_button.bind(on_release=lambda *_: self.cancel())
        bar.add_widget(self.save_button)
        bar.add_widget(self.cancel_button)
        self.body.add_widget(bar)

    def enter(self, patient_id: str | None = None, kind: str | None = None, **kw: Any) -> None:
        if patient_id is not None and kind is not None:
            self.patient_id, self.kind = patient_id, kind
            self.vm = EncounterVM(self.state, patient_id, kind)
            draft = self.vm.draft  # a form left unfinished (auto-lock, home) comes back
            if draft:
                self.vm.restore(draft)
        self.error = None
        self.build_form()
        self.refresh()

    # -- the form ---------------------------------------------------------------------------
    def _value_text(self, field: dict) -> str:
        value = self.vm.values.get(field["name"], "")
        return str(value) if value not in (None, "") else "—"

    def build_form(self) -> None:
        t, vm = self.t, self.vm
        self.form.clear_widgets()
        self.inputs = {}
        errors = vm.errors or {}
        warnings = vm.warnings
        for field in vm.fields:
            name, kind = field["name"], field["widget"]
            value = vm.values.get(name)
            if kind in ("number", "decimal", "date"):
                w = BigButton(
                    self._value_text(field), colour=(1, 1, 1, 1), height=ROW_H, font_size=sp(24)
                )
                w.color = (0.05, 0.05, 0.05, 1)
                w.bind(on_release=lambda _b, f=field: self.open_numpad(f))
            elif kind == "checkbox":
                w = Choice(t("Oui") if value else t("Non"), state="down" if value else "normal")
                w.bind(on_release=lambda b, n=name: self._check(n, b))
            elif kind in ("select", "diagnosis", "checkboxes"):
                w = self._choices(field, value)
            else:
                w = TextInput(text=str(value or ""), font_size=sp(22), multiline=False)
                w.bind(text=lambda _w, text, n=name: self.change(n, text))
            self.inputs[name] = w
            self.form.add_widget(
                field_row(field["label"], w, errors.get(name, []), warnings.get(name, []))
            )

    def _choices(self, field: dict, value: Any):
        name, choices = field["name"], field.get("choices") or []
        many = field["widget"] == "checkboxes"
        if field["widget"] == "diagnosis" and isinstance(value, list):
            value = value[0].get("code") if value and isinstance(value[0], dict) else ""
        if not many and len(choices) > MAX_TOGGLES:
            labels = {label: v for v, label in choices}
            current = next((label for v, label in choices if v == value), "—")
            sp_ = Spinner(
                text=current,
                values=list(labels),
                option_cls=BigOption,
                font_size=sp(20),
                background_normal="",
                color=WHITE,
                background_color=SECONDARY,
                sync_height=True,
            )
            sp_.bind(text=lambda _s, label, n=name: self.change(n, labels.get(label, "")))
            return sp_
        box = BoxLayout(spacing=dp(4))
        selected = set(value) if many and isinstance(value, list) else {value}
        group = None if many else f"{name}-{id(self)}"
        for v, label in choices:
            c = Choice(
                label,
                group=group,
                state="down" if v in selected else "normal",
                allow_no_selection=True,
            )
            c.value = v
            c.bind(on_release=lambda _c, n=name, b=box, m=many: self._chosen(n, b, m))
            box.add_widget(c)
        return box

    def _chosen(self, name: str, box, many: bool) -> None:
        picked = [c.value for c in reversed(box.children) if c.state == "down"]
        self.change(name, picked if many else (picked[0] if picked else ""))

    def _check(self, name: str, button) -> None:
        on = button.state == "down"
        button.text = self.t("Oui") if on else self.t("Non")
        self.change(name, on)

    def open_numpad(self, field: dict) -> None:
        t = self.t
        value = self.vm.values.get(field["name"]) or ""
        mode = {"date": "date", "number": "number"}.get(field["widget"], "decimal")
        pad = NumPad(
            field["label"],
            str(value),
            mode=mode,
            ok_text=t("OK"),
            cancel_text=t("Annuler"),
            erase_text=t("Effacer"),
        )
        pad.bind(on_done=lambda _p, text, f=field: self._typed(f, text))
        self.numpad = pad
        pad.open()

    def _typed(self, field: dict, text: str) -> None:
        self.change(field["name"], text)
        self.inputs[field["name"]].text = self._value_text(field)

    def change(self, name: str, value: Any) -> None:
        self.vm.set(name, value)
        self.show_live()

    # -- feedback and buttons ---------------------------------------------------------------
    def show_live(self) -> None:
        self.live.clear_widgets()
        for item in self.vm.live:
            self.live.add_widget(
                Box(
                    item["text"],
                    colour=severity_colour(item["severity"]),
                    font_size=sp(20),
                    bold=True,
                )
            )
        for error in (self.vm.error, self.error):
            if error:
                self.live.add_widget(Box(error, colour=DANGER))

    @property
    def live_text(self) -> str:
        return "\n".join(item["text"] for item in self.vm.live) if self.vm else ""

    def save(self) -> None:
        try:
            ok = self.vm.save()
        except Exception as e:
            self.error = self.state.error_text(e)
            self.show_live()
            return
        if ok:
            self.kiosk.go("record", patient_id=self.patient_id)
        else:
            self.error = self.t("Corrigez les champs en rouge.")
            self.build_form()
            self.show_live()

    def cancel(self) -> None:
        self.vm.discard()
        self.kiosk.go("record", patient_id=self.patient_id)

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        kind = t(ENCOUNTER_TYPES.get(self.kind, self.kind))
        self.title.text = f"{kind} — {self.vm.title}" if self.vm.title else kind
        self.save_button.text = t("Enregistrer")
        self.cancel_button.text = t("Annuler")
        self.show_live()


REGISTER_FIELDS = (  # name, label msgid, input
    ("family_name", N_("Nom de famille"), "text"),
    ("given_names", N_("Prénoms"), "text"),
    ("sex", N_("Sexe"), "sex"),
    ("age_years", N_("Âge (années)"), "number"),
    ("age_months", N_("Âge (mois)"), "number"),
    ("birth_date", N_("Date de naissance"), "date"),
    ("village", N_("Village"), "text"),
    ("phone", N_("Téléphone"), "number"),
    ("sms_consent", N_("Accepte les rappels de rendez-vous par SMS"), "consent"),
    ("sms_language", N_("Langue des SMS"), "language"),
)
# (value, label msgid) of the SMS choices; none chosen is no consent, French
SMS_CHOICES = {
    "sms_consent": (("1", N_("Oui")), ("", N_("Non"))),
    "sms_language": (("fr", N_("français")), ("bm", N_("bambara"))),
}


class RegisterScreen(KioskScreen):
    screen_name = "register"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: RegisterVM | None = None
        self.values: dict[str, Any] = {}
        self.inputs: dict[str, Any] = {}
        self.body.spacing = dp(4)
        self.title = Title("", font_size=sp(26))
        self.body.add_widget(self.title)
        self.form = column()
        self.body.add_widget(scrolling(self.form))
        self.keyboard = AzertyKeyboard(height=dp(220))
        bar = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(8))
        self.save_button = BigButton("", colour=OK)
        self.save_button.bind(on_release=lambda *_: self.save())
        self.cancel_button = BigButton("", colour=DANGER)
        self.cancel_button.bind(on_release=lambda *_: self.kiosk.go("home"))
        bar.add_widget(self.save_button)
        bar.add_widget(self.cancel_button)
        self.bar = bar
        self.body.add_widget(bar)

    def enter(self, **kw: Any) -> None:
        self.vm = RegisterVM(self.state)
        self.values = {}
        self.refresh()

    def _keyboard_for(self, field: TextInput | None) -> None:
        if field is None:
            if self.keyboard.parent:
                self.body.remove_widget(self.keyboard)
            return
        self.keyboard.target = field
        if self.keyboard.parent is None:
            self.body.add_widget(self.keyboard, index=1)  # between the form and the buttons

    def set(self, name: str, value: Any) -> None:
        self.values[name] = value
        self.vm.set(name, value)

    def open_numpad(self, name: str, label: str, mode: str) -> None:
        t = self.t
        pad = NumPad(
            label,
            str(self.values.get(name, "")),
            mode=mode,
            ok_text=t("OK"),
            cancel_text=t("Annuler"),
            erase_text=t("Effacer"),
        )
        pad.bind(on_done=lambda _p, text: self._typed(name, text))
        pad.open()

    def _typed(self, name: str, text: str) -> None:
        self.set(name, text)
        self.inputs[name].text = text or "—"

    def save(self, accept_duplicates: bool = False) -> None:
        self._keyboard_for(None)
        try:
            new_id = self.vm.save(accept_duplicates=accept_duplicates)
        except Exception as e:
            self.vm.errors = {**(self.vm.errors or {}), "": [self.state.error_text(e)]}
            new_id = None
        if new_id:
            self.kiosk.go("record", patient_id=new_id)
        else:
            self.refresh()

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        self.title.text = t("Nouveau patient")
        self.save_button.text = t("Enregistrer")
        self.cancel_button.text = t("Annuler")
        self.form.clear_widgets()
        self.inputs = {}
        errors = self.vm.errors or {}
        for message in errors.get("", []):
            self.form.add_widget(Box(message, colour=DANGER))
        if self.vm.duplicates:
            self.form.add_widget(
                Box(t("Ce patient existe peut-être déjà :"), colour=severity_colour("high"))
            )
            for d in self.vm.duplicates:
                b = BigButton(f"{d['name']} — {d['detail']}", colour=PRIMARY, font_size=sp(19))
                b.bind(on_release=lambda _b, pid=d["id"]: self.kiosk.go("record", patient_id=pid))
                self.form.add_widget(b)
            anyway = BigButton(t("Enregistrer quand même"), colour=SECONDARY)
            anyway.bind(on_release=lambda *_: self.save(accept_duplicates=True))
            self.inputs["accept_duplicates"] = anyway
            self.form.add_widget(anyway)
        for name, msgid, kind in REGISTER_FIELDS:
            label, value = t(msgid), self.values.get(name, "")
            if kind == "text":
                w = TextInput(
                    text=str(value),
                    font_size=sp(22),
                    multiline=False,
                    keyboard_mode="managed",
                    padding=(dp(10), dp(12)),
                )
                w.bind(
                    text=lambda _w, text, n=name: self.set(n, text),
                    focus=lambda w_, on: self._keyboard_for(w_) if on else None,
                )
            elif kind == "sex":
                w = BoxLayout(spacing=dp(4))
                for code, text in (("F", t("Féminin")), ("M", t("Masculin"))):
                    c = Choice(
                        text, group="register-sex", state="down" if value == code else "normal"
                    )
                    c.bind(
                        on_release=lambda c_, code_=code: self.set(
                            "sex", code_ if c_.state == "down" else ""
                        )
                    )
                    w.add_widget(c)
            elif kind in ("consent", "language"):
                w = BoxLayout(spacing=dp(4))
                for code, msg in SMS_CHOICES[name]:
                    c = Choice(
                        t(msg),
                        group=f"register-{name}",
                        state="down" if value == code else "normal",
                    )
                    c.bind(
                        on_release=lambda c_, n=name, code_=code: self.set(
                            n, code_ if c_.state == "down" else ""
                        )
                    )
                    w.add_widget(c)
            else:
                w = BigButton(
                    str(value) or "—", colour=(1, 1, 1, 1), height=ROW_H, font_size=sp(22)
                )
                w.color = (0.05, 0.05, 0.05, 1)
                mode = "date" if kind == "date" else "number"
                w.bind(on_release=lambda _b, n=name, lab=label, m=mode: self.open_numpad(n, lab, m))
            self.inputs[name] = w
            self.form.add_widget(field_row(label, w, errors.get(name, [])))
