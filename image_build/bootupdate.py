"""The update boot (part of `python -m image_build test`): RAUC bundles from USB sticks under
qemu `virt`, the trial of the new slot and the return by itself from a broken one.

On a provisioned copy of the image, with a patient registered over HTTP:
1. a stick with a bundle signed by another key: refused, said on the status, nothing changed;
2. a stick with a good bundle of the image's own root (another version number): offered,
   installed once the admin confirms (the API), the appliance reboots into slot B, the health
   check marks it good; the version changed and the patient is there;
3. a stick with a bundle whose web app cannot start (and whose health check gives up after
   HEALTH_MINUTES): installed into slot A, booted on trial, marked bad, and the appliance
   reboots into slot B by itself, with the patient;
4. a stick with the district's folder for 3G (keneya-update/: signed index and a delta that
   edits one module and the version): checked and offered as a fetched one, installed by
   copying the running root into slot A and applying the delta, booted on trial and marked
   good, with the patient. (The fetch itself, over HTTP with ranges, is tested beside the
   modem daemon: tests/component/test_update_3g.py.)
The bundles are made here from the image under test (image_build.bundle), signed with the
repository's development key, which the image's keyring holds unless built with another.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from image_build import bootbackup
from image_build.bootmachine import Http, Qemu, say, show_tail, wait_for
from image_build.build import DEV_CERT, DEV_KEY, BuildError
from image_build.bundle import (
    bundle_from_image,
    kernel_release,
    make_bundle,
    read_file,
    root_from_image,
)
from provisioning import delta
from provisioning.update import CARRIED, COMPATIBLE

HEALTH_MINUTES = 2  # the broken bundle's: the product waits 10
BOOT_TIMEOUT_S = 600.0
INSTALL_TIMEOUT_S = 1500.0
OFFER_TIMEOUT_S = 600.0
GOOD_TIMEOUT_S = 600.0
ROLLBACK_TIMEOUT_S = 1500.0
SLOT_LINE = re.compile(r"keneya-slot: root: slot ([AB])")
WEB_UNIT = "/usr/lib/systemd/system/keneya-web.service"
HEALTH_UNIT = "/usr/lib/systemd/system/keneya-update-health.service"
DELTA_MODULE = "opt/keneya/venv/lib/python3.11/site-packages/provisioning/slots.py"


class UpdateTestError(RuntimeError):
    pass


def broken_files(image: Path, work: Path) -> dict[str, bytes]:
    """keneya-web that exits at once, and a health check that gives up sooner."""
    root = work / "units-root.ext4"
    root_from_image(image, root)
    try:
        web = read_file(root, WEB_UNIT)
        health = read_file(root, HEALTH_UNIT)
    finally:
        root.unlink()
    web2 = re.sub(r"^ExecStart=.*$", "ExecStart=/bin/false", web, count=1, flags=re.M)
    health2 = re.sub(
        r"^Environment=KENEYA_HEALTH_MINUTES=\d+$",
        f"Environment=KENEYA_HEALTH_MINUTES={HEALTH_MINUTES}",
        health,
        flags=re.M,
    )
    if web2 == web or health2 == health:
        raise UpdateTestError("cannot find ExecStart= or KENEYA_HEALTH_MINUTES= to change")
    return {WEB_UNIT: web2.encode(), HEALTH_UNIT: health2.encode()}


def other_key(work: Path) -> tuple[Path, Path]:
    key, cert = work / "other.key.pem", work / "other.cert.pem"
    bootbackup.tool(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=not the district", "-days", "30"]
    )  # fmt: skip
    return key, cert


def bad_signature_bundle(work: Path) -> Path:
    """A small bundle signed by a key the card does not trust."""
    tree = work / "tiny-root"
    (tree / "etc").mkdir(parents=True, exist_ok=True)
    (tree / "etc/keneya-release").write_text("9.9.9-evil\n")
    (tree / "payload").write_bytes(os.urandom(256 * 1024))
    ext4 = work / "tiny.ext4"
    ext4.unlink(missing_ok=True)
    bootbackup.tool(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(ext4), "16M"])
    key, cert = other_key(work)
    out = work / "keneya-9.9.9-evil.raucb"
    make_bundle(ext4, out, version="9.9.9-evil", key=key, cert=cert)
    return out


def published_delta(image: Path, work: Path, from_version: str, to_version: str) -> Path:
    """The district's folder for 3G: a delta from `from_version` (the good bundle's root) to
    `to_version` (one module edited, as a typical app update) and its signed index. The two
    trees hold only what differs: the delta names changed files, never the rest."""
    root = work / "delta-root.ext4"
    root_from_image(image, root)
    try:
        kernel = kernel_release(root)
        module = read_file(root, "/" + DELTA_MODULE)
    finally:
        root.unlink()
    trees = {}
    edited = module + "\n# an app update over 3G\n"
    for name, version, text in (("old", from_version, module), ("new", to_version, edited)):
        t = work / f"delta-{name}"
        (t / "etc").mkdir(parents=True)
        (t / delta.RELEASE_PATH).write_text(version + "\n")
        (t / DELTA_MODULE).parent.mkdir(parents=True)
        (t / DELTA_MODULE).write_text(text)
        trees[name] = t
    folder = work / "keneya-update"
    folder.mkdir()
    out = folder / f"keneya-{to_version}-from-{from_version}.delta.tar.xz"
    delta.make_delta(trees["old"], trees["new"], out, carried=CARRIED, kernel=kernel)
    entry = delta.entry_for(out, kind="delta", version=to_version, kernel=kernel,
                            **{"from": from_version})  # fmt: skip
    delta.write_index(folder, [entry], latest=to_version, compatible=COMPATIBLE, key=DEV_KEY,
                      cert=DEV_CERT)  # fmt: skip
    return folder


def stick_with(path: Path, bundle: Path) -> None:
    """A FAT32 stick image holding the bundle (or a folder) at its top."""
    size_mib = (bundle.stat().st_size if bundle.is_file() else 0) // (1 << 20) + 96
    bootbackup.make_stick(path, size_mib)
    try:
        bootbackup.copy_onto_stick(path, bundle)
    except bootbackup.RecordsError as e:
        raise UpdateTestError(str(e)) from None


def prepare(base: Path, work: Path, figures: dict) -> dict[str, Path]:
    """The three sticks; the bundles' sizes and times in figures['update']."""
    facts = figures.setdefault("update", {})
    version = read_release(base, work)
    good_version, broken_version = f"{version}-update", f"{version}-broken"
    say(f"update: building the good bundle ({good_version}) from the image's root")
    good = bundle_from_image(
        base, work / f"keneya-{good_version}.raucb", key=DEV_KEY, cert=DEV_CERT,
        version=good_version, work=work,
    )  # fmt: skip
    say(f"update: good bundle {good['bytes'] / 1e6:.0f} MB in {good['seconds']} s")
    say(f"update: building the broken bundle ({broken_version})")
    broken = bundle_from_image(
        base, work / f"keneya-{broken_version}.raucb", key=DEV_KEY, cert=DEV_CERT,
        version=broken_version, files=broken_files(base, work), work=work,
    )  # fmt: skip
    evil = bad_signature_bundle(work)
    delta_version = f"{version}-3g"
    published = published_delta(base, work, good_version, delta_version)
    facts.update(
        delta_version=delta_version,
        delta_bytes=sum(f.stat().st_size for f in published.iterdir()),
    )
    facts.update(
        image_version=version,
        good_version=good_version,
        broken_version=broken_version,
        full_root_bundle_bytes=good["bytes"],
        root_image_bytes=good["root_bytes"],
        bundle_build_s=good["seconds"],
    )
    sticks = {}
    for name, bundle in (("evil", evil), ("good", Path(good["bundle"])),
                         ("broken", Path(broken["bundle"])), ("delta", published)):  # fmt: skip
        sticks[name] = work / f"stick-{name}.img"
        stick_with(sticks[name], bundle)
        if name in ("good", "broken"):
            bundle.unlink()  # on the stick now; 200 MB each
    return sticks


