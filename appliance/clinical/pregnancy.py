"""Pregnancy dating, antenatal contacts, Td and IPTp doses, postnatal contacts.

Sources:
- Dating: Naegele's rule, EDD = LMP + 280 days.
- ANC: WHO recommendations on antenatal care for a positive pregnancy experience (2016),
  recommendation E.7: eight contacts, at 12, 20, 26, 30, 34, 36, 38 and 40 weeks.
- Referral at 41 weeks: WHO recommendations for induction of labour (2011, updated 2022):
  induction is recommended for women known to be at 41 completed weeks; a CSCom refers.
- Td: WHO tetanus vaccines position paper (2017): 5 doses for women not vaccinated in
  childhood; dose 2 at least 4 weeks after dose 1, dose 3 at least 6 months after dose 2,
  doses 4 and 5 at least 1 year after the previous one.
- IPTp-SP: WHO updated policy recommendation (October 2012): from the second trimester
  (not before 13 weeks), at each scheduled contact, doses at least one month apart, until
  delivery. (SP is not given to women taking cotrimoxazole; that is for the clinician.)
- PNC: WHO recommendations on postnatal care of the mother and newborn (2013; reaffirmed in
  WHO recommendations on maternal and newborn care for a positive postnatal experience,
  2022): contacts within 24 hours, on day 3 (48-72 hours), between days 7 and 14, and at
  6 weeks (day 42).

Windows and "overdue" delays are not fixed by WHO; the ones chosen are documented next to
their constants and can be passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from appliance.clinical.dates import as_date

EDD_DAYS = 280
MAX_PREGNANCY_DAYS = 44 * 7  # beyond this since LMP the pregnancy is over (or misdated)

ANC_WEEKS = (12, 20, 26, 30, 34, 36, 38, 40)
ANC_OVERDUE_AFTER_DAYS = 7
REFER_WEEK = 41

TD_MIN_INTERVALS = {2: 28, 3: 183, 4: 365, 5: 365}  # days since the previous dose
TD_GRACE_DAYS = 28  # same defaulter rule as the child schedule (programme choice)

IPTP_FROM_WEEK = 13
IPTP_MIN_INTERVAL_DAYS = 30  # "at least one month apart"; 30 days, never less

# (number, code, due day, window first day, window last day); days after birth, birth =
# day 0. WHO 2013 names the moments: within 24 hours, day 3 (48-72 hours: due from 48 h, day
# 2), days 7-14, and 6 weeks: due on day 42. A visit counts for the contact whose window holds
# its day; the 6-week window (weeks 5-7, days 35-49) is a programme choice, so a visit from
# day 35 still counts, but the contact is only listed as due from day 42.
PNC_CONTACTS = (
    (1, "24h", 0, 0, 1),
    (2, "j3", 2, 2, 3),
    (3, "j7", 7, 7, 14),
    (4, "6sem", 42, 35, 49),
)
PNC_LAST_DAY = 60  # postnatal records stop at day 60 (encounter model)
# The last day after birth each contact is listed: the day before the next one's window
# opens (the next contact covers it), day 60 for the last.
PNC_DAYS_LISTED = {
    code: (PNC_CONTACTS[k + 1][3] - 1 if k + 1 < len(PNC_CONTACTS) else PNC_LAST_DAY)
    for k, (_n, code, _d, _f, _l) in enumerate(PNC_CONTACTS)
}


def edd_from_lmp(lmp: date) -> date:
    return lmp + timedelta(days=EDD_DAYS)


def gestational_age_days(lmp: date, on: date) -> int:
    return (on - lmp).days


def lmp_from_ga(ga_weeks: float, on: date) -> date:
    """The LMP implied by a gestational age (weeks, may be fractional) measured on `on`."""
    return on - timedelta(days=round(ga_weeks * 7))


@dataclass(frozen=True, slots=True)
class Pregnancy:
    lmp: date
    edd: date
    dated_by: str  # "lmp" | "gestational_age"
    dated_on: date  # care date of the ANC contact the dating comes from
    anc_dates: tuple[date, ...]  # ANC contacts of this pregnancy up to `on`, oldest first

    def ga_days(self, on: date) -> int:
        return (on - self.lmp).days


@dataclass(frozen=True, slots=True)
class ContactDue:
    kind: str  # "anc" | "refer_delivery" | "pnc"
    number: int  # contact number (WHO order); 0 for the referral
    code: str  # "12w" ... "40w", "41w", "24h", "j3", "j7", "6sem"
    due_date: date
    window_start: date
    window_end: date
    status: str  # "due" | "overdue" | "upcoming"
    days_overdue: int  # days past the due date, 0 when not yet due


@dataclass(frozen=True, slots=True)
class DoseDue:
    dose: int
    due_date: date
    status: str
    days_overdue: int


def _status(today: int, due: int, overdue_after: int) -> tuple[str, int]:
    late = today - due
    if late < 0:
        return "upcoming", 0
    return ("overdue" if late > overdue_after else "due"), late


def current_pregnancy(
    anc_encounters: list[dict[str, Any]],
    delivery_encounters: list[dict[str, Any]],
    on: date,
) -> Pregnancy | None:
    """The pregnancy in progress on `on`, dated by the latest ANC contact that recorded an
    LMP (preferred) or a gestational age. A delivery on or after that contact, or more than
    44 weeks since the LMP, ends it."""
    dated: tuple[date, date, str] | None = None  # (care date, lmp, how)
    for e in anc_encounters:
        care = as_date(e["care_date"])
        if care > on or (dated is not None and care < dated[0]):
            continue
        data = e.get("data") or {}
        lmp = as_date(data.get("lmp"))
        if lmp is not None:
            dated = (care, lmp, "lmp")
        elif data.get("gestational_age_weeks") is not None:
            dated = (care, lmp_from_ga(data["gestational_age_weeks"], care), "gestational_age")
    if dated is None:
        return None
    care, lmp, how = dated
    if (on - lmp).days > MAX_PREGNANCY_DAYS:
        return None
    start = lmp
    for e in delivery_encounters:
        when = as_date(e["care_date"])
        if when > on:
            continue
        if when >= care:
            return None
        start = max(start, when + timedelta(days=1))  # an earlier birth: not this pregnancy
    visits = sorted({d for e in anc_encounters if start <= (d := as_date(e["care_date"])) <= on})
    return Pregnancy(
        lmp=lmp, edd=edd_from_lmp(lmp), dated_by=how, dated_on=care, anc_dates=tuple(visits)
    )


def anc_schedule(
    pregnancy: Pregnancy,
    anc_dates: list[date] | tuple[date, ...],
    on: date,
    *,
    weeks: tuple[int, ...] = ANC_WEEKS,
    overdue_after_days: int = ANC_OVERDUE_AFTER_DAYS,
    refer_week: int = REFER_WEEK,
    until: date | None = None,
) -> list[ContactDue]:
    """The remaining WHO 2016 contacts of this pregnancy, then the 41-week referral.

    Contact k (at week w_k) is due at LMP + w_k weeks; its window runs from week w_(k-1) + 1
    (from the LMP for the first) to the day before week w_(k+1) (before 41 weeks for the
    last). Visits are matched in date order, each to the earliest open contact whose window
    holds it, so a late visit counts for the contact it made up for. A contact whose window
    closed without a visit is past: a woman first seen late in pregnancy is scheduled only
    for the contacts still ahead. Overdue once more than `overdue_after_days` past due.
    With `until`, items due after that date are left out (the due list's horizon).
    """
    lmp = pregnancy.lmp.toordinal()
    today = on.toordinal()
    last = until.toordinal() if until is not None else lmp + MAX_PREGNANCY_DAYS
    n = len(weeks)
    starts = [lmp + (weeks[k - 1] + 1) * 7 if k else lmp for k in range(n)]
    ends = [lmp + (weeks[k + 1] if k + 1 < n else refer_week) * 7 - 1 for k in range(n)]
    i = 0
    for visit in sorted(d.toordinal() for d in anc_dates):
        while i < n and ends[i] < visit:
            i += 1  # window closed before this visit
        if i < n and starts[i] <= visit:
            i += 1  # this visit is contact i
    out = []
    for k in range(i, n):
        if ends[k] < today:
            continue  # missed, and past
        due = lmp + weeks[k] * 7
        if due > last:
            break
        status, late = _status(today, due, overdue_after_days)
        out.append(
            ContactDue(
                "anc",
                k + 1,
                f"{weeks[k]}w",
                date.fromordinal(due),
                date.fromordinal(starts[k]),
                date.fromordinal(ends[k]),
                status,
                late,
            )
        )
    refer = lmp + refer_week * 7
    if refer > last:
        return out
    late = today - refer
    out.append(
        ContactDue(
            "refer_delivery",
            0,
            f"{refer_week}w",
            date.fromordinal(refer),
            date.fromordinal(refer),
            date.fromordinal(lmp + MAX_PREGNANCY_DAYS),
            "upcoming" if late < 0 else ("overdue" if late > 0 else "due"),
            max(late, 0),
        )
    )
    return out


def td_due(
    td_history: list[tuple[int, date]],
    on: date,
    *,
    first_contact: date | None = None,
    grace_days: int = TD_GRACE_DAYS,
) -> DoseDue | None:
    """The woman's next Td dose, or None after the fifth. Td1 is due at the first contact of
    the pregnancy (`first_contact`, else `on`); later doses after their minimum interval."""
    if not td_history:
        start = first_contact or on
        status, late = _status(on.toordinal(), start.toordinal(), grace_days)
        return DoseDue(1, start, status, late)
    top = max(dose for dose, _ in td_history)
    if top >= 5:
        return None
    last = max(when for _, when in td_history)
    due = last + timedelta(days=TD_MIN_INTERVALS[top + 1])
    status, late = _status(on.toordinal(), due.toordinal(), grace_days)
    return DoseDue(top + 1, due, status, late)


def iptp_due(
    pregnancy: Pregnancy,
    iptp_history: list[tuple[int, date]],
    on: date,
    *,
    from_week: int = IPTP_FROM_WEEK,
    min_interval_days: int = IPTP_MIN_INTERVAL_DAYS,
    overdue_after_days: int = ANC_OVERDUE_AFTER_DAYS,
) -> DoseDue | None:
    """The next IPTp-SP dose of this pregnancy: from 13 weeks and not before the first
    contact (it is given at contacts), at least a month after the previous dose; none once
    the next dose would fall after the EDD (WHO sets no upper count)."""
    mine = [(d, w) for d, w in iptp_history if w >= pregnancy.lmp]
    due = pregnancy.lmp + timedelta(weeks=from_week)
    if pregnancy.anc_dates:
        due = max(due, pregnancy.anc_dates[0])
    dose = 1
    if mine:
        dose = max(max(d for d, _ in mine), len(mine)) + 1
        due = max(due, max(w for _, w in mine) + timedelta(days=min_interval_days))
    if due > pregnancy.edd:
        return None
    status, late = _status(on.toordinal(), due.toordinal(), overdue_after_days)
    return DoseDue(dose, due, status, late)


def pnc_schedule(
    delivery_date: date,
    postnatal_encounters: list[dict[str, Any]],
    on: date,
    subject: str,
    *,
    contacts: tuple[tuple[int, str, int, int, int], ...] = PNC_CONTACTS,
    until: date | None = None,
) -> list[ContactDue]:
    """The postnatal contacts still to make for the mother or the newborn (`subject`).

    A postnatal encounter of that subject counts for the contact whose window holds its day
    after birth (`days_after_birth`, else care date minus delivery date). A contact is due
    from its due day (day 42 for the 6-week contact), overdue after its window's last day,
    and dropped once the next contact's window opens (the last one after day 60): the next
    contact covers it.
    With `until`, contacts due after that date are left out.
    """
    birth = delivery_date.toordinal()
    day_today = on.toordinal() - birth
    if day_today < 0 or day_today > PNC_LAST_DAY:
        return []
    seen = set()
    for e in postnatal_encounters:
        data = e.get("data") or {}
        if data.get("subject") != subject:
            continue
        day = data.get("days_after_birth")
        if day is None:
            day = as_date(e["care_date"]).toordinal() - birth
        seen.add(day)
    out = []
    for k, (number, code, due_day, first, last) in enumerate(contacts):
        drop_after = contacts[k + 1][3] - 1 if k + 1 < len(contacts) else PNC_LAST_DAY
        if day_today > drop_after:
            continue
        if until is not None and birth + due_day > until.toordinal():
            break
        if any(first <= d <= last for d in seen):
            continue
        if day_today < due_day:
            status = "upcoming"
        elif day_today <= last:
            status = "due"
        else:
            status = "overdue"
        out.append(
            ContactDue(
                "pnc",
                number,
                code,
                date.fromordinal(birth + due_day),
                date.fromordinal(birth + first),
                date.fromordinal(birth + last),
                status,
                max(day_today - due_day, 0),
            )
        )
    return out
