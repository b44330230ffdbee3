"""glibc malloc settings for the long-running processes (the kiosk, the web app) on a Pi 3
whose 1 GB holds the OS, both of them and the daemons.

A PIN or password check (argon2id) takes 19 MiB at once. Freeing a block that big makes glibc
raise its mmap threshold (and its trim threshold, to twice it) for good: later large blocks
come from the heap, each thread's arena keeps what it freed, and the process never gives it
back (a dozen web logins at once: 90 → 245 MB, kept). Fixed thresholds and two arenas keep
such a block mapped and returned when freed. `tune_malloc` sets them from inside, the same as
MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ and MALLOC_ARENA_MAX=2 in the environment, so a
process run by hand gets them too. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("keneya")

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
THRESHOLD = 128 * 1024  # glibc's own starting value, kept from then on
ARENAS = 2  # the main thread's and one for the worker or background threads


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


LIBC = _libc()


def tune_malloc() -> bool:
    """Fixed mmap and trim thresholds, at most two arenas. Call it early, before the threads
    start (an arena made before stays). True when glibc took them."""
    if LIBC is None:
        return False
    done = all(
        LIBC.mallopt(param, value) == 1
        for param, value in (
            (M_MMAP_THRESHOLD, THRESHOLD),
            (M_TRIM_THRESHOLD, THRESHOLD),
            (M_ARENA_MAX, ARENAS),
        )
    )
    if not done:
        log.warning("malloc settings not taken")
    return done
