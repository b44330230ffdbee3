"""Dates as the rules receive them: ISO strings from the store, or date objects."""

from __future__ import annotations

from datetime import date
from typing import Any


def as_date(value: Any) -> date | None:
    """A date from an ISO string or a date; None stays None."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)