def read_release(image: Path, work: Path) -> str:
    root = work / "release-root.ext4"
    try:
        root_from_image(image, root)
        return read_file(root, "/etc/keneya-release").strip()
    finally:
        root.unlink(missing_ok=True)


def qemu_devices(sticks: dict[str, Path]) -> list[str]:
    devices = ["-device", "qemu-xhci,id=xhci"]
    for name, path in sticks.items():
        devices += ["-drive", f"if=none,id=stick-{name},format=raw,file={path}"]
    return devices


def plug(qemu: Qemu, name: str) -> bool:
    answer = qemu.ask(
        f"device_add usb-storage,bus=xhci.0,drive=stick-{name},id=usb-{name},removable=on"
    )
    return answer is not None and not answer.strip()


def unplug(qemu: Qemu, name: str) -> None:
    qemu.ask(f"device_del usb-{name}")
    time.sleep(3)


def boots(qemu: Qemu) -> list[str]:
    """The slot of each boot so far, as the initramfs said it on the console."""
    return SLOT_LINE.findall(qemu.console())


class Client:
    """The web app as the admin uses it, logging in again after each reboot."""

    def __init__(self, web: Http, user: str, password: str):
        self.web, self.user, self.password = web, user, password
        self.csrf: str | None = None

    def login(self) -> str | None:
        status, body = self.web.request(
            "/api/v1/session", data={"username": self.user, "password": self.password}
        )
        self.csrf = json.loads(body).get("csrf_token") if status == 200 else None
        return self.csrf

    def get(self, path: str) -> tuple[int, str]:
        status, body = self.web.request(path, timeout=60)
        if status in (401, 403) and self.login():
            status, body = self.web.request(path, timeout=60)
        return status, body

    def post(self, path: str, data: dict) -> tuple[int, str]:
        if not self.csrf:
            self.login()
        status, body = self.web.request(
            path, data=data, headers={"X-CSRF-Token": self.csrf or ""}, timeout=60
        )
        if status in (401, 403) and self.login():
            status, body = self.web.request(
                path, data=data, headers={"X-CSRF-Token": self.csrf or ""}, timeout=60
            )
        return status, body

    def update_state(self) -> dict:
        status, body = self.get("/api/v1/status")
        if status != 200:
            return {}
        try:
            return json.loads(body).get("update") or {}
        except ValueError:
            return {}


