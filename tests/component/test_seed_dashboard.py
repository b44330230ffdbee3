"""The seeded demo facility's dashboard shows the coverage a working Malian CSCom has (ranges
from Mali's EDS 2018 and the WHO/UNICEF estimates), so the demo cannot drift back to curves
no district would believe: every dose drawn on its own (almost no child fully immunized) or
malnourished children who never recover."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from appliance.seed.facility import seed_facility
from appliance.seed.population import ensure_population_table
from appliance.services import auth
from appliance.services.context import Context
from appliance.services.dashboard import dashboard
from appliance.store import Store

pytestmark = pytest.mark.component
TODAY = date(2026, 11, 1)
LAST_YEAR = TODAY.year - 1
PATIENTS = 3000


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """The dashboards of last year (complete) and of this year, as the demo shows them."""
    home = tmp_path_factory.mktemp("seed-dashboard")
    summary = seed_facility(
        home / "keneya.db", patients=PATIENTS, seed=11, years=5, logins_dir=home, today=TODAY
    )
    facility_file = home / "facility.toml"
    assert ensure_population_table(facility_file, patients=summary["patients"], year=TODAY.year)
    pin = next(line.split()[2] for line in summary["logins"] if line.split()[1] == "doctor")
    noon = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC).timestamp()
    with Store(home / "keneya.db") as store:
        ctx = Context.open(store, machine_time=lambda: noon, boot_id="seed-dashboard")
        doctor = auth.login(ctx, "dr.traore", pin=pin)
        yield {
            year: dashboard(ctx, doctor, year, facility_file=facility_file)
            for year in (LAST_YEAR, TODAY.year)
        }


def _to_date(data: dict, code: str, month: str) -> dict:
    indicator = next(i for i in data["indicators"] if i["code"] == code)
    return next(row for row in indicator["to_date"] if row["month"] == month)


def _rates(data: dict, month: str) -> dict[str, float]:
    codes = ("penta1", "penta3", "mr1", "fic", "anc1", "anc4", "skilled_births")
    return {code: _to_date(data, code, month)["rate"] for code in codes}


def _dropout(data: dict, code: str, month: str) -> float:
    rows = next(d for d in data["dropouts"] if d["code"] == code)["to_date"]
    return next(row for row in rows if row["month"] == month)["rate"]


# (low, high) of each year-to-date rate: the brief's plausible ranges widened by a few points
# for a 3,000-patient facility's chance
PLAUSIBLE = {
    "penta1": (0.82, 0.98),
    "penta3": (0.68, 0.85),
    "mr1": (0.60, 0.80),
    "fic": (0.40, 0.68),
    "anc1": (0.70, 0.90),
    "anc4": (0.35, 0.55),
    "skilled_births": (0.55, 0.75),
}


@pytest.mark.parametrize(
    "year, month",
    [
        (LAST_YEAR, f"{LAST_YEAR}-12"),
        # this year through its last complete month: the running month is still filling
        (TODAY.year, f"{TODAY.year}-{TODAY.month - 1:02d}"),
    ],
)
def test_coverage_to_date_is_plausible(board, year, month):
    rates = _rates(board[year], month)
    outside = {
        code: rate
        for code, rate in rates.items()
        if not PLAUSIBLE[code][0] <= rate <= PLAUSIBLE[code][1]
    }
    assert not outside, rates
    # doses are given along the schedule: fewer reach the third dose and the measles dose
    assert rates["fic"] < rates["mr1"] < rates["penta3"] < rates["penta1"]
    assert rates["anc4"] < rates["anc1"]
    assert 0.03 <= _dropout(board[year], "penta1_penta3", month) <= 0.16
    assert 0.10 <= _dropout(board[year], "penta1_mr1", month) <= 0.30


def test_most_sam_cases_of_last_year_recover_within_90_days(board):
    month = f"{LAST_YEAR}-12"
    new = _to_date(board[LAST_YEAR], "sam_recovered", month)["denominator"]
    recovered = _to_date(board[LAST_YEAR], "sam_recovered", month)["numerator"]
    not_seen = _to_date(board[LAST_YEAR], "sam_not_seen", month)["numerator"]
    # about 1 to 2 % of the under-fives a year, as the Sahel's programmes admit
    assert 15 <= new <= 60
    assert 0.60 <= recovered / new <= 0.90
    assert 0 < not_seen < recovered
    # few still malnourished at the end of the 90 days (non-response, lost after a visit)
    assert (new - recovered - not_seen) / new <= 0.25
    mam_new = _to_date(board[LAST_YEAR], "mam_recovered", month)["denominator"]
    mam_recovered = _to_date(board[LAST_YEAR], "mam_recovered", month)["numerator"]
    assert mam_new > new and mam_recovered / mam_new >= 0.55
