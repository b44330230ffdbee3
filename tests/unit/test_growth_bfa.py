"""BMI-for-age (WHO 2006 standards, WHO 2007 reference) and the 2007 reference from 61 months,
checked against WHO's published tables.

Reference values, all WHO's:
- EXPANDED_BFA_2007 / EXPANDED_HFA_2007: WHO Growth Reference 2007 expanded z-score tables
  (bmi-boys/girls-z-who-2007-exp, hfa-boys/girls-z-who-2007-exp: SD columns by month, 3
  decimals). Whole months that are whole days (multiples of 16 months: 16 x 30.4375 = 487
  days) so that the table row is used as is. A value at a published SD must give that z.
- SIMPLIFIED_BFA_2006: WHO Child Growth Standards 2006, BMI-for-age simplified field tables
  (bmi_boys_z_0_2, bmi_girls_z_2_5: 1 decimal, by month); the exact SD value lies within
  +/-0.05 of the printed one.
With a height of 100 cm the BMI is the weight in kg, so a BMI is passed as a weight.
"""

import pytest

from appliance.clinical import growth as g

KS = (-3, -2, 0, 2, 3)
DAYS_PER_MONTH = 30.4375
CM = 100.0

# (sex, month, (SD3neg, SD2neg, SD0, SD2, SD3))
EXPANDED_BFA_2007 = [
    ("M", 64, (12.114, 13.022, 15.26, 18.308, 20.277)),
    ("M", 96, (12.394, 13.302, 15.737, 19.675, 22.785)),
    ("M", 144, (13.391, 14.453, 17.533, 23.581, 29.957)),
    ("M", 192, (15.109, 16.505, 20.495, 27.875, 34.754)),
    ("M", 224, (15.811, 17.473, 22.037, 29.572, 35.503)),
    ("F", 64, (11.752, 12.728, 15.244, 18.946, 21.535)),
    ("F", 112, (12.185, 13.242, 16.258, 21.857, 27.152)),
    ("F", 160, (13.753, 15.113, 19.064, 26.598, 33.884)),
    ("F", 208, (14.719, 16.393, 21.121, 29.376, 36.297)),
]
EXPANDED_HFA_2007 = [
    ("M", 64, (97.812, 102.496, 111.864, 121.231, 125.915)),
    ("M", 96, (110.321, 115.969, 127.265, 138.561, 144.209)),
    ("M", 144, (127.823, 134.909, 149.081, 163.252, 170.338)),
    ("M", 192, (149.582, 157.353, 172.897, 188.44, 196.212)),
    ("F", 64, (96.547, 101.418, 111.16, 120.902, 125.773)),
    ("F", 96, (109.163, 114.961, 126.556, 138.151, 143.948)),
    ("F", 144, (130.712, 137.552, 151.233, 164.913, 171.753)),
    ("F", 192, (142.156, 148.942, 162.516, 176.089, 182.876)),
]
SIMPLIFIED_BFA_2006 = [
    ("M", 0, (10.2, 11.1, 13.4, 16.3, 18.1)),
    ("M", 6, (13.6, 14.7, 17.3, 20.5, 22.3)),
    ("M", 12, (13.4, 14.4, 16.8, 19.8, 21.6)),
    ("F", 24, (12.4, 13.3, 15.7, 18.7, 20.6)),
    ("F", 36, (12.1, 13.1, 15.4, 18.4, 20.3)),
    ("F", 48, (11.8, 12.8, 15.3, 18.5, 20.6)),
    ("F", 60, (11.6, 12.7, 15.3, 18.8, 21.1)),
]


def whole_day(month):
    day = month * DAYS_PER_MONTH
    assert day == int(day)
    return int(day)


# --- shipped data ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "first", "count"),
    [("bmianthro", 0, 1857), ("bfawho2007", 61, 168), ("hfawho2007", 61, 168)]
    + [("wfawho2007", 61, 60)],
)
def test_tables_cover_the_who_ranges_for_both_sexes(table, first, count):
    for sex in (1, 2):
        start, rows = g._table(table)[sex]
        assert (start, len(rows)) == (first, count)


def test_shipped_rows_are_whos():
    first, rows = g._table("bfawho2007")[1]
    assert rows[61 - first] == (-0.7387, 15.2641, 0.0839)  # bfawho2007.txt, boys 61 months
    first, rows = g._table("bfawho2007")[2]
    assert rows[228 - first] == (-0.7496, 21.4269, 0.14441)  # girls 228 months
    first, rows = g._table("hfawho2007")[1]
    assert rows[61 - first] == (1.0, 110.2647, 0.04164)
    first, rows = g._table("bmianthro")[1]
    assert rows[730] != rows[731]  # length-based BMI to 730 days, height-based from 731


