"""WHO growth z-scores and nutrition status, 0-19 years.

0-1856 days: WHO Child Growth Standards (2006), computed the way WHO's igrowup macros (2007)
and the WHO anthro R package compute them: LMS z-scores from WHO's expanded tables (by day of
age, by 0.1 cm of length/height). From 1857 days (61 months) to 228 months: WHO Growth
Reference for school-aged children and adolescents (2007), computed the way WHO's who2007
macro and the WHO anthroplus R package compute them (monthly LMS, interpolated by age).
WHO's restricted application beyond +/-3 SD for the weight-based indicators in both. Tables
and their source: data/who_growth/README.md. Pure functions, stdlib only; each table is read
once, on first use, into lists indexed by day, month or round(cm * 10).

The functions return the unrounded z-score; round(z, 2) gives what igrowup/anthro report.
"""

from __future__ import annotations

import csv
import math
from functools import cache
from pathlib import Path
from typing import Any

_DATA = Path(__file__).parent / "data" / "who_growth"

# igrowup computes z-scores while the rounded age in days is below 61 * 30.4375, i.e. 0-1856
# days; the expanded tables stop there too.
MAX_AGE_DAYS = 1856
# WHO: recumbent length is the standard below 24 months (age < 731 days), standing height
# from 731 days; the standards put height 0.7 cm below length (Methods and development, 2006).
HEIGHT_FROM_DAYS = 731
LENGTH_HEIGHT_OFFSET_CM = 0.7
# WHO anthro, when neither age nor measure is known: length table below 87 cm.
_LENGTH_BELOW_CM = 87.0
# MUAC is a criterion for children 6-59 months old (WHO/UNICEF joint statement 2009; WHO
# guideline 2013), i.e. from 6 completed months to 59 completed months, before the 60th month
# is complete. With WHO's month of 30.4375 days: from day 183 (182.6 days = 6 months) to day
# 1826 (1826.25 days = 60 months). Past it the 2007 reference's BMI-for-age judges thinness.
MUAC_FROM_DAYS, MUAC_TO_DAYS = 183, 1826
MUAC_SAM_MM, MUAC_MAM_MM = 115, 125

# WHO Growth Reference 2007 (de Onis et al., Bull World Health Organ 2007;85:660-667): from 61
# months, as WHO's who2007 macro and anthroplus (age >= 61 months) take over where igrowup
# stops (day 1857 = 61.01 months); BMI- and height-for-age to 228 months (19 years) inclusive,
# weight-for-age to 120 months (10 years) inclusive (anthroplus age cut-offs).
DAYS_PER_MONTH = 30.4375  # WHO: 365.25 / 12
REF2007_FROM_DAYS = MAX_AGE_DAYS + 1
REF2007_TO_DAYS = math.floor(228 * DAYS_PER_MONTH)  # 6939 days = 227.98 months
REF2007_WFA_TO_DAYS = math.floor(120 * DAYS_PER_MONTH)  # 3652 days = 119.99 months
WHO2006, WHO2007 = "who2006", "who2007"
# WHO 2007 reference, BMI-for-age cut-offs for 5-19 years (WHO: "Growth reference 5-19
# years", interpretation of BMI-for-age; de Onis et al. 2007): thinness < -2 SD, severe
# thinness < -3 SD, overweight > +1 SD, obesity > +2 SD; height-for-age: stunting < -2 SD,
# severe stunting < -3 SD. WHO defines SAM/MAM for 6-59 months only; past 60 months, as alert
# levels, severe thinness counts as severe acute malnutrition and thinness as moderate, the
# classification of the FANTA "Guide to Anthropometry" (2018), module 3 (children and
# adolescents 5-19 years: BMI-for-age < -3 SD SAM, -3 to < -2 SD MAM); bilateral oedema stays
# severe at any age.

