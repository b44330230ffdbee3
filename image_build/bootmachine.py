"""The emulated boot test's machinery: a qemu process with its console log and monitor, a
small HTTP client with cookies, bounded waits, and what systemd says on the console.

Used by image_build.boottest (the boots) and image_build.bootbackup (the records' checks).
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MULTI_USER = "Reached target multi-user.target"
RESTART_LOOP = 2  # this many "Scheduled restart job" lines for one unit in one boot = a loop
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def say(message: str) -> None:
    print(f"[boottest {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


_STATUS_LINE = re.compile(
    r"(?:\[\s*(?P<tag>OK|FAILED|DEPEND|TIME)\s*\]\s*|systemd\[1\]:\s*)"
    r"(?P<verb>Started|Finished|Starting|Failed to start|Dependency failed for)\s+"
    r"(?P<unit>[\w@.\-]+?)"
    r"(?:\.service)?(?=[\s.]|$)"
)
_RESTART = re.compile(r"([\w@.\-]+?)\.service: Scheduled restart job, restart counter is at (\d+)")
_FAILED_RESULT = re.compile(r"([\w@.\-]+?)\.service: (?:Main process exited|Failed with result)")


def clean_console(text: str) -> str:
    """Serial output without ANSI colours and carriage returns."""
    return _ANSI.sub("", text).replace("\r", "")


@dataclass
class ConsoleFacts:
    started: set[str] = field(default_factory=set)
    starting: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    restarts: dict[str, int] = field(default_factory=dict)
    power_down: bool = False

    def up(self, unit: str) -> bool:
        """A unit reached its running (or, for a oneshot, finished) state."""
        return unit in self.started or unit in self.finished

    def state(self, unit: str) -> str:
        """One word for the figures: up, failed, starting (never up), or never (no job ran)."""
        if unit in self.failed:
            return "failed"
        if self.up(unit):
            return "up"
        return "starting" if unit in self.starting else "never"

    def looping(self, threshold: int = RESTART_LOOP) -> list[str]:
        return sorted(u for u, n in self.restarts.items() if n >= threshold)


def parse_console(text: str) -> ConsoleFacts:
    """What systemd said about units on the console: "[  OK  ] Started x.service - …",
    "[FAILED] Failed to start …", journal lines forwarded to the console ("systemd[1]: …"),
    "x.service: Scheduled restart job, restart counter is at N", and the kernel's final
    "reboot: Power down"."""
    facts = ConsoleFacts()
    text = clean_console(text)
    for line in text.splitlines():
        m = _STATUS_LINE.search(line)
        if m:
            unit, verb = m.group("unit"), m.group("verb")
            if verb == "Started":
                facts.started.add(unit)
            elif verb == "Starting":
                facts.starting.add(unit)
            elif verb == "Finished":
                facts.finished.add(unit)
            else:
                facts.failed.add(unit)
        m = _RESTART.search(line)
        if m:
            facts.restarts[m.group(1)] = max(facts.restarts.get(m.group(1), 0), int(m.group(2)))
        if "reboot: Power down" in line:
            facts.power_down = True
    return facts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Qemu:
    """One qemu process: its console log read as it grows, its monitor on a unix socket."""

    def __init__(self, command: list[str], log: Path, monitor: Path):
        self.command, self.log, self.monitor = command, log, monitor
        log.unlink(missing_ok=True)
        monitor.unlink(missing_ok=True)
        (log.parent / (log.stem + ".cmd")).write_text(" ".join(command) + "\n")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=open(log.with_suffix(".qemu-out"), "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def console(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def running(self) -> bool:
        return self.proc.poll() is None

    def send(self, command: str) -> bool:
        """A monitor command; False when the monitor cannot be reached."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(str(self.monitor))
                time.sleep(0.3)
                s.sendall(command.encode() + b"\n")
                time.sleep(0.5)
            return True
        except OSError:
            return False

    def ask(self, command: str, wait: float = 3.0) -> str | None:
        """A monitor command and what the monitor answered (None: monitor unreachable)."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1.0)
                s.connect(str(self.monitor))
                time.sleep(0.3)
                s.sendall(command.encode() + b"\n")
                chunks, deadline = [], time.monotonic() + wait
                while time.monotonic() < deadline:
                    try:
                        chunk = s.recv(4096)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError:
            return None
        text = clean_console(b"".join(chunks).decode("utf-8", "replace"))
        # the banner and the echoed command line are not the answer
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("QEMU ")]
        return "\n".join(ln for ln in lines if command not in ln and ln.strip() != "(qemu)")

    def wait_exit(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        if self.running():
            self.send("quit")
            if not self.wait_exit(10):
                self.proc.kill()
                self.proc.wait(10)

    def tail(self, lines: int = 60) -> str:
        text = "\n".join(clean_console(self.console()).splitlines()[-lines:])
        if not self.running():
            said = self.log.with_suffix(".qemu-out").read_text(errors="replace").strip()
            text += (
                f"\n(qemu exited with status {self.proc.returncode}{': ' + said if said else ''})"
            )
        return text


def wait_for(
    predicate: Callable[[], object],
    timeout: float,
    qemu: Qemu | None,
    every: float = 2.0,
    settle: float | None = None,
) -> object:
    """Poll `predicate` until truthy; None on timeout, when qemu died, or (with `settle`) that
    many seconds after systemd reached multi-user.target: a unit not up by then never will be
    (its job failed or was cancelled) and waiting for the whole timeout only hides that."""
    deadline = time.monotonic() + timeout
    reached_at = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if qemu is not None and not qemu.running():
            return predicate() or None
        if settle is not None and qemu is not None:
            if reached_at is None and MULTI_USER in qemu.console():
                reached_at = time.monotonic()
            if reached_at is not None and time.monotonic() - reached_at > settle:
                say(f"multi-user.target reached {settle:.0f} s ago: not waiting any longer")
                return None
        time.sleep(every)
    return None


class Http:
    """A tiny client with a cookie jar, against the forwarded port."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(
        self,
        path: str,
        *,
        data: dict | None = None,
        timeout: float = 20.0,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        body = None if data is None else json.dumps(data).encode()
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, TimeoutError):
            return 0, ""


def show_tail(qemu: Qemu) -> None:
    print(qemu.tail(60), file=sys.stderr)
    say(f"whole console log: {qemu.log}")
