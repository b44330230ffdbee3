"""The safe shutdown's steps, in order, with fakes for the store and the commands; the
low-power wait's screen attributes are files under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from power import shutdown
from power.errors import ConfigurationError
from power.shutdown import (
    POWEROFF,
    READ_ONLY_UNIT,
    REBOOT,
    REBOOT_UNPRIVILEGED,
    START_SERVICES,
    STOP_SERVICES,
    CommandRecorder,
    SafeShutdown,
    WaitOptions,
    for_this_user,
    load_wait_options,
    mount_point,
    write_sysfs,
)


class FakeStore:
    def __init__(self, log: list[str], *, fail_checkpoint: bool = False):
        self.log = log
        self.power = self
        self.fail_checkpoint = fail_checkpoint

    def checkpoint(self):
        self.log.append("checkpoint")
        if self.fail_checkpoint:
            raise RuntimeError("disk I/O error")
        return (0, 3, 3)

    def close(self):
        self.log.append("close")


def recorder(log):
    rec = CommandRecorder()

    def run(argv):
        log.append(" ".join(argv))
        return rec(argv)

    return run, rec


def test_steps_run_in_order():
    log: list[str] = []
    run, rec = recorder(log)
    report = SafeShutdown(runner=run).execute(FakeStore(log))
    assert log == [
        "checkpoint",
        "systemctl stop keneya-web keneya-kiosk keneya-modem",
        "checkpoint",
        "close",
        "systemctl poweroff",
    ]
    assert rec.calls == [STOP_SERVICES, POWEROFF]
    assert report.checkpoints == ((0, 3, 3), (0, 3, 3))
    assert report.poweroff_status == 0


def test_a_failing_step_does_not_prevent_the_poweroff():
    log: list[str] = []
    run, rec = recorder(log)
    report = SafeShutdown(runner=run).execute(FakeStore(log, fail_checkpoint=True))
    assert rec.count(POWEROFF) == 1
    assert report.checkpoints == (None, None)


def test_countdown_is_at_least_a_minute():
    with pytest.raises(ValueError):
        SafeShutdown(grace_s=30)
    pending = SafeShutdown(grace_s=90).start(
        100.0, wall_s=1_800_000_000.0, event_id=7, origin="policy", reason="low"
    )
    assert pending.deadline_t == 190.0 and pending.deadline_wall_s == 1_800_000_090.0
    assert not pending.due(189.9) and pending.due(190.0)


def test_injected_commands_are_configurable():
    rec = CommandRecorder()
    s = SafeShutdown(runner=rec, stop_services=("true",), poweroff=("echo", "off"))
    s.execute(FakeStore([]))
    assert rec.calls == [("true",), ("echo", "off")]


# -- the low-power wait and its way back --------------------------------------------------


def screens(root: Path) -> WaitOptions:
    """Two backlights and a framebuffer under `root`, all shown (0)."""
    for name in ("rpi_backlight", "10-0045"):
        path = root / "backlight" / name / "bl_power"
        path.parent.mkdir(parents=True)
        path.write_text("0")
    (root / "fb0").mkdir()
    (root / "fb0" / "blank").write_text("0")
    return WaitOptions(
        backlight=str(root / "backlight" / "*" / "bl_power"),
        fb_blank=str(root / "fb0" / "blank"),
        modem_usb_hub="1-1",
    )


def values(root: Path) -> list[str]:
    return [
        (root / "backlight" / n / "bl_power").read_text() for n in ("10-0045", "rpi_backlight")
    ] + [(root / "fb0" / "blank").read_text()]


def test_the_wait_stops_services_between_checkpoints_then_screen_and_usb(tmp_path):
    log: list[str] = []
    run, rec = recorder(log)
    safe = SafeShutdown(runner=run, wait=screens(tmp_path))
    report = safe.enter_wait(FakeStore(log))
    assert log == [
        "checkpoint",
        "systemctl stop keneya-web keneya-kiosk keneya-modem",
        "checkpoint",
        "uhubctl -l 1-1 -a off",
    ]
    assert values(tmp_path) == ["4", "4", "1"]  # both backlights powered down, fb blanked
    assert report.how == "low_power_wait" and report.poweroff_status is None
    assert rec.count(POWEROFF) == 0
    assert report.steps == tuple(safe.journal)
    assert [s.split(":")[0] for s in safe.journal[3:6]] == ["screen off"] * 3
    assert "close" not in log  # the daemon keeps its database open: it goes on sampling

    log.clear()
    assert safe.resume() == 0
    assert log == [
        "uhubctl -l 1-1 -a on",
        "systemctl start keneya-modem keneya-web keneya-kiosk",
    ]
    assert values(tmp_path) == ["0", "0", "0"]
    assert rec.calls[-1] == START_SERVICES


def test_absent_screens_and_no_hub_are_skipped(tmp_path):
    log: list[str] = []
    run, rec = recorder(log)
    nothing = WaitOptions(backlight=str(tmp_path / "none" / "*"), fb_blank=str(tmp_path / "x"))
    safe = SafeShutdown(runner=run, wait=nothing)
    safe.enter_wait(FakeStore(log))
    safe.resume()
    assert rec.calls == [STOP_SERVICES, START_SERVICES]
    assert not any(step.startswith("screen") for step in safe.journal)


def test_a_failing_step_of_the_wait_does_not_prevent_the_next(tmp_path):
    log: list[str] = []

    def broken_runner(argv):
        log.append(" ".join(argv))
        raise OSError("systemctl: not found")

    def refusing_writer(path, value):
        raise PermissionError(path)

    safe = SafeShutdown(runner=broken_runner, wait=screens(tmp_path), write=refusing_writer)
    report = safe.enter_wait(FakeStore(log, fail_checkpoint=True))
    assert report.stop_status == -1 and report.checkpoints == (None, None)
    assert log[-1] == "uhubctl -l 1-1 -a off"  # reached despite every failure before it
    assert values(tmp_path) == ["0", "0", "0"]


def test_a_critical_poweroff_in_the_wait_does_not_stop_the_services_again():
    log: list[str] = []
    run, rec = recorder(log)
    report = SafeShutdown(runner=run).execute(FakeStore(log), services_running=False)
    assert log == ["checkpoint", "checkpoint", "close", "systemctl poweroff"]
    assert report.stop_status is None and report.poweroff_status == 0


def test_wait_options_from_the_facility_file(tmp_path):
    facility = tmp_path / "facility.toml"
    assert load_wait_options(facility) == WaitOptions()  # no file: defaults, hub unset
    assert WaitOptions().usb_power(on=False) is None
    facility.write_text(
        '[power]\nchemistry = "agm"\n[power.wait]\nmodem_usb_hub = "1-1"\nmodem_usb_port = 2\n'
        'fb_blank = ""\n'
    )
    opts = load_wait_options(facility)
    assert opts.usb_power(on=False) == ("uhubctl", "-l", "1-1", "-p", "2", "-a", "off")
    assert opts.fb_blank == "" and opts.backlight == WaitOptions().backlight
    facility.write_text('[power.wait]\nmodem_hub = "1-1"\n')
    with pytest.raises(ConfigurationError, match=r"\[power.wait\] unknown keys: modem_hub"):
        load_wait_options(facility)
    facility.write_text("[power]\nwait = 3\n")
    with pytest.raises(ConfigurationError, match="must be a table"):
        load_wait_options(facility)


# -- the read-only hold of a critical battery ----------------------------------------------


def hold_writer(log: list[str]):
    """Records the writes in `log`; nothing is written (SysRq above all)."""

    def write(path, value):
        log.append(f"write {path} {value}")
        return True

    return write


def test_the_hold_closes_the_records_then_makes_everything_read_only(tmp_path):
    log: list[str] = []
    run, rec = recorder(log)
    safe = SafeShutdown(
        runner=run,
        wait=screens(tmp_path),
        write=hold_writer(log),
        data_dir=tmp_path / "data",
        sysrq_trigger=str(tmp_path / "sysrq-trigger"),
        find_mount=lambda path: Path("/srv/data-fs"),
    )
    report = safe.hold(FakeStore(log))
    assert log == [
        "checkpoint",
        "systemctl stop keneya-web keneya-kiosk keneya-modem",
        "checkpoint",
        "close",
        f"write {tmp_path}/backlight/10-0045/bl_power 4",
        f"write {tmp_path}/backlight/rpi_backlight/bl_power 4",
        f"write {tmp_path}/fb0/blank 1",
        "uhubctl -l 1-1 -a off",
        "sync",
        "mount -o remount,ro /srv/data-fs",
        f"write {tmp_path}/sysrq-trigger s",
        f"write {tmp_path}/sysrq-trigger u",
    ]
    assert report.how == "critical_hold" and report.poweroff_status is None
    assert report.steps[-2:] == (
        f"sysrq s: {tmp_path}/sysrq-trigger",
        f"sysrq u: {tmp_path}/sysrq-trigger",
    )
    assert not (tmp_path / "sysrq-trigger").exists()  # the writer was the recorder
    assert safe.reboot() == 0 and rec.calls[-1] == REBOOT == ("systemctl", "reboot", "--force")


def test_the_hold_after_the_wait_stops_nothing_and_leaves_out_what_is_not_there():
    log: list[str] = []
    run, rec = recorder(log)
    safe = SafeShutdown(runner=run, wait=WaitOptions(backlight="", fb_blank=""), sysrq_trigger=None)
    report = safe.hold(FakeStore(log), services_running=False)
    # no data folder named, no SysRq path: those steps are left out
    assert log == ["checkpoint", "checkpoint", "close", "sync"]
    assert report.stop_status is None


def test_a_failing_step_of_the_hold_does_not_prevent_the_next(tmp_path):
    log: list[str] = []

    def broken_runner(argv):
        log.append(" ".join(argv))
        raise OSError(f"{argv[0]}: not found")

    def refusing_writer(path, value):
        log.append(f"write {path} {value}")
        raise PermissionError(path)

    def no_mount(path):
        raise OSError("no such mount")

    safe = SafeShutdown(
        runner=broken_runner,
        write=refusing_writer,
        wait=WaitOptions(backlight="", fb_blank=""),
        data_dir=tmp_path,
        sysrq_trigger="/proc/sysrq-trigger",
        find_mount=no_mount,
    )
    report = safe.hold(FakeStore(log, fail_checkpoint=True))
    assert report.stop_status == -1 and report.checkpoints == (None, None)
    assert log[-4:] == [
        "close",
        "sync",
        "write /proc/sysrq-trigger s",  # reached although the remount could not even be named
        "write /proc/sysrq-trigger u",
    ]


def test_writes_go_only_to_attributes_that_exist(tmp_path):
    present = tmp_path / "blank"
    present.write_text("0")
    assert write_sysfs(present, "1") is True and present.read_text() == "1"
    absent = tmp_path / "sysrq-trigger"
    assert write_sysfs(absent, "u") is False and not absent.exists()


def test_the_mount_point_of_a_folder_not_made_yet(tmp_path):
    mount = mount_point(tmp_path / "not" / "yet")
    assert mount == mount_point(tmp_path) and (tmp_path / "not").exists() is False
    assert str(tmp_path).startswith(str(mount))


def test_every_command_of_the_hold_tells_the_watchdog(tmp_path):
    """Stop, sync and remount may each take up to a minute: together longer than the unit's
    WatchdogSec, which must not restart the monitor half-way through."""
    log: list[str] = []
    run, _ = recorder(log)
    safe = SafeShutdown(
        runner=run,
        wait=screens(tmp_path),
        write=hold_writer(log),
        data_dir=tmp_path / "data",
        find_mount=lambda path: Path("/srv/data-fs"),
        sysrq_trigger=None,
    )
    safe.after_step = lambda: log.append("WATCHDOG=1")
    safe.hold(FakeStore(log))
    commands = [
        i
        for i, line in enumerate(log)
        if line.split()[0] in ("systemctl", "uhubctl", "sync", "mount")
    ]
    assert len(commands) == 4 and all(log[i + 1] == "WATCHDOG=1" for i in commands)


def test_a_monitor_that_is_not_root_hands_the_read_only_steps_to_the_root_unit():
    """As `keneya`, the hold cannot remount nor write /proc/sysrq-trigger: after the records
    are closed it starts keneya-readonly.service (sync, remount, SysRq), and it reboots
    through logind, since PID 1 refuses `systemctl reboot --force` without CAP_SYS_BOOT."""
    log: list[str] = []
    run, rec = recorder(log)
    writes: list[str] = []
    safe = SafeShutdown(
        runner=run,
        wait=WaitOptions(backlight="", fb_blank=""),
        write=lambda path, value: writes.append(f"{path} {value}") or True,
        data_dir=Path("/var/lib/keneya"),
        sysrq_trigger="/proc/sysrq-trigger",
        read_only=READ_ONLY_UNIT,
        reboot=REBOOT_UNPRIVILEGED,
    )
    report = safe.hold(FakeStore(log))
    assert log == [
        "checkpoint",
        "systemctl stop keneya-web keneya-kiosk keneya-modem",
        "checkpoint",
        "close",
        "systemctl start keneya-readonly.service",
    ]
    assert writes == [] and report.how == "critical_hold"
    assert safe.reboot() == 0 and rec.calls[-1] == ("systemctl", "reboot")


def test_the_monitor_chooses_its_way_by_who_it_runs_as(monkeypatch):
    monkeypatch.setattr(shutdown.os, "geteuid", lambda: 950)
    safe = for_this_user(data_dir=Path("/var/lib/keneya"))
    assert safe.read_only == READ_ONLY_UNIT and safe.reboot_command == REBOOT_UNPRIVILEGED
    monkeypatch.setattr(shutdown.os, "geteuid", lambda: 0)
    safe = for_this_user(data_dir=Path("/var/lib/keneya"))
    assert safe.read_only is None and safe.reboot_command == REBOOT