def register_patient(client: Client) -> str | None:
    status, body = client.post(
        "/api/v1/patients",
        {"family_name": "Diarra", "given_names": "Mariam", "sex": "F",
         "birth_date": "1998-03-14", "village": "Boni"},
    )  # fmt: skip
    if status != 201:
        say(f"update: registering a patient gave HTTP {status}: {body[:300]}")
        return None
    return json.loads(body)["health_number"]


def patient_there(client: Client, number: str) -> bool:
    status, body = client.get(f"/api/v1/patients?q={number}")
    return status == 200 and number in body


def wait_boot(qemu: Qemu, count: int, timeout: float) -> str | None:
    """The slot of boot number `count` (1-based) once the initramfs chose it."""

    def nth() -> str | None:
        seen = boots(qemu)
        return seen[count - 1] if len(seen) >= count else None

    return wait_for(nth, timeout, qemu, every=2.0)


def last_outcome(client: Client) -> str | None:
    return (client.update_state().get("last") or {}).get("outcome")


def install_from(
    client: Client, qemu: Qemu, stick: str, version: str, boot_no: int, facts: dict, label: str
) -> str | None:
    """Plug the stick, wait for the offer, confirm it; the slot the next boot chose."""
    t0 = time.monotonic()
    plug(qemu, stick)
    offer = wait_for(
        lambda: (client.update_state().get("offer") or {}).get("version") == version,
        OFFER_TIMEOUT_S, qemu, every=5.0,
    )  # fmt: skip
    facts[f"{label}_offered_s"] = round(time.monotonic() - t0, 1)
    if not offer:
        say(f"update: no offer of {version}: console tail follows")
        show_tail(qemu)
        return None
    status, body = client.post("/api/v1/update/install", {})
    facts[f"{label}_install_request"] = status
    say(f"update: install of {version} asked (HTTP {status})")
    t1 = time.monotonic()
    slot = wait_boot(qemu, boot_no, INSTALL_TIMEOUT_S)
    facts[f"{label}_install_to_reboot_s"] = round(time.monotonic() - t1, 1)
    say(f"update: boot {boot_no} chose slot {slot} ({facts[f'{label}_install_to_reboot_s']} s)")
    unplug(qemu, stick)
    return slot