_SEX = {"M": 1, "F": 2}
_MEASURED = ("lying", "standing")
# file, first and last valid key (day, or cm * 10)
_WFL = ("wflanthro", 450, 1100)
_WFH = ("wfhanthro", 650, 1200)
_EPS = 1e-9  # absorbs binary noise in cm * 10 (e.g. 44.3 + 0.7)

# WHO flags for biologically implausible values (igrowup / WHO anthro): z below/above.
# bfa: |z| > 5 in both igrowup (2006) and who2007 / anthroplus (2007); the other limits are
# the same in both.
_FLAG_LIMITS = {
    "wfa": (-6.0, 5.0),
    "hfa": (-6.0, 6.0),
    "wfh": (-5.0, 5.0),
    "acfa": (-5.0, 5.0),
    "bfa": (-5.0, 5.0),
}
_FLAG_ALIASES = {"lhfa": "hfa", "wfl": "wfh", "wflh": "wfh"}


def _sd(k: float, L: float, M: float, S: float) -> float:
    """Measure at k SD: M(1 + L*S*k)^(1/L), the Box-Cox inverse (M e^(S*k) when L == 0)."""
    return M * math.exp(S * k) if L == 0 else M * (1.0 + L * S * k) ** (1.0 / L)


def zscore_lms(x: float, L: float, M: float, S: float, restricted: bool = True) -> float:
    """LMS z-score z = ((x/M)^L - 1) / (L*S), with WHO's restricted application beyond 3 SD.

    Source: WHO Child Growth Standards, Methods and development (2006), chapter 7
    "Computation of centiles and z-scores" (also in igrowup and WHO anthro). In the tails the
    Box-Cox power L makes the distance between successive SD lines grow or shrink, which
    distorts extreme z-scores; past +/-3 SD WHO measures in units of the SD2-SD3 gap instead:
        z > 3:  z = 3 + (x - SD3pos) / (SD3pos - SD2pos)
        z < -3: z = -3 + (x - SD3neg) / (SD2neg - SD3neg)
    WHO applies this to weight-for-age, weight-for-length/height, BMI and arm circumference,
    not to length/height-for-age (L = 1 there, the distribution is normal): pass
    restricted=False for those.
    """
    if not x > 0:
        raise ValueError(f"measure must be positive, got {x!r}")
    z = math.log(x / M) / S if L == 0 else ((x / M) ** L - 1.0) / (L * S)
    if restricted:
        if z > 3.0:
            sd3 = _sd(3.0, L, M, S)
            z = 3.0 + (x - sd3) / (sd3 - _sd(2.0, L, M, S))
        elif z < -3.0:
            sd3 = _sd(-3.0, L, M, S)
            z = -3.0 + (x - sd3) / (_sd(-2.0, L, M, S) - sd3)
    return z


