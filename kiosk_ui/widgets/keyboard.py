"""The on-screen French keyboard: Kivy's VKeyboard with our own layout (keyboard_fr.json),
typing into one TextInput.

Layout: 12 columns, so every key is >= 48 px on a 720-800 px wide screen; five rows of
50 px. The digit row is always shown (health and phone numbers need no shift); é è ï ç ' -
are on the letter rows (Traoré, Keïta, N'Diaye, place names with hyphens); the other accents
and a few signs are on a second layer (the àé key, back with abc). ⇧ capitalises the next
letter, a second touch locks capitals, a third unlocks. ⌫ deletes one character and repeats
when held; no other key repeats (a slow press must not type a letter twice or submit twice).
⏎ dispatches on_enter, the hide key on_hide: the screen decides what they do.

VKeyboard on an SDL2 window sends printable keys as on_textinput and special keys as
on_key_down; on other windows everything comes as on_key_down."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Canvas, Color, Rectangle, RoundedRectangle
from kivy.metrics import dp, sp
from kivy.properties import ObjectProperty
from kivy.uix.behaviors import FocusBehavior
from kivy.uix.relativelayout import RelativeLayout
from kivy.uix.vkeyboard import VKeyboard

LAYOUT_FILE = Path(__file__).with_name("keyboard_fr.json")
LAYOUT_NAME = "keneya_fr"
ROWS = 5
ROW_H = dp(50)  # 48 px keys and a 2 px gap: the smallest row a finger hits reliably
KEYBOARD_H = ROWS * ROW_H
KEY_GAP = dp(1)  # each side of a key, so neighbours are 2 px apart
FONT = "data/fonts/DejaVuSans.ttf"  # has ⌫ ⏎ ⇧ ⇪ ⌨ ▼ (Roboto has not)
LETTER_FONT = sp(26)  # a lone apostrophe or hyphen stays visible
WORD_FONT = sp(20)  # "abc", "àé"
REPEATING = ("backspace",)  # after VKeyboard's 0.5 s hold
REPEAT_EVERY_S = 0.1  # Kivy's 0.05 s deletes faster than a novice can let go

# Dark text on light keys over a dark frame: readable in sunlight. Contrasts (WCAG):
# text on a letter key 19.5:1, on a function key 13.0:1, on a lit (active/pressed) key
# 13.0:1, white on the Enter key 9.8:1 (test_kiosk_keyboard checks them).
FRAME = (0.22, 0.24, 0.28, 1)
KEY = (1, 1, 1, 1)
FUNCTION_KEY = (0.80, 0.83, 0.88, 1)
LIT_KEY = (1.0, 0.80, 0.35, 1)  # pressed, or ⇧ / àé switched on
ENTER_KEY = (0.04, 0.26, 0.52, 1)
KEY_TEXT = (0.05, 0.05, 0.05, 1)
ENTER_TEXT = (1, 1, 1, 1)
SWITCHES = ("caps", "accents")


@lru_cache(maxsize=1)
def _layout_text() -> str:
    return LAYOUT_FILE.read_text(encoding="utf-8")


@lru_cache(maxsize=256)
def _label_texture(text: str):
    """White text, tinted when drawn; shared by every keyboard and layer (~130 labels)."""
    word = len(text) > 1
    label = CoreLabel(
        text=text, font_size=WORD_FONT if word else LETTER_FONT, font_name=FONT, bold=word
    )
    label.refresh()
    return label.texture


def _upper(key: list) -> list:
    label, internal, code, width = key
    if internal and len(internal) == 1 and internal.upper() != internal:
        return [label.upper(), internal.upper(), code, width]
    return list(key)


class KeyboardKeys(VKeyboard):
    """The keys: a VKeyboard drawn flat and high-contrast, that keeps the field focused while
    typing (its cursor stays visible), repeats only ⌫, and has a one-shot/locking ⇧ and an
    accents layer driven by `shift` and `accents`."""

    def __init__(self, **kw):
        self.shift = "off"  # "off" | "once" | "lock"
        self.accents = False
        super().__init__(**kw)
        layout = json.loads(_layout_text())  # this keyboard's own copy: its layers change
        self._accents_lower = [layout[f"special_{n}"] for n in range(1, ROWS + 1)]
        self._accents_upper = [[_upper(k) for k in row] for row in self._accents_lower]
        self.available_layouts[LAYOUT_NAME] = layout
        self.key_labels: list[tuple[str, tuple, tuple]] = []
        with self.canvas:
            self.label_layer = Canvas()  # above the pressed keys' layer

    # -- layers ---------------------------------------------------------------------------
    def press_switch(self, code: str) -> None:
        if code == "caps":
            self.shift = {"off": "once", "once": "lock", "lock": "off"}[self.shift]
        elif code == "accents":
            self.accents = not self.accents
        self.show_layer()

    def typed_one(self) -> None:
        """After a character: a one-shot ⇧ and the accents layer go back to plain letters."""
        if self.shift == "once" or self.accents:
            if self.shift == "once":
                self.shift = "off"
            self.accents = False
            self.show_layer()

    def show_layer(self) -> None:
        layout = self.available_layouts.get(LAYOUT_NAME)
        if layout is None:
            return
        upper = self.shift != "off"
        rows = self._accents_upper if upper else self._accents_lower
        for n, row in enumerate(rows, start=1):
            layout[f"special_{n}"] = row
        self.layout_mode = "special" if self.accents else ("shift" if upper else "normal")
        if "U_HINT" in self.layout_geometry:
            self.refresh(False)

    # -- drawing --------------------------------------------------------------------------
    def _key_colours(self, key: list) -> tuple[tuple, tuple]:
        code = key[2]
        lit = (code == "caps" and self.shift != "off") or (code == "accents" and self.accents)
        if lit:
            return LIT_KEY, KEY_TEXT
        if code == "enter":
            return ENTER_KEY, ENTER_TEXT
        if key[1] is None:
            return FUNCTION_KEY, KEY_TEXT
        return KEY, KEY_TEXT

    def _label_text(self, key: list) -> str:
        if key[2] == "caps" and self.shift == "lock":
            return "⇪"
        return key[0]

    def draw_keys(self):
        """Keys as rounded rectangles, labels as cached text textures drawn on top (no Label
        widgets: a layer switch only redraws instructions). `key_labels` keeps, for checks,
        (label, text size, key size) of every key drawn."""
        layout = self.available_layouts[self.layout]
        geometry = self.layout_geometry
        mode = self.layout_mode
        background = self.background_key_layer
        background.clear()
        self.label_layer.clear()
        self.key_labels = []
        with background:
            Color(*FRAME)
            Rectangle(size=self.size)
        for line in range(1, layout["rows"] + 1):
            keys = layout[f"{mode}_{line}"]
            for key, (pos, size) in zip(keys, geometry[f"LINE_{line}"], strict=True):
                key_colour, text_colour = self._key_colours(key)
                with background:
                    Color(*key_colour)
                    RoundedRectangle(pos=pos, size=size, radius=[dp(5)])
                text = self._label_text(key)
                if not text.strip():
                    continue
                texture = _label_texture(text)
                tw, th = texture.size
                with self.label_layer:
                    Color(*text_colour)
                    Rectangle(
                        texture=texture,
                        size=(tw, th),
                        pos=(pos[0] + (size[0] - tw) / 2, pos[1] + (size[1] - th) / 2),
                    )
                self.key_labels.append((text, (tw, th), tuple(size)))

    def refresh_active_keys_layer(self):
        self.active_keys_layer.clear()
        with self.active_keys_layer:
            Color(*LIT_KEY)
            for line_nb, index in self.active_keys.values():
                pos, size = self.layout_geometry[f"LINE_{line_nb}"][index]
                RoundedRectangle(pos=pos, size=size, radius=[dp(5)])

    # -- touches --------------------------------------------------------------------------
    def on_touch_down(self, touch):
        if self.collide_point(*touch.pos):
            # a key touch must not take the focus (and the cursor) from the field typed in
            FocusBehavior.ignored_touch.append(touch)
        return super().on_touch_down(touch)

    def _start_repeat_key(self, *_):
        touch = self.repeat_touch
        key = touch.ud.get(self.uid, {}).get("key") if touch is not None else None
        if key is not None and key[0][2] in REPEATING:
            self._repeat_key_ev = Clock.schedule_interval(self._repeat_key, REPEAT_EVERY_S)


class AzertyKeyboard(RelativeLayout):
    """The keyboard, KEYBOARD_H high, filling its width; types into `target` (a TextInput or
    None). Events: on_enter() (⏎) and on_hide() (its hide key: the screen removes the
    keyboard)."""

    target = ObjectProperty(None, allownone=True)
    __events__ = ("on_enter", "on_hide")

    def __init__(self, **kw):
        kw.setdefault("size_hint_y", None)
        kw.setdefault("height", KEYBOARD_H)
        super().__init__(**kw)
        self.vk = KeyboardKeys(
            layout=LAYOUT_NAME,
            size_hint=(None, None),
            do_translation=False,
            do_rotation=False,
            do_scale=False,
            margin_hint=[0, 0, 0, 0],
            key_margin=[KEY_GAP] * 4,
        )
        self.vk.bind(on_textinput=self._text, on_key_down=self._key_down)
        self.add_widget(self.vk)
        self.bind(size=self._fit)
        self._fit()

    def _fit(self, *_):
        vk = self.vk
        vk.do_translation = vk.do_rotation = vk.do_scale = False  # fixed, not a scatter
        vk.pos = (0, 0)
        vk.size = self.size
        if self.width > 1:
            # VKeyboard draws its keys for the size it had when its layout loaded: redraw.
            vk.refresh(True)

    def _text(self, _vk, text: str) -> None:
        self.type(text)

    def _key_down(self, _vk, keycode, internal, _modifiers) -> None:
        if internal:
            self.type(internal)
        elif keycode == "backspace":
            self.backspace()
        elif keycode == "enter":
            self.dispatch("on_enter")
        elif keycode == "hide":
            self.dispatch("on_hide")
        elif keycode in SWITCHES:
            self.vk.press_switch(keycode)

    def _cursor_for_typing(self):
        """The target, its cursor at the end unless it is focused (then where the user put
        it); None when there is nothing to type into."""
        field = self.target
        if field is None or getattr(field, "readonly", False):
            return None
        if not field.focus:
            field.cursor = field.get_cursor_from_index(len(field.text))
        return field

    def type(self, text: str) -> None:
        """Insert `text` at the cursor through TextInput.insert_text, so the field's
        input_filter (and any length limit a subclass puts there) applies; the cursor ends
        after what was typed."""
        field = self._cursor_for_typing()
        if field is None or not text or text == "\t":
            return
        if field.selection_text:
            field.delete_selection()
        field.insert_text(text)
        self.vk.typed_one()

    def backspace(self) -> None:
        """Delete one character before the cursor (the last one if the field is not focused),
        or the selection."""
        field = self._cursor_for_typing()
        if field is None:
            return
        if field.selection_text:
            field.delete_selection()
        else:
            field.do_backspace()

    def on_enter(self) -> None:
        pass

    def on_hide(self) -> None:
        pass
