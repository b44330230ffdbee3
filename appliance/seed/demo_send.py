"""The demo's end-to-end report: last month's report queued by the demo admin, sent to a
DHIS2 simulator started for the occasion on 127.0.0.1, and the server's import summary."""

from __future__ import annotations

import json
import shutil
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.outbox.sender import Dhis2Config, drain
from appliance.services import auth, reports
from appliance.services.context import Context
from appliance.store import Store

DEMO_TOKEN = "d2pat_demo-only-token"  # the simulator's; a real facility's is provisioned
# Where `make demo` runs the DHIS2 simulator for the modem daemon to send to.
DEMO_DHIS2_URL = "http://127.0.0.1:8099"


def _data(name: str) -> Path:
    return Path(str(resources.files("appliance.reports").joinpath(f"data/{name}")))


def send_last_month(
    database: Path, config_dir: Path, logins_file: Path, today: date
) -> dict[str, Any]:
    mapping = config_dir / "dhis2-mapping.json"
    if not mapping.exists():
        shutil.copyfile(_data("mapping-demo.json"), mapping)
    period = f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"
    user, _, pin = next(
        line.split() for line in logins_file.read_text().splitlines() if line.split()[1] == "admin"
    )
    metadata = Dhis2Metadata(json.loads(_data("dhis2-demo-metadata.json").read_text()))
    with Store(database) as store, Dhis2Sim(metadata, tokens={DEMO_TOKEN}) as sim:
        ctx = Context.open(store)
        admin = auth.login(ctx, user, pin=pin)
        item, payload, unmapped = reports.queue_for_dhis2(ctx, admin, period, mapping)
        summary = drain(store, Dhis2Config(sim.url, token=DEMO_TOKEN)).as_dict()
        item = store.outbox.get(item["id"])
    return {
        "period": period,
        "values": len(payload["dataValues"]),
        "unmapped": len(unmapped),
        "status": item["status"],
        "import_summary": item["import_summary"],
        "drain": summary,
    }


def point_at_demo_dhis2(database: Path, config_dir: Path) -> Path:
    """Set up the demo home as provisioning would a facility, but towards the DHIS2 simulator
    `make demo` starts: the dhis2_url setting, the token in secrets/ (0600), and the
    simulator's metadata beside them. Returns the metadata file."""
    secrets = config_dir / "secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    token = secrets / "dhis2_token"
    token.touch(mode=0o600)
    token.write_text(DEMO_TOKEN + "\n", encoding="utf-8")
    metadata = config_dir / "dhis2-demo-metadata.json"
    shutil.copyfile(_data("dhis2-demo-metadata.json"), metadata)
    with Store(database) as store:
        store.set_setting("dhis2_url", DEMO_DHIS2_URL)
    return metadata
