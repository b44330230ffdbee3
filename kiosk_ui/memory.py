"""Keeping the kiosk's resident memory flat (a Pi 3 has 1 GB for the OS, the web app, the
kiosk and the daemons; the kiosk's budget is 250 MB).

Measured with benchmarks/kiosk.py at 50,000 patients (every screen, 20 rounds): what grew was
not Python objects (live widgets, labels and textures stay the same from round to round) but
memory glibc's malloc kept after it was freed:
- a PIN check (argon2id, 19 MiB): see appliance/malloc.py;
- the home's alerts pass runs on a thread, whose malloc arena keeps what the pass freed;
- a screen change frees many label textures and widgets in the middle of the heap, which only
  malloc_trim gives back.
So: fixed thresholds and two arenas at start (`tune_malloc`, appliance/malloc.py), and
`malloc_trim(0)` shortly after each screen change (`release_soon`), once the new screen is
drawn. Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import gc

from appliance.malloc import LIBC as _LIBC
from appliance.malloc import tune_malloc

RELEASE_DELAY_S = 1.0  # once the new screen is drawn and being read (a collection takes ~30 ms)

__all__ = ["live_objects", "release", "release_soon", "tune_malloc"]

_frozen = False


def release() -> bool:
    """Collect the widgets just left (Kivy's are held in reference cycles: only the cyclic
    collector frees them, and with them their textures) and give the freed heap back to the
    system. The first call freezes what lives then (the modules, the screens made at start):
    the collector never walks those again, so a collection after a screen change costs a few
    milliseconds instead of a hundred. True when malloc gave memory back."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True
    else:
        gc.collect()
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))


_trigger = None


def release_soon() -> None:
    """`release` once the screen just shown is drawn; several calls in a row give one."""
    global _trigger
    if _LIBC is None:
        return
    if _trigger is None:
        from kivy.clock import Clock

        _trigger = Clock.create_trigger(lambda _dt: release(), RELEASE_DELAY_S)
    _trigger()


def live_objects() -> dict[str, int]:
    """Live Kivy objects after a full collection: widgets, labels, textures (what a leak of
    screens or rows would show; the benchmark and the memory test count them per round)."""
    from kivy.graphics.texture import Texture
    from kivy.uix.label import Label
    from kivy.uix.widget import Widget

    gc.collect()
    counts = {"widgets": 0, "labels": 0, "textures": 0}
    for o in gc.get_objects():
        kind = type(o)  # not isinstance: a dead weak proxy raises on it
        if issubclass(kind, Widget):
            counts["widgets"] += 1
            if issubclass(kind, Label):
                counts["labels"] += 1
        elif issubclass(kind, Texture):
            counts["textures"] += 1
    return counts
