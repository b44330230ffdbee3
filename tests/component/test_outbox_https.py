"""Sending to an HTTPS DHIS2 whose certificate only a private CA bundle vouches for."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from appliance.outbox import enqueue_report
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.outbox.sender import Dhis2Config, drain

pytestmark = pytest.mark.component

TOKEN = "d2p_tls_token"
NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def certificate(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed: apt-get install openssl (make test does)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_sim(certificate):
    meta = Dhis2Metadata(
        {"dataSets": ["dsM"], "dataElements": ["deConsult01"], "orgUnits": ["ouK"]}
    )
    with Dhis2Sim(meta, tokens=(TOKEN,), tls=certificate) as sim:
        yield sim


def queue(store):
    payload = {
        "dataSet": "dsM",
        "period": "202610",
        "orgUnit": "ouK",
        "dataValues": [{"dataElement": "deConsult01", "value": "3"}],
    }
    return enqueue_report(
        store, facility="KLB", dataset="dsM", period="202610", payload=payload,
        kind="dhis2-datavalueset", now="2026-11-01T08:00:00.000000Z",
    )  # fmt: skip


def test_https_with_the_private_ca_bundle(store, tls_sim, certificate):
    item = queue(store)
    cfg = Dhis2Config(tls_sim.url, token=TOKEN, cafile=str(certificate[0]), timeout_s=10)
    assert tls_sim.url.startswith("https://")
    assert drain(store, cfg, now=lambda: NOW).delivered == [item["id"]]


def test_https_without_the_bundle_is_not_trusted(store, tls_sim):
    item = queue(store)
    cfg = Dhis2Config(tls_sim.url, token=TOKEN, timeout_s=10)
    drain(store, cfg, now=lambda: NOW)
    got = store.outbox.get(item["id"])
    assert got["status"] == "queued"
    assert "CERTIFICATE_VERIFY_FAILED" in got["last_error"]
    assert tls_sim.values == {}
