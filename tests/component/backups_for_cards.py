"""Backups of a seeded facility for the card tests (write-card --restore, first boot's
restore): a real database made by the seeder, copied by appliance.backup, gzipped or
encrypted with the real `age`."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
from pathlib import Path

from appliance import backup
from appliance.seed.facility import seed_facility
from appliance.store import Store


def seeded_backup(folder: Path, code: str, *, patients: int = 20) -> Path:
    """A checked plain backup (.db) of a synthetic facility whose code is `code`."""
    home = folder / f"home-{code}"
    database = home / "keneya.db"
    with Store(database, create=True) as store:
        store.set_setting("facility_code", code)
    seed_facility(database, patients=patients, seed=3, years=1, logins_dir=home)
    with Store(database) as store:
        report = backup.create(store, folder / f"backups-{code}")
    return Path(report["file"])


def gzipped(src: Path, dest: Path) -> Path:
    with open(src, "rb") as f, gzip.open(dest, "wb") as out:
        shutil.copyfileobj(f, out)
    return dest


def age_identity(folder: Path) -> tuple[Path, str]:
    """A new age identity (the district's key) and its public key, made by age-keygen."""
    key = folder / "district.key"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True, timeout=60)
    public = subprocess.run(
        ["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    return key, public


def encrypted(src: Path, dest: Path, recipient: str) -> Path:
    """`src` gzipped and encrypted to `recipient`, as a USB stick's backup is."""
    backup.encrypt(src, dest, [recipient])
    return dest


def facts(database: Path) -> dict:
    """Facility code and patient count of a plain SQLite file."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        code = conn.execute("SELECT value FROM settings WHERE key = 'facility_code'").fetchone()
        patients = conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0]
    finally:
        conn.close()
    return {"facility_code": code[0] if code else None, "patients": patients}
