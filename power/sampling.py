"""One good sensor reading turned into the policy's Sample: the monitor and the simulator
harness build it the same way, so what the harness measures is what the appliance decides."""

from __future__ import annotations

import math

from power.battery import SocEstimate, SocEstimator
from power.policy import Sample
from power.sensor import Reading


def sample_from_reading(
    t: float,
    reading: Reading,
    estimator: SocEstimator,
    *,
    hour: float | None,
) -> tuple[Sample, SocEstimate]:
    """Feed the reading to the SoC estimator and build the Sample at monotonic time ``t``;
    an infinite runtime (charging, no draw) is an unknown one. The estimate comes back too."""
    est = estimator.update(t, reading.bus_v, reading.current_a)
    runtime = None if math.isinf(est.runtime_min) else est.runtime_min
    sample = Sample(
        t,
        reading.bus_v,
        reading.current_a,
        est.soc,
        runtime,
        shunt_mv=reading.shunt_mv,
        power_w=reading.power_w,
        hour=hour,
        chip_resets=reading.chip_resets,  # the policy names a chip that lost its settings
    )
    return sample, est
