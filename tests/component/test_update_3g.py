"""Updates over 3G on real files: the district's index signed and checked with openssl against
the keyring, a file-level delta made from two root trees and applied to a copy of the running
one, the modem daemon's fetch in range requests from a real HTTP server (resumed after a
dropped link and a power cut, stopped by the monthly budget, refused when the signature or the
bytes are wrong), root's own check before the offer, and the delta's install."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appliance.paths import Paths
from appliance.services import update_state
from image_build.build import DEV_CERT, DEV_KEY
from modem.config import ModemConfig
from modem.daemon import ModemDaemon
from modem.errors import ConfigurationError
from modem.link import SimulatedLink
from modem.update_fetch import UpdateFetcher, UpdateSource, load_source
from modem.uploader import Uploader
from provisioning import delta, slots
from provisioning import update as updates
from tests.conftest import keneya as run

pytestmark = pytest.mark.component

KERNEL = os.uname().release
VENV = "opt/keneya/venv/lib/python3.11/site-packages"


def tree(root: Path, version: str, files: dict[str, str]) -> Path:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/keneya-release").write_text(version + "\n")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def roots(tmp_path) -> tuple[Path, Path]:
    common = {
        f"{VENV}/appliance/a.py": "a = 1\n",
        f"{VENV}/appliance/gone/x.py": "x\n",
        "usr/bin/tool": "#!/bin/sh\n",
        "etc/keneya/facility.toml": 'code = "ML-1"\n',
        "usr/lib/modules/k/mod.ko": "m\n",
    }
    old = tree(tmp_path / "old", "1.0.0", common)
    new = tree(tmp_path / "new", "1.1.0", common)
    (new / f"{VENV}/appliance/a.py").write_text("a = 2\n")
    (new / f"{VENV}/appliance/b.py").write_text("b = 1\n")
    shutil.rmtree(new / f"{VENV}/appliance/gone")
    (new / "usr/bin/tool").chmod(0o755)  # a mode change alone goes too
    (new / f"{VENV}/link").symlink_to("appliance/a.py")
    # the new build's default facility file must never reach a provisioned clinic
    (new / "etc/keneya/facility.toml").write_text('code = "DEFAULT"\n')
    return old, new


def make(old: Path, new: Path, out: Path) -> dict:
    return delta.make_delta(old, new, out, carried=updates.CARRIED, kernel=KERNEL)


# --- the signed index ------------------------------------------------------------------------


def other_key(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "other.key", tmp_path / "other.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "3", "-subj", "/CN=not the district"],
                   check=True, capture_output=True)  # fmt: skip
    return key, cert


def test_the_index_signature_is_checked_against_the_keyring(tmp_path):
    index = delta.write_index(tmp_path, [], latest="1.1.0", compatible=updates.COMPATIBLE,
                              key=DEV_KEY, cert=DEV_CERT)  # fmt: skip
    content, sig = index.read_bytes(), (tmp_path / delta.SIGNATURE_NAME).read_bytes()
    delta.verify(content, sig, DEV_CERT)
    with pytest.raises(delta.DeltaError, match="signature invalide"):
        delta.verify(content.replace(b"1.1.0", b"6.6.6"), sig, DEV_CERT)
    key, cert = other_key(tmp_path)
    forged = delta.sign(index, key, cert).read_bytes()
    with pytest.raises(delta.DeltaError, match="signature invalide"):
        delta.verify(content, forged, DEV_CERT)
    with pytest.raises(delta.DeltaError, match="pas de certificat"):
        delta.verify(content, sig, tmp_path / "missing.pem")


def test_the_appliance_chooses_the_delta_from_its_own_version():
    def e(kind, version, **kw):
        return {"kind": kind, "version": version, "file": f"{kind}-{version}", "bytes": 9,
                "sha256": "0" * 64, "kernel": KERNEL, **kw}  # fmt: skip

    index = {"latest": "1.2", "files": [e("bundle", "1.2"), e("delta", "1.2", **{"from": "1.0"}),
                                        e("delta", "1.2", **{"from": "1.1"})]}  # fmt: skip
    assert delta.choose(index, running="1.1", kernel=KERNEL)["from"] == "1.1"
    assert delta.choose(index, running="0.9", kernel=KERNEL)["kind"] == "bundle"
    assert delta.choose(index, running="1.2", kernel=KERNEL) is None
    assert delta.choose(index, running="1.1", kernel="other") is None
    assert delta.parse_index(json.dumps({"format": 1, "compatible": "c", "files": index["files"]})
                             .encode(), compatible="c")  # fmt: skip
    bad = [dict(index["files"][0], file="../../etc/shadow")]
    with pytest.raises(delta.DeltaError, match="incomplet"):
        delta.parse_index(json.dumps({"format": 1, "compatible": "c", "files": bad}).encode(),
                          compatible="c")  # fmt: skip


# --- the delta ---------------------------------------------------------------------------------


def test_a_delta_takes_the_running_root_to_the_new_one_and_keeps_the_facility(roots, tmp_path):
    old, new = roots
    out = tmp_path / "d.tar.xz"
    manifest = make(old, new, out)
    assert manifest["from"] == "1.0.0" and manifest["to"] == "1.1.0"
    assert set(manifest["files"]) == {f"{VENV}/appliance/a.py", f"{VENV}/appliance/b.py",
                                      "usr/bin/tool", "etc/keneya-release"}  # fmt: skip
    assert manifest["delete"] == [f"{VENV}/appliance/gone"]
    assert out.stat().st_size < 2000

    running = tmp_path / "running"
    shutil.copytree(old, running, symlinks=True)
    (running / "etc/keneya/facility.toml").write_text('code = "ML-1"\nprovisioned = true\n')
    assert delta.read_manifest(out) == manifest
    delta.apply_delta(out, running, manifest)
    assert (running / f"{VENV}/appliance/a.py").read_text() == "a = 2\n"
    assert (running / f"{VENV}/appliance/b.py").exists()
    assert not (running / f"{VENV}/appliance/gone").exists()
    assert os.readlink(running / f"{VENV}/link") == "appliance/a.py"
    assert (running / "usr/bin/tool").stat().st_mode & 0o777 == 0o755
    assert "provisioned" in (running / "etc/keneya/facility.toml").read_text()
    assert (running / "etc/keneya-release").read_text().strip() == "1.1.0"


def test_a_kernel_change_cannot_be_a_delta(roots, tmp_path):
    old, new = roots
    (new / "usr/lib/modules/k/mod.ko").write_text("other\n")
    with pytest.raises(delta.DeltaError, match="kernel changed"):
        make(old, new, tmp_path / "d.tar.xz")


def test_a_delta_whose_files_come_out_wrong_is_refused(roots, tmp_path):
    old, new = roots
    out = tmp_path / "d.tar.xz"
    manifest = make(old, new, out)
    manifest["files"][f"{VENV}/appliance/a.py"] = "f" * 64
    running = shutil.copytree(old, tmp_path / "running", symlinks=True)
    with pytest.raises(delta.DeltaError, match="faux"):
        delta.apply_delta(out, running, manifest)
    (tmp_path / "junk.tar.xz").write_bytes(b"not a tar")
    with pytest.raises(delta.DeltaError, match="illisible"):
        delta.read_manifest(tmp_path / "junk.tar.xz")


def test_the_delta_slot_is_the_running_root_copied_then_the_delta(roots, tmp_path, monkeypatch):
    old, new = roots
    out = tmp_path / "d.tar.xz"
    make(old, new, out)
    monkeypatch.setattr(updates, "RELEASE", old / "etc/keneya-release")
    (old / "root/.ssh").mkdir(parents=True)
    (old / "root/.ssh/authorized_keys").write_text("ssh-ed25519 AAAA tech\n")
    os.chmod(old / "usr/bin/tool", 0o4755)  # a set-user-id program stays so
    # the partition's /dev has device nodes the install unit may not make: left out
    (old / "dev").mkdir()
    os.mknod(old / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (old / "bin").symlink_to("usr/bin")
    target = tmp_path / "slot"
    target.mkdir()
    steps = []
    updates.prepare_delta_root(old, target, out, lambda pc, step: steps.append((pc, step)))
    assert (target / "root/.ssh/authorized_keys").exists()
    assert (target / "dev").is_dir() and not list((target / "dev").iterdir())
    assert os.readlink(target / "bin") == "usr/bin"
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(old.stat().st_mode)
    assert (target / f"{VENV}/appliance/b.py").exists()
    assert (target / "etc/keneya-release").read_text().strip() == "1.1.0"
    # the delta sets the new mode: 0755 (the new build's), the copy had kept the set-id bit
    assert (target / "usr/bin/tool").stat().st_mode & 0o7777 == 0o755
    assert [pc for pc, _ in steps] == sorted(pc for pc, _ in steps) and steps[-1][0] == 95
    (old / "etc/keneya-release").write_text("0.9\n")
    with pytest.raises(updates.UpdateError, match="part de 1.0.0"):
        updates.prepare_delta_root(old, tmp_path / "slot2", out, lambda *a: None)


# --- the fetch over 3G -------------------------------------------------------------------------


class Server:
    """A district server: a folder served with byte ranges (as nginx does), counting bytes."""

    def __init__(self, folder: Path, *, ranges: bool = True):
        self.folder, self.ranges, self.sent, self.corrupt = folder, ranges, 0, False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = outer.folder / self.path.removeprefix("/keneya/")
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                if outer.corrupt and path.suffix == ".xz":
                    data = data[:-1] + bytes([data[-1] ^ 1])
                rng = self.headers.get("Range")
                if rng and outer.ranges:
                    a, b = rng.removeprefix("bytes=").split("-")
                    body = data[int(a) : int(b) + 1]
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {a}-{int(a) + len(body) - 1}/{len(data)}"
                    )
                else:
                    body = data
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.sent += len(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/keneya/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def published(roots, tmp_path):
    """The district's folder: the delta 1.0.0 → 1.1.0, padded to a few chunks, and its index."""
    old, new = roots
    (new / f"{VENV}/appliance/data.bin").write_bytes(os.urandom(300_000))  # incompressible
    folder = tmp_path / "district/keneya"
    folder.mkdir(parents=True)
    out = folder / "keneya-1.1.0-from-1.0.0.delta.tar.xz"
    make(old, new, out)
    entry = delta.entry_for(out, kind="delta", version="1.1.0", kernel=KERNEL, **{"from": "1.0.0"})
    delta.write_index(folder, [entry], latest="1.1.0", compatible=updates.COMPATIBLE,
                      key=DEV_KEY, cert=DEV_CERT)  # fmt: skip
    server = Server(folder)
    yield server, entry
    server.close()


