"""Encounter form and patient registration, laid out for the 7" 800x480 screen: short fields
two to a row, choices as wrapped grids of whole-word toggles, numbers on the NumPad, the live
feedback under the form only while there is some, a failed save scrolled to its first error.
Registration types on the on-screen keyboard, which keeps the field typed in above it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.dropdown import DropDown
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.spinner import Spinner, SpinnerOption
from kivy.uix.textinput import TextInput
from kivy.uix.widget import Widget

from appliance.web.i18n import N_
from appliance.web.labels import ENCOUNTER_TYPES
from kiosk_ui.screens.base import KioskScreen, column, keep_in_view, scrolling, window_rect
from kiosk_ui.viewmodels.encounter import EncounterVM
from kiosk_ui.viewmodels.register import RegisterVM
from kiosk_ui.widgets.keyboard import AzertyKeyboard
from kiosk_ui.widgets.pads import NumPad
from kiosk_ui.widgets.theme import (
    DANGER,
    OK,
    PAD,
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

MAX_TOGGLES = 12  # a single choice with more options than this: a spinner (24 diagnoses)
TWO_COLUMNS_W = dp(700)  # from this window width, short fields go two to a row
LABEL_SHARE = 0.36  # most of a full-width row a label beside its input may take
LABEL_FONT = sp(19)
CHOICE_FONT = sp(20)
CHOICE_MARGIN = dp(12)  # a toggle's text is wrapped 6 dp inside it; a little air
GAP = dp(6)
ALERTS_COUNT = N_("%(n)s alertes")
LIVE_SHARE = 0.3  # the live feedback never takes more of the screen's height than this


def text_width(text: str, font_size: float, bold: bool = False) -> float:
    return CoreLabel(font_size=font_size, bold=bold).get_extents(text)[0]


def two_line_width(text: str, font_size: float, bold: bool = False) -> float:
    """The narrowest width that shows `text` on at most two lines without breaking a word."""
    words = text.split()
    if len(words) < 2:
        return text_width(text, font_size, bold)
    return min(
        max(
            text_width(" ".join(words[:i]), font_size, bold),
            text_width(" ".join(words[i:]), font_size, bold),
        )
        for i in range(1, len(words))
    )


class BigOption(SpinnerOption):
    """A spinner's option: 20 sp, at least a row high, a long label wrapped inside it."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.font_size = sp(20)
        self.height = ROW_H
        self.halign, self.valign = "center", "middle"
        # flat, as the kiosk's other buttons (Kivy's grey image gave no known contrast)
        self.background_normal = self.background_down = ""
        self.background_color, self.color = SECONDARY, WHITE
        self.bind(
            width=lambda o, w: setattr(o, "text_size", (w - dp(8), None)),
            texture_size=lambda o, size: setattr(o, "height", max(ROW_H, size[1] + dp(12))),
        )


class BoundedDropDown(DropDown):
    """A spinner's list never taller than most of the window (it scrolls instead)."""

    def __init__(self, **kw):
        from kivy.core.window import Window

        super().__init__(**kw)
        self.max_height = Window.height * 0.7
        self.container.spacing = dp(2)  # flat options: a thin gap tells them apart


