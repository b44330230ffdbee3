"""The front panel through gpiozero: a status LED, a shutdown button, an optional buzzer.

* LED (one RGB part, common cathode by default), the battery's state first:

  ========================  =========================================================
  all is well               steady green
  low-battery warning       amber, blinking (0.5 s on, 1.5 s off)
  shutdown pending          red, blinking fast (0.25 s / 0.25 s), with the buzzer
  low-power wait            a short red flash every 10 s (services stopped to save
                            the battery; little light, little power)
  critical (powering off)   red, flickering (0.1 s / 0.1 s)
  sensor fault (no reading) steady red
  named sensor fault        amber and red in turn, 1 s each (a wiring or shunt fault:
                            the voltage is still read; `keneya power status` says
                            which and what to change)
  ========================  =========================================================

  Colours are on/off (no PWM): software PWM would cost CPU all day.
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
from typing import Any, NamedTuple

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
Colour = tuple[int, int, int]


class Pattern(NamedTuple):
    colour: Colour
    blink: tuple[float, float] | None  # (on_s, off_s); None: steady
    off_colour: Colour = OFF  # shown in the blink's off phase


PATTERNS: dict[State, Pattern] = {
    State.OK: Pattern(GREEN, None),
    State.WARN: Pattern(AMBER, (0.5, 1.5)),
    State.SHUTDOWN_PENDING: Pattern(RED, (0.25, 0.25)),
    State.SENSOR_FAULT: Pattern(RED, None),
    State.LOW_POWER_WAIT: Pattern(RED, (0.1, 9.9)),
    State.CRITICAL: Pattern(RED, (0.1, 0.1)),
}
# A named fault (reversed or wrong shunt, chip reset, implausible readings) while the battery
# itself is ok, warned or faulted: the technician's signal.
FAULT_PATTERN = Pattern(AMBER, (1.0, 1.0), RED)
FAULT_SHOWN_IN = (State.OK, State.WARN, State.SENSOR_FAULT)
USB_PATTERNS: dict[str, Pattern] = {
    "writing": Pattern(BLUE, (0.5, 0.5)),
    "done": Pattern(BLUE, None),
    "failed": Pattern(MAGENTA, (0.25, 0.75)),
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
        self.fault: str | None = None
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

    def show(self, state: State, usb: str | None = None, *, fault: str | None = None) -> None:
        """Reflect the daemon's state, a named sensor fault (`fault`), or when all is OK a USB
        backup's (`usb_signal`); does nothing when none has changed."""
        if fault is not None and state not in FAULT_SHOWN_IN:
            fault = None  # a pending shutdown, the wait or a poweroff comes first
        if usb is not None and (state is not State.OK or fault is not None):
            usb = None  # the battery comes first
        if (state, usb, fault) == (self.state, self.usb, self.fault):
            return
        self.state, self.usb, self.fault = state, usb, fault
        if usb:
            pattern = USB_PATTERNS[usb]
        elif fault:
            pattern = FAULT_PATTERN
        else:
            pattern = PATTERNS[state]
        if self.led is not None:
            if pattern.blink is None:
                self.led.color = pattern.colour  # also stops a blink in progress
            else:
                on_s, off_s = pattern.blink
                self.led.blink(
                    on_time=on_s,
                    off_time=off_s,
                    on_color=pattern.colour,
                    off_color=pattern.off_colour,
                )
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
