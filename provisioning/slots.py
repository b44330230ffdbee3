"""The two root slots and their state record on the boot partition (keneya/slots.txt).

Slot A is the card's partition 2, slot B partition 3. The record says which slot is primary
and, for each, its state: `good` (boots), `trying` with attempts left (installed, not yet
marked good), `bad` or `empty` (never booted). The initramfs chooses the root from it
(image_build/hooks/initramfs-slot, which follows `choose` here line for line: the tests run
both on the same records); RAUC reads and writes it through this module's custom bootloader
backend (`python -m provisioning.slots get-primary|set-primary|get-state|set-state`), as
system.conf's `bootloader-custom-backend` names it.

One line per key, `key=value`, so that the initramfs's plain shell can read it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

SLOTS = ("A", "B")
STATES = ("good", "trying", "bad", "empty")
# A newly installed slot may be booted this many times without being marked good (a crash
# or a hang before the health check counts as one) before the other slot is taken again.
ATTEMPTS = 3
RECORD = Path(os.environ.get("KENEYA_SLOTS_FILE", "/boot/firmware/keneya/slots.txt"))
BOOTED_ENV = Path(os.environ.get("KENEYA_BOOTED_SLOT_FILE", "/run/keneya-slot.env"))


class SlotError(ValueError):
    """A backend request RAUC should never make (an unknown slot or state)."""


@dataclass(frozen=True)
class SlotRecord:
    primary: str = "A"
    state: dict[str, str] = field(default_factory=lambda: {"A": "good", "B": "empty"})
    attempts: dict[str, int] = field(default_factory=lambda: {"A": 0, "B": 0})
    fallback_from: str | None = None

    def other(self, slot: str) -> str:
        return "B" if slot == "A" else "A"


def parse(text: str) -> SlotRecord:
    """Unknown keys and malformed values keep the defaults (slot A good), as the initramfs."""
    rec = SlotRecord()
    state, attempts = dict(rec.state), dict(rec.attempts)
    primary, fallback = rec.primary, None
    # as the initramfs's `while read`: lines end with \n only (a CR stays in the value and
    # makes it invalid), and a last line without one is not read
    for line in text.split("\n")[:-1]:
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "primary" and value in SLOTS:
            primary = value
        elif key in ("A_state", "B_state") and value in STATES:
            state[key[0]] = value
        elif key in ("A_attempts", "B_attempts") and len(value) == 1 and value.isdigit():
            attempts[key[0]] = int(value)
        elif key == "fallback_from" and value in SLOTS:
            fallback = value
    return SlotRecord(primary, state, attempts, fallback)


def render(rec: SlotRecord) -> str:
    lines = [
        "# Keneya root slots (written at boot and by RAUC; see keneya update status)",
        f"primary={rec.primary}",
    ]
    for slot in SLOTS:
        lines += [f"{slot}_state={rec.state[slot]}", f"{slot}_attempts={rec.attempts[slot]}"]
    if rec.fallback_from:
        lines.append(f"fallback_from={rec.fallback_from}")
    return "\n".join(lines) + "\n"


def choose(rec: SlotRecord, present: set[str]) -> tuple[str, SlotRecord, bool]:
    """The slot to boot, the record after this boot, and whether it must be written.

    `present`: the slots whose partition holds an ext4 file system.
    """
    state, attempts = dict(rec.state), dict(rec.attempts)
    primary, fallback = rec.primary, rec.fallback_from
    changed = False
    chosen = None
    for slot in (primary, rec.other(primary)):
        if slot not in present:
            if state[slot] != "empty":
                state[slot] = "empty"
                changed = True
            continue
        if state[slot] == "good":
            chosen = slot
        elif state[slot] == "trying":
            if attempts[slot] > 0:
                attempts[slot] -= 1
                changed = True
                chosen = slot
            else:
                state[slot] = "bad"
                changed = True
        if chosen:
            break
    if chosen is None:
        chosen = "A"
    if chosen != primary:
        fallback, primary, changed = primary, chosen, True
    return chosen, SlotRecord(primary, state, attempts, fallback), changed


# --- RAUC's custom bootloader backend --------------------------------------------------------


def backend(rec: SlotRecord, args: list[str]) -> tuple[str, SlotRecord]:
    """One request of RAUC's custom backend: (what to print, the record after it).

    RAUC marks the target slot bad before writing it, calls set-primary once it is written
    (here: on trial, ATTEMPTS boots), and set-state good|bad for `rauc status mark-good|bad`.
    """
    match args:
        case ["get-primary"]:
            return rec.primary, rec
        case ["get-state", slot] if slot in SLOTS:
            return ("bad" if rec.state[slot] in ("bad", "empty") else "good"), rec
        case ["set-primary", slot] if slot in SLOTS:
            state, attempts = dict(rec.state), dict(rec.attempts)
            if state[slot] != "good":
                state[slot], attempts[slot] = "trying", ATTEMPTS
            # a new install: an older return from a failed slot is no longer news
            return "", replace(
                rec, primary=slot, state=state, attempts=attempts, fallback_from=None
            )
        case ["set-state", slot, ("good" | "bad") as new] if slot in SLOTS:
            state, attempts = dict(rec.state), dict(rec.attempts)
            state[slot] = new
            attempts[slot] = 0
            # The primary stays: a bad primary makes the initramfs fall back at the next boot
            # and record fallback_from, which the running system reports (and acts on).
            return "", replace(rec, state=state, attempts=attempts)
    raise SlotError(f"unknown request: {' '.join(args) or '(none)'}")


def read(path: Path | None = None) -> SlotRecord:
    path = path or RECORD
    try:
        return parse(path.read_text(encoding="ascii", errors="replace"))
    except FileNotFoundError:
        return SlotRecord()


def write(rec: SlotRecord, path: Path | None = None) -> None:
    """Through a temporary file, synced before and after the rename (FAT has no journal)."""
    path = path or RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(render(rec))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    # not appliance.backup.copy.fsync_dir: importing that package costs RAUC's every backend
    # call 0.15 s here (about 1 s on a Pi 3); this module imports nothing of the app
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def booted(path: Path | None = None) -> str | None:
    """The slot the initramfs chose for this boot (None: not booted through it)."""
    path = path or BOOTED_ENV
    try:
        text = path.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "KENEYA_BOOTED_SLOT" and value in SLOTS:
            return value
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rec = read()
    try:
        out, new = backend(rec, args)
    except SlotError as e:
        print(f"keneya slots: {e}", file=sys.stderr)
        return 2
    if new != rec:
        write(new)
    if out:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
