"""The layout check by machine: every kiosk screen and state (kiosk_ui.tour) at 800x480,
1024x600 and 1280x800, in French and English, has no finding; and the checker itself
(kiosk_ui.layout_check) finds each fault on tiny widget trees built for it.

Kivy's Window is one per process: each size's tour runs in a subprocess of its own (both
languages in it), and the checker's own tests run in one more (this file is also that
script). Screenshots of every state go to test-artifacts/kiosk/tour/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "kiosk" / "tour"
SIZES = ("800x480", "1024x600", "1280x800")
TOUR_TIMEOUT_S = 300


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(tmp_path / "kivy")}
    env.pop("KENEYA_HOME", None)
    return env


@pytest.mark.e2e
@pytest.mark.parametrize("size", SIZES)
def test_every_screen_and_state_passes_the_layout_check(tmp_path: Path, size: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob(f"*-{size}-*.png"):
        old.unlink()

    def tour() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "kiosk_ui.tour", "--size", size, "--lang", "fr,en"]
            + ["--out", str(SHOTS), "--home", str(tmp_path / "home")],
            env=_env(tmp_path),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=TOUR_TIMEOUT_S,
        )

    proc = tour()
    if proc.returncode < 0 and not proc.stdout.strip():
        # Killed by a signal with nothing printed: the offscreen GL driver has crashed once
        # in ~30 runs on a loaded machine (not reproduced). One more run; a second crash or
        # any finding still fails.
        proc = tour()
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    states = result["states"]
    # every state named in the issue was reached and shot, in both languages
    for lang in ("fr", "en"):
        for name in STATES:
            state = f"{name}-{size}-{lang}"
            assert state in states, f"{state} not reached: {_lines(result['findings'])}"
            png = SHOTS / f"{state}.png"
            assert png.exists() and png.stat().st_size > 5000, png
    assert result["count"] == 0, (
        f"{result['count']} layout findings at {size}:\n{_lines(result['findings'])}"
    )


STATES = (
    "login",
    "pin",
    "clock",
    "first-admin",
    "home",
    "search",
    "search-keyboard",
    "search-results",
    "record-top",
    "record-bottom",
    "form-consultation",
    "form-anc",
    "form-immunization",
    "form-growth",
    "numpad",
    "form-anc-alert",
    "record-alert",
    "home-alerts",
    "register-errors",
    "register-keyboard",
    "register-keyboard-last",
    "register-numpad",
    "due-today",
    "due-upcoming",
    "due-defaulters",
    "status",
    "due-villages",
    "power-banner",
    "countdown",
    "countdown-matron",
)


def _lines(found: list[dict]) -> str:
    return "\n".join(
        f"[{f['rule']}] {f['state']}: {f['widget']} {f['text']!r} — {f['detail']}" for f in found
    )


# --------------------------------------------------------------------------- the checker
@pytest.mark.e2e
def test_the_checker_finds_each_fault_on_small_trees(run_kiosk_script) -> None:
    seen = run_kiosk_script(__file__, SHOTS.parent / "checker")

    def rules(case: str) -> list[str]:
        return sorted({f["rule"] for f in seen[case]})

    assert seen["clean"] == [], seen["clean"]  # a plain, well-made screen: nothing
    assert rules("overflowing label") == ["overflow"], seen["overflowing label"]
    assert rules("broken word") == ["overflow"], seen["broken word"]
    assert "broken" in seen["broken word"][0]["detail"]
    assert rules("30 px button") == ["target"], seen["30 px button"]
    assert seen["30 px button"][0]["text"] == "OK"
    assert rules("small keyboard") == ["target"] and len(seen["small keyboard"]) >= 10
    assert rules("grey on grey") == ["contrast"], seen["grey on grey"]
    assert rules("light button") == ["contrast"], seen["light button"]
    assert rules("big bold 3.5:1") == [], seen["big bold 3.5:1"]  # large text: 3:1 is enough
    assert rules("off-window button") == ["offscreen"], seen["off-window button"]
    assert rules("pushed out of its box") == ["offscreen"], seen["pushed out of its box"]
    assert "BoxLayout's box" in seen["pushed out of its box"][0]["detail"]
    assert rules("grey hint") == ["contrast"], seen["grey hint"]
    assert rules("outside its content") == ["offscreen"], seen["outside its content"]
    assert rules("French in English") == ["untranslated"], seen["French in English"]
    assert rules("French word in English") == ["untranslated"]
    assert rules("English in French") == ["untranslated"], seen["English in French"]
    assert seen["patient names in English"] == [], seen["patient names in English"]
    assert seen["scrolled out of view"] == [], seen["scrolled out of view"]
    assert rules("typed out of sight") == ["offscreen"], seen["typed out of sight"]
    assert "being typed in" in seen["typed out of sight"][0]["detail"]
    assert seen["hidden holder"] == [], seen["hidden holder"]
    assert seen["other screen"] == [], seen["other screen"]
    assert seen["transparent"] == [], seen["transparent"]
    # one line per finding, naming the rule, the state and the widget
    assert seen["str"].startswith("[target] tiny:") and "Button" in seen["str"]


def _checker_cases(home: Path, out: Path) -> dict:
    from conftest import kiosk_window

    EventLoop, Window = kiosk_window(800, 480)
    from kivy.graphics import Color, Rectangle
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.floatlayout import FloatLayout
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.label import Label
    from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
    from kivy.uix.scrollview import ScrollView
    from kivy.uix.textinput import TextInput

    from kiosk_ui.layout_check import findings
    from kiosk_ui.widgets.keyboard import AzertyKeyboard

    WHITE, DARK = (1, 1, 1, 1), (0.05, 0.05, 0.05, 1)

    def page() -> FloatLayout:
        root = FloatLayout(size=(800, 480))
        with root.canvas.before:
            root._bg_colour = Color(0.97, 0.97, 0.95, 1)
            Rectangle(pos=(0, 0), size=(800, 480))
        return root

    def check(root, lang: str = "fr", **kw) -> list[dict]:
        Window.add_widget(root)
        for _ in range(4):
            EventLoop.idle()
        try:
            return [f.as_dict() for f in findings(root, (800, 480), lang, **kw)]
        finally:
            Window.remove_widget(root)

    def flat(text: str, colour, **kw) -> Button:
        kw.setdefault("size_hint", (None, None))
        kw.setdefault("size", (200, 60))
        return Button(text=text, background_normal="", background_color=colour, **kw)

    def label(text: str, **kw) -> Label:
        kw.setdefault("size_hint", (None, None))
        kw.setdefault("color", DARK)
        return Label(text=text, **kw)

    seen: dict = {}

    root = page()
    box = BoxLayout(orientation="vertical", size_hint=(None, None), size=(400, 200), pos=(10, 10))
    box.add_widget(label("Nom de famille", size=(400, 60), font_size=20))
    box.add_widget(flat("Enregistrer", (0.04, 0.26, 0.52, 1), size=(400, 60), color=WHITE))
    root.add_widget(box)
    seen["clean"] = check(root)

    root = page()
    root.add_widget(label("Une phrase bien trop longue pour sa boîte", size=(120, 40), pos=(5, 5)))
    seen["overflowing label"] = check(root)

    root = page()
    wrapped = label("Saignement", size=(70, 120), pos=(5, 5), font_size=20)
    wrapped.text_size = (70, None)
    root.add_widget(wrapped)
    seen["broken word"] = check(root)

    root = page()
    root.add_widget(flat("OK", (0.04, 0.26, 0.52, 1), size=(30, 30), pos=(5, 5), color=WHITE))
    found = check(root, state="tiny")
    seen["30 px button"] = found

    root = page()
    kb = AzertyKeyboard(size_hint=(None, None), size=(400, 150), pos=(0, 0))
    root.add_widget(kb)
    seen["small keyboard"] = check(root)

    root = page()
    root.add_widget(label("Gris", size=(200, 60), pos=(5, 5), color=(0.6, 0.6, 0.6, 1)))
    seen["grey on grey"] = check(root)

    root = page()
    root.add_widget(flat("Annuler", (0.9, 0.45, 0.02, 1), pos=(5, 5), color=WHITE))
    seen["light button"] = check(root)

    root = page()
    big = flat("Annuler", (0.85, 0.38, 0.0, 1), pos=(5, 5), color=WHITE, bold=True, font_size=26)
    root.add_widget(big)
    seen["big bold 3.5:1"] = check(root)

    root = page()
    root.add_widget(flat("Suivant", (0.04, 0.26, 0.52, 1), pos=(700, 200), color=WHITE))
    seen["off-window button"] = check(root)

    root = page()
    column = BoxLayout(orientation="vertical", size_hint=(None, None), size=(300, 100))
    column.pos = (10, 300)  # under it, inside the window: only its own box is overstepped
    for name in ("Titre", "Confirmer"):
        column.add_widget(flat(name, (0.04, 0.26, 0.52, 1), size_hint=(1, None), height=80))
    root.add_widget(column)
    seen["pushed out of its box"] = check(root)

    root = page()
    root.add_widget(TextInput(hint_text="Nom", size_hint=(None, None), size=(300, 56)))
    seen["grey hint"] = check(root)

    def scrolled(scroll_y: float, extra=None) -> FloatLayout:
        root = page()
        sv = ScrollView(size_hint=(None, None), size=(400, 200), pos=(0, 0), do_scroll_x=False)
        content = GridLayout(cols=1, size_hint=(1, None), height=800)
        for i in range(10):
            content.add_widget(
                flat(
                    f"Ligne {i}", (0.04, 0.26, 0.52, 1), size_hint=(1, None), height=72, color=WHITE
                )
            )
        if extra is not None:
            content.add_widget(extra)
        sv.add_widget(content)
        sv.scroll_y = scroll_y
        root.add_widget(sv)
        return root

    seen["scrolled out of view"] = check(scrolled(0.0))
    typed = TextInput(size_hint=(1, None), height=56, keyboard_mode="managed")
    root = scrolled(1.0, typed)
    typed.focus = True
    seen["typed out of sight"] = check(root)
    typed.focus = False
    holder = FloatLayout(size_hint=(1, None), height=80)
    holder.add_widget(flat("Perdu", (0.04, 0.26, 0.52, 1), pos=(0, -400), color=WHITE))
    seen["outside its content"] = check(scrolled(1.0, holder))

    root = page()
    hidden = BoxLayout(size_hint=(None, None), size=(400, 0), pos=(5, 5), disabled=True)
    hidden.add_widget(flat("x", (0.9, 0.9, 0.9, 1), size=(20, 20), color=WHITE))
    root.add_widget(hidden)
    seen["hidden holder"] = check(root)

    root = page()
    faded = flat("y", (0.9, 0.9, 0.9, 1), size=(20, 20), pos=(900, 5), color=WHITE)
    faded.opacity = 0
    root.add_widget(faded)
    seen["transparent"] = check(root)

    root = page()
    sm = ScreenManager(transition=NoTransition(), size_hint=(None, None), size=(800, 480))
    for name in ("shown", "other"):
        s = Screen(name=name)
        if name == "other":
            s.add_widget(flat("z", (0.9, 0.9, 0.9, 1), size=(10, 10), pos=(-50, 5), color=WHITE))
        sm.add_widget(s)
    sm.current = "shown"
    root.add_widget(sm)
    seen["other screen"] = check(root)

    root = page()
    root.add_widget(label("Enregistrer", size=(300, 60), pos=(5, 5), font_size=20))
    seen["French in English"] = check(root, "en")

    root = page()
    root.add_widget(label("Next visit: à la maison", size=(400, 60), pos=(5, 5), font_size=20))
    seen["French word in English"] = check(root, "en")

    root = page()
    root.add_widget(label("confirmée (staff)", size=(300, 60), pos=(5, 5), font_size=20))
    seen["English in French"] = check(root, "fr")

    root = page()
    root.add_widget(label("Traoré Aïssata — Ségou", size=(400, 60), pos=(5, 5), font_size=20))
    seen["patient names in English"] = check(root, "en", allow={"Traoré", "Aïssata", "Ségou"})

    root = page()
    root.add_widget(flat("OK", (0.04, 0.26, 0.52, 1), size=(30, 30), pos=(5, 5), color=WHITE))
    Window.add_widget(root)
    EventLoop.idle()
    seen["str"] = str(findings(root, (800, 480), "fr", state="tiny")[0])
    Window.remove_widget(root)
    return seen


if __name__ == "__main__":
    from conftest import kiosk_script_main

    kiosk_script_main(_checker_cases)
