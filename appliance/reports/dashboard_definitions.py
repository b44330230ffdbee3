"""The dashboard's indicators, each defined in one place, its targets and how a year of stored
monthly counts becomes the dashboard (coverage to date against the target, drop-outs).

Every count is made from the records (appliance/reports/dashboard_counts.py): current
(non-superseded), non-voided encounters; ages at the date of each visit in completed months.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from appliance.facility_file import PopulationSettings

SEXES = ("F", "M")
# What a target is a share of the population for, with its label.
TARGETS: dict[str, dict[str, str]] = {
    "total": {"fr": "population totale", "en": "total population"},
    "expected_pregnancies": {
        "fr": "grossesses attendues (cible)",
        "en": "expected pregnancies (target)",
    },
    "live_births": {
        "fr": "naissances vivantes attendues (cible)",
        "en": "expected live births (target)",
    },
    "surviving_infants": {"fr": "enfants survivants (cible)", "en": "surviving infants (target)"},
    "under_five": {"fr": "enfants de 0-59 mois (cible)", "en": "children 0-59 months (target)"},
}
NEW_CASES = {"fr": "nouveaux cas du mois", "en": "new cases of the month"}
# Families: the indicators computed together from one kind of record; a write marks its
# family's months stale (migration 19's triggers), and only those are computed again.
FAMILIES = ("immunization", "fic", "anc", "birth", "growth", "consultation", "seen", "followup")
# A nutrition case's outcome is looked for this long after it is detected (the usual length
# of an outpatient treatment programme).
OUTCOME_DAYS = 90
# A dose given this long after its due date was a defaulter's (the schedule's grace period).
DEFAULTER_AFTER_DAYS = 28
# The child schedule's doses the follow-up counts: those due before the second birthday.
FOLLOW_UP_MAX_AGE_DAYS = 730


@dataclass(frozen=True)
class Indicator:
    code: str
    group: str  # immunization, maternal, nutrition, curative
    family: str
    label_fr: str
    label_en: str
    definition_fr: str
    definition_en: str
    # a population target (TARGETS), "count:<code>" (another indicator of the same month),
    # or None (counts only)
    denominator: str | None = None
    # True: the year's numerators add up and are set against the target to date (WHO
    # monitoring chart). False: each month stands alone against the whole target.
    cumulative: bool = True
    by_sex: bool = True


INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "penta1",
        "immunization",
        "immunization",
        "Penta1",
        "Penta1",
        "Doses de Penta1 (DTC-HepB-Hib) données aux enfants de moins de 12 mois ; couverture "
        "cumulée depuis janvier rapportée aux enfants survivants (cible).",
        "Penta1 (DTP-HepB-Hib) doses given to children under 12 months; cumulative coverage "
        "since January against surviving infants (target).",
        "surviving_infants",
    ),
    Indicator(
        "penta3",
        "immunization",
        "immunization",
        "Penta3",
        "Penta3",
        "Comme Penta1 pour la 3e dose.",
        "As Penta1 for the 3rd dose.",
        "surviving_infants",
    ),
    Indicator(
        "mr1",
        "immunization",
        "immunization",
        "RR1 (rougeole-rubéole)",
        "MR1 (measles-rubella)",
        "Comme Penta1 pour la 1re dose de vaccin rougeole-rubéole.",
        "As Penta1 for the 1st measles-rubella dose.",
        "surviving_infants",
    ),
    Indicator(
        "fic",
        "immunization",
        "fic",
        "Enfants complètement vaccinés avant 12 mois",
        "Fully immunized before 12 months",
        "Enfants dont le premier anniversaire tombe dans le mois et qui ont reçu avant lui "
        "toutes les doses « enfant complètement vacciné » du calendrier PEV de l'appareil "
        "(BCG, VPO et Penta 1-3, VPC 1-3, rotavirus 1-3, RR1) ; rapportés aux "
        "enfants survivants (cible).",
        "Children whose first birthday falls in the month and who received before it every "
        "'fully immunized child' dose of the appliance's EPI schedule (BCG, OPV and Penta "
        "1-3, PCV 1-3, rotavirus 1-3, MR1); against surviving infants (target).",
        "surviving_infants",
    ),
    Indicator(
        "anc1",
        "maternal",
        "anc",
        "CPN1",
        "ANC1",
        "Premiers contacts prénatals d'une grossesse (contact numéro 1) ; rapportés aux "
        "grossesses attendues (cible).",
        "First antenatal contacts of a pregnancy (contact number 1); against expected "
        "pregnancies (target).",
        "expected_pregnancies",
        by_sex=False,
    ),
    Indicator(
        "anc1_t1",
        "maternal",
        "anc",
        "CPN1 au 1er trimestre",
        "ANC1 in the first trimester",
        "CPN1 faites avant 12 semaines d'aménorrhée (âge gestationnel noté, ou compté depuis "
        "les dernières règles) ; rapportées aux grossesses attendues.",
        "ANC1 before 12 weeks of gestation (the recorded gestational age, or counted from the "
        "last menstrual period); against expected pregnancies.",
        "expected_pregnancies",
        by_sex=False,
    ),
    Indicator(
        "anc4",
        "maternal",
        "anc",
        "CPN4",
        "ANC4",
        "Grossesses atteignant leur 4e contact prénatal, une fois, le mois du premier contact "
        "numéroté 4 ou plus ; rapportées aux grossesses attendues.",
        "Pregnancies reaching their 4th antenatal contact, once, in the month of the first "
        "contact numbered 4 or more; against expected pregnancies.",
        "expected_pregnancies",
        by_sex=False,
    ),
    Indicator(
        "anc8",
        "maternal",
        "anc",
        "CPN8",
        "ANC8",
        "Comme CPN4 pour le 8e contact (modèle OMS 2016).",
        "As ANC4 for the 8th contact (WHO 2016 model).",
        "expected_pregnancies",
        by_sex=False,
    ),
    Indicator(
        "iptp3",
        "maternal",
        "anc",
        "TPI3 (3e dose de SP)",
        "IPTp3 (3rd SP dose)",
        "Grossesses atteignant 3 doses de SP, une fois, le mois de la première dose numérotée "
        "3 ou plus ; rapportées aux grossesses attendues.",
        "Pregnancies reaching 3 SP doses, once, in the month of the first dose numbered 3 or "
        "more; against expected pregnancies.",
        "expected_pregnancies",
        by_sex=False,
    ),
    Indicator(
        "skilled_births",
        "maternal",
        "birth",
        "Accouchements assistés",
        "Births with a skilled attendant",
        "Accouchements assistés par du personnel qualifié, où qu'ils aient eu lieu ; "
        "rapportés aux naissances vivantes attendues.",
        "Deliveries with a skilled attendant, wherever they took place; against expected "
        "live births.",
        "live_births",
        by_sex=False,
    ),
    Indicator(
        "pnc48_mother",
        "maternal",
        "birth",
        "Consultation postnatale de la mère dans les 48 h",
        "Mother's postnatal contact within 48 h",
        "Femmes distinctes vues en consultation postnatale (mère) au jour 0, 1 ou 2 après "
        "l'accouchement ; rapportées aux naissances vivantes attendues.",
        "Distinct women with a postnatal contact (mother) on day 0, 1 or 2 after birth; "
        "against expected live births.",
        "live_births",
        by_sex=False,
    ),
    Indicator(
        "pnc48_newborn",
        "maternal",
        "birth",
        "Consultation postnatale du nouveau-né dans les 48 h",
        "Newborn's postnatal contact within 48 h",
        "Dossiers distincts avec une consultation postnatale du nouveau-né au jour 0, 1 ou 2 ; "
        "rapportés aux naissances vivantes attendues (sexe : celui du dossier).",
        "Distinct records with a newborn postnatal contact on day 0, 1 or 2; against expected "
        "live births (sex: the record's).",
        "live_births",
    ),
    Indicator(
        "weighed",
        "nutrition",
        "growth",
        "Enfants de 0-59 mois pesés",
        "Children 0-59 months weighed",
        "Enfants distincts de 0-59 mois pesés dans le mois ; rapportés aux enfants de 0-59 "
        "mois (cible) chaque mois, sans cumul.",
        "Distinct children aged 0-59 months weighed in the month; against the children 0-59 "
        "months (target) each month, not added up.",
        "under_five",
        cumulative=False,
    ),
    Indicator(
        "sam_new",
        "nutrition",
        "growth",
        "Nouveaux cas de MAS",
        "New SAM cases",
        "Enfants de 0-59 mois classés en malnutrition aiguë sévère (critères OMS) sans visite "
        "MAS dans les 60 jours avant.",
        "Children 0-59 months classified SAM (WHO criteria) with no SAM visit in the 60 days "
        "before.",
    ),
    Indicator(
        "sam_recovered",
        "nutrition",
        "growth",
        "MAS guéris",
        "SAM recovered",
        "Nouveaux cas de MAS du mois dont la dernière pesée mesurée dans les 90 jours suivants "
        "est normale (ni MAM ni MAS) ; rapportés aux nouveaux cas de MAS du mois.",
        "New SAM cases of the month whose last measured growth visit within the following 90 "
        "days is normal (neither MAM nor SAM); against the month's new SAM cases.",
        "count:sam_new",
        cumulative=False,
    ),
    Indicator(
        "sam_not_seen",
        "nutrition",
        "growth",
        "MAS non revus",
        "SAM not seen again",
        "Nouveaux cas de MAS du mois sans aucune pesée dans les 90 jours suivants ; rapportés "
        "aux nouveaux cas de MAS du mois.",
        "New SAM cases of the month with no growth visit within the following 90 days; "
        "against the month's new SAM cases.",
        "count:sam_new",
        cumulative=False,
    ),
    Indicator(
        "mam_new",
        "nutrition",
        "growth",
        "Nouveaux cas de MAM",
        "New MAM cases",
        "Comme MAS pour la malnutrition aiguë modérée.",
        "As SAM for moderate acute malnutrition.",
    ),
    Indicator(
        "mam_recovered",
        "nutrition",
        "growth",
        "MAM guéris",
        "MAM recovered",
        "Comme MAS guéris pour la MAM.",
        "As SAM recovered for MAM.",
        "count:mam_new",
        cumulative=False,
    ),
    Indicator(
        "mam_not_seen",
        "nutrition",
        "growth",
        "MAM non revus",
        "MAM not seen again",
        "Comme MAS non revus pour la MAM.",
        "As SAM not seen again for MAM.",
        "count:mam_new",
        cumulative=False,
    ),
    Indicator(
        "consultations",
        "curative",
        "consultation",
        "Consultations curatives (nouveaux cas)",
        "Outpatient consultations (new cases)",
        "Consultations curatives de nouveaux cas, par sexe et tranche d'âge le jour de la "
        "visite ; taux d'utilisation : nouveaux cas par habitant et par an (cumul rapporté à "
        "la population).",
        "New-case outpatient consultations, by sex and age group at the visit; utilisation "
        "rate: new cases per inhabitant per year (cumulative against the population).",
        "total",
    ),
)
BY_CODE = {i.code: i for i in INDICATORS}
# Counts stored beside the indicators: diagnoses (key: code) and the follow-up.
DIAGNOSIS = "diagnosis"
FOLLOW_UP = ("followup_due", "followup_done", "followup_traced")
SEEN = "seen"  # distinct patients, in the month of their first visit of the year (key: age)
FAMILY_CODES: dict[str, tuple[str, ...]] = {f: () for f in FAMILIES}
for _i in INDICATORS:
    FAMILY_CODES[_i.family] += (_i.code,)
FAMILY_CODES["consultation"] += (DIAGNOSIS,)
FAMILY_CODES["followup"] += FOLLOW_UP
FAMILY_CODES["seen"] += (SEEN,)

DROPOUTS = (
    ("penta1_penta3", "penta1", "penta3", "Abandon Penta1 → Penta3", "Drop-out Penta1 → Penta3"),
    ("penta1_mr1", "penta1", "mr1", "Abandon Penta1 → RR1", "Drop-out Penta1 → MR1"),
)
DROPOUT_DEFINITION = {
    "fr": "(premières doses − dernières doses) / premières doses, cumulés depuis janvier.",
    "en": "(first doses − last doses) / first doses, cumulative since January.",
}
FOLLOW_UP_DEFINITION = {
    "fr": "Doses du calendrier PEV de l'enfant (avant 2 ans) dont la date prévue (l'âge "
    "recommandé) tombe dans le mois : prévues ; faites avant la fin du mois : faites ; "
    "perdus de vue récupérés : doses données dans le mois plus de 28 jours après leur date.",
    "en": "Child EPI schedule doses (before 2 years) whose due date (the recommended age) "
    "falls in the month: due; given by the month's end: done; defaulters traced: doses given "
    "in the month more than 28 days after their due date.",
}


# -- population and targets ----------------------------------------------------------------


def population_of(settings: PopulationSettings, year: int) -> dict[str, int]:
    """The year's population and its targets (whole people, rounded)."""
    total = settings.total * (1 + settings.growth_pct / 100) ** (year - settings.year)
    pcts = {
        "expected_pregnancies": settings.expected_pregnancies_pct,
        "live_births": settings.live_births_pct,
        "surviving_infants": settings.surviving_infants_pct,
        "under_five": settings.under_five_pct,
    }
    out = {"total": round(total)}
    out.update({name: round(total * pct / 100) for name, pct in pcts.items()})
    return out