class ChoiceGrid(GridLayout):
    """The toggles of a choice field, wrapped into as many columns as its longest label
    allows: a label is never broken inside a word and, where there is room, takes at most
    two lines; a toggle grows with its text and is never under 56 dp high."""

    def __init__(self, choices, selected, *, group: str | None, on_pick, **kw):
        kw.setdefault("spacing", dp(4))
        super().__init__(cols=1, size_hint_y=None, **kw)
        self.bind(minimum_height=self.setter("height"))
        self.on_pick = on_pick
        self.last: Choice | None = None  # the toggle touched last
        self.toggles: list[Choice] = []
        widest = 0.0
        for value, label in choices:
            longest_word = max((text_width(w, CHOICE_FONT) for w in label.split()), default=0)
            widest = max(widest, longest_word, two_line_width(label, CHOICE_FONT))
            c = Choice(
                label,
                group=group,
                state="down" if value in selected else "normal",
                allow_no_selection=True,
                font_size=CHOICE_FONT,
            )
            c.value = value
            c.bind(texture_size=self._grow, on_release=self._released)
            self.toggles.append(c)
            self.add_widget(c)
        self.cell_w = widest + CHOICE_MARGIN
        self.bind(width=self._columns)

    def columns_for(self, width: float) -> int:
        """As many columns as fit, then as few as give the same number of rows (wider
        toggles, fewer wrapped labels, no lone toggle on the last row when avoidable)."""
        gap, n = self.spacing[0], len(self.toggles)
        fit = max(1, min(n, int((width + gap) // (self.cell_w + gap))))
        rows = -(-n // fit)
        return -(-n // rows)

    def _columns(self, *_):
        self.cols = self.columns_for(self.width)

    def _released(self, toggle) -> None:
        self.last = toggle
        self.on_pick(self.picked)

    @staticmethod
    def _grow(toggle, size):
        toggle.height = max(ROW_H, size[1] + dp(12))

    @property
    def picked(self) -> list:
        return [c.value for c in self.toggles if c.state == "down"]


class FieldRow(GridLayout):
    """One field: its label on the left (or above a wide grid of choices), its input, then
    its warnings and its errors under it. `compact` rows may share a line with another."""

    def __init__(
        self,
        name: str,
        label: str,
        widget,
        errors: Sequence[str] = (),
        warnings: Sequence[str] = (),
        *,
        compact: bool = True,
        label_above: bool = False,
    ):
        super().__init__(cols=1, size_hint_y=None, spacing=dp(2))
        self.bind(minimum_height=self.setter("height"))
        self.name, self.widget, self.compact = name, widget, compact
        self.errors = list(errors)
        self.label = Text(label, font_size=LABEL_FONT, bold=True, grow=label_above)
        self.line = None
        if label_above:
            self.add_widget(self.label)
        else:
            self.label.size_hint_x = LABEL_SHARE  # until arrange() gives the form's width
            self.line = BoxLayout(size_hint_y=None, height=ROW_H, spacing=GAP)
            self.line.add_widget(self.label)
            self.line.add_widget(widget)
            self.label.bind(texture_size=self._fit)
            if widget.size_hint_y is None:
                widget.bind(height=self._fit)
                widget.pos_hint = {"top": 1}
            self.add_widget(self.line)
        for message in warnings:
            self.add_widget(Text(message, color=severity_colour("high"), font_size=sp(18)))
        for message in errors:
            self.add_widget(Text(message, color=DANGER, font_size=sp(18)))
        if label_above:  # a tall grid: its label and errors above it, seen together
            self.add_widget(widget)

    def set_label_width(self, width: float) -> None:
        if self.line is not None:
            self.label.size_hint_x = None
            self.label.width = width

    def _fit(self, *_):
        need = [ROW_H, self.label.texture_size[1] + dp(8)]
        if self.widget.size_hint_y is None:
            need.append(self.widget.height)
        self.line.height = max(need)


def two_columns() -> bool:
    from kivy.core.window import Window

    return Window.width >= TWO_COLUMNS_W


def form_width() -> float:
    from kivy.core.window import Window

    return Window.width - 2 * PAD


def label_width(rows: Sequence[FieldRow], room: float, most: float) -> float:
    """One label width for `rows` (labels aligned): the widest label on one line if it takes
    at most `most` of `room`, else on two lines without breaking a word."""
    one_line = max((text_width(r.label.text, LABEL_FONT, True) for r in rows), default=0)
    if one_line + dp(14) <= room * most:
        return one_line + dp(14)
    need = max((two_line_width(r.label.text, LABEL_FONT, True) for r in rows), default=0)
    return min(need + dp(14), room * most)


def arrange(form: GridLayout, rows: Sequence[FieldRow]) -> list[FieldRow]:
    """Put the rows in `form`: on a wide enough window the compact ones two to a line, the
    wide ones (grids of choices, long labels) each on its own, in the fields' order as far
    as pairing allows. Labels beside their input share one width per kind of row. Returns the
    rows as shown, top first."""
    form.clear_widgets()
    width = form_width() - form.padding[0] - form.padding[2]
    if not two_columns():
        beside = [r for r in rows if r.line is not None]
        w = label_width(beside, width, 0.45)
        for row in rows:
            row.set_label_width(w)
            form.add_widget(row)
        return list(rows)
    half = (width - dp(12)) / 2
    for r in rows:  # a label too long for half a line: the row gets a whole line
        if r.compact and two_line_width(r.label.text, LABEL_FONT, True) + dp(14) > half * 0.5:
            r.compact = False
    half_w = label_width([r for r in rows if r.compact], half, 0.5)
    for r in rows:  # a grid that no longer fits on one line beside the shared label width
        if r.compact and isinstance(r.widget, ChoiceGrid):
            r.compact = r.widget.columns_for(half - half_w - GAP) == len(r.widget.toggles)
    half_w = label_width([r for r in rows if r.compact], half, 0.5)
    beside = [r for r in rows if not r.compact and r.line is not None]
    wide_w = label_width(beside, width, LABEL_SHARE)
    # In their order, compact rows two to a line; a wide row met while a line has one
    # compact row waits until the next compact row completes that line.
    lines: list = []
    open_pair: list[FieldRow] | None = None
    held: list[FieldRow] = []
    for row in rows:
        if row.compact and open_pair is None:
            open_pair = [row]
            lines.append(open_pair)
        elif row.compact:
            open_pair.append(row)
            open_pair = None
            lines += held
            held = []
        elif open_pair is None:
            lines.append(row)
        else:
            held.append(row)
    lines += held
    shown: list[FieldRow] = []
    for line in lines:
        if isinstance(line, FieldRow):
            line.set_label_width(wide_w)
            form.add_widget(line)
            shown.append(line)
            continue
        pair = BoxLayout(size_hint_y=None, spacing=dp(12))
        for row in line:
            row.set_label_width(half_w)
            row.pos_hint = {"top": 1}
            pair.add_widget(row)
        if len(line) == 1:
            pair.add_widget(Widget(size_hint_y=None, height=0))

        def fit(*_, pair=pair, halves=line):
            pair.height = max(r.height for r in halves)

        for row in line:
            row.bind(height=fit)
        fit()
        form.add_widget(pair)
        shown += line
    return shown


def choice_row(
    name: str,
    label: str,
    grid: ChoiceGrid,
    errors: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> FieldRow:
    """A grid of choices: compact when it fits beside its label in half a row; beside its
    label when it fits on one line there; else its label above it, the grid full width."""
    width = form_width() - dp(14)  # the form's right padding
    half = (width - dp(12)) / 2 if two_columns() else width
    beside_half = half - two_line_width(label, LABEL_FONT, True) - dp(14) - GAP
    if two_columns() and grid.columns_for(beside_half) == len(grid.toggles):
        return FieldRow(name, label, grid, errors, warnings)
    beside = width * (1 - LABEL_SHARE) - GAP
    if grid.columns_for(beside) == len(grid.toggles):
        return FieldRow(name, label, grid, errors, warnings, compact=False)
    return FieldRow(name, label, grid, errors, warnings, compact=False, label_above=True)


def first_in_error(rows: Sequence[FieldRow]) -> FieldRow | None:
    return next((r for r in rows if r.errors), None)


class EncounterScreen(KioskScreen):
    screen_name = "encounter"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: EncounterVM | None = None
        self.patient_id: str | None = None
        self.kind = ""
        self.error: str | None = None
        self.inputs: dict[str, Any] = {}
        self.rows: list[FieldRow] = []  # as shown, top first
        self.numpad: NumPad | None = None
        self.body.spacing = dp(4)
        self.title = Title("", font_size=sp(26))
        self.body.add_widget(self.title)
        self.form = column(padding=(0, 0, dp(14), 0))  # clear of the scroll bar
        self.scroll = scrolling(self.form)
        self.body.add_widget(self.scroll)
        # The live feedback: in the body only while there is some, as tall as its text (up
        # to LIVE_SHARE of the body, then it scrolls).
        self.live = column(spacing=dp(2))
        # Its scroll bar stays drawn: with four alerts at 800x480 only two are in sight, and
        # a bar that fades away hides that the others are there.
        self.live_view = ScrollView(
            do_scroll_x=False,
            size_hint_y=None,
            height=0,
            always_overscroll=False,
            bar_width=dp(10),
            bar_color=(0.25, 0.25, 0.25, 1),
            bar_inactive_color=(0.25, 0.25, 0.25, 1),
        )
        self.live_view.add_widget(self.live)
        self.live.bind(height=self._fit_live)
        self.body.bind(height=self._fit_live)
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
        self.scroll.scroll_y = 1
        self.refresh()

    # -- the form ---------------------------------------------------------------------------
    def _value_text(self, field: dict) -> str:
        value = self.vm.values.get(field["name"], "")
        return str(value) if value not in (None, "") else "—"

    def build_form(self) -> None:
        t, vm = self.t, self.vm
        self.inputs = {}
        errors = vm.errors or {}
        warnings = vm.warnings
        rows = []
        for field in vm.fields:
            name, kind = field["name"], field["widget"]
            value = vm.values.get(name)
            field_errors, field_warnings = errors.get(name, []), warnings.get(name, [])
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
                if isinstance(w, ChoiceGrid):
                    self.inputs[name] = w
                    rows.append(choice_row(name, field["label"], w, field_errors, field_warnings))
                    continue
            else:
                w = TextInput(text=str(value or ""), font_size=sp(22), multiline=False)
                w.bind(text=lambda _w, text, n=name: self.change(n, text))
            self.inputs[name] = w
            rows.append(FieldRow(name, field["label"], w, field_errors, field_warnings))
        self.rows = arrange(self.form, rows)

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
                dropdown_cls=BoundedDropDown,
                font_size=sp(20),
                background_normal="",
                color=WHITE,
                background_color=SECONDARY,
                sync_height=True,
                size_hint_y=None,
                height=ROW_H,
                halign="center",
                valign="middle",
            )
            sp_.bind(
                text=lambda _s, label, n=name: self.change(n, labels.get(label, "")),
                width=lambda s, w: setattr(s, "text_size", (w - dp(8), None)),
            )
            return sp_
        selected = set(value) if many and isinstance(value, list) else {value}
        grid = ChoiceGrid(
            choices,
            selected,
            group=None if many else f"{name}-{id(self)}",
            on_pick=lambda picked: None,
        )

        def picked(values: list) -> None:
            self.change(name, values if many else (values[0] if values else ""))
            if grid.last is not None:  # the live feedback may just have taken some height
                keep_in_view(self.scroll, grid.last)

        grid.on_pick = picked
        return grid

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
        row = next((r for r in self.rows if r.name == field["name"]), None)
        if row is not None:  # the live feedback may just have taken some of the height
            keep_in_view(self.scroll, row)

    def change(self, name: str, value: Any) -> None:
        self.vm.set(name, value)
        self.show_live()

    # -- feedback and buttons ---------------------------------------------------------------
    def _fit_live(self, *_):
        self.live_view.height = min(self.live.height, self.body.height * LIVE_SHARE)
        self.live_view.scroll_y = 1

    def show_live(self) -> None:
        self.live.clear_widgets()
        for error in dict.fromkeys([self.error or "", *self.vm.stopping()]):  # stops saving
            if error:
                self.live.add_widget(Box(error, colour=DANGER))
        alerts = [i for i in self.vm.live if i["severity"] not in ("info", "ok", "normal")]
        if len(alerts) > 1:  # how many there are, above them: some may be below the fold
            self.live.add_widget(Text(self.t(ALERTS_COUNT) % {"n": len(alerts)}, bold=True))
        for item in self.vm.live:
            self.live.add_widget(
                Box(
                    item["text"],
                    colour=severity_colour(item["severity"]),
                    font_size=sp(20),
                    bold=True,
                )
            )
        shown = self.live_view.parent is not None
        if self.live.children and not shown:
            self.body.add_widget(self.live_view, index=1)  # between the form and the buttons
        elif not self.live.children and shown:
            self.body.remove_widget(self.live_view)

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
            # "the fields in red" only when a field is red: a full disk is its own message
            self.error = self.t("Corrigez les champs en rouge.") if self.vm.fields_in_error else ""
            self.build_form()
            self.show_live()
            self.show_first_error()

    def show_first_error(self) -> None:
        row = first_in_error(self.rows)
        if row is not None:
            keep_in_view(self.scroll, row)

    def cancel(self) -> None:
        self.vm.discard()
        self.kiosk.go("record", patient_id=self.patient_id)

    def on_leave(self, *_args) -> None:
        """Left: the form's widgets go (every change is already in the draft, and entering
        builds them again); the small view-model stays for whoever reads what was saved."""
        if self.manager is not None and self.manager.current == self.name:
            return  # entered again before the (deferred) leave arrived
        if self.numpad is not None:
            self.numpad.dismiss()
            self.numpad = None
        self.form.clear_widgets()
        self.show_nothing()
        self.rows, self.inputs = [], {}

    def show_nothing(self) -> None:
        self.live.clear_widgets()
        if self.live_view.parent is not None:
            self.body.remove_widget(self.live_view)

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        kind = t(ENCOUNTER_TYPES.get(self.kind, self.kind))
        self.title.text = f"{kind} — {self.vm.title}" if self.vm.title else kind
        self.save_button.text = t("Enregistrer")
        self.cancel_button.text = t("Annuler")
        self.vm.relabel()  # the live hints in the language now shown
        self.build_form()
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


TEXT_FIELDS = tuple(name for name, _msgid, kind in REGISTER_FIELDS if kind == "text")
TAP_SLOP = dp(20)  # a touch moving less than this is a tap, not a scroll
HIDE_AFTER_S = 0.25  # after the scroll view's own delayed touch-up (0.2 s) has run


class RegisterScreen(KioskScreen):
    """Registration. While a text field is typed in, the keyboard takes the place of the
    title and the buttons, and the field is kept in view above it; ⏎ goes to the next text
    field and saves on the last; the keyboard's hide key, or a tap anywhere but on a text
    field or the keyboard, puts the keyboard away."""

    screen_name = "register"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: RegisterVM | None = None
        self.values: dict[str, Any] = {}
        self.inputs: dict[str, Any] = {}
        self.rows: list[FieldRow] = []  # as shown, top first
        self.numpad: NumPad | None = None
        self._shown = 0  # times the keyboard was given a field
        self.body.spacing = dp(4)
        self.title = Title("", font_size=sp(26))
        self.body.add_widget(self.title)
        self.form = column(padding=(0, 0, dp(14), 0))  # clear of the scroll bar
        self.scroll = scrolling(self.form)
        self.body.add_widget(self.scroll)
        self.keyboard = AzertyKeyboard()
        self.keyboard.bind(
            on_enter=lambda *_: self.enter_pressed(), on_hide=lambda *_: self.hide_keyboard()
        )
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
        self.hide_keyboard()
        self.scroll.scroll_y = 1
        self.refresh()

    # -- the keyboard -----------------------------------------------------------------------
    @property
    def keyboard_shown(self) -> bool:
        return self.keyboard.parent is not None

    def show_keyboard(self, field: TextInput) -> None:
        """Type into `field`: the keyboard replaces the title and the buttons (the form keeps
        the rest of the height), the field's row scrolled into view above it."""
        self._shown += 1  # a hide scheduled before this showing is stale
        before = self.keyboard.target
        if before is not None and before is not field and before.focus:
            before.focus = False  # one field typed in, one cursor
        self.keyboard.target = field
        if self.keyboard.parent is None:
            for w in (self.title, self.bar):
                if w.parent is not None:
                    self.body.remove_widget(w)
            self.body.add_widget(self.keyboard)
        row = next((r for r in self.rows if r.widget is field), None)
        if row is not None:
            keep_in_view(self.scroll, row)

    def hide_keyboard(self) -> None:
        target = self.keyboard.target
        self.keyboard.target = None
        if target is not None and target.focus:
            target.focus = False
        if self.keyboard.parent is not None:
            self.body.remove_widget(self.keyboard)
        if self.title.parent is None:
            self.body.add_widget(self.title, index=len(self.body.children))
        if self.bar.parent is None:
            self.body.add_widget(self.bar)

    def _focused(self, field: TextInput, on: bool) -> None:
        if on:
            self.show_keyboard(field)

    def enter_pressed(self) -> None:
        """⏎: the next text field; after the last one, the first needed field the keyboard
        does not fill (sex, age) if one is empty, else saving."""
        names = [n for n in TEXT_FIELDS if n in self.inputs]
        current = next((n for n in names if self.inputs[n] is self.keyboard.target), None)
        if current is None or current == names[-1]:
            self.hide_keyboard()
            missing = self.vm.first_unfilled()
            row = next((r for r in self.rows if r.name == missing), None)
            if row is not None:
                keep_in_view(self.scroll, row)
            else:
                self.save()
            return
        following = self.inputs[names[names.index(current) + 1]]
        self.inputs[current].focus = False
        following.focus = True

    def _on_text_field(self, wx: float, wy: float) -> bool:
        for name in TEXT_FIELDS:
            field = self.inputs.get(name)
            if field is not None and field.parent is not None:
                x, y, right, top = window_rect(field)
                if x <= wx <= right and y <= wy <= top:
                    return True
        return False

    def on_touch_down(self, touch):
        if self.keyboard_shown and self.parent is not None:
            wx, wy = self.parent.to_window(*touch.pos)
            x, y, right, top = window_rect(self.keyboard)
            on_keyboard = x <= wx <= right and y <= wy <= top
            if not on_keyboard and not self._on_text_field(wx, wy):
                touch.ud["register-outside"] = True
        return super().on_touch_down(touch)

    def on_touch_up(self, touch):
        handled = super().on_touch_up(touch)
        if touch.ud.pop("register-outside", False):
            moved = ((touch.x - touch.ox) ** 2 + (touch.y - touch.oy) ** 2) ** 0.5
            if moved < TAP_SLOP:  # a tap, not a scroll of the form
                # Later, so the widget tapped (inside the scroll view, whose touch-up comes
                # 0.2 s late) is released before the layout moves.
                shown = self._shown
                Clock.schedule_once(lambda _dt: self._hide_unless_shown_since(shown), HIDE_AFTER_S)
        return handled

    def on_leave(self, *_args) -> None:
        """Left: the keyboard away, the form's widgets released (entering starts a new
        registration; the view-model stays for whoever reads what was saved)."""
        if self.manager is not None and self.manager.current == self.name:
            return  # entered again before the (deferred) leave arrived
        self.hide_keyboard()
        if self.numpad is not None:
            self.numpad.dismiss()
            self.numpad = None
        self.form.clear_widgets()
        self.rows, self.inputs = [], {}

    def _hide_unless_shown_since(self, shown: int) -> None:
        if self._shown == shown:  # no text field touched meanwhile
            self.hide_keyboard()

    # -- values -----------------------------------------------------------------------------
    def set(self, name: str, value: Any) -> None:
        self.values[name] = value
        self.vm.set(name, value)

    def open_numpad(self, name: str, label: str, mode: str) -> None:
        t = self.t
        self.hide_keyboard()
        pad = NumPad(
            label,
            str(self.values.get(name, "")),
            mode=mode,
            ok_text=t("OK"),
            cancel_text=t("Annuler"),
            erase_text=t("Effacer"),
        )
        pad.bind(on_done=lambda _p, text: self._typed(name, text))
        self.numpad = pad
        pad.open()

    def _typed(self, name: str, text: str) -> None:
        self.set(name, text)
        self.inputs[name].text = text or "—"

    def save(self, accept_duplicates: bool = False) -> None:
        self.hide_keyboard()
        try:
            new_id = self.vm.save(accept_duplicates=accept_duplicates)
        except Exception as e:
            self.vm.errors = {**(self.vm.errors or {}), "": [self.state.error_text(e)]}
            new_id = None
        if new_id:
            self.kiosk.go("record", patient_id=new_id)
        else:
            self.refresh()
            self.show_first_error()

    def show_first_error(self) -> None:
        """The duplicates or a general error at the top, else the first field in error."""
        if self.vm.duplicates or (self.vm.errors or {}).get(""):
            self.scroll.scroll_y = 1
            return
        row = first_in_error(self.rows)
        if row is not None:
            keep_in_view(self.scroll, row)

    # -- the form ---------------------------------------------------------------------------
    def _toggles(self, name: str, choices, value: str) -> ChoiceGrid:
        return ChoiceGrid(
            choices,
            {value},
            group=f"register-{name}-{id(self)}",
            on_pick=lambda picked, n=name: self.set(n, picked[0] if picked else ""),
        )

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        self.title.text = t("Nouveau patient")
        self.save_button.text = t("Enregistrer")
        self.cancel_button.text = t("Annuler")
        self.hide_keyboard()
        self.inputs = {}
        errors = self.vm.errors or {}
        top = []
        for message in errors.get("", []):
            top.append(Box(message, colour=DANGER))
        if self.vm.duplicates:
            top.append(Box(t("Ce patient existe peut-être déjà :"), colour=severity_colour("high")))
            for d in self.vm.duplicates:
                b = BigButton(f"{d['name']} — {d['detail']}", colour=PRIMARY, font_size=sp(19))
                b.bind(
                    texture_size=lambda b_, size: setattr(b_, "height", max(ROW_H, size[1] + 12))
                )
                b.bind(on_release=lambda _b, pid=d["id"]: self.kiosk.go("record", patient_id=pid))
                top.append(b)
            anyway = BigButton(t("Enregistrer quand même"), colour=SECONDARY)
            anyway.bind(on_release=lambda *_: self.save(accept_duplicates=True))
            self.inputs["accept_duplicates"] = anyway
            top.append(anyway)
        rows = []
        for name, msgid, kind in REGISTER_FIELDS:
            label, value = t(msgid), self.values.get(name, "")
            field_errors = errors.get(name, [])
            if kind == "text":
                w = TextInput(
                    text=str(value),
                    font_size=sp(22),
                    multiline=False,
                    keyboard_mode="managed",
                    padding=(dp(10), dp(12)),
                    size_hint_y=None,
                    height=ROW_H,
                )
                w.bind(text=lambda _w, text, n=name: self.set(n, text), focus=self._focused)
            elif kind in ("sex", "consent", "language"):
                choices = (
                    (("F", t("Féminin")), ("M", t("Masculin")))
                    if kind == "sex"
                    else tuple((code, t(msg)) for code, msg in SMS_CHOICES[name])
                )
                w = self._toggles(name, choices, value)
                self.inputs[name] = w
                rows.append(choice_row(name, label, w, field_errors))
                continue
            else:
                w = BigButton(
                    str(value) or "—", colour=(1, 1, 1, 1), height=ROW_H, font_size=sp(22)
                )
                w.color = (0.05, 0.05, 0.05, 1)
                mode = "date" if kind == "date" else "number"
                w.bind(on_release=lambda _b, n=name, lab=label, m=mode: self.open_numpad(n, lab, m))
            self.inputs[name] = w
            rows.append(FieldRow(name, label, w, field_errors))
        self.rows = arrange(self.form, rows)
        for i, widget in enumerate(top):  # above the fields
            self.form.add_widget(widget, index=len(self.form.children) - i)
