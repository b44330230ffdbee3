"""The on-screen keyboard and the number pads in a real offscreen Kivy window at 800x480,
driven by real touches on the keys' positions (kivy.tests.common.UnitTestTouch).

Kivy's Window is a process-wide singleton that needs its environment before `import kivy`,
so the window scenario runs once in a subprocess: this file is also the script (`python
test_kiosk_keyboard.py HOME OUT`), which prints one JSON line of what it saw; each test
checks one part of it. Screenshots in test-artifacts/kiosk/keyboard/: keyboard.png (the
search screen with the keyboard up), keyboard_accents.png (its accents layer), numpad.png.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SHOTS = REPO / "test-artifacts" / "kiosk" / "keyboard"  # its own: other tests clear kiosk/
SCRIPT_TIMEOUT_S = 300
W, H = 800, 480
MIN_KEY = 48


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("keyboard")
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(tmp / "kivy")}
    env.pop("KENEYA_HOME", None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, __file__, str(tmp / "home"), str(SHOTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the tests
def test_digits_from_the_digit_row_without_shift(seen):
    assert seen["digits"] == {"text": "0123456789", "shift_pressed": False}


def test_names_with_apostrophe_hyphen_and_accents(seen):
    assert seen["names"]["n_diaye"] == "N'Diaye"
    assert seen["names"]["keita"] == "Keïta"
    assert seen["names"]["place"] == "Sébénikoro-Bâ"  # â from the accents layer
    # after one capital ⇧ lets go; after one accent the letters come back
    assert seen["names"]["modes_after"] == ["normal", "normal"]


def test_capitals_lock_and_unlock(seen):
    assert seen["caps_lock"] == "KLB-000123-4 abc"


def test_backspace_deletes_one_character(seen):
    bs = seen["backspace"]
    assert bs["unfocused"] == "Diarr"  # the last one
    assert bs["inserted"] == {"text": "Kixta", "cursor": 3}  # typed at the cursor
    assert bs["deleted"] == {"text": "Kita", "cursor": 2}  # the one before the cursor
    assert bs["focused_after_keys"] is True  # touching keys leaves the field focused


def test_input_filter_is_respected(seen):
    assert seen["filtered"] == "42"


def test_enter_and_hide_fire_their_events(seen):
    assert seen["events"] == {"enter": 1, "hide": 1, "text": "ab"}


def test_only_backspace_repeats_when_held(seen):
    assert seen["held"] == {"letter": False, "backspace": True}


def test_no_key_empties_the_field_or_does_nothing(seen):
    # every key types one character, or is one of the agreed function keys
    assert set(seen["function_keys"]) == {"backspace", "enter", "hide", "caps", "accents"}
    assert seen["empty_keys"] == []


@pytest.mark.parametrize("layer", ["normal", "shift", "special"])
def test_keys_are_big_enough_and_inside_the_window(seen, layer):
    geo = seen["geometry"][layer]
    assert geo["keys"] >= 50
    assert geo["labels"] == geo["keys"] - 1  # every key but the space bar has its label
    assert geo["min_w"] >= MIN_KEY and geo["min_h"] >= MIN_KEY, geo
    assert geo["outside"] == [], geo
    assert geo["overflowing_labels"] == [], geo


def test_keyboard_height_and_search_screen(seen):
    kb = seen["search"]
    assert kb["keyboard_h"] == seen["KEYBOARD_H"] <= 5 * 52
    assert kb["keyboard_top"] <= H and kb["keyboard_y"] >= 0
    assert kb["typed"] == "kei"
    assert kb["min_key_w"] >= MIN_KEY and kb["min_key_h"] >= MIN_KEY, kb


def test_key_contrast(seen):
    assert min(seen["contrast"].values()) >= 4.5, seen["contrast"]


def test_numpad_first_key_replaces_then_appends(seen):
    pad = seen["numpad"]
    assert pad["shown_before"] == "12,5"
    assert pad["after_first"] == "3"
    assert pad["after_more"] == "3,5"
    assert pad["after_backspace"] == "3,"
    assert pad["done"] == "3,"
    # ⌫ first keeps the value, one character less; a stored 12.5 is edited as 12,5
    assert pad["erase_first"] == "12,"


def test_numpad_fits_the_window(seen):
    pad = seen["numpad"]
    assert pad["min_key_w"] >= MIN_KEY and pad["min_key_h"] >= MIN_KEY, pad
    assert pad["outside"] == [], pad
    assert pad["overflowing"] == [], pad


def test_pinpad_keys_big_enough(seen):
    pin = seen["pinpad"]
    assert pin["min_key_w"] >= MIN_KEY and pin["min_key_h"] >= MIN_KEY, pin
    assert pin["digits"] == "12"


def test_screenshots_written(seen):
    for name in ("keyboard", "keyboard_accents", "numpad"):
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name


# --------------------------------------------------------------------------- the script
def _scenario(home: Path, out: Path) -> dict:  # noqa: C901 - one window, many checks
    from kiosk_ui import offscreen

    EventLoop, Window = offscreen.open_window(W, H)
    from kivy.tests.common import UnitTestTouch
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput
    from kivy.uix.widget import Widget

    from kiosk_ui.widgets import keyboard as kbmod
    from kiosk_ui.widgets.keyboard import KEYBOARD_H, AzertyKeyboard
    from kiosk_ui.widgets.pads import NumPad, PinPad
    from kiosk_ui.widgets.theme import contrast

    seen: dict = {"KEYBOARD_H": KEYBOARD_H}

    idle = offscreen.idle

    def touch_at(x: float, y: float) -> None:
        offscreen.tap_at(x, y)
        idle(2)

    def shot(name: str) -> None:
        idle(4)
        offscreen.screenshot(out / f"{name}.png")

    def keys(vk):
        """(key, window rect of its drawn key, window centre) in the current layer."""
        layout = vk.available_layouts[vk.layout]
        for line in range(1, layout["rows"] + 1):
            row = layout[f"{vk.layout_mode}_{line}"]
            for key, (pos, size) in zip(row, vk.layout_geometry[f"LINE_{line}"], strict=True):
                x, y = vk.to_window(*pos)
                rect = (x, y, x + size[0], y + size[1])
                yield key, rect, ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)

    def press(vk, *, char: str | None = None, code: str | None = None) -> None:
        for key, _rect, centre in keys(vk):
            if (char is not None and key[1] == char) or (code is not None and key[2] == code):
                touch_at(*centre)
                return
        raise LookupError(f"no key {char or code!r} in layer {vk.layout_mode}")

    def type_text(vk, text: str) -> None:
        """Type like a person: ⇧ before a capital, àé before a character only found there."""
        for ch in text:
            layout = vk.available_layouts[vk.layout]
            on = {k[1] for r in range(1, 6) for k in layout[f"{vk.layout_mode}_{r}"]}
            if ch not in on:
                capitals = vk.shift != "off"
                if ch.lower() != ch.upper() and ch.isupper() != capitals:
                    press(vk, code="caps")
                on2 = {k[1] for r in range(1, 6) for k in layout[f"{vk.layout_mode}_{r}"]}
                if ch not in on2:
                    press(vk, code="accents")
            press(vk, char=ch)

    # ---- a field and the keyboard, full width
    root = BoxLayout(orientation="vertical")
    field = TextInput(multiline=False, keyboard_mode="managed", size_hint_y=None, height=56)
    events = {"enter": 0, "hide": 0}
    kb = AzertyKeyboard()
    kb.target = field
    kb.bind(on_enter=lambda *_: events.__setitem__("enter", events["enter"] + 1))
    kb.bind(on_hide=lambda *_: events.__setitem__("hide", events["hide"] + 1))
    root.add_widget(field)
    root.add_widget(Widget())
    root.add_widget(kb)
    Window.add_widget(root)
    idle(6)
    vk = kb.vk

    # geometry and labels of every layer
    geometry = {}
    for layer, (shift, accents) in {
        "normal": ("off", False),
        "shift": ("once", False),
        "special": ("off", True),
    }.items():
        vk.shift, vk.accents = shift, accents
        vk.show_layer()
        idle(2)
        if layer == "special":
            shot("keyboard_accents")
        found = list(keys(vk))
        geometry[layer] = {
            "keys": len(found),
            "min_w": min(r[2] - r[0] for _k, r, _c in found),
            "min_h": min(r[3] - r[1] for _k, r, _c in found),
            "outside": [k[0] for k, r, _c in found if r[0] < 0 or r[1] < 0 or r[2] > W or r[3] > H],
            "labels": len(vk.key_labels),
            "overflowing_labels": [
                text
                for text, (tw, th), (kw, kh) in vk.key_labels
                if tw > kw - 4 or th > kh - 4  # a little margin inside the key
            ],
        }
    seen["geometry"] = geometry
    vk.shift, vk.accents = "off", False
    vk.show_layer()
    idle(2)
    layout = vk.available_layouts[vk.layout]
    all_keys = [
        k for m in ("normal", "shift", "special") for r in range(1, 6) for k in layout[f"{m}_{r}"]
    ]
    seen["function_keys"] = sorted({k[2] for k in all_keys if k[1] is None})
    seen["empty_keys"] = [k for k in all_keys if k[1] is None and k[2] is None]
    seen["contrast"] = {
        "letter": contrast(kbmod.KEY_TEXT, kbmod.KEY),
        "function": contrast(kbmod.KEY_TEXT, kbmod.FUNCTION_KEY),
        "lit": contrast(kbmod.KEY_TEXT, kbmod.LIT_KEY),
        "enter": contrast(kbmod.ENTER_TEXT, kbmod.ENTER_KEY),
    }

    def section(name: str, check) -> None:
        """One check's result, or its error: a failing check does not hide the others."""
        vk.shift, vk.accents = "off", False
        vk.show_layer()
        field.text = ""
        field.focus = False
        idle(2)
        try:
            seen[name] = check()
        except Exception as e:  # noqa: BLE001 - reported to the test that reads `name`
            seen[name] = {"error": f"{type(e).__name__}: {e}"}

    def digits():
        for d in "0123456789":
            press(vk, char=d)
        return {"text": field.text, "shift_pressed": vk.shift != "off"}

    def names():
        found = {}
        type_text(vk, "N'Diaye")
        found["n_diaye"] = field.text
        field.text = ""
        type_text(vk, "Keïta")
        found["keita"] = field.text
        modes = []
        field.text = ""
        type_text(vk, "Sébénikoro-B")
        modes.append(vk.layout_mode)
        type_text(vk, "â")
        modes.append(vk.layout_mode)
        found["place"] = field.text
        found["modes_after"] = modes
        return found

    def caps_lock():
        """Two touches on ⇧ lock capitals, a third unlocks."""
        press(vk, code="caps")
        press(vk, code="caps")
        for ch in "KLB-000123-4":
            press(vk, char=ch)
        press(vk, code="caps")
        for ch in " abc":
            press(vk, char=ch)
        return field.text

    def backspace():
        """Unfocused: the last character; focused: the one before the cursor."""
        bs = {}
        field.text = "Diarra"
        press(vk, code="backspace")
        bs["unfocused"] = field.text
        field.text = "Kita"
        field.focus = True
        idle(2)
        field.cursor = field.get_cursor_from_index(2)
        press(vk, char="x")
        bs["inserted"] = {"text": field.text, "cursor": field.cursor_index()}
        press(vk, code="backspace")
        bs["deleted"] = {"text": field.text, "cursor": field.cursor_index()}
        bs["focused_after_keys"] = field.focus
        return bs

    def filtered():
        field.input_filter = "int"
        try:
            for ch in "4a2":
                press(vk, char=ch)
        finally:
            field.input_filter = None
        return field.text

    def enter_and_hide():
        for ch in "ab":
            press(vk, char=ch)
        press(vk, code="enter")
        press(vk, code="hide")
        return {**events, "text": field.text}

    def held_keys():
        """A key held down: only ⌫ starts repeating (Kivy's repeat start is called at once
        here instead of after its delay; no time is measured)."""
        repeating = {}
        for what, kw in (("letter", {"char": "a"}), ("backspace", {"code": "backspace"})):
            spot = next(
                c for k, _r, c in keys(vk) if k[1] == kw.get("char") or k[2] == kw.get("code")
            )
            t = UnitTestTouch(*spot)
            t.touch_down()
            vk._start_repeat_key(0)
            repeating[what] = vk._repeat_key_ev is not None
            t.touch_up()
            idle(2)
        return repeating

    for name, check in (
        ("digits", digits),
        ("names", names),
        ("caps_lock", caps_lock),
        ("backspace", backspace),
        ("filtered", filtered),
        ("events", enter_and_hide),
        ("held", held_keys),
    ):
        section(name, check)
    Window.remove_widget(root)
    idle(2)

    # ---- NumPad: the first key replaces the value, later keys append
    def widget_rect(w):
        x, y = w.to_window(w.x, w.y)
        return (x, y, x + w.width, y + w.height)

    def tap(w) -> None:
        x, y, r, t = widget_rect(w)
        touch_at((x + r) / 2, (y + t) / 2)

    done = []
    pad = NumPad("Poids (kg)", "12,5", mode="decimal")
    pad.bind(on_done=lambda _p, text: done.append(text))
    pad.open()
    idle(8)
    rects = {k: widget_rect(b) for k, b in pad.keys.items()}
    texts = [w for w in pad.walk(restrict=True) if isinstance(w, Label) and w.text]
    for w in texts:
        w.texture_update()
    numpad = {
        "shown_before": pad.display.text,
        "min_key_w": min(r[2] - r[0] for r in rects.values()),
        "min_key_h": min(r[3] - r[1] for r in rects.values()),
        "outside": [
            getattr(w, "text", "")
            for w in texts
            if (lambda r: r[0] < 0 or r[1] < 0 or r[2] > W or r[3] > H)(widget_rect(w))
        ],
        "overflowing": [
            w.text
            for w in texts
            if w.texture_size[1] > w.height + 2
            or (w.text_size[0] is None and w.texture_size[0] > w.width + 2)
        ],
    }
    shot("numpad")
    tap(pad.keys["3"])
    numpad["after_first"] = pad.display.text
    tap(pad.keys[","])
    tap(pad.keys["5"])
    numpad["after_more"] = pad.display.text
    tap(pad.keys["erase"])
    numpad["after_backspace"] = pad.display.text
    tap(pad.keys["ok"])
    idle(4)
    numpad["done"] = done[-1] if done else None
    pad2 = NumPad("Poids (kg)", "12.5", mode="decimal")
    pad2.open()
    idle(6)
    tap(pad2.keys["erase"])
    numpad["erase_first"] = pad2.display.text
    tap(pad2.keys["cancel"])
    idle(4)
    seen["numpad"] = numpad

    # ---- PinPad as the login screen holds it (a column of the window's width)
    digits = []
    pin_root = BoxLayout(orientation="vertical", padding=8)
    pin_root.add_widget(Widget())
    pinpad = PinPad(size_hint_x=1)
    pinpad.bind(on_digit=lambda _p, d: digits.append(d))
    holder = BoxLayout(size_hint_y=None, height=pinpad.height)
    holder.add_widget(Widget())
    holder.add_widget(pinpad)
    holder.add_widget(Widget())
    pin_root.add_widget(holder)
    Window.add_widget(pin_root)
    idle(6)
    pin_rects = [widget_rect(b) for b in pinpad.keys.values()]
    tap(pinpad.keys["1"])
    tap(pinpad.keys["2"])
    seen["pinpad"] = {
        "min_key_w": min(r[2] - r[0] for r in pin_rects),
        "min_key_h": min(r[3] - r[1] for r in pin_rects),
        "digits": "".join(digits),
    }
    Window.remove_widget(pin_root)
    idle(2)

    seen["search"] = _search_screen(home, out, idle, shot, keys, press)
    return seen


