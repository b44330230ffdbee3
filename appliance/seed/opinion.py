"""The demo's second opinion: a doctor asks the district about the latest febrile patient (with
a photo from a tablet), a DHIS2 simulator on 127.0.0.1 plays the district and answers, and the
reply is read back onto the record."""

from __future__ import annotations

import io
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.clock import Clock
from appliance.facility_file import opinion_settings
from appliance.outbox.conversations import exchange_once
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.outbox.sender import Dhis2Config
from appliance.seed.demo_send import DEMO_TOKEN
from appliance.services import auth, opinions
from appliance.services.context import Context
from appliance.store import Store

# The demo district's user group and medical officer (the simulator takes any DHIS2 UID).
DEMO_OPINION = """
[opinion]
district_user_group = "DistrictMed"   # the district's medical team in DHIS2
district_users = ["MedChefDist"]      # and its head
monthly_budget_mb = 20
"""
QUESTION = (
    "Fièvre à 39 °C malgré le traitement en cours depuis 2 jours. Faut-il changer de"
    " molécule ou référer au CSRéf ?"
)


def ensure_opinion_table(facility_file: Path) -> None:
    """Add `[opinion]` to the demo's facility file when it has none."""
    text = facility_file.read_text(encoding="utf-8") if facility_file.exists() else ""
    if "opinion" in tomllib.loads(text):
        return
    facility_file.parent.mkdir(parents=True, exist_ok=True)
    facility_file.write_text(text.rstrip("\n") + "\n" + DEMO_OPINION, encoding="utf-8")


def demo_photo() -> bytes:
    """A photo as a tablet's camera gives it: 3000×2000, with EXIF."""
    from PIL import Image

    size = (3000, 2000)
    image = Image.merge(
        "RGB",
        (
            Image.radial_gradient("L").resize(size),
            Image.effect_noise(size, 30),
            Image.linear_gradient("L").resize(size),
        ),
    )
    exif = Image.Exif()
    exif[0x010F] = "Tablette du CSCom"  # Make
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def _metadata() -> Dhis2Metadata:
    path = resources.files("appliance.reports").joinpath("data/dhis2-demo-metadata.json")
    return Dhis2Metadata(json.loads(path.read_text(encoding="utf-8")))


def ask_and_answer(database: Path, facility_file: Path, logins_file: Path) -> dict[str, Any]:
    ensure_opinion_table(facility_file)
    settings = opinion_settings(facility_file)
    user, _, pin = next(
        line.split()
        for line in logins_file.read_text().splitlines()
        if line.split()[1] in ("doctor", "nurse")
    )
    with Store(database) as store:
        ctx = Context.open(store)
        done = store.opinions.list(statuses=("answered",), limit=1)
        if not done:
            doctor = auth.login(ctx, user, pin=pin)
            row = store.query_one(
                "SELECT patient_id FROM encounters WHERE type = 'consultation'"
                " ORDER BY care_date DESC, id DESC LIMIT 1"
            )
            patient = (
                row["patient_id"]
                if row
                else store.query_one("SELECT id FROM patients LIMIT 1")["id"]
            )
            q = opinions.ask(ctx, doctor, patient, QUESTION, settings=settings, photo=demo_photo())
            clock = Clock(store)
            with Dhis2Sim(_metadata(), tokens={DEMO_TOKEN}, auto_reply_s=0) as sim:
                config = Dhis2Config(sim.url, token=DEMO_TOKEN)
                first = exchange_once(store, config, settings, now=lambda: clock.now().now)
            done = [store.opinions.get(q["id"])]
            wire = first.wire_bytes
        else:
            wire = sum(a["bytes"] for a in store.opinions.attempts(done[0]["id"]))
        q = done[0]
        number = store.query_one(
            "SELECT health_number FROM patients WHERE id = ?", (q["patient_id"],)
        )["health_number"]
    return {
        "patient": number,
        "question": q["question"],
        "status": q["status"],
        "photo_bytes": q["photo_bytes"],
        "reply": q["replies"][0]["text"] if q["replies"] else None,
        "wire_bytes": wire,
    }
