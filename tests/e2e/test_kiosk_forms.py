"""The encounter and registration forms in a real offscreen Kivy window, driven by touches:
how much of the form shows at 800x480 (and the other screens sold), the ANC danger signs as a
grid of whole-word toggles, the on-screen keyboard on registration (the field typed in stays
above it, ⏎ goes to the next field and saves on the last, a tap elsewhere hides it) and a
failed save showing its first error.

Like test_kiosk_window.py, this file is also the script run in a subprocess (Kivy's Window is
one per process): `python test_kiosk_forms.py HOME OUT WxH` prints one JSON line."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "kiosk" / "forms"


@pytest.mark.e2e
def test_forms_at_800x480(run_kiosk_script) -> None:
    seen = run_kiosk_script(__file__, SHOTS, "800x480")
    layout = seen["layout"]

    # the consultation form: no empty band, at least 5 of its 7 fields whole on screen
    assert layout["consultation"]["live_shown"] is False
    assert len(layout["consultation"]["fields_in_view"]) >= 5, layout["consultation"]
    # ANC danger signs: a grid of whole-word toggles, each at least 48 px high
    danger = layout["danger_signs"]
    assert len(danger["toggles"]) == 11
    assert len(danger["rows"]) > 1, danger
    for t in danger["toggles"]:
        assert t["height"] >= 48, t
        assert t["texture"][0] <= t["width"] and t["texture"][1] <= t["height"], t
        assert t["broken_words"] == [], t
    assert danger["touched"] == ["fever"]

    kb = seen["keyboard"]
    assert kb["shown_on_touch"] and kb["target"] == "family_name"
    assert kb["after_enter"] == ["given_names", "village"]  # ⏎ moves to the next text field
    assert kb["village_typed"] == "sido"
    # the last text field, typed in, is whole above the keyboard and inside the form's view
    assert kb["village_bottom"] >= kb["keyboard_top"], kb
    assert kb["village_in_view"], kb
    assert kb["hidden_by_tap"] and kb["sex_after_tap"] == "F"
    assert kb["hidden_by_hide_key"]  # the keyboard's hide key removes it
    assert kb["switched"] == [True, True, False]
    assert kb["enter_on_last"] == "record", kb  # ⏎ on the last text field saved
    assert kb["registered"] == ["diarra", "moussa", "F", "sido"]

    errors = seen["errors"]
    # a failed empty save, scrolled to the bottom first: the first field in error comes back
    assert errors["register_first"] == "family_name"
    assert errors["register_in_view"] and errors["register_error_text"] == ["Obligatoire."]
    assert errors["immunization_first"] == "dose"
    assert errors["immunization_in_view"]
    assert errors["numpad_inside"], errors

    for name in seen["shots"]:
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name
    assert seen["findings"] == []  # the layout check, on every state shot above


@pytest.mark.e2e
@pytest.mark.parametrize(("size", "lang"), [("1024x600", "en"), ("1280x800", "fr")])
def test_forms_other_sizes(run_kiosk_script, size: str, lang: str) -> None:
    """The other screens sold (one of them in English): the same layout, no finding."""
    seen = run_kiosk_script(__file__, SHOTS, size, "layout", lang)
    layout = seen["layout"]
    assert len(layout["consultation"]["fields_in_view"]) >= 6, layout["consultation"]
    danger = layout["danger_signs"]
    assert len(danger["rows"]) > 1
    for t in danger["toggles"]:
        assert t["height"] >= 48 and t["broken_words"] == [], t
    assert seen["findings"] == []


# --------------------------------------------------------------------------- the script
def _script(home: Path, out: Path, size: str, only: str = "", lang: str = "fr") -> dict:
    from conftest import kiosk_window, seed_with_logins

    from kiosk_ui import offscreen

    w, h = (int(v) for v in size.split("x"))
    EventLoop, Window = kiosk_window(w, h)
    from kivy.tests.common import UnitTestTouch

    from appliance.paths import Paths
    from appliance.services import auth
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.layout_check import findings
    from kiosk_ui.screens.base import in_view, window_rect
    from kiosk_ui.tour import proper_names
    from kiosk_ui.viewmodels.state import KioskState

    database = Paths.for_home(home).database
    logins = seed_with_logins(home, database, patients=40, years=2)
    shots: list[str] = []

    idle = offscreen.idle

    def shot(name: str) -> None:
        """A screenshot, and the layout check's findings on what it shows."""
        idle(4)
        found = findings(Window, (w, h), state.lang, state=name, allow=names)
        seen["findings"].extend(str(f) for f in found)
        offscreen.screenshot(out / f"{name}-{size}.png")
        shots.append(f"{name}-{size}")

    def touch_at(x: float, y: float) -> None:
        offscreen.tap_at(x, y)
        idle(2)

    def tap(widget) -> None:
        """Touch the widget's centre, where it is now on screen (no scrolling first: what a
        finger can touch is what is shown)."""
        x, y, right, top = window_rect(widget)
        touch_at((x + right) / 2, (y + top) / 2)
        # A scroll view hands a tap to its content late (its touch-up 0.2 s after): let
        # that happen, as between two taps of a finger.
        end = time.monotonic() + 0.25
        while time.monotonic() < end:
            time.sleep(0.02)
            idle(1)

    def wait(condition, seconds: float = 10) -> None:
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(condition)
            time.sleep(0.02)
            idle(1)

    def log_in(state, role: str) -> None:
        username, pin = logins[role]
        state.actor = auth.login(state.ctx, username, pin=pin)

    def visible_fields(screen) -> list[str]:
        return [r.name for r in screen.rows if in_view(screen.scroll, r)]

    seen: dict = {"layout": {}, "findings": []}
    with Store(database) as store:
        names = proper_names(store)
        today = date.today()
        child = store.query_one(
            "SELECT id FROM patients WHERE birth_date > ? ORDER BY birth_date LIMIT 1",
            ((today - timedelta(days=4 * 365)).isoformat(),),
        )
        woman = store.query_one(
            "SELECT id FROM patients WHERE sex = 'F' AND birth_date BETWEEN ? AND ? LIMIT 1",
            (
                (today - timedelta(days=40 * 365)).isoformat(),
                (today - timedelta(days=18 * 365)).isoformat(),
            ),
        )
        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        state.set_lang(lang)
        idle(5)

        # ---- the consultation form, as it opens
        log_in(state, "nurse")
        root.go("encounter", patient_id=child["id"], kind="consultation")
        form = root.screen("encounter")
        idle(6)
        seen["layout"]["consultation"] = {
            "fields_in_view": visible_fields(form),
            "live_shown": form.live_view.parent is not None,
            "viewport": form.scroll.height,
        }
        shot("consultation")

        # ---- ANC: the danger signs, scrolled into view as a finger would
        log_in(state, "midwife")
        root.go("encounter", patient_id=woman["id"], kind="anc")
        idle(6)
        grid = form.inputs["danger_signs"]
        form.scroll.scroll_to(grid, padding=0, animate=False)
        idle(6)
        toggles = []
        for c in grid.toggles:
            words = set(c.text.split())
            lines = [" ".join(w.text for w in line.words) for line in c._label._cached_lines]
            broken = [piece for line in lines for piece in line.split() if piece not in words]
            toggles.append(
                {
                    "text": c.text,
                    "width": c.width,
                    "height": c.height,
                    "texture": list(c.texture_size),
                    "broken_words": broken,
                    "y": round(window_rect(c)[1]),
                }
            )
        fever = next(c for c in grid.toggles if c.value == "fever")
        if in_view(form.scroll, fever):
            tap(fever)
        seen["layout"]["danger_signs"] = {
            "toggles": toggles,
            "rows": sorted({t["y"] for t in toggles}),
            "touched": list(form.vm.values.get("danger_signs") or []),
        }
        shot("anc-danger-signs")
        form.vm.discard()
        if only == "layout":
            root.stop()
            return {**seen, "shots": shots}

        # ---- registration with the keyboard
        log_in(state, "nurse")
        root.go("register")
        reg = root.screen("register")
        idle(6)
        kb: dict = {}
        tap(reg.inputs["family_name"])
        kb["shown_on_touch"] = reg.keyboard_shown
        kb["target"] = next((n for n, w in reg.inputs.items() if w is reg.keyboard.target), None)
        vk = reg.keyboard.vk
        idle(4)
        type_on(vk, "diarra", UnitTestTouch, idle)
        kb["after_enter"] = []
        press_keycode(vk, "enter", UnitTestTouch, idle)
        kb["after_enter"].append(
            next((n for n, w in reg.inputs.items() if w is reg.keyboard.target), None)
        )
        type_on(vk, "moussa", UnitTestTouch, idle)
        press_keycode(vk, "enter", UnitTestTouch, idle)
        idle(6)
        kb["after_enter"].append(
            next((n for n, w in reg.inputs.items() if w is reg.keyboard.target), None)
        )
        type_on(vk, "sido", UnitTestTouch, idle)
        idle(4)
        village = reg.inputs["village"]
        village_row = next(r for r in reg.rows if r.name == "village")
        kb["village_typed"] = village.text
        kb["village_bottom"] = window_rect(village)[1]
        kb["keyboard_top"] = window_rect(reg.keyboard)[3]
        kb["village_in_view"] = in_view(reg.scroll, village_row)
        shot("register-keyboard")
        # a tap on the sex toggle: it is chosen, and the keyboard goes away
        reg.scroll.scroll_to(reg.inputs["sex"], padding=0, animate=False)
        idle(4)
        female = next(c for c in reg.inputs["sex"].toggles if c.value == "F")
        tap(female)
        wait(lambda: not reg.keyboard_shown)
        kb["hidden_by_tap"] = not reg.keyboard_shown
        kb["sex_after_tap"] = reg.values.get("sex")
        # the age on the number pad
        reg.scroll.scroll_to(reg.inputs["age_years"], padding=0, animate=False)
        idle(4)
        tap(reg.inputs["age_years"])
        pad = reg.numpad
        idle(4)
        x, y, right, top = window_rect(pad.children[0])
        seen["errors"] = {
            "numpad_inside": x >= 0 and y >= 0 and right <= Window.width and top <= Window.height
        }
        tap(pad.keys["4"])
        tap(pad.keys["ok"])
        wait(lambda: pad.parent is None)
        # the keyboard's hide key (its on_hide event) takes it away
        reg.scroll.scroll_to(village, padding=0, animate=False)
        idle(4)
        tap(village)
        was_up = reg.keyboard_shown
        press_keycode(vk, "hide", UnitTestTouch, idle)  # the key sends AzertyKeyboard.on_hide
        idle(4)
        kb["hidden_by_hide_key"] = was_up and not reg.keyboard_shown
        # a touch on another text field: the keyboard stays and types there, one cursor
        reg.scroll.scroll_to(reg.inputs["given_names"], padding=0, animate=False)
        idle(4)
        tap(reg.inputs["given_names"])
        reg.scroll.scroll_to(village, padding=0, animate=False)
        idle(4)
        tap(village)
        idle(4)
        kb["switched"] = [
            reg.keyboard_shown,
            reg.keyboard.target is village,
            reg.inputs["given_names"].focus,
        ]
        reg.hide_keyboard()
        idle(4)
        # ⏎ on the last text field saves
        reg.scroll.scroll_to(village, padding=0, animate=False)
        idle(4)
        tap(village)
        press_keycode(vk, "enter", UnitTestTouch, idle)
        idle(4)
        kb["enter_on_last"] = root.current
        saved = reg.vm.saved or {}
        kb["registered"] = [saved.get(k) for k in ("family_name", "given_names", "sex", "village")]
        seen["keyboard"] = kb

        # ---- a failed save: registration, the form scrolled to its bottom first
        root.go("register")
        idle(6)
        reg.scroll.scroll_y = 0
        idle(4)
        tap(reg.save_button)
        idle(8)
        first = next(r for r in reg.rows if r.errors)
        seen["errors"].update(
            register_first=first.name,
            register_in_view=in_view(reg.scroll, first),
            register_error_text=first.errors,
        )
        shot("register-errors")
        # an immunization with nothing chosen, scrolled down first
        log_in(state, "nurse")
        root.go("encounter", patient_id=child["id"], kind="immunization")
        idle(6)
        form.scroll.scroll_y = 0
        idle(4)
        tap(form.save_button)
        idle(8)
        first = next(r for r in form.rows if r.errors)
        seen["errors"].update(
            immunization_first=first.name, immunization_in_view=in_view(form.scroll, first)
        )
        shot("immunization-errors")
        form.vm.discard()
        root.stop()
    return {**seen, "shots": shots}