# --- WHO published tables -------------------------------------------------------------


@pytest.mark.parametrize(("sex", "month", "sds"), EXPANDED_BFA_2007)
def test_bfa_matches_who_2007_expanded_tables(sex, month, sds):
    day = whole_day(month)
    for k, value in zip(KS, sds, strict=True):
        assert g.bfa(sex, day, value, CM) == pytest.approx(k, abs=2e-3), (k, value)


@pytest.mark.parametrize(("sex", "month", "sds"), EXPANDED_HFA_2007)
def test_hfa_matches_who_2007_expanded_tables(sex, month, sds):
    day = whole_day(month)
    for k, value in zip(KS, sds, strict=True):
        assert g.hfa(sex, day, value) == pytest.approx(k, abs=1e-3), (k, value)


@pytest.mark.parametrize(("sex", "month", "printed"), SIMPLIFIED_BFA_2006)
def test_bfa_matches_who_2006_simplified_tables(sex, month, printed):
    day = int(month * DAYS_PER_MONTH + 0.5)  # halves up, as igrowup: 24 months = day 731
    for k, p in zip(KS, printed, strict=True):
        assert g.bfa(sex, day, p - 0.05, CM) <= k <= g.bfa(sex, day, p + 0.05, CM), (k, p)


def test_bfa_beyond_3_sd_is_restricted_as_who_does():
    # boys 144 months: SD2 23.581, SD3 29.957; one more SD2-SD3 gap above SD3 is z = 4
    assert g.bfa("M", 4383, 29.957 + (29.957 - 23.581), CM) == pytest.approx(4.0, abs=2e-3)
    assert g.bfa("M", 4383, 13.391 - (14.453 - 13.391), CM) == pytest.approx(-4.0, abs=2e-3)


def test_2007_lms_is_interpolated_between_whole_months():
    # day 1857 = 61.0103 months: 1.03 % of the way from the 61 to the 62 month row
    first, rows = g._table("bfawho2007")[1]
    M0, M1 = rows[0][1], rows[1][1]
    f = round(1857 / DAYS_PER_MONTH, 4) - 61
    M = M0 + f * (M1 - M0)
    assert g.bfa("M", 1857, M, CM) == pytest.approx(0.0, abs=1e-9)
    assert g.bfa("M", 1857, M0, CM) != pytest.approx(0.0, abs=1e-9)


def test_bmi_uses_the_length_height_after_the_0_7_cm_conversion():
    # standing height under 731 days: +0.7 cm before the BMI, as WHO anthro does
    assert g.bfa("F", 400, 9.0, 74.3, "standing") == g.bfa("F", 400, 9.0, 75.0, "lying")
    assert g.bfa("F", 2000, 20.0, 115.7, "lying") == g.bfa("F", 2000, 20.0, 115.0)


# --- age edges: 59/60/61 months, 1856/1857 days, 120 and 228 months ------------------


@pytest.mark.parametrize(
    ("day", "reference"),
    [(0, "who2006"), (1796, "who2006"), (1826, "who2006"), (1827, "who2006")]
    + [(1856, "who2006"), (1857, "who2007"), (6939, "who2007"), (6940, None), (-1, None)],
)
def test_reference_by_age(day, reference):
    assert g.reference(day) == reference


def test_weight_for_age_stops_at_10_years_bmi_and_height_at_19():
    assert g.wfa("M", 3652, 30.0) is not None  # 119.99 months
    assert g.wfa("M", 3653, 30.0) is None  # 120.02 months
    assert g.bfa("M", 6939, 60.0, 170.0) is not None  # 227.98 months
    assert g.hfa("M", 6939, 170.0) is not None
    assert g.bfa("M", 6940, 60.0, 170.0) is None


def test_no_bfa_without_weight_or_height_or_with_oedema():
    assert g.bfa("F", 3000, None, 130.0) is None
    assert g.bfa("F", 3000, 25.0, None) is None
    assert g.bfa("F", 3000, 25.0, 130.0, oedema=True) is None
    assert g.bfa(None, 3000, 25.0, 130.0) is None
    assert g.nutrition_status("F", 3000, 25.0)["bfa"] is None


