"""Shared fixtures: a real SQLite store in a temp folder, a clock we move by hand, one staff
member per role."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.services import auth
from appliance.services.context import Actor, Context
from appliance.store import Store

# PINs of the fixture staff (tests only; they never ship)
PINS = {
    "admin": "482913",
    "doctor": "739104",
    "midwife": "615208",
    "nurse": "904716",
    "matron": "357190",
    "health_worker": "268051",
    "technician": "840362",
}
START = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)


KENEYA = str(Path(sys.executable).parent / "keneya")


def keneya(
    home: Path, *args: str, stdin: str = "", pin: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """The `keneya` command as a technician or a script runs it, in `home`, with nothing of
    this process's KENEYA_HOME or KENEYA_PIN; `pin` goes in KENEYA_PIN."""
    env = {k: v for k, v in os.environ.items() if k not in ("KENEYA_HOME", "KENEYA_PIN")}
    if pin is not None:
        env["KENEYA_PIN"] = pin
    return subprocess.run(
        [KENEYA, "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


class FakeTime:
    """The machine clock, moved by hand."""

    def __init__(self, start: datetime = START):
        self.t = start.timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class NotifyListener:
    """Where systemd would listen for sd_notify: an AF_UNIX datagram socket at a short path
    (AF_UNIX allows ~107 bytes); each receive waits 60 s at most, so a missing message fails."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="kn", dir="/tmp")
        self.address = str(Path(self._dir.name) / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        self.sock.settimeout(60.0)
        self.messages: list[str] = []

    def wait_for(self, prefix: str, limit: int = 200) -> str:
        """The first message (received so far or next) starting with `prefix`; at most `limit`
        messages in all, so pings without READY cannot keep it waiting forever."""
        while not any(m.startswith(prefix) for m in self.messages):
            assert len(self.messages) < limit, f"no {prefix} among {self.messages[-5:]}"
            self.messages.append(self.sock.recv(4096).decode())
        return next(m for m in self.messages if m.startswith(prefix))

    def drain(self) -> list[str]:
        """Receive what has already arrived, without waiting (with a timeout set, Python
        polls before a receive even with MSG_DONTWAIT, so the socket is made non-blocking)."""
        timeout = self.sock.gettimeout()
        self.sock.setblocking(False)
        try:
            while True:
                self.messages.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            return self.messages
        finally:
            self.sock.settimeout(timeout)

    def queue_is_full(self) -> bool:
        """Its queue is full: a datagram sent now would have to wait (net.unix.max_dgram_qlen);
        when not full, the probe itself is queued (PROBE=1)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK) as probe:
            try:
                probe.sendto(b"PROBE=1", self.address)
            except BlockingIOError:
                return True
        return False

    def close(self) -> None:
        self.sock.close()
        self._dir.cleanup()


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], **popen) -> Iterator[subprocess.Popen]:
    """A daemon under test, its output in pipes; killed if a failing test left it running."""
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def sigterm(proc: subprocess.Popen, timeout: float = 30) -> tuple[str, str]:
    """Stop it as systemd does; its stdout and stderr."""
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=timeout)


class SmallDisk:
    """A real small filesystem (tmpfs) mounted on `path`, to fill up and to remount read-only:
    the data folder's failures for real, not a mock. Mounting needs root (CAP_SYS_ADMIN); a
    test that cannot mount fails and says so (never skips)."""

    def __init__(self, path: Path, size: str = "4M"):
        self.path = path
        self.size = size
        self.filler = path / "filler"
        self.mounted = False

    def _mount(self, *args: str) -> None:
        r = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            pytest.fail(
                f"`mount {' '.join(args)}` failed: {r.stderr.strip() or r.returncode}. These tests"
                " fill and remount a small tmpfs for real: run them as root (or with"
                " CAP_SYS_ADMIN, e.g. a privileged container)."
            )

    def mount(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        options = f"size={self.size},mode=0755"
        self._mount("-t", "tmpfs", "-o", options, "keneya-test", str(self.path))
        self.mounted = True
        return self

    def fill(self) -> int:
        """Write a file until the filesystem refuses: nothing is left for anyone."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        written = 0
        try:
            while True:
                written += os.write(fd, b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        try:  # the last pages, smaller than the block written above
            while True:
                written += os.write(fd, b"\0" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)
        st = os.statvfs(self.path)
        assert st.f_bavail == 0, f"{st.f_bavail} blocks left after filling"
        return written

    def free(self) -> None:
        """Give the space back (the technician deleted what filled the disk)."""
        self.filler.unlink()

    def read_only(self) -> None:
        self._mount("-o", "remount,ro", str(self.path))

    def writable(self) -> None:
        self._mount("-o", "remount,rw", str(self.path))

    def unmount(self) -> None:
        if not self.mounted:
            return
        r = subprocess.run(["umount", str(self.path)], capture_output=True, text=True)
        if r.returncode != 0:  # a process of a failed test still holds a file: detach it
            subprocess.run(["umount", "-l", str(self.path)], check=True)
        self.mounted = False


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 4 MiB tmpfs at tmp_path/disk, unmounted after the test."""
    disk = SmallDisk(tmp_path / "disk").mount()
    try:
        yield disk
    finally:
        disk.unmount()


@pytest.fixture
def notify_listener():
    listener = NotifyListener()
    yield listener
    listener.close()


@pytest.fixture
def pins() -> dict[str, str]:
    return dict(PINS)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "keneya.db", create=True) as s:
        s.set_setting("facility_code", "KLB")
        yield s


@pytest.fixture
def ctx(store: Store, fake_time: FakeTime) -> Context:
    return Context.open(store, machine_time=fake_time, boot_id="boot-1")


@pytest.fixture(scope="session")
def pin_hashes() -> dict[str, str]:
    """The fixture PINs hashed once for the whole run: a PIN hash costs about 0.1 s here by
    design (auth.PIN_HASHER), and hundreds of tests start from the same staff."""
    return {role: auth.PIN_HASHER.hash(pin) for role, pin in PINS.items()}


@pytest.fixture
def actors(ctx: Context, pin_hashes: dict[str, str]) -> dict[str, Actor]:
    """One staff member per role; the admin logged in with the PIN (the real check), the
    others as their session would hold them (their PINs are the same kind of hash)."""
    admin_row = auth.add_staff(
        ctx, None, username="admin", display_name="Admin", role="admin",
        pin_hash=pin_hashes["admin"],
    )  # fmt: skip
    admin = auth.login(ctx, admin_row["username"], pin=PINS["admin"])
    out = {"admin": admin}
    for role in PINS:
        if role == "admin":
            continue
        row = auth.add_staff(
            ctx,
            admin,
            username=role.replace("_", "."),
            display_name=role.title(),
            role=role,
            pin_hash=pin_hashes[role],
        )
        actor = auth.actor_for(ctx, row["id"])
        assert actor is not None
        out[role] = actor
    return out


@pytest.fixture
def aminata(ctx: Context, actors: dict[str, Actor]) -> dict:
    from appliance.services import patients

    return patients.register(
        ctx,
        actors["nurse"],
        {
            "family_name": "Traoré",
            "given_names": "Aminata",
            "sex": "F",
            "birth_date": "1995-03-14",
            "village": "Kalaban",
            "phone": "76 12 34 56",
        },
    )