# -- a year of monthly counts becomes the dashboard -----------------------------------------

# counts[(month, code, sex, key)] = n; sex and key "" when they do not apply.
Counts = Mapping[tuple[str, str, str, str], int]


def _rate(numerator: float, denominator: float | None) -> float | None:
    if not denominator:
        return None
    return round(numerator / denominator, 3)


class CountIndex:
    """The stored counts indexed once by (month, indicator), so a year's dashboard reads each
    cell once however many indicators it shows."""

    def __init__(self, counts: Counts):
        self.totals: dict[tuple[str, str], int] = {}
        self.cells: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
        for (month, code, sex, key), n in counts.items():
            self.totals[(month, code)] = self.totals.get((month, code), 0) + n
            self.cells.setdefault((month, code), []).append((sex, key, n))

    def total(self, month: str, code: str) -> int:
        return self.totals.get((month, code), 0)

    def by(self, month: str, code: str, position: int) -> dict[str, int]:
        """Totals by sex (position 0) or by key (position 1)."""
        out: dict[str, int] = {}
        for cell in self.cells.get((month, code), ()):
            out[cell[position]] = out.get(cell[position], 0) + cell[2]
        return out


def _indexed(counts: Counts | CountIndex) -> CountIndex:
    return counts if isinstance(counts, CountIndex) else CountIndex(counts)


