"""The front panel on gpiozero's MockFactory: LED colours and blinking, the held button, the
buzzer. gpiozero blinks and calls back on its own threads: waits are bounded polls."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from appliance.clock import to_iso
from power.config import GpioPins
from power.gpio import (
    AMBER,
    BLUE,
    GREEN,
    MAGENTA,
    OFF,
    PATTERNS,
    RED,
    USB_SHOWN_S,
    StatusPanel,
    usb_signal,
)
from power.policy import State

PINS = GpioPins(red=17, green=27, blue=22, button=26, buzzer=18, hold_s=0.05)


@pytest.fixture
def factory():
    factory = MockFactory()
    previous = Device.pin_factory
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = previous


def eventually(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def rgb(factory) -> tuple[int, int, int]:
    return tuple(int(factory.pin(p).state) for p in (17, 27, 22))


def seen_colours(factory, timeout_s: float = 5.0) -> set[tuple[int, int, int]]:
    """Colours the LED shows while it blinks (until both phases were seen, or the timeout)."""
    seen: set[tuple[int, int, int]] = set()
    eventually(lambda: seen.add(rgb(factory)) or len(seen) >= 2, timeout_s)
    return seen


def test_ok_is_steady_green_and_fault_steady_red(factory):
    with StatusPanel(PINS, pin_factory=factory) as panel:
        panel.show(State.OK)
        assert rgb(factory) == GREEN
        panel.show(State.SENSOR_FAULT)
        assert rgb(factory) == RED
        assert panel.led._blink_thread is None  # steady, not blinking


def test_warning_blinks_amber(factory):
    with StatusPanel(PINS, pin_factory=factory) as panel:
        panel.show(State.WARN)
        assert seen_colours(factory) == {AMBER, OFF}


def test_pending_shutdown_blinks_red_and_beeps(factory):
    with StatusPanel(PINS, pin_factory=factory) as panel:
        panel.show(State.SHUTDOWN_PENDING)
        assert seen_colours(factory) == {RED, OFF}
        assert eventually(lambda: factory.pin(18).state == 1)  # the beep's first on-phase
        panel.show(State.OK)
        assert rgb(factory) == GREEN
        assert factory.pin(18).state == 0


def test_showing_the_same_state_again_changes_nothing(factory):
    with StatusPanel(PINS, pin_factory=factory) as panel:
        panel.show(State.WARN)
        thread = panel.led._blink_thread
        panel.show(State.WARN)
        assert panel.led._blink_thread is thread


def test_holding_the_button_asks_for_a_shutdown(factory):
    asked = threading.Event()
    with StatusPanel(PINS, on_shutdown_request=asked.set, pin_factory=factory):
        factory.pin(26).drive_low()  # pulled up: pressed pulls it to ground
        assert asked.wait(5.0)
        factory.pin(26).drive_high()


def test_a_short_press_does_not(factory):
    asked = threading.Event()
    pins = GpioPins(button=26, red=None, hold_s=0.5)
    with StatusPanel(pins, on_shutdown_request=asked.set, pin_factory=factory) as panel:
        assert panel.led is None  # no red pin: no LED
        factory.pin(26).drive_low()
        factory.pin(26).drive_high()
        assert not asked.wait(1.0)


def test_default_hold_is_three_seconds_and_pins_are_configurable():
    assert GpioPins().hold_s == 3.0
    assert GpioPins().button not in (2, 3)  # the INA219's I2C pins


def test_close_releases_the_pins(factory):
    panel = StatusPanel(PINS, pin_factory=factory)
    panel.show(State.WARN)
    panel.close()
    with StatusPanel(PINS, pin_factory=factory):  # the same pins can be claimed again
        pass


def test_a_usb_backup_shows_blue_while_the_power_is_fine(factory):
    now = 1_800_000_000.0
    at = to_iso(datetime.fromtimestamp(now - 5, tz=UTC))
    assert usb_signal({"state": "writing", "at": at}, now) == "writing"
    assert usb_signal({"state": "done", "at": at}, now + USB_SHOWN_S) is None  # long gone
    assert usb_signal({"state": "odd", "at": at}, now) is None
    assert usb_signal({"state": "done"}, now) is None and usb_signal(None, now) is None
    with StatusPanel(PINS, pin_factory=factory) as panel:
        panel.show(State.OK, "writing")
        assert seen_colours(factory) == {BLUE, OFF}  # leave the stick in
        panel.show(State.OK, "done")
        assert rgb(factory) == BLUE  # steady: the stick may be removed
        panel.show(State.OK, "failed")
        assert seen_colours(factory) == {MAGENTA, OFF}
        panel.show(State.WARN, "done")  # the battery comes first
        assert seen_colours(factory) == {AMBER, OFF}
        panel.show(State.OK, None)
        assert rgb(factory) == GREEN


def test_the_low_power_wait_flashes_red_briefly_every_ten_seconds(factory):
    assert PATTERNS[State.LOW_POWER_WAIT] == (RED, (0.1, 9.9), OFF)
    with StatusPanel(PINS, pin_factory=factory) as panel:
        panel.show(State.LOW_POWER_WAIT)
        assert seen_colours(factory) == {RED, OFF}  # the flash, then the long dark
        assert factory.pin(18).state == 0  # no beeping all night


def test_critical_flickers_red(factory):
    with StatusPanel(PINS, pin_factory=factory) as panel:
        panel.show(State.CRITICAL)
        assert seen_colours(factory) == {RED, OFF}


def test_a_named_fault_alternates_amber_and_red(factory):
    with StatusPanel(PINS, pin_factory=factory) as panel:
        panel.show(State.OK, fault="wrong_shunt")
        assert seen_colours(factory) == {AMBER, RED}  # never dark: not the warning's blink
        panel.show(State.OK, "done", fault="wrong_shunt")  # the fault before a USB backup
        assert panel.usb is None
        panel.show(State.LOW_POWER_WAIT, fault="sensor_lost")  # the battery comes first
        assert panel.fault is None
        panel.show(State.OK)
        assert rgb(factory) == GREEN and panel.led._blink_thread is None
