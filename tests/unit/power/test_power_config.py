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
        ({"max_draw_a": 0}, "max_draw_a must be positive"),
        ({"default_draw_a": "lots"}, "default_draw_a must be a number"),
        ({"default_draw_a": 3, "max_draw_a": 2}, "default_draw_a must not exceed max_draw_a"),
        ({"thresholds": {"v_critical": 11.5}}, "v_critical must be below v_low"),
        ({"thresholds": {"soc_resume": 10}}, "soc_resume"),
        ({"thresholds": {"n_consecutive": "5"}}, "n_consecutive must be an integer"),
        ({"thresholds": {"blind_capacity_pct": 0}}, "blind_capacity_pct"),
        # bool("false") is True: a quoted "false" used to turn the shunt round
        ({"invert": "false"}, "invert must be true or false"),
        ({"gpio": {"active_high": "yes"}}, "active_high must be true or false"),
        ({"max_current_a": float("inf")}, "max_current_a must be a number"),
        ({"capacity_ah": float("nan")}, "capacity_ah must be a number"),
        ({"bus_number": -1}, "bus_number must be a whole number"),
        ({"gpio": {"button": 3}}, "GPIO 2 and 3 are the I2C bus"),
        ({"gpio": {"red": 17, "green": 17}}, "two parts on the same pin"),
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


def test_one_shunt_default_the_common_breakout():
    from power.ina219 import DEFAULT_MAX_CURRENT_A, DEFAULT_SHUNT_OHMS, Ina219

    cfg = PowerConfig()
    assert (cfg.shunt_ohms, cfg.max_current_a) == (0.1, 3.2)
    assert (DEFAULT_SHUNT_OHMS, DEFAULT_MAX_CURRENT_A) == (0.1, 3.2)
    import inspect

    params = inspect.signature(Ina219).parameters
    assert params["shunt_ohms"].default == cfg.shunt_ohms
    assert params["max_current_a"].default == cfg.max_current_a


def test_new_keys_and_the_policy_they_build():
    cfg = from_mapping(
        {
            "chemistry": "lifepo4",
            "capacity_ah": 100,
            "shunt_ohms": 0.01,
            "max_current_a": 10,
            "max_draw_a": 3,
            "default_draw_a": 1.2,
            "thresholds": {"v_critical": 12.3, "soc_resume": 50, "v_resume_s": 900},
        }
    )
    policy = cfg.policy()
    th = policy.thresholds
    assert (th.v_critical, th.soc_resume, th.v_resume_s) == (12.3, 50.0, 900.0)
    assert th.v_resume == 13.5  # the chemistry's default
    assert (policy.capacity_ah, policy.max_draw_a, policy.default_draw_a) == (100, 3, 1.2)
    assert policy.plausibility.shunt_ohms == 0.01


def test_an_old_file_that_lowers_v_low_stays_valid():
    # written before v_critical existed: v_low 11.1 is below the new default 11.15
    cfg = from_mapping({"thresholds": {"v_low": 11.1, "soc_low": 35}})
    th = cfg.thresholds()
    assert th.v_low == 11.1 and th.v_critical == pytest.approx(11.0)
    assert th.soc_resume == 45.0 and th.soc_critical == 5.0
    # an explicit level is kept, and checked
    with pytest.raises(ConfigurationError, match="v_critical must be below v_low"):
        from_mapping({"thresholds": {"v_low": 11.1, "v_critical": 11.2}})


def test_where_the_shunt_is():
    from power.plausibility import Lead

    assert PowerConfig().shunt_lead is Lead.APPLIANCE  # the board's R100 after LOAD +
    reference = from_mapping({"shunt_ohms": 0.01, "max_current_a": 10})
    assert reference.shunt_lead is Lead.BATTERY
    assert reference.policy().lead is Lead.BATTERY
    told = from_mapping({"lead": "battery"})
    assert told.shunt_lead is Lead.BATTERY and told.policy().plausibility.lead is Lead.BATTERY
    with pytest.raises(ConfigurationError, match='lead: expected one of "battery", "appliance"'):
        from_mapping({"lead": "load"})


def test_the_wait_table_is_part_of_power(tmp_path):
    """[power.wait] is read with the rest of [power], so provisioning validates it too."""
    cfg = from_mapping({"wait": {"modem_usb_hub": "1-1", "modem_usb_port": "2"}})
    assert cfg.wait.usb_power(False) == ("uhubctl", "-l", "1-1", "-p", "2", "-a", "off")
    assert from_mapping({}).wait.usb_power(True) is None  # no hub named: the stick stays on
    with pytest.raises(ConfigurationError, match=r"\[power.wait\] unknown keys: hub"):
        from_mapping({"wait": {"hub": "1-1"}})
    with pytest.raises(ConfigurationError, match="must be a table"):
        from_mapping({"wait": "1-1"})


@pytest.mark.parametrize(
    "section, floor",
    [
        ({"thresholds": {"v_critical": 10.5}}, "11.0 V"),
        ({"chemistry": "lifepo4", "thresholds": {"v_critical": 11.9}}, "12.0 V"),
    ],
)
def test_a_critical_level_below_the_controllers_disconnect_is_refused(section, floor):
    with pytest.raises(ConfigurationError) as err:
        from_mapping(section)
    line = str(err.value)
    assert "\n" not in line and f"below {floor}" in line
    assert "the controller would cut the Pi first" in line


def test_the_derived_critical_level_never_falls_below_the_disconnect():
    # lead-acid v_low 11.05: v_low - 0.1 would be 10.95, raised to the 11.0 V floor
    th = from_mapping({"thresholds": {"v_low": 11.05}}).thresholds()
    assert th.v_critical == pytest.approx(11.0)
    # a LiFePO4 v_low of 11.4 V (a lead-acid figure) leaves no room above the 12.0 V floor
    with pytest.raises(ConfigurationError, match=r"v_low = 11.4 V leaves no room .* 12.0 V"):
        from_mapping({"chemistry": "lifepo4", "thresholds": {"v_low": 11.4}})
    # at the floor itself is the lowest accepted
    th = from_mapping({"chemistry": "lifepo4", "thresholds": {"v_critical": 12.0}}).thresholds()
    assert th.v_critical == 12.0