class Clock:
    def __init__(self):
        self.t = 0.0
        self.day = datetime(2026, 12, 7, 10, tzinfo=UTC)

    def mono(self):
        self.t += 1.0
        return self.t


def fetcher(folder: Path, server_url: str, *, budget_mb=30.0, version="1.0.0", clock=None,
            started=None) -> UpdateFetcher:  # fmt: skip
    clock = clock or Clock()
    return UpdateFetcher(
        folder,
        UpdateSource(server=server_url, monthly_budget_mb=budget_mb),
        keyring=DEV_CERT,
        running_version=lambda: version,
        kernel=KERNEL,
        compatible=updates.COMPATIBLE,
        now=lambda: clock.day,
        monotonic=clock.mono,
        start_unit=lambda unit: (started.append(unit) if started is not None else None) or True,
        chunk=64 * 1024,
    )


def test_the_update_is_fetched_in_chunks_resumed_after_a_dropped_link_and_a_power_cut(
    published, tmp_path
):
    server, entry = published
    folder, started = tmp_path / "update/download", []
    f = fetcher(folder, server.url, started=started)
    assert f.due()
    ups = iter([True, True, False])  # the link drops after two chunks
    st = f.run_once(link_up=lambda: next(ups, False))
    assert st["received"] == 2 * 64 * 1024 and not st["done"]
    assert "téléchargement" in st["message"]
    # a power cut: half a chunk written after the last sync, the state file says what is sure
    with open(folder / (entry["file"] + ".part"), "ab") as part:
        part.write(b"\0" * 30_000)
    f = fetcher(folder, server.url, started=started)
    assert f.due()
    st = f.run_once()
    assert st["done"] and st["handed_over"] and started == ["keneya-update-fetched.service"]
    assert delta.sha256_file(folder / entry["file"]) == entry["sha256"]
    # what went over the air: the index twice (the index is asked for again only when due)
    # and each byte of the file once
    assert entry["bytes"] <= st["used_bytes"] < entry["bytes"] + 10_000
    assert not f.due()  # nothing more until the next check
    lines = update_state.summary(update_state.read(folder.parent.parent))
    assert any(line.startswith("3G : ") and "Mo utilisés" in line for line in lines), lines


