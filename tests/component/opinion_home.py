"""A facility for the second-opinion tests: a doctor, a nurse, a health worker, and a pregnant
woman with a consultation (fever, malaria) whose name is in the record only."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.facility_file import OpinionSettings
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.outbox.sender import Dhis2Config
from appliance.paths import Paths
from appliance.services import auth, encounters, patients
from appliance.services.context import Context
from appliance.store import Store
from tests.conftest import PINS

TOKEN = "d2pat_test-token"
GROUP = "DistrGrp001"
SETTINGS = OpinionSettings(district_user_group=GROUP, district_users=("DrKonate001",))
FACILITY_FILE = f"""
[opinion]
district_user_group = "{GROUP}"
district_users = ["DrKonate001"]
"""
FAMILY, GIVEN = "Traoré", "Aminata Hawa"


def make_home(home: Path) -> dict[str, str]:
    """The facility in `home`; returns the ids tests need."""
    p = Paths.for_home(home)
    p.config_dir.mkdir(parents=True, exist_ok=True)
    p.facility_file.write_text(FACILITY_FILE, encoding="utf-8")
    today = datetime.now(UTC).date()
    with Store(p.database, create=True) as store:
        store.set_setting("facility_code", "KLB")
        store.set_setting("facility_name", "CSCom Kalaban")
        ctx = Context.open(store)
        auth.add_staff(
            ctx, None, username="admin", display_name="Admin", role="admin", pin=PINS["admin"]
        )
        admin = auth.login(ctx, "admin", pin=PINS["admin"])
        for role, name in (("doctor", "Dr Keita"), ("nurse", "Inf. Sow"),
                           ("health_worker", "ASC Coulibaly")):  # fmt: skip
            auth.add_staff(ctx, admin, username=role, display_name=name, role=role,
                           pin=PINS[role])  # fmt: skip
        doctor = auth.login(ctx, "doctor", pin=PINS["doctor"])
        woman = patients.register(
            ctx,
            doctor,
            {
                "family_name": FAMILY,
                "given_names": GIVEN,
                "sex": "F",
                "birth_date": (today - timedelta(days=26 * 365)).isoformat(),
                "village": "Kalaban Coro",
                "phone": "76123456",
            },
            accept_duplicates=True,
        )
        encounters.add(
            ctx,
            doctor,
            woman["id"],
            "anc",
            {
                "care_date": (today - timedelta(days=20)).isoformat(),
                "gestational_age_weeks": 24,
                "bp_systolic": 128,
                "bp_diastolic": 82,
                "weight_kg": 61.5,
                "notes": "Aminata vient avec sa mère",
            },
        )
        encounters.add(
            ctx,
            doctor,
            woman["id"],
            "consultation",
            {
                "care_date": (today - timedelta(days=2)).isoformat(),
                "complaints": ["fièvre depuis 3 jours"],
                "temperature_c": 39.2,
                "malaria_rdt": "positive",
                "diagnoses": [{"code": "malaria_confirmed", "confirmed": True}],
                "prescriptions": [
                    {"drug": "artésunate", "dose": "200 mg", "times_per_day": 1, "days": 3}
                ],
                "notes": "Traoré Aminata, très fatiguée",
            },
        )
    return {"patient_id": woman["id"], "health_number": woman["health_number"]}


def photo_with_exif(text: str = FAMILY, size: tuple[int, int] = (3000, 2000)) -> bytes:
    """A tablet-sized JPEG whose EXIF carries `text` (description, artist) and GPS."""
    from PIL import Image

    # noise over gradients: a JPEG about as large as a tablet's photo
    image = Image.merge(
        "RGB",
        (
            Image.effect_noise(size, 40),
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
        ),
    )
    exif = Image.Exif()
    exif[0x010E] = f"Photo de {text}"  # ImageDescription
    exif[0x013B] = text  # Artist
    exif[0x8825] = {1: "N", 2: (12.0, 39.0, 0.0), 3: "W", 4: (8.0, 0.0, 0.0)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


def sim(**kw) -> Dhis2Sim:
    return Dhis2Sim(Dhis2Metadata({}), tokens=(TOKEN,), **kw)


def config(url: str) -> Dhis2Config:
    return Dhis2Config(url, token=TOKEN, timeout_s=5.0)
