"""Modem fixtures: an E173 simulator on a real pty (small delays, seeded RNG) and AT ports on it.

Everything started here is closed after the test, and a test fails if a simulator thread
outlives it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modem.at import AtPort
from modem.simulator import E173Simulator

SimFactory = Callable[..., E173Simulator]
PortFactory = Callable[..., AtPort]


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[SimFactory]:
    """make_sim(**overrides) -> a started simulator whose stable name is tmp_path/ttyModem."""
    sims: list[E173Simulator] = []

    def make(**overrides: object) -> E173Simulator:
        settings: dict[str, object] = {
            "link_path": tmp_path / "ttyModem",
            "registration_delay_s": 0.05,
            "urc_every_s": None,  # deterministic unless a test asks for URC noise
            "seed": 20261015,
            "reboot_s": 0.2,
        }
        settings.update(overrides)
        sim = E173Simulator(**settings).start()  # type: ignore[arg-type]
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.close()
    leftover = [t for t in threading.enumerate() if t.name == "e173-sim"]
    assert not leftover, f"simulator threads left running: {leftover}"


@pytest.fixture
def sim(make_sim: SimFactory) -> E173Simulator:
    return make_sim()


@pytest.fixture
def make_port() -> Iterator[PortFactory]:
    """make_port(path, **options) -> an open AtPort (3 s default timeout), closed after."""
    ports: list[AtPort] = []

    def make(path: str | Path, **options: object) -> AtPort:
        options.setdefault("timeout_s", 3.0)
        port = AtPort(str(path), **options)  # type: ignore[arg-type]
        port.open()
        ports.append(port)
        return port

    yield make
    for port in ports:
        port.close()


@pytest.fixture
def at_port(sim: E173Simulator, make_port: PortFactory) -> AtPort:
    """An open AtPort on the simulator's link path (the udev-style stable name)."""
    assert sim.link_path is not None
    return make_port(sim.link_path)