def test_the_monthly_budget_stops_the_fetch_until_next_month(published, tmp_path):
    server, entry = published
    clock = Clock()
    budget_mb = (entry["bytes"] + 20_000) / 1e6
    f = fetcher(tmp_path / "update/download", server.url, budget_mb=budget_mb, clock=clock)
    f._new_month()
    f.state.used_bytes = int(budget_mb * 1e6) - entry["bytes"] // 2  # the month half spent
    st = f.run_once()
    assert not st["done"] and "budget du mois atteint" in st["message"]
    lines = update_state.summary(update_state.read(tmp_path))
    assert any("budget du mois atteint" in line for line in lines), lines
    assert st["used_bytes"] <= budget_mb * 1e6
    assert not f.due()
    clock.day = datetime(2027, 1, 1, 8, tzinfo=UTC)
    assert f.due()
    assert f.run_once()["done"]


def test_a_bundle_over_the_budget_is_left_for_a_stick(published, tmp_path):
    server, entry = published
    folder = Path(server.folder)
    big = folder / "keneya-1.1.0-arm64.raucb"
    big.write_bytes(os.urandom(200_000))
    bundle = delta.entry_for(big, kind="bundle", version="1.1.0", kernel=KERNEL)
    delta.write_index(folder, [bundle], latest="1.1.0", compatible=updates.COMPATIBLE,
                      key=DEV_KEY, cert=DEV_CERT)  # fmt: skip
    st = fetcher(tmp_path / "dl", server.url, budget_mb=0.1).run_once()
    assert "clé USB" in st["message"] and st["target"] is None
    assert server.sent < 10_000  # the index only


