"""Maintenance commands (no staff login): database, the synthetic facility, demo."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import click

from appliance.cli.common import emit, json_option, paths
from appliance.ids import FACILITY_CODE
from appliance.store import Store


# -- db --------------------------------------------------------------------------------------
@click.group()
def db() -> None:
    """Create and check the record store."""


@db.command("init")
@click.option("--facility-code", help="2–6 capital letters, printed in every health number.")
@click.option("--facility-name")
@json_option
@click.pass_context
def db_init(ctx, facility_code, facility_name, as_json):
    """Create the database (or bring it up to date). Safe to run again."""
    if facility_code is not None and not FACILITY_CODE.match(facility_code):
        raise click.UsageError(f"--facility-code {facility_code!r}: 2–6 capital letters")
    with Store(paths(ctx).database, create=True) as store:
        code = store.get_setting("facility_code")
        if facility_code and code and code != facility_code:
            raise click.UsageError(
                f"this database belongs to facility {code}; it cannot become {facility_code}"
            )
        settings = {}
        if facility_code and not code:
            settings["facility_code"] = facility_code
        if facility_name:
            settings["facility_name"] = facility_name
        store.set_settings(settings)  # both in one transaction
        out = {
            "database": str(store.path),
            "schema_version": store.schema_version(),
            "facility_code": store.get_setting("facility_code"),
        }
    emit(out, as_json, f"{out['database']}: schema version {out['schema_version']}")


@db.command("status")
@json_option
@click.pass_context
def db_status(ctx, as_json):
    """Schema version, row counts and integrity."""
    with Store(paths(ctx).database) as store:
        problems = store.integrity_check()
        out = {
            "database": str(store.path),
            "schema_version": store.schema_version(),
            "facility_code": store.get_setting("facility_code"),
            "counts": store.counts(),
            "integrity": problems or "ok",
            "bytes": store.path.stat().st_size,
        }
    emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))


# -- seed and demo ---------------------------------------------------------------------------
@click.command("seed")
@click.option(
    "--patients", "n_patients", type=click.IntRange(1, 2_000_000), default=500, show_default=True
)
@click.option("--seed", "seed", type=int, default=1, show_default=True)
@click.option("--years", type=click.IntRange(1, 10), default=3, show_default=True)
@click.option(
    "--logins-dir",
    type=click.Path(file_okay=False),
    help="Where demo-logins.txt goes (default: the home folder).",
)
@json_option
@click.pass_context
def seed(ctx, n_patients, seed, years, logins_dir, as_json):
    """Fill an empty database with a realistic synthetic facility (for demo and tests)."""
    from appliance.seed.facility import seed_facility

    p = paths(ctx)
    summary = seed_facility(
        p.database,
        patients=n_patients,
        seed=seed,
        years=years,
        logins_dir=Path(logins_dir) if logins_dir else p.data_dir,
    )
    emit(summary, as_json, _summary_text(summary))


def _summary_text(s: dict) -> str:
    lines = [
        f"Synthetic facility {s['facility_code']} — {s['facility_name']}",
        f"  patients: {s['patients']}  encounters: {s['encounters']}",
        "  by type: " + ", ".join(f"{k} {v}" for k, v in s["encounters_by_type"].items()),
        f"  near-duplicates planted: {s['near_duplicates']}",
        f"  demo logins (username role pin): {s['logins_file']}",
    ]
    lines += [f"    {line}" for line in s["logins"]]
    return "\n".join(lines)


def _sent_text(sent: dict) -> str:
    counts = (sent.get("import_summary") or {}).get("importCount") or {}
    return (
        f"Report {sent['period']}: {sent['values']} values sent to a DHIS2 simulator on"
        f" 127.0.0.1 — {sent['status']}; imported {counts.get('imported', 0)},"
        f" updated {counts.get('updated', 0)}, ignored {counts.get('ignored', 0)}"
        f" ({sent['unmapped']} values not in the demo mapping)"
    )


@click.command("demo")
@click.option(
    "--patients", "n_patients", type=click.IntRange(1, 200_000), default=2000, show_default=True
)
@click.option("--seed", "seed", type=int, default=1, show_default=True)
@json_option
@click.pass_context
def demo(ctx, n_patients, seed, as_json):
    """Create (once) and describe a demo facility in the home folder."""
    from appliance.seed.facility import seed_facility

    p = paths(ctx)
    if p.config_dir == Path("/etc/keneya"):
        raise click.UsageError("the demo needs a home folder: --home DIR or KENEYA_HOME")
    logins = p.data_dir / "demo-logins.txt"
    if p.database.exists() and logins.exists():
        with Store(p.database) as store:
            counts = store.counts()
            summary = {
                "facility_code": store.get_setting("facility_code"),
                "facility_name": store.get_setting("facility_name"),
                "patients": counts["patients"],
                "encounters": counts["encounters"],
                "encounters_by_type": store.encounters.count_by_type(),
                "near_duplicates": int(store.get_setting("seed_near_duplicates", "0")),
                "logins_file": str(logins),
                "logins": logins.read_text().splitlines(),
            }
    else:
        summary = seed_facility(
            p.database, patients=n_patients, seed=seed, years=3, logins_dir=p.data_dir
        )
    summary["home"] = str(p.data_dir)
    # the referrals first: last month's report counts them (referrals to the CSRéf), and a
    # second demo run must find the same figures already sent
    from appliance.seed.referrals import seed_demo_referrals

    summary["referrals"] = seed_demo_referrals(p.database, p.facility_file, logins)
    from appliance.seed.population import ensure_population_table

    ensure_population_table(
        p.facility_file, patients=summary["patients"], year=datetime.now(UTC).year
    )
    from appliance.seed.demo_send import point_at_demo_dhis2, send_last_month

    sent = send_last_month(p.database, p.config_dir, logins, datetime.now(UTC).date())
    summary["report_sent"] = sent
    point_at_demo_dhis2(p.database, p.config_dir)
    from appliance.seed.opinion import ask_and_answer

    summary["second_opinion"] = ask_and_answer(p.database, p.facility_file, logins)
    from appliance.seed.library import seed_demo_library

    summary["library"] = seed_demo_library(p.database, p.data_dir, logins)
    emit(
        summary,
        as_json,
        f"Demo home: {summary['home']}\n" + _summary_text(summary) + "\n"
        "Try:  KENEYA_PIN=<pin> .venv/bin/keneya --home "
        + re.sub(r"\s", "\\ ", summary["home"])
        + " patient search traore --as <username>\n"
        + _sent_text(summary["report_sent"])
        + f"\nLibrary: {summary['library']['documents']} generated French job aids"
        f" ({summary['library']['bytes'] // 1024} KiB): /library on the web app,"
        " « Bibliothèque » on the kiosk, `keneya library list --as <username>`"
        + "\nReferrals to the CSRéf: {awaiting} awaiting their counter-referral ({late} late),"
        " {sms_queued} urgent SMS queued for the modem: /referrals on the web app,"
        " `keneya referral list --as <username>`".format(**summary["referrals"]),
    )
    if not as_json:
        o = summary["second_opinion"]
        click.echo(
            f"Second opinion on {o['patient']} ({o['photo_bytes'] // 1000} kB photo,"
            f" {o['wire_bytes'] // 1000} kB over the link): {o['status']} by the district"
            f" simulator — « {o['reply']} » (`keneya opinion list --as <username>`)"
        )


COMMANDS = (db, seed, demo)
