"""The safe shutdown's steps, in order, with fakes for the store and the commands."""

from __future__ import annotations

import pytest

from power.shutdown import (
    CANCEL_ROLES,
    POWEROFF,
    STOP_SERVICES,
    CommandRecorder,
    SafeShutdown,
    may_cancel,
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


def test_who_may_cancel():
    assert set(CANCEL_ROLES) == {"admin", "doctor", "nurse", "midwife", "technician"}
    assert may_cancel("technician") and not may_cancel("matron")
    assert not may_cancel("health_worker")
