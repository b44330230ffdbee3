"""Second opinions, measured: bytes on the wire of a question without and with a photo (request
and reply, HTTP level, as charged to the month's opinion budget), and the time from the 3G
link coming up to the district's reply on the record, through the real modem daemon, the real
HTTP client and the DHIS2 simulator (which answers at once: the time is the appliance's own).
Prints JSON; never passes or fails on time.

    .venv/bin/python -m benchmarks.opinion
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.outbox.conversations import OpinionCarrier, exchange_once  # noqa: E402
from appliance.paths import Paths  # noqa: E402
from appliance.services import auth, opinions  # noqa: E402
from appliance.services.context import Context  # noqa: E402
from appliance.store import Store  # noqa: E402
from tests.component import opinion_home as H  # noqa: E402
from tests.conftest import PINS  # noqa: E402

QUESTION = "Paludisme à 24 SA, TDR positif, fièvre persistante : artésunate ou quinine ?"
RUNS = 5


def wire_sizes(ctx, doctor, ids, sim) -> dict:
    out = {}
    for label, photo in (("without_photo", None), ("with_photo", H.photo_with_exif())):
        q = opinions.ask(ctx, doctor, ids["health_number"], QUESTION, settings=H.SETTINGS,
                         photo=photo)  # fmt: skip
        exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        steps = [a for a in ctx.store.opinions.attempts(q["id"]) if a["step"] != "read"]
        out[label] = {
            "bytes": sum(a["bytes"] for a in steps),
            "requests": [f"{a['step']} {a['bytes']}" for a in steps],
            "message_text_bytes": len(q["body"].encode()),
            "photo_bytes": q["photo_bytes"] or 0,
            "photo_in_bytes": len(photo) if photo else 0,
        }
    return out


def poll_bytes(ctx, sim) -> dict:
    """A poll that finds nothing new: what following open questions costs each time."""
    out = exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
    return {"bytes": out.wire_bytes, "conversations_checked": out.checked}


def link_up_to_reply(ctx, doctor, ids) -> list[float]:
    from modem.config import ModemConfig
    from modem.daemon import ModemDaemon
    from modem.link import SimulatedLink
    from modem.uploader import Uploader

    times = []
    t = [0.0]  # the daemon's monotonic clock, moved by hand
    for _ in range(RUNS):
        q = opinions.ask(ctx, doctor, ids["health_number"], QUESTION, settings=H.SETTINGS)
        coverage = [False]
        link = SimulatedLink(schedule=lambda _t, c=coverage: c[0], clock=lambda: t[0])
        with H.sim(auto_reply_s=0) as sim:
            now = lambda: datetime.now(UTC)  # noqa: E731
            carrier = OpinionCarrier(ctx.store, settings=H.SETTINGS,
                                     dhis2=lambda: H.config(sim.url), now=now,
                                     monotonic=lambda: t[0])  # fmt: skip
            daemon = ModemDaemon(
                ctx.store,
                config=ModemConfig(status_every_s=1),
                link=link,
                uploader=Uploader(ctx.store, link=link, dhis2=lambda: H.config(sim.url), now=now),
                opinions=carrier,
                monotonic=lambda: t[0],
                now=now,
            )
            daemon.start()
            daemon.tick()  # no coverage: the question waits
            assert ctx.store.opinions.get(q["id"])["status"] == "queued"
            coverage[0] = True
            started = time.perf_counter()
            while ctx.store.opinions.get(q["id"])["status"] != "answered":
                t[0] += 2
                daemon.tick()
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ids = H.make_home(Path(tmp))
        with Store(Paths.for_home(tmp).database) as store:
            ctx = Context.open(store)
            doctor = auth.login(ctx, "doctor", pin=PINS["doctor"])
            with H.sim() as sim:
                sizes = wire_sizes(ctx, doctor, ids, sim)
                poll = poll_bytes(ctx, sim)
            times = link_up_to_reply(ctx, doctor, ids)
    print(
        json.dumps(
            {
                "wire": sizes,
                "poll_nothing_new": poll,
                "link_up_to_reply_on_record_ms": {
                    "runs": RUNS,
                    "median": round(statistics.median(times), 1),
                    "max": round(max(times), 1),
                    "note": "simulator on 127.0.0.1 answering at once; add the 3G round"
                    " trips on site (create, poll, read; the photo's upload before)",
                },
                "counted": "HTTP request and reply bytes (lines, headers, bodies), before TLS",
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
