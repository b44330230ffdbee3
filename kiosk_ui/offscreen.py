"""Kivy's offscreen window for the tour, the benchmark and the kiosk's window tests.

One window per process: Kivy makes its Window once, when a module first imports
kivy.core.window, and an offscreen surface does not grow afterwards. So the size must be in
Kivy's config (the KCFG_GRAPHICS_* variables and Config) before anything imports the Window:
call `open_window` first, before importing kiosk screens. That is why the tests that need a
window run their scenario as a script in a subprocess of its own.
"""

from __future__ import annotations

import os
from pathlib import Path


def open_window(w: int, h: int):
    """Kivy's EventLoop and its offscreen Window at w x h, made now."""
    os.environ["KCFG_GRAPHICS_WIDTH"], os.environ["KCFG_GRAPHICS_HEIGHT"] = str(w), str(h)
    from kiosk_ui.app import kivy_env

    kivy_env(headless=True)
    from kivy.config import Config

    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    from kivy.base import EventLoop
    from kivy.core.window import Window

    EventLoop.ensure_window()
    Window.size = (w, h)
    return EventLoop, Window


def idle(n: int = 3) -> None:
    """n frames of Kivy's event loop."""
    from kivy.base import EventLoop

    for _ in range(n):
        EventLoop.idle()


def tap_at(x: float, y: float) -> None:
    """A finger down and up at window coordinates (x, y)."""
    from kivy.tests.common import UnitTestTouch

    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()


def tap(widget) -> None:
    """A finger down and up at the widget's centre."""
    tap_at(*widget.to_window(*widget.center))


def screenshot(path: Path) -> Path:
    """The window as a PNG at `path` (Kivy's screenshot appends a counter to the name)."""
    from kivy.core.window import Window

    path = Path(path)
    made = Window.screenshot(name=str(path))
    if made:
        Path(made).replace(path)
    return path


def read_logins(home: Path) -> dict[str, tuple[str, str]]:
    """The demo logins a seed wrote to home/demo-logins.txt, role -> (username, PIN)."""
    logins = {}
    for line in (Path(home) / "demo-logins.txt").read_text(encoding="utf-8").splitlines():
        username, role, pin = line.split()
        logins[role] = (username, pin)
    return logins


def seed_demo(
    home: Path, *, patients: int, years: int = 3, seed: int = 7, database: Path | None = None
) -> dict[str, tuple[str, str]]:
    """A seeded facility in `home` (its database there unless `database` is given); its demo
    logins, role -> (username, PIN)."""
    from appliance.paths import Paths
    from appliance.seed.facility import seed_facility

    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    if database is None:
        database = Paths.for_home(home).database
    seed_facility(database, patients=patients, seed=seed, years=years, logins_dir=home)
    return read_logins(home)


def run_script(scenario) -> None:
    """A window scenario as a script: `python FILE PATH...` calls scenario(*paths) and prints
    its dict as one JSON line for the test that ran it; a failure prints its traceback and
    exits 1. Kivy has taken over sys.stdout and sys.stderr by then: the originals are used."""
    import json
    import os
    import sys
    import tempfile
    import traceback

    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kiosk-kivy-"))
    try:
        result = scenario(*(Path(arg) for arg in sys.argv[1:]))
    except BaseException:
        traceback.print_exc(file=sys.__stderr__)
        sys.exit(1)
    print(json.dumps(result, ensure_ascii=False, default=str), file=sys.__stdout__)
