"""The report's output formats: DHIS2 dataValueSet JSON, ADX XML, CSV and a French text table.

DHIS2: the payload of `POST /api/dataValueSets` (DHIS2 developer guide, "Data values"), with
our (indicator, disaggregation) mapped to the district's UIDs by a mapping file (see
data/mapping-demo.json). ADX: IHE QRPH Aggregate Data Exchange (2015), code id scheme: our
indicator codes and disaggregation values as they are.
"""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
import xml.etree.ElementTree as ET
from datetime import date, datetime
from pathlib import Path
from typing import Any

from appliance.reports import labels
from appliance.reports.definitions import BY_CODE, DIMENSIONS, INDICATORS
from appliance.reports.monthly import Key, Report, key

ADX_NS = "urn:ihe:qrph:adx:2015"
DEMO_MAPPING = Path(__file__).parent / "data" / "mapping-demo.json"
# A DHIS2 UID: a letter then ten letters or digits (DHIS2 CodeGenerator).
UID = re.compile(r"[A-Za-z][A-Za-z0-9]{10}")
DEFAULT_COMBO = "default"


class MappingError(ValueError):
    """The DHIS2 mapping file is not usable; the message names the faulty entry."""


def _check_uid(value: Any, where: str) -> None:
    if not isinstance(value, str) or not UID.fullmatch(value):
        raise MappingError(
            f"{where}: {value!r} is not a DHIS2 UID (a letter then 10 alphanumerics)"
        )


def load_mapping(path: str | Path | None = None) -> dict[str, Any]:
    """Read and check a mapping file (the shipped demo one when `path` is None)."""
    mapping = json.loads(Path(path or DEMO_MAPPING).read_text(encoding="utf-8"))
    for name in ("dataSet", "orgUnit"):
        _check_uid(mapping.get(name), name)
    if mapping.get("attributeOptionCombo") is not None:
        _check_uid(mapping["attributeOptionCombo"], "attributeOptionCombo")
    combos = mapping.get("categoryCombos") or {}
    for name, combo in combos.items():
        for option, uid in combo["options"].items():
            _check_uid(uid, f"categoryCombos.{name}.{option}")
    for n, de in enumerate(mapping.get("dataElements") or []):
        _check_uid(de.get("dataElement"), f"dataElements[{n}]")
        if de.get("indicator") not in BY_CODE:
            raise MappingError(f"dataElements[{n}]: unknown indicator {de.get('indicator')!r}")
        if de.get("categoryCombo", DEFAULT_COMBO) not in combos:
            raise MappingError(f"dataElements[{n}]: unknown categoryCombo")
    for uid in mapping.get("zeroSignificant") or []:
        _check_uid(uid, "zeroSignificant")
    return mapping


def _option(dims: list[str], disaggregation: dict[str, str]) -> str:
    return "|".join(disaggregation[d] for d in dims)


def _find(mapping: dict[str, Any], code: str, disaggregation: dict[str, str]) -> tuple | None:
    """(dataElement, categoryOptionCombo) of one value, or None when the mapping lacks it."""
    combos = mapping["categoryCombos"]
    for de in mapping["dataElements"]:
        match = de.get("match") or {}
        if de["indicator"] != code or any(disaggregation.get(k) != v for k, v in match.items()):
            continue
        combo = combos[de.get("categoryCombo", DEFAULT_COMBO)]
        rest = {k: v for k, v in disaggregation.items() if k not in match}
        if set(rest) != set(combo["dimensions"]):
            continue
        coc = combo["options"].get(_option(combo["dimensions"], rest))
        if coc is not None:
            return de["dataElement"], coc
    return None


