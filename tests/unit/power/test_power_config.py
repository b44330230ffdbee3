"""The [power] section of the facility file: defaults, overrides, clear errors."""

from __future__ import annotations

import pytest

from power.battery import Chemistry
from power.config import GpioPins, PowerConfig, from_mapping, load
from power.errors import ConfigurationError
from power.policy import Thresholds


def test_absent_file_or_section_gives_the_safe_defaults(tmp_path):
    assert load(tmp_path / "missing.toml") == PowerConfig()
    other = tmp_path / "facility.toml"
    other.write_text('[facility]\nname = "CSCom de Kalaban"\n')
    cfg = load(other)
    assert cfg == PowerConfig()
    assert cfg.thresholds() == Thresholds.for_chemistry(Chemistry.LEAD_ACID)
    assert cfg.sample_s == 5.0 and cfg.batch_s == 60.0 and cfg.grace_s >= 60
    assert cfg.gpio == GpioPins()


def test_chemistry_and_threshold_overrides(tmp_path):
    f = tmp_path / "facility.toml"
    f.write_text(
        "[power]\n"
        'chemistry = "lifepo4"\n'
        "capacity_ah = 100\n"
        "address = 0x41\n"
        "[power.thresholds]\n"
        "v_low = 12.5\n"
        "n_consecutive = 3\n"
        "[power.gpio]\n"
        "red = 5\n"
        "buzzer = 18\n"
        "button = 0\n"
    )
    cfg = load(f)
    assert cfg.chemistry is Chemistry.LIFEPO4 and cfg.capacity_ah == 100 and cfg.address == 0x41
    th = cfg.thresholds()
    base = Thresholds.for_chemistry(Chemistry.LIFEPO4)
    assert th.v_low == 12.5 and th.n_consecutive == 3 and th.v_warn == base.v_warn
    assert cfg.gpio.red == 5 and cfg.gpio.buzzer == 18 and cfg.gpio.button is None
    assert cfg.gpio.green == 27  # the rest keep their defaults


@pytest.mark.parametrize(
    "section, message",
    [
        ({"chemistry": "nickel-iron"}, "chemistry"),
        ({"capacity_ah": 0}, "capacity_ah"),
        ({"grace_s": 30}, "grace_s"),
        ({"sample_s": "fast"}, "sample_s"),
        ({"thresholds": {"v_lo": 11.0}}, "unknown"),
        ({"thresholds": {"v_low": 12.5}}, "v_low must be below v_warn"),
        ({"gpio": {"red": 40}}, "red"),
        ({"gpio": {"led": 4}}, "unknown"),
        ({"colour": "blue"}, "unknown"),
    ],
)
def test_bad_values_are_configuration_errors(section, message):
    with pytest.raises(ConfigurationError, match=message):
        from_mapping(section)


def test_broken_toml_names_the_file(tmp_path):
    f = tmp_path / "facility.toml"
    f.write_text("[power\n")
    with pytest.raises(ConfigurationError, match="facility.toml"):
        load(f)