@pytest.mark.parametrize(
    ("day", "months", "status"),
    [(1796, 59, "sam"), (1826, 59.99, "sam"), (1827, 60, "unknown"), (1840, 60.45, "unknown")]
    + [(1857, 61, "unknown")],
)
def test_muac_judges_only_6_to_59_months(day, months, status):
    result = g.nutrition_status("M", day, muac_mm=110)
    assert result["status"] == status, months
    assert ("muac<115" in result["reasons"]) is (status == "sam")


def test_the_issue_example_is_no_longer_sam_by_muac():
    # 1,840 days, MUAC 110 mm: past 59 months MUAC does not judge; the weight-for-height of a
    # well-nourished child does, under the 2006 standards still
    result = g.nutrition_status("M", 1840, 18.3, 110.0, muac_mm=110)
    assert result["status"] == "normal"
    assert result["reference"] == "who2006"
    assert result["wfh"] is not None


def weight_at(sex, day, z):
    """(weight, height) of a child of median height whose BMI-for-age is z (WHO's restricted
    scale below -3 SD)."""
    L, M, S = g._by_month("bfawho2007", sex, day, g.REF2007_TO_DAYS)
    height = g._by_month("hfawho2007", sex, day, g.REF2007_TO_DAYS)[1]

    def at(k):
        return M * (1 + L * S * k) ** (1 / L)

    bmi = at(z) if z >= -3 else at(-3) + (z + 3) * (at(-2) - at(-3))
    return bmi * (height / 100) ** 2, height


@pytest.mark.parametrize(
    ("z", "status", "reasons", "categories"),
    [
        (-3.2, "sam", ["bfa<-3"], ["severe_thinness"]),
        (-2.5, "mam", ["bfa<-2"], ["thinness"]),
        (-1.5, "normal", [], []),
        (1.5, "normal", [], ["overweight"]),
        (2.5, "normal", [], ["obesity"]),
    ],
)
def test_2007_thinness_overweight_obesity(z, status, reasons, categories):
    day = 4000  # 131 months
    result = g.nutrition_status("F", day, *weight_at("F", day, z))
    assert result["reference"] == "who2007"
    assert result["wfh"] is None
    assert result["bfa"] == pytest.approx(z, abs=0.006)
    assert (result["status"], result["reasons"], result["categories"]) == (
        status,
        reasons,
        categories,
    )


def test_2007_stunting_and_oedema():
    day = 5844  # 192 months, girls: SD2neg 148.942, SD3neg 142.156
    stunted = g.nutrition_status("F", day, 45.0, 146.0)
    assert "stunting" in stunted["categories"]
    severe = g.nutrition_status("F", day, 40.0, 140.0)
    assert "severe_stunting" in severe["categories"]
    oedema = g.nutrition_status("F", day, 45.0, 160.0, oedema=True)
    assert (oedema["status"], oedema["bfa"], oedema["wfa"]) == ("sam", None, None)


def test_categories_are_empty_under_the_2006_standards():
    result = g.nutrition_status("M", 1000, 10.0, 95.0)  # very thin (wfh -4.3)
    assert result["reference"] == "who2006"
    assert result["categories"] == []
    assert result["status"] == "sam"  # judged by weight-for-height


def test_implausible_bfa_is_named():
    result = g.nutrition_status("M", 4383, 80.0, CM)
    assert result["bfa"] > 5
    assert "bfa implausible" in result["reasons"]
    # a flagged z is shown but judges nothing: no obesity from a mistyped weight
    assert result["categories"] == [] and result["status"] == "unknown"


def test_a_flagged_z_judges_nothing_under_either_reference():
    # WHO 2006: weight-for-height -6.6 is a measurement to repeat, not SAM
    young = g.nutrition_status("M", 1000, 8.0, 95.0)
    assert young["wfh"] < -5 and "wfh implausible" in young["reasons"]
    assert young["status"] == "unknown"
    # ... but MUAC still judges the same visit
    assert g.nutrition_status("M", 1000, 8.0, 95.0, muac_mm=110)["status"] == "sam"
    # WHO 2007: BMI-for-age -6.9 is neither severe thinness nor SAM
    older = g.nutrition_status("M", 3000, 15.0, 130.0)
    assert older["bfa"] < -5 and "bfa implausible" in older["reasons"]
    assert older["status"] == "unknown" and "severe_thinness" not in older["categories"]
    # a flagged height-for-age leaves BMI-for-age to judge, and names no stunting
    short = g.nutrition_status("F", 6939, 18.0, 108.0)
    assert "hfa implausible" in short["reasons"]
    assert not {"stunting", "severe_stunting"} & set(short["categories"])
