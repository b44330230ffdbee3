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
        # "[update] KEY must …": the wording `provision check` puts on the key's line
        if self.server and not self.server.startswith(("https://", "http://")):
            raise ConfigurationError(
                "[update] server must be an https:// (or http://) URL or empty, "
                f"not {self.server!r}"
            )
        if not 0 <= self.monthly_budget_mb <= 100_000:
            raise ConfigurationError("[update] monthly_budget_mb must be between 0 and 100000")
        if not 0 < self.check_every_h <= 24 * 31:
            raise ConfigurationError("[update] check_every_h must be between 0 and 744")

    def url(self, name: str) -> str:
        return self.server.rstrip("/") + "/" + name


_TYPES = {"server": (str,), "monthly_budget_mb": (int, float), "check_every_h": (int, float)}


def load_source(facility_file: Path) -> UpdateSource:
    try:
        section = read_section(facility_file, "update", error=ConfigurationError)
    except UnicodeDecodeError:
        raise ConfigurationError(f"{facility_file} is not UTF-8 text") from None
    return update_source_from(section)


def update_source_from(section: dict[str, Any], *, where: str = "") -> UpdateSource:
    """The `[update]` table checked (also by `provision check`); one line naming the key."""
    prefix = f"{where}: " if where else ""
    unknown = sorted(set(section) - set(_TYPES))
    if unknown:
        raise ConfigurationError(
            f"{prefix}[update] has no key {unknown[0]!r} (known: {', '.join(_TYPES)})"
        )
    for key, value in section.items():
        if not isinstance(value, _TYPES[key]) or isinstance(value, bool):
            kind = "text" if key == "server" else "a number"
            raise ConfigurationError(f"{prefix}[update] {key} must be {kind}, not {value!r}")
    try:
        return UpdateSource(**section)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{prefix}{exc}") from None


class FetchError(RuntimeError):
    """Said on the status screens: French first."""


MAX_INDEX = 1 << 20  # an index or signature larger than this is not one (a captive portal)
READ_BLOCK = 16 * 1024


def http_get(url: str, start: int | None = None, length: int | None = None) -> bytes:
    """GET url (at most MAX_INDEX bytes), or `length` bytes of it from `start`, the server
    answering the range. A request gets REQUEST_TIMEOUT_S in all; a range cut short by it or
    by the link returns what arrived (it is the start of the range: kept, and counted)."""
    ranged = start is not None and length is not None
    request = urllib.request.Request(url, headers={"User-Agent": "keneya-update"})
    if ranged:
        request.add_header("Range", f"bytes={start}-{start + length - 1}")
    deadline = time.monotonic() + REQUEST_TIMEOUT_S
    limit = length if ranged else MAX_INDEX + 1
    got = bytearray()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:
            if ranged and answer.status == 206 and not _range_starts(answer, start):
                raise FetchError(f"le serveur a répondu une autre partie / wrong range ({url})")
            if ranged and answer.status != 206 and start:
                # the whole file again from byte 0 would cost the budget many times over
                raise FetchError(
                    "le serveur du district ne reprend pas les téléchargements"
                    " / the server does not answer byte ranges"
                )
            while len(got) < limit and time.monotonic() < deadline:
                block = answer.read(min(READ_BLOCK, limit - len(got)))
                if not block:
                    break
                got += block
    except urllib.error.HTTPError as e:
        raise FetchError(f"serveur du district : erreur {e.code} / HTTP {e.code} ({url})") from None
    except (urllib.error.URLError, OSError) as e:
        if ranged and got:
            return bytes(got)
        reason = getattr(e, "reason", e)
        raise FetchError(f"serveur du district injoignable / unreachable ({reason})") from None
    if not ranged and len(got) > MAX_INDEX:
        raise FetchError(f"réponse trop grande pour un index / not an index ({url})")
    return bytes(got)


