"""The root slots' state record: the initramfs's shell script and the Python reference agree on
every record, and RAUC's backend requests move a slot through install, trial, good or bad."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest

from provisioning import slots

SCRIPT = Path(__file__).resolve().parents[2] / "image_build/hooks/initramfs-slot"


def run_initramfs(tmp: Path, text: str | None, present: set[str]) -> tuple[str, str, str | None]:
    """The script under the host's sh, with a folder standing for the FAT: (chosen slot,
    ROOT= it wrote, the record after it or None when it did not write)."""
    fat = tmp / "fat"
    (fat / "keneya").mkdir(parents=True, exist_ok=True)
    record = fat / "keneya/slots.txt"
    if text is None:
        record.unlink(missing_ok=True)
    else:
        record.write_text(text)
    before = record.stat().st_mtime_ns if text is not None else None
    conf = tmp / "param.conf"
    conf.write_text("")
    devices = " ".join(f"/dev/vda{n}" if s in present else "-" for s, n in (("A", 2), ("B", 3)))
    done = subprocess.run(
        ["sh", str(SCRIPT)],
        env={
            "PATH": "/usr/bin:/bin",
            "KENEYA_SLOT_DIR": str(fat),
            "KENEYA_SLOT_DEVICES": devices,
            "KENEYA_PARAM_CONF": str(conf),
            "KENEYA_SLOT_RUN": str(tmp),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    env = dict(line.split("=", 1) for line in (tmp / "keneya-slot.env").read_text().split())
    after = record.read_text() if record.exists() else None
    wrote = (
        after
        if (before is None and after is not None)
        or (after is not None and record.stat().st_mtime_ns != before)
        else None
    )
    assert "Traceback" not in done.stderr
    return env["KENEYA_BOOTED_SLOT"], conf.read_text().strip(), wrote


RECORDS = [
    slots.SlotRecord(p, {"A": sa, "B": sb}, {"A": aa, "B": ab}, None)
    for p, sa, sb, aa, ab in itertools.product(
        slots.SLOTS, slots.STATES, slots.STATES, (0, 2), (0, 1)
    )
]


@pytest.mark.parametrize("present", [{"A", "B"}, {"A"}])
def test_the_initramfs_chooses_as_the_reference_on_every_record(tmp_path, present):
    for i, rec in enumerate(RECORDS):
        text = slots.render(rec)
        chosen, root, wrote = run_initramfs(tmp_path, text, present)
        want, after, changed = slots.choose(rec, present)
        assert chosen == want, (text, present)
        assert root == f"ROOT=/dev/vda{2 if want == 'A' else 3}"
        if changed:
            # it may have been written within the same clock tick: compare contents
            assert slots.parse(wrote or (tmp_path / "fat/keneya/slots.txt").read_text()) == after
        else:
            assert wrote is None, (i, text)


def test_no_record_boots_slot_a_and_writes_nothing(tmp_path):
    chosen, root, wrote = run_initramfs(tmp_path, None, {"A", "B"})
    assert (chosen, root, wrote) == ("A", "ROOT=/dev/vda2", None)


def test_a_record_with_junk_keeps_the_defaults_and_never_runs_it(tmp_path):
    marker = tmp_path / "ran"
    text = (
        f"primary=$(touch {marker})\nA_state=good;touch {marker}\nB_state=trying\nB_attempts=9x\n"
    )
    chosen, _root, _ = run_initramfs(tmp_path, text, {"A", "B"})
    assert chosen == "A" and not marker.exists()
    assert slots.parse(text) == slots.SlotRecord(
        "A", {"A": "good", "B": "trying"}, {"A": 0, "B": 0}
    )


@pytest.mark.parametrize(
    "text",
    [
        "primary=B\r\nA_state=good\r\nB_state=good\r\n",  # edited on a laptop: CRLF
        "A_state=good\nB_state=good\nprimary=B",  # no final newline: the last line is not read
        "primary=B\rB_state=good\r",
    ],
)
def test_the_shell_and_python_read_odd_line_endings_alike(tmp_path, text):
    chosen, _root, _ = run_initramfs(tmp_path, text, {"A", "B"})
    assert chosen == slots.choose(slots.parse(text), {"A", "B"})[0]


def test_install_trial_and_mark_good():
    rec = slots.SlotRecord()
    # RAUC: the target is marked bad before it is written, then made primary
    _, rec = slots.backend(rec, ["set-state", "B", "bad"])
    _, rec = slots.backend(rec, ["set-primary", "B"])
    assert (rec.primary, rec.state["B"], rec.attempts["B"]) == ("B", "trying", slots.ATTEMPTS)
    assert slots.backend(rec, ["get-primary"])[0] == "B"
    chosen, rec, changed = slots.choose(rec, {"A", "B"})
    assert (chosen, rec.attempts["B"], changed) == ("B", slots.ATTEMPTS - 1, True)
    _, rec = slots.backend(rec, ["set-state", "B", "good"])
    chosen, rec2, changed = slots.choose(rec, {"A", "B"})
    assert (chosen, changed) == ("B", False)
    assert slots.backend(rec, ["get-state", "B"])[0] == "good"


def test_a_slot_that_never_becomes_good_falls_back_after_its_attempts():
    rec = slots.backend(slots.SlotRecord(), ["set-primary", "B"])[1]
    boots = []
    for _ in range(slots.ATTEMPTS + 1):
        chosen, rec, _ = slots.choose(rec, {"A", "B"})
        boots.append(chosen)
    assert boots == ["B"] * slots.ATTEMPTS + ["A"]
    assert (rec.primary, rec.state["B"], rec.fallback_from) == ("A", "bad", "B")


def test_mark_bad_returns_to_the_other_slot_at_the_next_boot():
    rec = slots.backend(slots.SlotRecord(), ["set-primary", "B"])[1]
    chosen, rec, _ = slots.choose(rec, {"A", "B"})
    _, rec = slots.backend(rec, ["set-state", "B", "bad"])
    chosen, rec, changed = slots.choose(rec, {"A", "B"})
    assert (chosen, rec.primary, rec.fallback_from, changed) == ("A", "A", "B", True)


def test_unknown_requests_are_refused(tmp_path, monkeypatch):
    with pytest.raises(slots.SlotError):
        slots.backend(slots.SlotRecord(), ["set-primary", "C"])
    with pytest.raises(slots.SlotError):
        slots.backend(slots.SlotRecord(), ["set-state", "A", "maybe"])
    monkeypatch.setattr(slots, "RECORD", tmp_path / "slots.txt")
    assert slots.main(["frobnicate"]) == 2


def test_the_backend_writes_the_record_it_is_given(tmp_path, monkeypatch, capsys):
    record = tmp_path / "keneya/slots.txt"
    monkeypatch.setattr(slots, "RECORD", record)
    assert slots.main(["get-primary"]) == 0 and capsys.readouterr().out == "A\n"
    assert not record.exists()  # reading writes nothing
    assert slots.main(["set-primary", "B"]) == 0
    assert slots.read(record).state["B"] == "trying"
    assert slots.main(["get-primary"]) == 0 and capsys.readouterr().out == "B\n"