def test_a_forged_index_or_corrupt_bytes_are_never_handed_over(published, tmp_path):
    server, entry = published
    folder = Path(server.folder)
    key, cert = other_key(tmp_path)
    good_sig = (folder / delta.SIGNATURE_NAME).read_bytes()
    delta.sign(folder / delta.INDEX_NAME, key, cert)
    started = []
    st = fetcher(tmp_path / "dl", server.url, started=started).run_once()
    assert "signature invalide" in st["error"] and st["target"] is None and not started
    (folder / delta.SIGNATURE_NAME).write_bytes(good_sig)
    server.corrupt = True
    st = fetcher(tmp_path / "dl2", server.url, started=started).run_once()
    assert "somme de contrôle fausse" in st["error"] and not st["done"] and not started
    assert st["received"] == 0
    # not fetched again, window after window, until the district publishes anew
    sent = server.sent
    again = fetcher(tmp_path / "dl2", server.url, started=started)
    again.state.checked_at = None
    st = again.run_once()
    assert "en attente d'une nouvelle publication" in st["message"]
    assert server.sent - sent < 10_000 and st["target"] is None


def test_a_server_without_ranges_is_said_not_downloaded_again_and_again(published, tmp_path):
    server, entry = published
    server.ranges = False
    st = fetcher(tmp_path / "dl", server.url).run_once()
    assert "ne reprend pas les téléchargements" in st["error"]
    assert st["received"] == 64 * 1024  # the first chunk (from 0) was read, no more


