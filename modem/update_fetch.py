"""Updates over 3G: the district's signed index looked at while the link is up, and the update
it names for this appliance fetched in resumable chunks, within a monthly data budget.

The `[update]` section of the facility file:

[update]
server = ""              # the district's HTTPS folder (index.json, index.json.sig, the files);
                         # empty: updates come by USB stick only
monthly_budget_mb = 30   # what updates may use of the data plan each month (reports first)
check_every_h = 24       # how often the index is asked for

The modem daemon (the service user) does the fetching, inside its send windows: each chunk is
an HTTP range request appended to a `.part` file and synced, and its size recorded, so a link
that drops or a power cut resumes where it stopped. A finished file is checked against the
SHA-256 the signed index gives, then handed to root (`keneya-update-fetched.service`), which
checks the signature and the file again itself (provisioning/update.py `offer_downloaded`) and
offers it on the status screens as a stick's bundle would be.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.facility_file import read_section
from appliance.services import update_state
from modem.errors import ConfigurationError
from provisioning import delta

log = logging.getLogger(__name__)

# in the download folder, written by the modem daemon only; read by the status screens
STATE_NAME = update_state.DOWNLOAD_STATE
FETCHED_UNIT = "keneya-update-fetched.service"
CHUNK = 256 * 1024  # one range request: small enough to finish inside a weak 3G minute
REQUEST_TIMEOUT_S = 60.0
MB = 1_000_000  # data plans count in decimal megabytes


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateSource:
    server: str = ""
    monthly_budget_mb: float = 30.0
    check_every_h: float = 24.0

    def __post_init__(self) -> None:
        if self.server and not self.server.startswith(("https://", "http://")):
            raise ConfigurationError(f"[update] server {self.server!r} must be an https:// URL")
        if self.monthly_budget_mb < 0:
            raise ConfigurationError("[update] monthly_budget_mb cannot be negative")
        if not self.check_every_h > 0:
            raise ConfigurationError("[update] check_every_h must be positive")

    def url(self, name: str) -> str:
        return self.server.rstrip("/") + "/" + name


_TYPES = {"server": (str,), "monthly_budget_mb": (int, float), "check_every_h": (int, float)}


def load_source(facility_file: Path) -> UpdateSource:
    section = read_section(facility_file, "update", error=ConfigurationError)
    unknown = set(section) - set(_TYPES)
    if unknown:
        raise ConfigurationError(f"[update] unknown keys: {', '.join(sorted(unknown))}")
    for key, value in section.items():
        if not isinstance(value, _TYPES[key]) or isinstance(value, bool):
            raise ConfigurationError(f"[update] {key} has the wrong type: {value!r}")
    return UpdateSource(**section)


class FetchError(RuntimeError):
    pass


def http_get(url: str, start: int | None = None, length: int | None = None) -> bytes:
    """GET url, or `length` bytes of it from `start` (the server must honour ranges)."""
    request = urllib.request.Request(url, headers={"User-Agent": "keneya-update"})
    if start is not None and length is not None:
        request.add_header("Range", f"bytes={start}-{start + length - 1}")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:
            if start is not None and start > 0 and answer.status != 206:
                # the whole file again from byte 0 would cost the budget many times over
                raise FetchError(f"{url}: the server does not answer byte ranges")
            return answer.read(length) if length is not None else answer.read()
    except urllib.error.HTTPError as e:
        raise FetchError(f"{url}: HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(f"{url}: {getattr(e, 'reason', e)}") from None


@dataclass
class DownloadState:
    month: str = ""
    used_bytes: int = 0  # this month, index and chunks
    checked_at: str | None = None
    target: dict[str, Any] | None = None  # the index entry being fetched
    received: int = 0  # bytes of the target synced to its .part file
    done: bool = False  # complete and its SHA-256 right
    handed_over: bool = False  # root's unit started on it
    message: str | None = None  # what the status screens say (French / English)
    error: str | None = None


class UpdateFetcher:
    def __init__(
        self,
        folder: Path,
        source: UpdateSource,
        *,
        keyring: Path,
        running_version: Callable[[], str],
        kernel: str,
        compatible: str,
        get: Callable[..., bytes] = http_get,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        start_unit: Callable[[str], bool] | None = None,
        chunk: int = CHUNK,
    ):
        self.folder = folder
        self.source = source
        self.keyring = keyring
        self.running_version = running_version
        self.kernel = kernel
        self.compatible = compatible
        self.get = get
        self.now = now
        self.monotonic = monotonic
        self.start_unit = start_unit or update_state.start_unit
        self.chunk = chunk
        self.state = self._load()

    # -- the state on disk --------------------------------------------------------------------
    def _load(self) -> DownloadState:
        try:
            raw = json.loads((self.folder / STATE_NAME).read_text(encoding="utf-8"))
            known = DownloadState.__annotations__
            return DownloadState(**{k: v for k, v in raw.items() if k in known})
        except (OSError, ValueError, TypeError):
            return DownloadState()

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / (STATE_NAME + ".new")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(asdict(self.state), f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / STATE_NAME)

    def _part(self) -> Path:
        assert self.state.target is not None
        return self.folder / (self.state.target["file"] + ".part")

    def _final(self) -> Path:
        assert self.state.target is not None
        return self.folder / self.state.target["file"]

    # -- what the daemon asks -----------------------------------------------------------------
    @property
    def budget(self) -> int:
        return int(self.source.monthly_budget_mb * MB)

    def _new_month(self) -> None:
        month = self.now().strftime("%Y-%m")
        if self.state.month != month:
            self.state.month, self.state.used_bytes = month, 0

    def _check_due(self) -> bool:
        if self.state.checked_at is None:
            return True
        last = datetime.fromisoformat(self.state.checked_at)
        return (self.now() - last).total_seconds() >= self.source.check_every_h * 3600

    def due(self) -> bool:
        if not self.source.server:
            return False
        if self.state.done and not self.state.handed_over:
            return True  # costs no data
        self._new_month()
        if self.state.used_bytes >= self.budget:
            return False
        target = self.state.target
        if target is not None and not self.state.done:
            # the next chunk must fit in what is left of the month
            return self.state.used_bytes + self._next_chunk() <= self.budget
        return self._check_due()

    def _next_chunk(self) -> int:
        assert self.state.target is not None
        return min(self.chunk, self.state.target["bytes"] - self.state.received)

    def run_once(self, *, seconds: float = 300.0, link_up: Callable[[], bool] = lambda: True,
                 between_chunks: Callable[[], None] = lambda: None) -> dict[str, Any]:  # fmt: skip
        """Ask the index when due, then fetch chunks for at most `seconds` while the link is
        up and the month's budget allows. Returns the state (as the status shows it)."""
        self._new_month()
        try:
            if self._check_due():
                self._check_index()
            deadline = self.monotonic() + seconds
            while (
                self.state.target is not None
                and not self.state.done
                and self.monotonic() < deadline
                and link_up()
                and self._fetch_chunk()
            ):
                between_chunks()
            if self.state.done and not self.state.handed_over:
                self._hand_over()
            self.state.error = None
        except (FetchError, delta.DeltaError) as e:
            self.state.error = str(e)
            log.warning("update over 3G: %s", e)
        finally:
            self._save()
        return asdict(self.state)

    # -- steps --------------------------------------------------------------------------------
    def _spend(self, n: int) -> None:
        self.state.used_bytes += n

    def _check_index(self) -> None:
        content = self.get(self.source.url(delta.INDEX_NAME))
        self._spend(len(content))
        signature = self.get(self.source.url(delta.SIGNATURE_NAME))
        self._spend(len(signature))
        self.state.checked_at = self.now().isoformat(timespec="seconds")
        delta.verify(content, signature, self.keyring)
        index = delta.parse_index(content, compatible=self.compatible)
        entry = delta.choose(index, running=self.running_version(), kernel=self.kernel)
        if entry is None:
            self._forget()
            self.state.message = "à jour / up to date"
            return
        if entry["bytes"] > self.budget:
            self._forget()
            self.state.message = (
                f"la version {entry['version']} ({entry['bytes'] / MB:.1f} Mo) dépasse le budget"
                f" mensuel ({self.source.monthly_budget_mb:g} Mo) : apportez-la par clé USB"
                f" / over the monthly budget: bring it by USB stick"
            )
            return
        # root checks the signed index again before offering: it is kept beside the file
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / delta.INDEX_NAME).write_bytes(content)
        (self.folder / delta.SIGNATURE_NAME).write_bytes(signature)
        if self.state.target and self.state.target.get("sha256") == entry["sha256"]:
            return  # the same file: go on where it stopped
        self._forget()
        self.state.target = entry
        self.state.message = f"téléchargement de la version {entry['version']} / downloading"

    def _forget(self) -> None:
        if self.state.target is not None:
            self._part().unlink(missing_ok=True)
            self._final().unlink(missing_ok=True)
        self.state.target, self.state.received = None, 0
        self.state.done = self.state.handed_over = False

    def _fetch_chunk(self) -> bool:
        """One range request appended and synced; False when the budget stops it."""
        target = self.state.target
        assert target is not None
        size = target["bytes"]
        n = self._next_chunk()
        if self.state.used_bytes + n > self.budget:
            self.state.message = (
                f"budget du mois atteint : {self.state.received * 100 // size} % de la version"
                f" {target['version']}, la suite le mois prochain / monthly budget used"
            )
            return False
        part = self._part()
        with open(part, "ab") as f:
            # a power cut after the write but before the state: the state is what is sure
            f.truncate(self.state.received)
            f.seek(self.state.received)
            data = self.get(self.source.url(target["file"]), self.state.received, n)
            if not data or len(data) > n:
                raise FetchError(f"{target['file']}: {len(data)} bytes for a range of {n}")
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self.state.received += len(data)
        self._spend(len(data))
        self.state.message = (
            f"téléchargement de la version {target['version']} :"
            f" {self.state.received * 100 // size} % / downloading"
        )
        if self.state.received >= size:
            self._finish()
        self._save()
        return not self.state.done

    def _finish(self) -> None:
        target = self.state.target
        assert target is not None
        if delta.sha256_file(self._part()) != target["sha256"]:
            self._part().unlink()
            self.state.received = 0
            raise FetchError(f"{target['file']}: SHA-256 wrong, fetched again from the start")
        os.replace(self._part(), self._final())
        self.state.done = True
        self.state.message = f"version {target['version']} téléchargée et vérifiée / fetched"

    def _hand_over(self) -> None:
        if self.start_unit(FETCHED_UNIT):
            self.state.handed_over = True
            log.info("update %s fetched: handed to %s", self.state.target, FETCHED_UNIT)
        else:
            self.state.error = f"{FETCHED_UNIT} could not be started"