def month_total(counts: Counts | CountIndex, month: str, code: str) -> int:
    return _indexed(counts).total(month, code)


def indicator_series(
    indicator: Indicator,
    months: list[str],
    counts: Counts | CountIndex,
    population: dict[str, int] | None,
    *,
    last_month_share: float = 1.0,
) -> dict:
    """One indicator of the contract: monthly values and the year to date.
    `last_month_share`: how much of the last month has passed; the running month's target
    is only that share of a month (on the 7th, a whole month's target reads 20 % low)."""
    counts = _indexed(counts)
    target = indicator.denominator
    annual = population.get(target) if population and target in TARGETS else None
    monthly, to_date = [], []
    running = 0
    running_denominator = 0
    for n, month in enumerate(months, start=1):
        share = last_month_share if n == len(months) else 1.0
        numerator = counts.total(month, indicator.code)
        if target and target.startswith("count:"):
            denominator: float | None = counts.total(month, target.removeprefix("count:"))
        elif annual is None:
            denominator = None
        elif indicator.cumulative:
            denominator = round(annual / 12 * share, 1)
        else:
            denominator = annual
        row: dict = {
            "month": month,
            "numerator": numerator,
            "denominator": denominator,
            "rate": _rate(numerator, denominator),
            "by_sex": (
                {s: counts.by(month, indicator.code, 0).get(s, 0) for s in SEXES}
                if indicator.by_sex
                else None
            ),
        }
        if indicator.code == "consultations":
            row["by_age"] = counts.by(month, indicator.code, 1)
        monthly.append(row)
        running += numerator
        if target and target.startswith("count:"):
            running_denominator += int(denominator or 0)
            to_denominator: float | None = running_denominator
        elif annual is None or not indicator.cumulative:
            to_denominator = None
        else:
            to_denominator = round(annual * (n - 1 + share) / 12, 1)
        to_date.append(
            {
                "month": month,
                "numerator": running,
                "denominator": to_denominator,
                "rate": _rate(running, to_denominator),
            }
        )
    return {
        "code": indicator.code,
        "group": indicator.group,
        "label": {"fr": indicator.label_fr, "en": indicator.label_en},
        "definition": {"fr": indicator.definition_fr, "en": indicator.definition_en},
        "denominator": TARGETS.get(target, NEW_CASES) if target else None,
        "annual_target": annual,
        "cumulative": indicator.cumulative,
        "monthly": monthly,
        "to_date": to_date,
    }