def test_the_update_section_of_the_facility_file(tmp_path):
    facility = tmp_path / "facility.toml"
    facility.write_text('[update]\nserver = "https://district.example/keneya/"\n'
                        "monthly_budget_mb = 50\n")  # fmt: skip
    source = load_source(facility)
    assert source.url("index.json") == "https://district.example/keneya/index.json"
    facility.write_text('[update]\nserver = "ftp://x"\n')
    with pytest.raises(ConfigurationError, match="https"):
        load_source(facility)
    facility.write_text("[update]\nbudget = 3\n")
    with pytest.raises(ConfigurationError, match="has no key 'budget'"):
        load_source(facility)
    facility.write_text('[update]\nmonthly_budget_mb = "30"\n')
    with pytest.raises(ConfigurationError, match="monthly_budget_mb must be a number"):
        load_source(facility)


def test_the_modem_daemon_fetches_in_a_window_and_hangs_up_when_paying_per_minute(
    published, tmp_path, store
):
    server, entry = published
    link = SimulatedLink()
    cfg = ModemConfig(pay_per_minute=True)
    uploader = Uploader(store, link=link, dhis2=lambda: None, pay_per_minute=True,
                        now=lambda: datetime.now(UTC))  # fmt: skip
    started = []
    daemon = ModemDaemon(store, config=cfg, link=link, uploader=uploader,
                         updates=fetcher(tmp_path / "dl", server.url, started=started))  # fmt: skip
    daemon.tick()
    assert link.up_calls == 1 and link.down_calls == 1 and not link.is_up()
    assert started == ["keneya-update-fetched.service"]
    snap = json.loads(store.get_setting("modem.status"))
    assert "vérifiée" in snap["update_download"]["message"]


# --- root's check and the install ------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch, roots) -> Paths:
    r = run(tmp_path / "home", "seed", "--patients", "5", "--seed", "5")
    assert r.returncode == 0, r.stderr
    monkeypatch.setattr(slots, "RECORD", tmp_path / "fat/keneya/slots.txt")
    monkeypatch.setattr(slots, "BOOTED_ENV", tmp_path / "keneya-slot.env")
    (tmp_path / "keneya-slot.env").write_text("KENEYA_BOOTED_SLOT=A\n")
    monkeypatch.setattr(updates, "RELEASE", roots[0] / "etc/keneya-release")
    return Paths.for_home(tmp_path / "home")


def test_root_checks_again_offers_and_installs_the_fetched_delta(home, published, roots):
    server, entry = published
    download = updates.update_dir(home) / "download"
    assert fetcher(download, server.url).run_once()["done"]
    offered = updates.offer_downloaded(home, keyring=DEV_CERT)
    assert offered["kind"] == "delta" and offered["version"] == "1.1.0"
    assert offered["source"] == "3G" and Path(offered["file"]).parent.name == "incoming"
    assert "Mise à jour disponible : version 1.1.0" in update_state.summary(
        updates.read_state(home)
    )
    written = []

    def write_slot(delta_file, progress):
        target = Path(roots[0]).parent / "slot-b"
        target.mkdir()
        updates.prepare_delta_root(roots[0], target, delta_file, progress)
        written.append(target)

    def activate():
        slots.write(slots.SlotRecord("B", {"A": "good", "B": "trying"}, {"A": 0, "B": 3}))

    last = updates.install(home, activate=activate, write_slot=write_slot, keyring=DEV_CERT)
    assert last["outcome"] == "installed" and last["slot"] == "B" and last["version"] == "1.1.0"
    assert (written[0] / "etc/keneya-release").read_text().strip() == "1.1.0"
    state = updates.read_state(home)
    assert state["versions"]["B"] == "1.1.0" and state["pre_update"]["for_slot"] == "B"
    assert state["progress"] is None and state["offer"] is None


def test_root_refuses_a_fetched_file_that_is_not_the_signed_one(home, published, tmp_path):
    server, entry = published
    download = updates.update_dir(home) / "download"
    assert fetcher(download, server.url).run_once()["done"]
    path = download / entry["file"]
    data = bytearray(path.read_bytes())
    data[100] ^= 1  # the service user's folder: anything may have happened to it
    path.write_bytes(bytes(data))
    with pytest.raises(updates.UpdateError, match="index signé"):
        updates.offer_downloaded(home, keyring=DEV_CERT)
    assert updates.read_state(home)["last"]["outcome"] == "refused"
    assert not list((updates.update_dir(home) / "incoming").iterdir())
    path.unlink()
    path.symlink_to("/etc/shadow")
    with pytest.raises(updates.UpdateError, match="copie impossible"):
        updates.offer_downloaded(home, keyring=DEV_CERT)