def _keys(vk):
    """(key, window x, window y) of every key of the VKeyboard's current mode."""
    layout = vk.available_layouts[vk.layout]
    rows = layout["rows"]
    mtop, _mright, mbottom, _mleft = vk.margin_hint
    w, h = vk.size
    line_h = (h - (mbottom + mtop) * h) / rows
    for line_nb in range(1, rows + 1):
        for i, key in enumerate(layout[f"{vk.layout_mode}_{line_nb}"]):
            (x_hint, _), (w_hint, _) = vk.layout_geometry[f"LINE_HINT_{line_nb}"][i]
            x = (x_hint + w_hint / 2) * w
            y = mbottom * h + line_h * (rows - line_nb + 0.5)
            yield key, *vk.to_window(x, y)


def _touch(touch_cls, idle, x: float, y: float) -> None:
    touch = touch_cls(x, y)
    touch.touch_down()
    touch.touch_up()
    idle(2)


def type_on(vk, text: str, touch_cls, idle) -> None:
    for char in text:
        spot = next(((x, y) for key, x, y in _keys(vk) if key[1] == char), None)
        if spot is None:
            raise LookupError(f"no key for {char!r}")
        _touch(touch_cls, idle, *spot)


def press_keycode(vk, keycode: str, touch_cls, idle) -> None:
    spot = next(((x, y) for key, x, y in _keys(vk) if key[2] == keycode), None)
    if spot is None:
        raise LookupError(f"no {keycode!r} key")
    _touch(touch_cls, idle, *spot)


if __name__ == "__main__":
    from conftest import kiosk_script_main

    kiosk_script_main(_script)