def to_dhis2(
    report: Report, mapping: dict[str, Any], *, complete_date: date | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The dataValueSet and the values the mapping does not cover (never silently dropped)."""
    sums: dict[tuple[str, str], int] = {}
    unmapped = []
    for code, disaggregation, value in report.rows():
        target = _find(mapping, code, disaggregation)
        if target is None:
            unmapped.append({"indicator": code, "disaggregation": disaggregation, "value": value})
        else:  # two of our values mapped to one DHIS2 cell add up (e.g. merged age groups)
            sums[target] = sums.get(target, 0) + value
    # DHIS2 stores no zeros unless the data element is zero-significant: send zeros only there.
    zero = set(mapping.get("zeroSignificant") or [])
    for de in mapping["dataElements"]:
        if de["dataElement"] in zero:
            combo = mapping["categoryCombos"][de.get("categoryCombo", DEFAULT_COMBO)]
            for coc in combo["options"].values():
                sums.setdefault((de["dataElement"], coc), 0)
    aoc = mapping.get("attributeOptionCombo")
    values = []
    for (de, coc), value in sorted(sums.items()):
        row = {"dataElement": de, "categoryOptionCombo": coc}
        if aoc:
            row["attributeOptionCombo"] = aoc
        row["value"] = str(value)
        values.append(row)
    payload: dict[str, Any] = {
        "dataSet": mapping["dataSet"],
        "period": f"{report.period.year:04d}{report.period.month:02d}",
        "orgUnit": mapping["orgUnit"],
        "completeDate": (complete_date or report.generated_on or report.period.end).isoformat(),
        "dataValues": values,
    }
    if report.meta.get("complete") is False and complete_date is None:
        # A month still running must not be registered complete in DHIS2.
        del payload["completeDate"]
    return payload, unmapped


def _cell(row: dict[str, Any]) -> tuple[str, str, str]:
    return (
        row["dataElement"],
        row.get("categoryOptionCombo") or "",
        row.get("attributeOptionCombo") or "",
    )


def cells_gone(
    payload: dict[str, Any], earlier: list[dict[str, Any]], mapping: dict[str, Any]
) -> list[dict[str, Any]]:
    """The cells that earlier versions of the same report put in DHIS2 with a value other than
    zero and that `payload` leaves out (or sets to zero on an element whose zeros DHIS2 does
    not store): without deleting them, a corrected month would keep the old counts. Each row
    carries the value last sent, which DHIS2 accepts in a deletion."""
    zero = set(mapping.get("zeroSignificant") or [])
    now = {_cell(r): r["value"] for r in payload.get("dataValues") or []}
    last_sent: dict[tuple[str, str, str], dict[str, Any]] = {}
    for version in earlier:
        for row in version.get("dataValues") or []:
            if str(row.get("value")) != "0":
                last_sent[_cell(row)] = row
    gone = []
    for cell, row in sorted(last_sent.items()):
        value = now.get(cell)
        if value is None or (value == "0" and cell[0] not in zero):
            gone.append(
                {
                    k: row[k]
                    for k in ("dataElement", "categoryOptionCombo", "attributeOptionCombo", "value")
                    if row.get(k) is not None
                }
            )
    return gone


def to_adx(
    report: Report, *, data_set: str = "KENEYA_MONTHLY", exported: datetime | None = None
) -> bytes:
    ET.register_namespace("", ADX_NS)
    when = exported or datetime.combine(
        report.generated_on or report.period.end, datetime.min.time()
    )
    root = ET.Element(f"{{{ADX_NS}}}adx", {"exported": when.isoformat()})
    group = ET.SubElement(
        root,
        f"{{{ADX_NS}}}group",
        {
            "dataSet": data_set,
            "orgUnit": report.facility_code or "UNKNOWN",
            "period": f"{report.period.start.isoformat()}/P1M",
        },
    )
    for code, disaggregation, value in report.rows():
        attrs = {"dataElement": code, "value": str(value)}
        attrs.update({k.upper(): v for k, v in disaggregation.items()})
        ET.SubElement(group, f"{{{ADX_NS}}}dataValue", attrs)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


# Labels for people first (in the report's language), then the codes for machines.
CSV_LABEL_COLUMNS = {
    "fr": ("Indicateur", "Détail", "Valeur"),
    "en": ("Indicator", "Detail", "Value"),
}
CSV_COLUMNS = ("indicator", *DIMENSIONS, "value")


def to_csv(report: Report, lang: str = "fr") -> str:
    lang = labels.language(lang)
    label_columns = CSV_LABEL_COLUMNS[lang]
    out = io.StringIO()
    writer = csv.DictWriter(out, (*label_columns, *CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for code, disaggregation, value in report.rows():
        indicator = BY_CODE[code]
        described = labels.describe(indicator.dimensions, disaggregation, lang)
        people = dict(zip(label_columns, (indicator.label_in(lang), described, value), strict=True))
        writer.writerow({**people, "indicator": code, **disaggregation, "value": value})
    return out.getvalue()


def from_csv(text: str) -> dict[Key, int]:
    """Values back from to_csv's output (empty cells are dimensions the indicator lacks)."""
    values = {}
    for row in csv.DictReader(io.StringIO(text)):
        disaggregation = {d: row[d] for d in DIMENSIONS if row.get(d)}
        values[key(row["indicator"], disaggregation)] = int(row["value"])
    return values


def table_rows(report: Report, lang: str = "fr") -> list[dict[str, Any]]:
    """One block per indicator: its label, rule, total and disaggregated values (what the
    terminal table and the web page show)."""
    lang = labels.language(lang)
    rows = report.rows()
    return [
        {
            "code": indicator.code,
            "label": indicator.label_in(lang),
            "definition": indicator.definition_in(lang),
            "total": report.total(indicator.code),
            "values": [
                (labels.describe(indicator.dimensions, d, lang), v)
                for c, d, v in rows
                if c == indicator.code and d
            ],
        }
        for indicator in INDICATORS
    ]


def definitions(lang: str = "fr") -> list[tuple[str, str]]:
    """(label, counting rule) of every indicator, in report order."""
    lang = labels.language(lang)
    return [(i.label_in(lang), i.definition_in(lang)) for i in INDICATORS]


def to_table(report: Report, *, with_definitions: bool = True) -> str:
    """A French plain-text table for the terminal: one block per indicator, with its total,
    then every indicator's counting rule."""
    lines = [
        f"Rapport mensuel d'activités — {report.facility_name or 'centre de santé'}"
        f" ({report.facility_code})",
        f"Période : {report.period}",
        "",
    ]
    for block in table_rows(report):
        lines.append(f"{block['label']} : {block['total']}")
        for description, value in block["values"]:
            lines.append(f"    {description:<60} {value:>6}")
    top = report.top_diagnoses()
    if top:
        lines += ["", "Diagnostics les plus fréquents :"]
        lines += [
            f"    {n:>2}. {labels.value_label('diagnosis', code, 'fr'):<56} {v:>6}"
            for n, (code, v) in enumerate(top, 1)
        ]
    if with_definitions:
        lines += ["", "Définitions des indicateurs :"]
        for label, rule in definitions("fr"):
            lines += [
                "",
                f"{label} :",
                *textwrap.wrap(rule, 92, initial_indent="    ", subsequent_indent="    "),
            ]
    return "\n".join(lines)