def _range_starts(answer: Any, start: int) -> bool:
    """The 206 is for the range asked (a proxy may answer another)."""
    content_range = answer.headers.get("Content-Range") or ""
    return content_range.startswith(f"bytes {start}-")


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
    bad_sha256: str | None = None  # came out wrong: not fetched again until the index changes

    @classmethod
    def of(cls, raw: Any) -> DownloadState:
        """The state as read; a file of another shape (damaged, another version's) starts
        afresh rather than stopping the daemon."""
        st = cls()
        if not isinstance(raw, dict):
            return st
        for key, kind in (("month", str), ("used_bytes", int), ("checked_at", str),
                          ("received", int), ("done", bool), ("handed_over", bool),
                          ("message", str), ("error", str), ("bad_sha256", str)):  # fmt: skip
            value = raw.get(key)
            if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
                setattr(st, key, value)
        target = raw.get("target")
        if isinstance(target, dict) and delta.entry_ok(target):
            st.target = target
        else:
            st.received, st.done, st.handed_over = 0, False, False
        if st.checked_at is not None:
            try:
                datetime.fromisoformat(st.checked_at).astimezone(UTC)
            except ValueError:
                st.checked_at = None
        st.used_bytes, st.received = max(0, st.used_bytes), max(0, st.received)
        return st


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
        except (OSError, ValueError):
            raw = None
        return DownloadState.of(raw)

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
        # only forward: a clock set back after a long power cut must not hand out a new
        # month's budget (and the month it comes back to would then start from 0 again)
        month = self.now().strftime("%Y-%m")
        if month > self.state.month:
            self.state.month, self.state.used_bytes = month, 0

    def _check_due(self) -> bool:
        if self.state.checked_at is None:
            return True
        last = datetime.fromisoformat(self.state.checked_at).astimezone(UTC)
        since = (self.now() - last).total_seconds()
        # a check "in the future" was made while the clock was wrong: due now
        return since < 0 or since >= self.source.check_every_h * 3600

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
        self.state.error = None
        try:
            self._recover_finished()
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
        running = self.running_version()
        entry = delta.choose(index, running=running, kernel=self.kernel)
        if entry is None:
            self._forget()
            latest = index.get("latest")
            self.state.message = (
                "à jour / up to date"
                if latest in (None, running)
                else f"la version {latest} existe mais pas par 3G pour cette version"
                " : apportez-la par clé USB / not published for this version: bring it by stick"
            )
            return
        if entry["sha256"] == self.state.bad_sha256:
            self.state.message = (
                f"la version {entry['version']} publiée est défectueuse (somme de contrôle"
                " fausse) : en attente d'une nouvelle publication / waiting for a new index"
            )
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
            # the same file: go on where it stopped; handed over but not on offer (root
            # refused it for a passing reason, a stick's refusal cleared the offer): again
            if self.state.done and self.state.handed_over and not self._offered(entry):
                self.state.handed_over = False
            return
        self._forget()
        self.state.target = entry
        self.state.message = f"téléchargement de la version {entry['version']} / downloading"

    def _offered(self, entry: dict[str, Any]) -> bool:
        """Root's state (the update folder, above this one) offers this version."""
        root_state = update_state.read(self.folder.parent.parent)
        offer = root_state.get("offer")
        return isinstance(offer, dict) and offer.get("version") == entry["version"]

    def _recover_finished(self) -> None:
        """A power cut between the last chunk's rename and the state's save: the file is
        there whole; checked, it needs no fetching again."""
        target = self.state.target
        if target is None or self.state.done or not self._final().is_file():
            return
        if delta.sha256_file(self._final()) == target["sha256"]:
            self._part().unlink(missing_ok=True)
            self.state.received, self.state.done = target["bytes"], True
        else:
            self._final().unlink()

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
        data = self.get(self.source.url(target["file"]), self.state.received, n)
        self._spend(len(data))  # received over the air, whatever happens to it now
        if not data:
            raise FetchError(f"réponse vide du serveur / empty answer ({target['file']})")
        data = data[:n]
        try:
            with open(part, "ab") as f:
                # a power cut after the write but before the state: the state is what is sure
                f.truncate(self.state.received)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise FetchError(
                f"écriture impossible sur la carte ({e.strerror or e}) / cannot write the card"
            ) from None
        self.state.received += len(data)
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
            # fetched again only when the district publishes anew: not the whole file each
            # window for an index that is wrong
            self.state.bad_sha256 = target["sha256"]
            self.state.target = None
            raise FetchError(
                f"le fichier reçu ne correspond pas à l'index (somme de contrôle fausse)"
                f" / SHA-256 wrong ({target['file']})"
            )
        os.replace(self._part(), self._final())
        self.state.done = True
        self.state.message = f"version {target['version']} téléchargée et vérifiée / fetched"

    def _hand_over(self) -> None:
        if self.start_unit(FETCHED_UNIT):
            self.state.handed_over = True
            log.info("update %s fetched: handed to %s", self.state.target, FETCHED_UNIT)
        else:
            self.state.error = (
                f"vérification impossible à lancer / {FETCHED_UNIT} could not be started"
            )
