"""The daemon wired to a simulator scenario: `keneya power run --simulate`, the tests and the
benchmarks all build it here. Everything above the fake register map is production code;
system commands (stop and start services, USB power, the read-only remounts, reboot,
poweroff) and sysfs/procfs writes are recorded, never run nor written, and switch the
simulated appliance's mode (running, low-power wait, read-only hold, halted; a reboot is a
boot), so the battery sees what the decision did. After the daemon stops (a poweroff, the
controller's cut, a reboot), `finish` runs the physics on to the scenario's end: the
controller's cut-off, if it comes, and its reconnect's boot."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.clock import to_iso
from power.battery import SocEstimator
from power.daemon import PowerDaemon, Settings, Summary
from power.policy import ShutdownPolicy, Thresholds
from power.shutdown import (
    SYSRQ_TRIGGER,
    CommandRecorder,
    SafeShutdown,
    WaitOptions,
    Writer,
    write_sysfs,
)
from power.sim.model import Mode
from power.sim.scenarios import Scenario, SimRig
from power.timebase import SimTime

if TYPE_CHECKING:
    from appliance.sdnotify import Notifier
    from appliance.store import Store
    from power.config import PowerConfig
    from power.gpio import StatusPanel

# No screen to switch off in a simulation: the real one (if any) is left alone.
NO_SCREEN = WaitOptions(backlight="", fb_blank="")
# Daemon stops after which the physics goes on without it: the appliance is off (a poweroff,
# the controller's cut) or a new boot runs (the hold's reboot).
OFF_STOPS = ("shutdown", "power_cut", "reboot")
DEFAULT_GRACE_S = 120.0  # [power] grace_s's default


class SimulatedSystem(CommandRecorder):
    """The recorder as the simulated appliance's system: `systemctl stop` of the services
    puts it in the low-power wait, `start` runs them again, the read-only remounts (`mount -o
    remount,ro`, SysRq `u`) put it in the hold, `systemctl reboot` boots it, `poweroff`
    halts it. Writes are recorded in `writes`; SysRq's never reach the real file, the others
    (the screen paths the wait options name: none by default) go to `write`, else sysfs."""

    def __init__(
        self,
        rig: SimRig,
        echo: Callable[[str], object] | None = None,
        *,
        write: Writer | None = None,
        sysrq_trigger: str = SYSRQ_TRIGGER,
    ) -> None:
        super().__init__(echo)
        self.rig = rig
        self.writes: list[tuple[str, str]] = []
        self._write = write
        self.sysrq_trigger = sysrq_trigger

    def __call__(self, argv: Sequence[str]) -> int:
        status = super().__call__(argv)
        model, now = self.rig.model, self.rig.clock.now
        head = tuple(argv[:2])
        if head == ("systemctl", "reboot"):
            model.reboot(now)
            return status
        if tuple(argv[:3]) == ("mount", "-o", "remount,ro"):
            model.set_mode(Mode.HOLD, now)
            return status
        mode = {
            ("systemctl", "stop"): Mode.LOW_POWER_WAIT,
            ("systemctl", "start"): Mode.RUNNING,
            ("systemctl", "poweroff"): Mode.HALTED,
        }.get(head)
        if mode is not None:
            model.set_mode(mode, now)
        return status

    def write(self, path: Path, value: str) -> bool:
        self.writes.append((str(path), value))
        if self._echo is not None:
            self._echo(f"simulated: {path} = {value}")
        if str(path) == self.sysrq_trigger:
            if value == "u":
                self.rig.model.set_mode(Mode.HOLD, self.rig.clock.now)
            return True
        return (self._write or write_sysfs)(path, value)


@dataclass
class SimulatedRun:
    daemon: PowerDaemon
    rig: SimRig
    commands: SimulatedSystem

    def finish(self) -> Summary:
        """The daemon has stopped: when the appliance went off (a poweroff, a cut), run the
        physics to the scenario's end; then the cut-off, the margin the safe stop left
        before it, the energy of the low-power wait and the boots go into the summary."""
        summary, model, scenario = self.daemon.summary, self.rig.model, self.rig.scenario
        if summary.stopped_by in OFF_STOPS:
            model.advance_to(scenario.end_s)
        else:
            model.advance_to(self.rig.clock.now)
        epoch = self.daemon.time.epoch_at_zero  # type: ignore[attr-defined]

        def at(t: float) -> tuple[float, str]:
            return t, to_iso(datetime.fromtimestamp(epoch + t, UTC))

        cut = model.cutoffs[0] if model.cutoffs else None
        summary.cutoff = None if cut is None else at(cut)
        before = [t for t, _ in summary.executions if cut is not None and t <= cut]
        summary.margin_s = None if not before else cut - before[-1]  # type: ignore[operator]
        summary.wait_wh = model.energy_wh.get(Mode.LOW_POWER_WAIT, 0.0)
        summary.wait_h = model.time_s.get(Mode.LOW_POWER_WAIT, 0.0) / 3600
        summary.hold_wh = model.energy_wh.get(Mode.HOLD, 0.0)
        summary.hold_h = model.time_s.get(Mode.HOLD, 0.0) / 3600
        summary.boots = [at(t) for t in model.boots]
        if summary.hold is not None:
            # back after the hold: the first boot since (its reboot, or the reconnect's)
            after = [
                (t, cause)
                for t, cause in zip(model.boots, model.boot_causes, strict=True)
                if t >= summary.hold[0]
            ]
            if after:
                summary.back, summary.back_by = at(after[0][0]), after[0][1]
                if summary.services_back is None:
                    summary.services_back = summary.back
        # the cut that would have come with the appliance running on: what the stop saved
        running_cut = scenario.battery_empty_at()
        summary.cutoff_if_running = None if running_cut is None else at(running_cut)
        if running_cut is not None and summary.executed is not None:
            summary.margin_if_running_s = running_cut - summary.executed[0]
        return summary


@contextmanager
def simulated_daemon(
    store: Store | None,
    scenario: Scenario,
    *,
    origin: datetime,
    speed: float | None = None,
    trusted: bool = True,
    settings: Settings | None = None,
    grace_s: float | None = None,
    thresholds: Thresholds | None = None,
    notifier: Notifier | None = None,
    panel_factory: Callable[[Callable[[], None]], StatusPanel | None] | None = None,
    echo: Callable[[str], object] | None = None,
    boot_id: str | None = None,
    reopen: Callable[[], Store] | None = None,
    database: Path | None = None,
    wait: WaitOptions = NO_SCREEN,
    write: Writer | None = None,
    config: PowerConfig | None = None,
) -> Iterator[SimulatedRun]:
    """A daemon reading `scenario` (simulated second 0 is midnight UTC of `origin`'s day).
    `speed` None runs as fast as the CPU allows. The scenario is the hardware: its battery
    (capacity, and chemistry unless `config` says another), panel, shunt and wiring.
    `config`, the facility file's [power], makes the decisions on top of it: the chemistry's
    thresholds and [power.thresholds], max_draw_a, default_draw_a, lead and grace_s (its
    capacity and shunt are the scenario's); `thresholds` and `grace_s` given here win. `wait`
    and `write`: the screen and USB the low-power wait switches (none by default)."""
    battery = scenario.battery
    chemistry = battery.chemistry
    policy_factory = None
    if config is not None:
        # the file's decisions on the scenario's hardware; a lead the file does not name
        # follows the scenario's shunt, as on a Pi it follows the file's
        installed = dataclasses.replace(
            config,
            capacity_ah=battery.capacity_ah,
            shunt_ohms=scenario.shunt_ohms,
            max_current_a=scenario.max_current_a,
        )
        chemistry = installed.chemistry
        thresholds = thresholds or installed.thresholds()
        grace_s = installed.grace_s if grace_s is None else grace_s

        def policy_factory() -> ShutdownPolicy:
            return installed.policy(thresholds)

    with scenario.build() as rig, rig.open_sensor() as sensor:
        commands = SimulatedSystem(rig, echo, write=write)

        def powered() -> bool:
            rig.model.advance_to(rig.clock.now)
            return rig.model.mode is not Mode.OFF

        # the data folder's remount and SysRq are only recorded: the host is left alone
        data_dir = database or (store.path if store is not None else None)
        shutdown = SafeShutdown(
            grace_s=DEFAULT_GRACE_S if grace_s is None else grace_s,
            runner=commands,
            wait=wait,
            write=commands.write,
            data_dir=None if data_dir is None else data_dir.parent,
            sysrq_trigger=commands.sysrq_trigger,
        )
        daemon = PowerDaemon(
            store,
            sensor,
            time_base=SimTime(rig.clock, origin=origin, speed=speed, trusted=trusted),
            estimator=SocEstimator(battery.capacity_ah, chemistry=chemistry),
            thresholds=thresholds or Thresholds.for_chemistry(chemistry),
            shutdown=shutdown,
            settings=settings,
            source=f"simulator:{scenario.name}",
            boot_id=boot_id,
            notifier=notifier,
            panel_factory=panel_factory,
            echo=echo,
            reopen=reopen,
            database=database,
            powered=powered,
            shunt_ohms=scenario.shunt_ohms,
            policy_factory=policy_factory,
        )
        try:
            yield SimulatedRun(daemon, rig, commands)
        finally:
            daemon.close()