def test_a_delta_swapped_after_the_offer_is_refused_at_the_install(home, published, roots):
    server, entry = published
    assert fetcher(updates.update_dir(home) / "download", server.url).run_once()["done"]
    offered = updates.offer_downloaded(home, keyring=DEV_CERT)
    # the update folder is the service user's: one who took it over swaps the offered file
    old, new = roots
    (new / "usr/bin/tool").write_text("#!/bin/sh\necho owned\n")
    make(old, new, Path(offered["file"]))
    written, activated = [], []
    with pytest.raises(updates.UpdateError, match="index signé"):
        updates.install(home, activate=lambda: activated.append(1),
                        write_slot=lambda *a: written.append(a), keyring=DEV_CERT)  # fmt: skip
    assert not written and not activated
    state = updates.read_state(home)
    assert state["last"]["outcome"] == "failed" and slots.read().primary == "A"


def test_a_delta_is_made_from_relative_folders_too(roots, tmp_path, monkeypatch):
    # the district runs publish with paths like build/…: tar's second -C is relative to the first
    monkeypatch.chdir(tmp_path)
    manifest = delta.make_delta(Path("old"), Path("new"), Path("d.tar.xz"),
                                carried=updates.CARRIED, kernel=KERNEL)  # fmt: skip
    assert delta.read_manifest(tmp_path / "d.tar.xz") == manifest


def test_a_delta_is_applied_with_tar_alone_as_in_the_image(roots, tmp_path, monkeypatch):
    # the image has GNU tar but no xz program (found by the update boot test)
    old, new = roots
    out = tmp_path / "d.tar.xz"
    manifest = make(old, new, out)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tar").symlink_to(shutil.which("tar"))
    monkeypatch.setenv("PATH", str(bin_dir))
    running = shutil.copytree(old, tmp_path / "running", symlinks=True)
    delta.apply_delta(out, running, manifest)
    assert (running / "etc/keneya-release").read_text().strip() == "1.1.0"


def test_a_folder_that_became_a_link_is_published_so_that_it_applies(roots, tmp_path):
    old, new = roots
    (old / "usr/share/doc/x").mkdir(parents=True)
    (old / "usr/share/doc/x/README").write_text("r\n")
    (new / "usr/share/doc").mkdir(parents=True)
    (new / "usr/share/doc/x").symlink_to("../../bin")
    out = tmp_path / "d.tar.xz"
    manifest = make(old, new, out)
    assert "usr/share/doc/x" in manifest["delete"]
    running = shutil.copytree(old, tmp_path / "running", symlinks=True)
    delta.apply_delta(out, running, manifest)
    assert os.readlink(running / "usr/share/doc/x") == "../../bin"


def test_a_signed_delta_still_cannot_write_outside_the_root(roots, tmp_path):
    """Defence in depth, should the district's key or build ever be misused: the copied root
    has links to outside (var/run → /run); nothing goes through them, nothing unnamed goes in."""
    old, new = roots
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep me\n")
    (old / "var").mkdir()
    (old / "var/run").symlink_to(outside)
    (new / "var").mkdir()
    (new / "var/run").symlink_to(outside)
    (outside / "x").write_text("the new build's\n")  # the district tree sees it through the link
    out = tmp_path / "d.tar.xz"
    manifest = make(old, new, out)
    running = shutil.copytree(old, tmp_path / "running", symlinks=True)
    for evil in ({"delete": ["var/run/victim"]}, {"delete": ["."]}, {"delete": [""]}):
        with pytest.raises(delta.DeltaError, match="suppression refusée"):
            delta.apply_delta(out, running, manifest | evil)
    # a member the manifest does not name
    with pytest.raises(delta.DeltaError, match="refusé"):
        delta.apply_delta(out, running, manifest | {"members": manifest["members"][:-1]})
    # a member through a link of the running root
    sneaky = tmp_path / "sneaky"
    (sneaky / "var/run").mkdir(parents=True)
    (sneaky / "var/run/x").write_text("owned\n")
    evil_tar = tmp_path / "evil.tar.xz"
    (tmp_path / delta.MANIFEST_NAME).write_text("{}")
    subprocess.run(["tar", "-cJf", str(evil_tar), "-C", str(tmp_path), delta.MANIFEST_NAME,
                    "-C", str(sneaky), "./var/run/x"], check=True)  # fmt: skip
    with pytest.raises(delta.DeltaError, match="lien"):
        delta.apply_delta(evil_tar, running, manifest | {"members": ["var/run/x"], "delete": []})
    assert (outside / "victim").read_text() == "keep me\n"
    assert (outside / "x").read_text() == "the new build's\n"


