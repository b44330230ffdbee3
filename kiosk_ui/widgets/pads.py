"""PinPad (staff PIN) and NumPad (measurements with a decimal comma, dates JJ/MM/AAAA)."""

from __future__ import annotations

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView

from kiosk_ui.widgets.theme import (
    BG,
    DANGER,
    HUGE,
    OK,
    PRIMARY,
    SECONDARY,
    TEXT,
    WHITE,
    BigButton,
    Text,
    paint,
    repaint,
)

KEY_H = dp(64)
PAD_KEY_H = dp(72)  # NumPad: the tallest keys that keep it, title and value within 480 px
DOTS_FONT = "data/fonts/DejaVuSans.ttf"  # has ● (Roboto has not)
SELECTED_VALUE = (0.78, 0.87, 1.0, 1)  # like selected text: the first key replaces it


class PinPad(GridLayout):
    """Digits 1-9, 0, a backspace and OK; every key is 64 dp high. Events: on_digit(d),
    on_backspace(), on_ok(). `labels` gives the translated texts of the two word keys."""

    __events__ = ("on_digit", "on_backspace", "on_ok")

    def __init__(self, erase_text: str = "Effacer", ok_text: str = "OK", **kw):
        kw.setdefault("cols", 3)
        kw.setdefault("spacing", dp(6))
        kw.setdefault("size_hint_y", None)
        super().__init__(**kw)
        self.height = 4 * KEY_H + 3 * dp(6)
        self.keys: dict[str, BigButton] = {}
        for d in "123456789":
            self._add(d, d, PRIMARY)
        self.erase = self._add("erase", erase_text, SECONDARY)
        self._add("0", "0", PRIMARY)
        self.ok = self._add("ok", ok_text, OK)

    def _add(self, key: str, text: str, colour) -> BigButton:
        size = sp(30) if key.isdigit() else sp(22)
        b = BigButton(text, colour=colour, height=KEY_H, font_size=size)
        b.bind(on_release=lambda *_: self._press(key))
        self.keys[key] = b
        self.add_widget(b)
        return b

    def set_texts(self, erase_text: str, ok_text: str) -> None:
        self.erase.text, self.ok.text = erase_text, ok_text

    def _press(self, key: str) -> None:
        if key == "erase":
            self.dispatch("on_backspace")
        elif key == "ok":
            self.dispatch("on_ok")
        else:
            self.dispatch("on_digit", key)

    def on_digit(self, digit: str) -> None:
        pass

    def on_backspace(self) -> None:
        pass

    def on_ok(self) -> None:
        pass


class NumPad(ModalView):
    """A number pad for one field, as high as its content: digits, a decimal comma (or "/"
    for dates), backspace, OK and Cancel. `on_done(text)` fires on OK with the typed text.

    Like a calculator, the first digit (or comma, or slash) typed replaces the value the pad
    opened with; later keys append. Until then the old value is shown as selected (tinted
    background). Effacer deletes one character (the first touch keeps the rest)."""

    __events__ = ("on_done",)

    def __init__(
        self,
        title: str,
        value: str = "",
        *,
        mode: str = "decimal",  # "decimal" | "number" | "date"
        ok_text: str = "OK",
        cancel_text: str = "Annuler",
        erase_text: str = "Effacer",
        **kw,
    ):
        kw.setdefault("size_hint", (0.7, None))  # as high as its content: no empty band
        kw.setdefault("auto_dismiss", False)
        super().__init__(background="", background_color=(0, 0, 0, 0.6), **kw)
        self.mode = mode
        if mode == "decimal":
            value = value.replace(".", ",")  # a stored 12.5 is shown and edited as 12,5
        self.value = value
        self.fresh = True  # the next character replaces the value
        root = BoxLayout(orientation="vertical", spacing=dp(6), padding=dp(8), size_hint_y=None)
        root.bind(minimum_height=self._fit)
        paint(root, BG)
        root.add_widget(Text(title, font_size=sp(20), bold=True))
        self.display = Label(
            text=value,
            font_size=HUGE * 0.8,
            color=TEXT,
            size_hint_y=None,
            height=dp(56),
            font_name=DOTS_FONT,
        )
        paint(self.display, SELECTED_VALUE if value else WHITE)
        root.add_widget(self.display)
        grid = GridLayout(cols=4, spacing=dp(6), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        self.keys: dict[str, BigButton] = {}
        extra = {"decimal": ",", "date": "/", "number": ""}[mode]
        layout = ["7", "8", "9", "erase", "4", "5", "6", "cancel", "1", "2", "3", "ok", extra, "0"]
        for key in layout:
            if key == "erase":
                b = BigButton(erase_text, colour=SECONDARY, height=PAD_KEY_H)
            elif key == "cancel":
                b = BigButton(cancel_text, colour=DANGER, height=PAD_KEY_H)
            elif key == "ok":
                b = BigButton(ok_text, colour=OK, height=PAD_KEY_H)
            elif key == "":
                grid.add_widget(Label(size_hint_y=None, height=PAD_KEY_H))
                continue
            else:
                b = BigButton(key, colour=PRIMARY, height=PAD_KEY_H, font_size=sp(30))
            b.bind(on_release=lambda _b, k=key: self.press(k))
            self.keys[key] = b
            grid.add_widget(b)
        root.add_widget(grid)
        self.add_widget(root)

    def _fit(self, root, height: float) -> None:
        root.height = self.height = height

    def press(self, key: str) -> None:
        if key not in ("erase", "cancel", "ok") and self.fresh:
            self.value = ""  # the first character typed replaces the old value
        if key == "erase":
            self.value = self.value[:-1]
        elif key == "cancel":
            self.dismiss()
            return
        elif key == "ok":
            self.dismiss()
            self.dispatch("on_done", self.value)
            return
        elif key == "," and "," in self.value:
            return
        elif key == "," and not self.value:
            self.value = "0,"
        elif len(self.value) < 12:
            self.value += key
        self.fresh = False
        self.display.text = self.value
        repaint(self.display, WHITE)

    def on_done(self, text: str) -> None:
        pass
