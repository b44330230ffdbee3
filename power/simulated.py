"""The daemon wired to a simulator scenario: `keneya power run --simulate`, the tests and the
benchmarks all build it here. Everything above the fake register map is production code;
system commands (stop services, poweroff) are recorded, not run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from power.battery import SocEstimator
from power.daemon import PowerDaemon, Settings
from power.policy import Thresholds
from power.shutdown import CommandRecorder, SafeShutdown
from power.sim.scenarios import Scenario, SimRig
from power.timebase import SimTime

if TYPE_CHECKING:
    from appliance.sdnotify import Notifier
    from appliance.store import Store
    from power.gpio import StatusPanel


@dataclass
class SimulatedRun:
    daemon: PowerDaemon
    rig: SimRig
    commands: CommandRecorder


@contextmanager
def simulated_daemon(
    store: Store | None,
    scenario: Scenario,
    *,
    origin: datetime,
    speed: float | None = None,
    trusted: bool = True,
    settings: Settings | None = None,
    grace_s: float = 120.0,
    thresholds: Thresholds | None = None,
    notifier: Notifier | None = None,
    panel_factory: Callable[[Callable[[], None]], StatusPanel | None] | None = None,
    echo: Callable[[str], object] | None = None,
    boot_id: str | None = None,
    reopen: Callable[[], Store] | None = None,
    database: Path | None = None,
) -> Iterator[SimulatedRun]:
    """A daemon reading `scenario` (simulated second 0 is midnight UTC of `origin`'s day).
    `speed` None runs as fast as the CPU allows. The scenario is the hardware: its battery
    sets the estimator and the default thresholds."""
    battery = scenario.battery
    commands = CommandRecorder(echo)
    with scenario.build() as rig, rig.open_sensor() as sensor:
        daemon = PowerDaemon(
            store,
            sensor,
            time_base=SimTime(rig.clock, origin=origin, speed=speed, trusted=trusted),
            estimator=SocEstimator(battery.capacity_ah, chemistry=battery.chemistry),
            thresholds=thresholds or Thresholds.for_chemistry(battery.chemistry),
            shutdown=SafeShutdown(grace_s=grace_s, runner=commands),
            settings=settings,
            source=f"simulator:{scenario.name}",
            boot_id=boot_id,
            notifier=notifier,
            panel_factory=panel_factory,
            echo=echo,
            reopen=reopen,
            database=database,
        )
        try:
            yield SimulatedRun(daemon, rig, commands)
        finally:
            daemon.close()
