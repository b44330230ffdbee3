"""Simulator: a physical model of the solar supply and a fake SMBus with an INA219 register map."""

from power.sim.clock import SimClock
from power.sim.fakebus import FakeIna219, FakeSMBus, FaultMode, FaultWindow, Noise
from power.sim.model import Mode
from power.sim.scenarios import SCENARIOS, Scenario, SimRig, get

__all__ = [
    "SCENARIOS",
    "FakeIna219",
    "FakeSMBus",
    "FaultMode",
    "FaultWindow",
    "Mode",
    "Noise",
    "Scenario",
    "SimClock",
    "SimRig",
    "get",
]