@cache
def _table(name: str) -> dict[int, tuple[int, list[tuple[float, float, float]]]]:
    """{sex code: (first key, [(L, M, S), ...])}; a key is a day, or cm * 10 for length."""
    by_cm = name in (_WFL[0], _WFH[0])
    rows: dict[int, list[tuple[int, float, float, float]]] = {1: [], 2: []}
    with open(_DATA / f"{name}.csv", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for sex, key, L, M, S, *_ in reader:  # bmianthro has a 6th column, loh
            k = round(float(key) * 10) if by_cm else int(key)
            rows[int(sex)].append((k, float(L), float(M), float(S)))
    out = {}
    for sex, r in rows.items():
        r.sort()
        if not r or [k for k, *_ in r] != list(range(r[0][0], r[0][0] + len(r))):
            raise ValueError(f"{name}.csv: keys for sex {sex} are not one contiguous run")
        out[sex] = (r[0][0], [(L, M, S) for _, L, M, S in r])
    return out


def _sex(sex: str | None) -> int | None:
    if sex is None:
        return None
    if sex not in _SEX:
        raise ValueError(f"sex must be 'M' or 'F', got {sex!r}")
    return _SEX[sex]


def _day(age_days: float | None) -> int | None:
    """Age in whole days, rounded half up as igrowup (round(x, 1)) and anthro (round_up) do;
    None past the 2007 reference (228 months)."""
    if age_days is None:
        return None
    a = float(age_days)
    if not 0.0 <= a < math.inf:  # negative or NaN
        return None
    day = math.floor(a + 0.5)
    return day if day <= REF2007_TO_DAYS else None


def reference(age_days: float | None) -> str | None:
    """ "who2006" (0-1856 days), "who2007" (1857 days to 228 months) or None (no valid age)."""
    day = _day(age_days)
    if day is None:
        return None
    return WHO2006 if day <= MAX_AGE_DAYS else WHO2007


def _positive(x: float | None) -> bool:
    return x is not None and 0.0 < x < math.inf


def _check_measured(measured: str | None) -> None:
    if measured is not None and measured not in _MEASURED:
        raise ValueError(f"measured must be 'lying', 'standing' or None, got {measured!r}")


def _adjust(day: int, cm: float, measured: str | None) -> float:
    """WHO: +0.7 cm for a standing height under 731 days, -0.7 cm for a length from 731 days."""
    if measured == "standing" and day < HEIGHT_FROM_DAYS:
        return cm + LENGTH_HEIGHT_OFFSET_CM
    if measured == "lying" and day >= HEIGHT_FROM_DAYS:
        return cm - LENGTH_HEIGHT_OFFSET_CM
    return cm


def _by_age(name: str, sex: str | None, day: int | None) -> tuple[float, float, float] | None:
    code = _sex(sex)
    if code is None or day is None:
        return None
    first, rows = _table(name)[code]
    i = day - first
    return rows[i] if 0 <= i < len(rows) else None


def _by_month(name: str, sex: str | None, day: int | None, last_day: int) -> tuple | None:
    """WHO 2007 L, M, S at a day from 1857 to last_day, as WHO's who2007 macro takes them:
    age in months = days / 30.4375 rounded to 4 decimals, then L, M and S each interpolated
    linearly between the rows of the whole months below and above (a whole month as is)."""
    code = _sex(sex)
    if code is None or day is None or not REF2007_FROM_DAYS <= day <= last_day:
        return None
    months = round(day / DAYS_PER_MONTH, 4)
    low = math.floor(months)
    frac = months - low
    first, rows = _table(name)[code]
    L, M, S = rows[low - first]
    if frac > 0:
        L1, M1, S1 = rows[low - first + 1]
        L, M, S = L + frac * (L1 - L), M + frac * (M1 - M), S + frac * (S1 - S)
    return L, M, S


def _lms(name_2006: str, name_2007: str, sex: str | None, day: int | None, last_day: int):
    """L, M, S at `day`: the 2006 standards' table by day to 1856 days, the 2007 reference's
    by month after, up to `last_day`; None outside them."""
    if day is not None and day > MAX_AGE_DAYS:
        return _by_month(name_2007, sex, day, last_day)
    return _by_age(name_2006, sex, day)


def wfa(
    sex: str, age_days: float | None, weight_kg: float | None, oedema: bool = False
) -> float | None:
    """Weight-for-age z (restricted beyond 3 SD), or None; None with bilateral oedema (WHO).
    WHO 2006 to 1856 days, WHO 2007 from 1857 days to 120 months (10 years)."""
    if oedema or not _positive(weight_kg):
        return None
    lms = _lms("weianthro", "wfawho2007", sex, _day(age_days), REF2007_WFA_TO_DAYS)
    return None if lms is None else zscore_lms(weight_kg, *lms)


def hfa(
    sex: str, age_days: float | None, height_cm: float | None, measured: str | None = None
) -> float | None:
    """Length/height-for-age z (plain LMS, no restriction), or None.

    measured: "lying" (recumbent length), "standing" (height) or None (taken to be the
    position WHO prescribes for the age: length under 731 days, height from 731 days).
    WHO 2006 to 1856 days, WHO 2007 (standing height) from 1857 days to 228 months; a length
    taken lying past 5 years loses 0.7 cm as it does from 731 days under the 2006 standards.
    """
    _check_measured(measured)
    day = _day(age_days)
    if day is None or not _positive(height_cm):
        return None
    lms = _lms("lenanthro", "hfawho2007", sex, day, REF2007_TO_DAYS)
    if lms is None:
        return None
    return zscore_lms(_adjust(day, height_cm, measured), *lms, restricted=False)


def bmi(weight_kg: float, height_cm: float) -> float:
    """Body mass index, kg/m2."""
    return weight_kg / (height_cm / 100.0) ** 2


def bfa(
    sex: str,
    age_days: float | None,
    weight_kg: float | None,
    height_cm: float | None,
    measured: str | None = None,
    oedema: bool = False,
) -> float | None:
    """BMI-for-age z (restricted beyond 3 SD, as WHO does for BMI), or None.

    WHO 2006 (bmianthro, by day; length-based BMI under 731 days, height-based from 731) to
    1856 days, WHO 2007 from 1857 days to 228 months. BMI is computed from the length/height
    after the 0.7 cm conversion, as WHO anthro does. None with bilateral oedema (WHO: weight
    then says nothing of nutrition), without weight or height, or outside 0-228 months.
    """
    _check_measured(measured)
    if oedema or not _positive(weight_kg) or not _positive(height_cm):
        return None
    day = _day(age_days)
    if day is None:
        return None
    lms = _lms("bmianthro", "bfawho2007", sex, day, REF2007_TO_DAYS)
    if lms is None:
        return None
    return zscore_lms(bmi(weight_kg, _adjust(day, height_cm, measured)), *lms)


def wfh(
    sex: str,
    age_days: float | None,
    weight_kg: float | None,
    height_cm: float | None,
    measured: str | None = None,
    oedema: bool = False,
) -> float | None:
    """Weight-for-length (age < 731 days) or weight-for-height (from 731 days) z, or None.

    With the age unknown (age_days=None) the table follows the measure, as in WHO anthro:
    "lying" -> weight-for-length, "standing" -> weight-for-height, neither -> length table
    below 87 cm; no 0.7 cm conversion is then possible. None outside 45-110 cm (length) or
    65-120 cm (height) after conversion, above 1856 days, or with bilateral oedema.
    """
    _check_measured(measured)
    code = _sex(sex)
    if oedema or code is None or not _positive(weight_kg) or not _positive(height_cm):
        return None
    if age_days is None:
        cm = height_cm
        by_length = height_cm < _LENGTH_BELOW_CM if measured is None else measured == "lying"
    else:
        day = _day(age_days)
        if day is None or day > MAX_AGE_DAYS:  # no weight-for-height past 5 years (WHO)
            return None
        cm = _adjust(day, height_cm, measured)
        by_length = day < HEIGHT_FROM_DAYS
    name, lo, hi = _WFL if by_length else _WFH
    x10 = cm * 10.0
    if not lo - _EPS <= x10 <= hi + _EPS:
        return None
    # WHO anthro: lower row trunc(cm * 10) / 10, the next row above, and L, M and S each
    # interpolated linearly by the fraction of 0.1 cm between them; exact rows are used as is.
    # igrowup (2007) interpolated the two rows' z-scores instead: same result for lengths in
    # whole mm; with 0.01 cm the two differ by at most ~0.001 z (0.01 after rounding, rarely).
    i = min(math.floor(x10 + _EPS), hi)
    frac = x10 - i
    first, rows = _table(name)[code]
    L, M, S = rows[i - first]
    if frac > _EPS and i < hi:
        L1, M1, S1 = rows[i - first + 1]
        L, M, S = L + frac * (L1 - L), M + frac * (M1 - M), S + frac * (S1 - S)
    return zscore_lms(weight_kg, L, M, S)


def acfa(sex: str, age_days: float | None, muac_mm: float | None) -> float | None:
    """Arm-circumference-for-age z (restricted beyond 3 SD), or None; table is 91-1856 days."""
    if not _positive(muac_mm):
        return None
    lms = _by_age("acanthro", sex, _day(age_days))
    return None if lms is None else zscore_lms(muac_mm / 10.0, *lms)


_CURVE_TABLES = {"wfa": "weianthro", "hfa": "lenanthro"}


def reference_curves(
    index: str,
    sex: str,
    *,
    z_values: tuple[float, ...] = (-3, -2, 0, 2, 3),
    day_from: int = 0,
    day_to: int = MAX_AGE_DAYS,
    step_days: int = 30,
) -> dict[int, list[tuple[float, float]]]:
    """WHO reference lines {z: [(age_days, value), ...]} for "wfa" (kg) or "hfa" (cm).

    Days run from day_from every step_days, and day_to is always included. Each value is the
    inverse of the z-score the module computes, so it scores back to its z: for weight-for-age
    beyond +/-3 SD that is WHO's restricted rule (the SD2-SD3 gap extended linearly), for
    length/height-for-age the plain LMS inverse (the table's length below 731 days, height
    from 731 days, hence the 0.7 cm step there).
    """
    if index not in _CURVE_TABLES:
        raise ValueError(f"index must be 'wfa' or 'hfa', got {index!r}")
    if sex not in _SEX:
        raise ValueError(f"sex must be 'M' or 'F', got {sex!r}")
    if not 0 <= day_from <= day_to <= MAX_AGE_DAYS or step_days < 1:
        raise ValueError(f"bad day range {day_from}..{day_to} step {step_days}")
    days = list(range(day_from, day_to + 1, step_days))
    if days[-1] != day_to:
        days.append(day_to)
    restricted = index == "wfa"
    out: dict[int, list[tuple[float, float]]] = {}
    for z in z_values:
        points = []
        for day in days:
            L, M, S = _by_age(_CURVE_TABLES[index], sex, day)
            if restricted and abs(z) > 3:
                k = math.copysign(3.0, z)
                sd3, sd2 = _sd(k, L, M, S), _sd(math.copysign(2.0, z), L, M, S)
                value = sd3 + (z - k) * abs(sd3 - sd2)
            else:
                value = _sd(z, L, M, S)
            points.append((float(day), value))
        out[z] = points
    return out


def flagged(index_name: str, z: float | None) -> bool:
    """WHO flag for a biologically implausible z: wfa < -6 or > 5, hfa < -6 or > 6,
    wfh < -5 or > 5 (acfa, bfa < -5 or > 5). Source: igrowup / WHO anthro / who2007 flag
    limits."""
    name = _FLAG_ALIASES.get(index_name, index_name)
    if name not in _FLAG_LIMITS:
        raise ValueError(f"unknown index {index_name!r}")
    lo, hi = _FLAG_LIMITS[name]
    return z is not None and (z < lo or z > hi)


def _r2(z: float | None) -> float | None:
    return None if z is None else round(z, 2)


def _categories_2007(z: dict) -> list[str]:
    """WHO 2007 reference categories (cut-offs above) of a child past 60 months."""
    out = []
    if z["bfa"] is not None:
        if z["bfa"] < -3:
            out.append("severe_thinness")
        elif z["bfa"] < -2:
            out.append("thinness")
        elif z["bfa"] > 2:
            out.append("obesity")
        elif z["bfa"] > 1:
            out.append("overweight")
    if z["hfa"] is not None:
        if z["hfa"] < -3:
            out.append("severe_stunting")
        elif z["hfa"] < -2:
            out.append("stunting")
    return out


def nutrition_status(
    sex: str,
    age_days: float | None,
    weight_kg: float | None = None,
    height_cm: float | None = None,
    muac_mm: float | None = None,
    oedema: bool = False,
    measured: str | None = None,
) -> dict:
    """Acute malnutrition status, and which WHO reference judged it.

    Under 61 months (WHO 2006 standards), from oedema, MUAC and weight-for-length/height.
    Sources: WHO/UNICEF joint statement "WHO child growth standards and the identification of
    severe acute malnutrition in infants and children" (2009); WHO guideline "Updates on the
    management of severe acute malnutrition in infants and children" (2013).
      sam: bilateral pitting oedema, or MUAC < 115 mm (6-59 months), or wfh < -3;
      mam: MUAC 115-124 mm (6-59 months), or -3 <= wfh < -2;
    From 61 months (WHO 2007 reference), from oedema and BMI-for-age (cut-offs and sources
    above REF2007_FROM_DAYS): sam: oedema or bfa < -3; mam: -3 <= bfa < -2.
      normal: a criterion could be judged and none of the above is met; else unknown.
    Cut-offs apply to z rounded to 2 decimals, as WHO's software classifies its output.
    "reasons" lists each criterion met, and "<index> implausible" for a WHO-flagged z
    (re-measure: the value is shown, but judges neither the status nor the categories).
    "reference" is "who2006", "who2007" or None (no valid age); "categories" lists the WHO
    2007 categories met (thinness, overweight, obesity, stunting...), empty under 61 months.
    """
    ref = reference(age_days)
    z = {
        "wfa": _r2(wfa(sex, age_days, weight_kg, oedema)),
        "hfa": _r2(hfa(sex, age_days, height_cm, measured)),
        "wfh": _r2(wfh(sex, age_days, weight_kg, height_cm, measured, oedema)),
        "bfa": _r2(bfa(sex, age_days, weight_kg, height_cm, measured, oedema)),
    }
    # A WHO-flagged z is a measurement to repeat, not a finding: it judges nothing (WHO
    # anthro leaves flagged values out of its classifications too).
    implausible = [name for name, v in z.items() if flagged(name, v)]
    usable = {name: (None if name in implausible else v) for name, v in z.items()}
    reasons: list[str] = []
    judged = bool(oedema)
    if oedema:
        reasons.append("oedema")
    day = _day(age_days)
    if _positive(muac_mm) and day is not None and MUAC_FROM_DAYS <= day <= MUAC_TO_DAYS:
        judged = True
        if muac_mm < MUAC_SAM_MM:
            reasons.append(f"muac<{MUAC_SAM_MM}")
        elif muac_mm < MUAC_MAM_MM:
            reasons.append(f"muac<{MUAC_MAM_MM}")
    if usable["wfh"] is not None:
        judged = True
        if usable["wfh"] < -3:
            reasons.append("wfh<-3")
        elif usable["wfh"] < -2:
            reasons.append("wfh<-2")
    if ref == WHO2007 and usable["bfa"] is not None:
        judged = True
        if usable["bfa"] < -3:
            reasons.append("bfa<-3")
        elif usable["bfa"] < -2:
            reasons.append("bfa<-2")
    if not judged:
        status = "unknown"
    elif {"oedema", f"muac<{MUAC_SAM_MM}", "wfh<-3", "bfa<-3"} & set(reasons):
        status = "sam"
    elif reasons:
        status = "mam"
    else:
        status = "normal"
    reasons += [f"{name} implausible" for name in implausible]
    categories = _categories_2007(usable) if ref == WHO2007 else []
    return {**z, "status": status, "reasons": reasons, "reference": ref, "categories": categories}


def nutrition_of(sex: str | None, age_days: float | None, data: dict[str, Any]) -> dict:
    """nutrition_status of one growth encounter's data (weight, height, MUAC, oedema, how the
    child was measured), as the record, the alerts, the reports and the kiosk read it."""
    return nutrition_status(
        sex,  # type: ignore[arg-type]
        age_days,
        weight_kg=data.get("weight_kg"),
        height_cm=data.get("height_cm"),
        muac_mm=data.get("muac_mm"),
        oedema=bool(data.get("oedema")),
        measured=data.get("measured"),
    )