def _search_screen(home: Path, out: Path, idle, shot, keys, press) -> dict:
    """The real search screen at 800x480 with the keyboard up, after typing "kei"."""
    from kivy.core.window import Window

    from appliance.paths import Paths
    from appliance.services import auth
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui import offscreen
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.state import KioskState

    database = Paths.for_home(home).database
    logins = offscreen.seed_demo(home, patients=60, years=2)
    username, pin = logins.get("midwife") or logins["nurse"]
    with Store(database) as store:
        state = KioskState(Context.open(store), data_dir=home)
        state.actor = auth.login(state.ctx, username, pin=pin)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(5)
        root.go("search")
        idle(6)
        search = root.screen("search")
        vk = search.keyboard.vk
        for ch in "kei":
            press(vk, char=ch)
        time.sleep(0.2)  # the search's debounce
        end = time.monotonic() + 20
        while not search.result_buttons and time.monotonic() < end:
            time.sleep(0.02)
            idle(1)
        found = list(keys(vk))
        x, y = search.keyboard.to_window(*search.keyboard.pos)
        result = {
            "typed": search.field.text,
            "keyboard_h": search.keyboard.height,
            "keyboard_y": y,
            "keyboard_top": y + search.keyboard.height,
            "keyboard_w": search.keyboard.width,
            "min_key_w": min(r[2] - r[0] for _k, r, _c in found),
            "min_key_h": min(r[3] - r[1] for _k, r, _c in found),
            "results": len(search.result_buttons),
        }
        shot("keyboard")
        root.stop()
        Window.remove_widget(root)
    return result


if __name__ == "__main__":
    from kiosk_ui import offscreen

    offscreen.run_script(_scenario)
