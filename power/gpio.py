"""The front panel through gpiozero: a status LED, a shutdown button, an optional buzzer.

* LED (one RGB part, common cathode by default): steady green when all is well, blinking
  amber on a low-battery warning, blinking red while a shutdown is pending, steady red on a
  sensor fault. Colours are on/off (no PWM): software PWM would cost CPU all day.
* Button: held for `hold_s` (3 s) it asks for a safe shutdown -- the same countdown as a low
  battery, so a brush against it does nothing and an admin can still cancel.
* Buzzer (optional): a short beep every 2 s while a shutdown is pending.

Tests use gpiozero's MockFactory (`pin_factory=`); gpiozero runs blinking and button
callbacks on its own threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from power.config import GpioPins
from power.policy import State

log = logging.getLogger(__name__)

GREEN = (0, 1, 0)
AMBER = (1, 1, 0)
RED = (1, 0, 0)
OFF = (0, 0, 0)
# state -> (colour, blink (on_s, off_s) or None for steady)
PATTERNS: dict[State, tuple[tuple[int, int, int], tuple[float, float] | None]] = {
    State.OK: (GREEN, None),
    State.WARN: (AMBER, (0.5, 1.5)),
    State.SHUTDOWN_PENDING: (RED, (0.25, 0.25)),
    State.SENSOR_FAULT: (RED, None),
}


class StatusPanel:
    """LED, button and buzzer of the power daemon. A part whose pin is None is left out."""

    def __init__(
        self,
        pins: GpioPins | None = None,
        *,
        on_shutdown_request: Callable[[], object] | None = None,
        pin_factory: Any = None,
    ) -> None:
        from gpiozero import RGBLED, Button, Buzzer  # deferred: only the daemon needs GPIO

        self.pins = pins = pins or GpioPins()
        self._on_request = on_shutdown_request
        self.state: State | None = None
        self.led = self.button = self.buzzer = None
        try:
            if pins.red and pins.green and pins.blue:
                self.led = RGBLED(
                    pins.red,
                    pins.green,
                    pins.blue,
                    active_high=pins.active_high,
                    pwm=False,
                    pin_factory=pin_factory,
                )
            if pins.button:
                self.button = Button(
                    pins.button, pull_up=True, hold_time=pins.hold_s, pin_factory=pin_factory
                )
                self.button.when_held = self._held
            if pins.buzzer:
                self.buzzer = Buzzer(pins.buzzer, pin_factory=pin_factory)
        except BaseException:
            self.close()
            raise

    def _held(self) -> None:
        log.warning("shutdown button held for %.0f s", self.pins.hold_s)
        if self._on_request is not None:
            try:
                self._on_request()
            except Exception:  # gpiozero's thread must survive a bad callback
                log.exception("shutdown request failed")

    def show(self, state: State) -> None:
        """Reflect the daemon's state; does nothing when it has not changed."""
        if state == self.state:
            return
        self.state = state
        colour, blink = PATTERNS[state]
        if self.led is not None:
            if blink is None:
                self.led.color = colour  # also stops a blink in progress
            else:
                on_s, off_s = blink
                self.led.blink(on_time=on_s, off_time=off_s, on_color=colour, off_color=OFF)
        if self.buzzer is not None:
            if state is State.SHUTDOWN_PENDING:
                self.buzzer.beep(on_time=0.1, off_time=1.9)
            else:
                self.buzzer.off()

    def close(self) -> None:
        for device in (self.led, self.button, self.buzzer):
            if device is not None:
                device.close()
        self.led = self.button = self.buzzer = None

    def __enter__(self) -> StatusPanel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
