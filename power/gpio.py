"""The front panel through gpiozero: a status LED, a shutdown button, an optional buzzer.

* LED (one RGB part, common cathode by default): steady green when all is well, blinking
  amber on a low-battery warning, blinking red while a shutdown is pending, steady red on a
  sensor fault. Colours are on/off (no PWM): software PWM would cost CPU all day.
* Button: held for `hold_s` (3 s) it asks for a safe shutdown -- the same countdown as a low
  battery, so a brush against it does nothing and an admin can still cancel.
* Buzzer (optional): a short beep every 2 s while a shutdown is pending.
* While the power is fine, the LED also tells staff about a USB stick's backup (the kiosk's
  banner says the same in words): blinking blue while it is written — leave the stick in —,
  steady blue once it is written and read back — the stick may be removed —, blinking magenta
  when it failed (the kiosk says why).

Tests use gpiozero's MockFactory (`pin_factory=`); gpiozero runs blinking and button
callbacks on its own threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from appliance.clock import from_iso
from power.config import GpioPins
from power.policy import State

log = logging.getLogger(__name__)

GREEN = (0, 1, 0)
AMBER = (1, 1, 0)
RED = (1, 0, 0)
BLUE = (0, 0, 1)
MAGENTA = (1, 0, 1)
OFF = (0, 0, 0)
# state -> (colour, blink (on_s, off_s) or None for steady)
PATTERNS: dict[State, tuple[tuple[int, int, int], tuple[float, float] | None]] = {
    State.OK: (GREEN, None),
    State.WARN: (AMBER, (0.5, 1.5)),
    State.SHUTDOWN_PENDING: (RED, (0.25, 0.25)),
    State.SENSOR_FAULT: (RED, None),
}
USB_PATTERNS: dict[str, tuple[tuple[int, int, int], tuple[float, float] | None]] = {
    "writing": (BLUE, (0.5, 0.5)),
    "done": (BLUE, None),
    "failed": (MAGENTA, (0.25, 0.75)),
}
# How long a USB backup's outcome stays on the LED (as on the kiosk's banner); a "writing"
# older than that was cut by a power failure.
USB_SHOWN_S = 600


def usb_signal(status: dict[str, Any] | None, now_s: float) -> str | None:
    """What the LED says of the last USB backup (`backup.usb`: state and machine time)."""
    if not status or status.get("state") not in USB_PATTERNS:
        return None
    try:
        age_s = now_s - from_iso(status["at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
    return status["state"] if -60 <= age_s <= USB_SHOWN_S else None


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
        self.usb: str | None = None
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

    def show(self, state: State, usb: str | None = None) -> None:
        """Reflect the daemon's state, or when it is OK a USB backup's (`usb_signal`); does
        nothing when neither has changed."""
        if usb is not None and state is not State.OK:
            usb = None  # the battery comes first
        if (state, usb) == (self.state, self.usb):
            return
        self.state, self.usb = state, usb
        colour, blink = USB_PATTERNS[usb] if usb else PATTERNS[state]
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
