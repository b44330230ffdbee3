"""Every text colour the kiosk draws on every background it draws it on reads in sunlight:
WCAG contrast >= 4.5:1 (computed from relative luminance, as WCAG 2 defines it)."""

from __future__ import annotations

import os
import tempfile

import pytest

# Kivy reads its environment on import: no ~/.kivy, no argv parsing, quiet logs
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="keneya-kivy-"))

from kiosk_ui.widgets import theme  # noqa: E402
from kiosk_ui.widgets.theme import PAIRS, contrast, min_contrast  # noqa: E402


def test_contrast_matches_wcag_reference_values() -> None:
    assert contrast((1, 1, 1), (0, 0, 0)) == pytest.approx(21.0)
    assert contrast((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)  # order does not matter
    assert contrast((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) == pytest.approx(1.0)
    # WebAIM's checker: #767676 on white is 4.54:1, the lightest grey passing AA
    assert contrast((0x76 / 255,) * 3, (1, 1, 1)) == pytest.approx(4.54, abs=0.01)
    # the bright orange the selected buttons had: white on it was too weak
    assert contrast((1, 1, 1), (0.90, 0.45, 0.02)) < 4.5


def test_large_bold_text_may_use_three_to_one() -> None:
    assert min_contrast(24, bold=True) == 3.0
    assert min_contrast(24, bold=False) == 4.5
    assert min_contrast(22, bold=True) == 4.5


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_every_theme_pair_reaches_4_5(name: str) -> None:
    fg, bg = PAIRS[name]
    assert contrast(fg, bg) >= 4.5, f"{name}: {contrast(fg, bg):.2f}:1"


def test_every_colour_constant_is_in_a_checked_pair() -> None:
    """A colour added to the theme without its pair would go unchecked."""
    colours = {
        value
        for name, value in vars(theme).items()
        if name.isupper() and isinstance(value, tuple) and len(value) == 4
    }
    colours |= set(theme.SEVERITY.values())
    used = {c for pair in PAIRS.values() for c in pair}
    assert colours - used == set()


def test_white_text_on_every_button_colour() -> None:
    """BigButton and Choice draw white text; pressed, the colour is 0.6 times darker."""
    for colour in (
        theme.PRIMARY,
        theme.SECONDARY,
        theme.OK,
        theme.DANGER,
        theme.SELECTED,
        *theme.SEVERITY.values(),
    ):
        pressed = tuple(c * 0.6 for c in colour[:3])
        assert contrast(theme.WHITE, colour) >= 4.5, colour
        assert contrast(theme.WHITE, pressed) >= 4.5, colour
