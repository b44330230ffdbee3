"""Run a scenario through the production stack: sensor -> SoC estimator -> policy.

Only the register map is simulated. After a shutdown decision the appliance is
assumed to keep running (nothing here stops services: power.simulated runs the
daemon, which does), so the same run also yields when the battery would have
been empty, and hence the margin the decision left.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from power.battery import SocEstimator
from power.errors import SensorFault
from power.policy import Decision, EventKind, FaultSample, ShutdownPolicy, Thresholds
from power.sampling import sample_from_reading
from power.sim.clock import SECONDS_PER_DAY
from power.sim.scenarios import Scenario


@dataclass(frozen=True)
class RunResult:
    scenario: str
    samples: int
    faults: int
    shutdown_at: float | None  # first shutdown decision
    shutdown_reason: str
    empty_at: float | None  # battery at 0 % or controller LVD
    events: Counter[EventKind] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    shutdowns_while_charging: int = 0
    condition_samples: int = 0  # good samples on which some shutdown condition held
    decisions: tuple[Decision, ...] = ()

    @property
    def shutdowns(self) -> int:
        return self.events[EventKind.SHUTDOWN]

    @property
    def margin_min(self) -> float | None:
        """Minutes between the shutdown decision and the battery running out."""
        if self.shutdown_at is None or self.empty_at is None:
            return None
        return (self.empty_at - self.shutdown_at) / 60


def simulate(
    scenario: Scenario,
    *,
    sample_s: float = 60.0,
    thresholds: Thresholds | None = None,
    stop_at_empty: bool = True,
    keep_decisions: bool = False,
) -> RunResult:
    """Sample the sensor every ``sample_s`` simulated seconds until the scenario ends."""
    chemistry = scenario.battery.chemistry
    # The estimator is told the nameplate capacity: ageing is what it cannot see.
    estimator = SocEstimator(scenario.battery.capacity_ah, chemistry=chemistry)
    policy = ShutdownPolicy(
        thresholds,
        chemistry=chemistry,
        capacity_ah=scenario.battery.capacity_ah,
        shunt_ohms=scenario.shunt_ohms,
    )
    events: Counter[EventKind] = Counter()
    states: Counter[str] = Counter()
    decisions: list[Decision] = []
    samples = faults = while_charging = conditions = 0
    shutdown_at: float | None = None
    reason = ""
    with scenario.build() as rig, rig.open_sensor() as sensor:
        th = policy.thresholds
        while rig.clock.now < scenario.end_s:
            rig.clock.advance(sample_s)
            t = rig.clock.now
            samples += 1
            try:
                r = sensor.read()
            except SensorFault as exc:
                faults += 1
                d = policy.feed(FaultSample(t, str(exc), voltage_v=getattr(exc, "bus_v", None)))
            else:
                # simulated time of day is UTC
                sample, _ = sample_from_reading(t, r, estimator, hour=(t % SECONDS_PER_DAY) / 3600)
                conditions += bool(policy.reasons(sample))
                d = policy.feed(sample)
            # charging in truth (the battery's current), not as a miswired shunt reads it
            if d.shutdown and rig.model.current_a > th.charging_a:
                while_charging += 1
            rig.model.advance_to(rig.clock.now)
            states[d.state] += 1
            for e in d.events:
                events[e.kind] += 1
                if e.kind is EventKind.SHUTDOWN and shutdown_at is None:
                    shutdown_at, reason = e.t, e.reason
            if keep_decisions:
                decisions.append(d)
            if stop_at_empty and rig.model.empty_at is not None:
                break
        empty_at = rig.model.empty_at
    return RunResult(
        scenario=scenario.name,
        samples=samples,
        faults=faults,
        shutdown_at=shutdown_at,
        shutdown_reason=reason,
        empty_at=empty_at,
        events=events,
        states=states,
        shutdowns_while_charging=while_charging,
        condition_samples=conditions,
        decisions=tuple(decisions),
    )
