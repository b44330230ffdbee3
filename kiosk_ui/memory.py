"""Keeping the kiosk's resident memory flat (a Pi 3 has 1 GB for the OS, the web app, the
kiosk and the daemons; the kiosk's budget is 250 MB).

Measured with benchmarks/kiosk.py at 50,000 patients (every screen, 20 rounds): what grew was
not Python objects (live widgets, labels and textures stay the same from round to round) but
memory glibc's malloc kept after it was freed:
- a PIN check (argon2id, 19 MiB) frees a block bigger than malloc's mmap threshold, and glibc
  then raises that threshold (and the trim threshold, to twice it) for good: later large blocks
  come from the heap and the freed top of the heap is no longer given back;
- the home's alerts pass runs on a thread, whose malloc arena keeps what the pass freed;
- a screen change frees many label textures and widgets in the middle of the heap, which only
  malloc_trim gives back.
So: fixed thresholds and two arenas at start (`tune_malloc`, the same as MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_ and MALLOC_ARENA_MAX=2 in the environment, but set from inside, so
`keneya kiosk` run by hand gets it too), and `malloc_trim(0)` shortly after each screen change
(`release_soon`), once the new screen is drawn. Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger("keneya.kiosk")

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
THRESHOLD = 128 * 1024  # glibc's own starting value, kept from then on
ARENAS = 2  # the UI thread's and one for the background passes
RELEASE_DELAY_S = 1.0  # once the new screen is drawn and being read (a collection takes ~30 ms)


def _libc():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None  # not glibc (musl, macOS)
    return libc


_LIBC = _libc()


def tune_malloc() -> bool:
    """Fixed mmap and trim thresholds, at most two arenas. Call it early, before the threads
    start (an arena made before stays). True when glibc took them."""
    if _LIBC is None:
        return False
    done = all(
        _LIBC.mallopt(param, value) == 1
        for param, value in (
            (M_MMAP_THRESHOLD, THRESHOLD),
            (M_TRIM_THRESHOLD, THRESHOLD),
            (M_ARENA_MAX, ARENAS),
        )
    )
    if not done:
        log.warning("kiosk: malloc settings not taken")
    return done


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