def dropouts(months: list[str], counts: Counts | CountIndex) -> list[dict]:
    counts = _indexed(counts)
    out = []
    for code, first_code, last_code, fr, en in DROPOUTS:
        first = last = 0
        rows = []
        for month in months:
            first += month_total(counts, month, first_code)
            last += month_total(counts, month, last_code)
            rows.append(
                {
                    "month": month,
                    "first": first,
                    "last": last,
                    "rate": _rate(first - last, first),
                }
            )
        out.append(
            {
                "code": code,
                "label": {"fr": fr, "en": en},
                "definition": DROPOUT_DEFINITION,
                "to_date": rows,
            }
        )
    return out


def pyramid(months: list[str], counts: Counts, groups: tuple[str, ...]) -> list[dict]:
    out = []
    for group in groups:
        row: dict = {"group": group}
        for sex in SEXES:
            row[sex] = sum(counts.get((m, SEEN, sex, group), 0) for m in months)
        out.append(row)
    return out


def top_diagnoses(
    months: list[str], counts: Counts, labels: Mapping[str, dict[str, str]], n: int = 10
) -> list[dict]:
    totals: dict[str, dict[str, int]] = {}
    wanted = set(months)
    for (m, c, sex, key), v in counts.items():
        if c == DIAGNOSIS and m in wanted:
            by_sex = totals.setdefault(key, dict.fromkeys(SEXES, 0))
            by_sex[sex] = by_sex.get(sex, 0) + v
    ranked = sorted(totals.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:n]
    return [
        {
            "code": code,
            "label": labels.get(code, {"fr": code, "en": code}),
            "n": sum(by_sex.values()),
            "by_sex": by_sex,
        }
        for code, by_sex in ranked
    ]


def follow_up(months: list[str], counts: Counts | CountIndex) -> list[dict]:
    counts = _indexed(counts)
    return [
        {
            "month": m,
            "due": month_total(counts, m, "followup_due"),
            "done": month_total(counts, m, "followup_done"),
            "defaulters_traced": month_total(counts, m, "followup_traced"),
        }
        for m in months
    ]