@pytest.mark.parametrize("garbage", ["[1, 2]", "null", "7", '{"used_bytes": "lots",'
                                     ' "checked_at": 5, "target": "x", "month": 3}'])  # fmt: skip
def test_a_download_state_of_another_shape_starts_afresh(garbage, tmp_path):
    folder = tmp_path / "update/download"
    folder.mkdir(parents=True)
    (folder / "download.json").write_text(garbage)
    f = fetcher(folder, "http://127.0.0.1:9/keneya/")
    assert f.state.used_bytes == 0 and f.state.target is None
    assert f.due()  # never checked: due, and no exception for the daemon's tick
    assert update_state.summary(update_state.read(tmp_path)) is not None


def test_a_clock_set_back_or_ahead_neither_gives_budget_nor_stops_the_checks(published, tmp_path):
    server, entry = published
    clock = Clock()
    f = fetcher(tmp_path / "dl", server.url, clock=clock)
    f.run_once()
    used = f.state.used_bytes
    assert used > 0 and f.state.month == "2026-12"
    clock.day = datetime(2026, 11, 30, tzinfo=UTC)  # a long power cut, no network time yet
    f._new_month()
    assert f.state.month == "2026-12" and f.state.used_bytes == used
    # a check made while the clock was years ahead is due once the clock is right again
    f.state.checked_at = "2036-01-01T00:00:00+00:00"
    clock.day = datetime(2026, 12, 8, tzinfo=UTC)
    assert f._check_due()


def test_a_cut_between_the_last_chunk_and_the_state_needs_no_second_download(published, tmp_path):
    server, entry = published
    folder = tmp_path / "update/download"
    f = fetcher(folder, server.url, started=[])
    f.run_once(link_up=iter([True, True, False]).__next__)
    # the file came whole and was renamed, the state was not saved: as after a power cut
    (folder / entry["file"]).write_bytes((Path(server.folder) / entry["file"]).read_bytes())
    (folder / (entry["file"] + ".part")).unlink()
    sent = server.sent
    st = fetcher(folder, server.url, started=[]).run_once()
    assert st["done"] and server.sent == sent


def test_a_hand_over_root_did_not_turn_into_an_offer_is_made_again(published, tmp_path):
    server, entry = published
    folder = tmp_path / "update/download"
    started = []
    clock = Clock()
    f = fetcher(folder, server.url, started=started, clock=clock)
    assert f.run_once()["handed_over"] and len(started) == 1
    # root refused it for a passing reason (a full card), or a stick's refusal cleared it
    clock.day = datetime(2026, 12, 9, tzinfo=UTC)
    assert f.run_once()["handed_over"] and len(started) == 2
    (tmp_path / "update/state.json").write_text(json.dumps({"offer": {"version": "1.1.0"}}))
    clock.day = datetime(2026, 12, 11, tzinfo=UTC)
    f.run_once()
    assert len(started) == 2  # on offer: nothing to do


def test_an_index_too_large_is_not_read_into_memory(published, tmp_path):
    server, entry = published
    (Path(server.folder) / delta.INDEX_NAME).write_bytes(b" " * (2 << 20))
    st = fetcher(tmp_path / "dl", server.url).run_once()
    assert "trop grande" in st["error"] and st["used_bytes"] <= (1 << 20) + 1