def run_update_boots(
    qemu: Qemu, web: Http, user: tuple[str, str], figures: dict, checks: dict
) -> None:
    facts = figures.setdefault("update", {})
    client = Client(web, *user)
    wait_for(client.login, BOOT_TIMEOUT_S, qemu, every=3.0)
    number = register_patient(client)
    checks["update_patient_registered"] = bool(number)
    first = client.update_state()
    checks["update_booted_a"] = first.get("booted") == "A" and boots(qemu)[:1] == ["A"]
    facts["first_state"] = {k: first.get(k) for k in ("booted", "primary", "slots")}

    # 1. bad signature
    plug(qemu, "evil")
    refused = wait_for(lambda: last_outcome(client) == "refused", OFFER_TIMEOUT_S, qemu, every=5.0)
    state = client.update_state()
    facts["bad_signature_message"] = (state.get("last") or {}).get("message")
    checks["update_bad_signature_refused"] = (
        bool(refused)
        and "signature invalide" in (facts["bad_signature_message"] or "")
        and not state.get("offer")
        and (state.get("slots") or {}).get("B", {}).get("state") == "empty"
    )
    unplug(qemu, "evil")

    # 2. the good bundle: into slot B, trial, marked good
    good_version = facts["good_version"]
    slot = install_from(client, qemu, "good", good_version, 2, facts, "good")
    checks["update_good_booted_b"] = slot == "B"
    t0 = time.monotonic()
    good = wait_for(lambda: last_outcome(client) == "good", GOOD_TIMEOUT_S, qemu, every=5.0)
    facts["good_reboot_to_marked_good_s"] = round(time.monotonic() - t0, 1)
    state = client.update_state()
    facts["after_good"] = {k: state.get(k) for k in ("booted", "slots", "last", "marked_good")}
    checks["update_good_marked_good"] = bool(good) and state.get("booted") == "B"
    checks["update_version_changed"] = (state.get("slots") or {}).get("B", {}).get(
        "version"
    ) == good_version
    checks["update_records_kept_after_update"] = bool(number) and patient_there(client, number)

    # 3. the broken bundle: into slot A, its web app never starts, back to B by itself
    t0 = time.monotonic()
    slot = install_from(client, qemu, "broken", facts["broken_version"], 3, facts, "broken")
    checks["update_broken_booted_a_on_trial"] = slot == "A"
    back = wait_boot(qemu, 4, ROLLBACK_TIMEOUT_S)
    facts["broken_trial_to_rollback_boot_s"] = round(time.monotonic() - t0, 1)
    checks["update_rolled_back_to_b"] = back == "B"
    rolled = wait_for(
        lambda: last_outcome(client) == "rolled_back", BOOT_TIMEOUT_S, qemu, every=5.0
    )
    facts["rollback_total_s"] = round(time.monotonic() - t0, 1)
    state = client.update_state()
    facts["after_rollback"] = {k: state.get(k) for k in ("booted", "slots", "last")}
    checks["update_rollback_reported"] = bool(rolled) and state.get("booted") == "B"
    checks["update_running_the_good_version_again"] = (state.get("slots") or {}).get("B", {}).get(
        "version"
    ) == good_version and (state.get("slots") or {}).get("A", {}).get("state") == "bad"
    checks["update_records_kept_after_rollback"] = bool(number) and patient_there(client, number)

    # 4. the district's delta (as fetched over 3G): the running root copied into slot A
    delta_version = facts["delta_version"]
    slot = install_from(client, qemu, "delta", delta_version, 5, facts, "delta")
    checks["update_delta_booted_a"] = slot == "A"
    t0 = time.monotonic()
    good = wait_for(
        lambda: (client.update_state().get("last") or {}).get("outcome") == "good"
        and client.update_state().get("booted") == "A",
        GOOD_TIMEOUT_S, qemu, every=5.0,
    )  # fmt: skip
    facts["delta_reboot_to_marked_good_s"] = round(time.monotonic() - t0, 1)
    state = client.update_state()
    facts["after_delta"] = {k: state.get(k) for k in ("booted", "slots", "last")}
    checks["update_delta_marked_good"] = bool(good)
    checks["update_delta_version"] = (state.get("slots") or {}).get("A", {}).get(
        "version"
    ) == delta_version
    checks["update_records_kept_after_delta"] = bool(number) and patient_there(client, number)
    facts["boots"] = boots(qemu)


def prepare_or_fail(base: Path, work: Path, figures: dict) -> dict[str, Path]:
    try:
        return prepare(base, work, figures)
    except (BuildError, bootbackup.RecordsError, delta.DeltaError, OSError) as e:
        raise UpdateTestError(f"preparing the update bundles and sticks: {e}") from None
