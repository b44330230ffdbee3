"""SQL for the battery monitor: aggregated samples at three resolutions, events, and the
one-row current state that the kiosk and the web app read.

Times of samples are Unix seconds (UTC) of the bucket start; times of events and of the state
row are ISO strings like the rest of the store. Only keneya-power writes here, except the
cancel request (`request_cancel`), which a staff member's command writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

    from appliance.store.db import Store

MINUTE_S = 60
QUARTER_S = 15 * 60
DAY_S = 86_400
KEEP_MINUTES_S = 48 * 3600
KEEP_QUARTERS_S = 90 * DAY_S

# (table, bucket length) from the finest to the coarsest resolution
TABLES = (
    ("power_samples_1m", MINUTE_S),
    ("power_samples_15m", QUARTER_S),
    ("power_samples_1d", DAY_S),
)
# Least to most severe: a bucket keeps the worst state seen in it. The same names as
# power.policy.State, written out here because appliance never imports power.
STATES = ("ok", "warn", "sensor_fault", "shutdown_pending", "low_power_wait", "critical")
SAMPLE_COLUMNS = (
    "start_s",
    "samples",
    "faults",
    "v_avg",
    "v_min",
    "v_max",
    "i_avg",
    "soc_last",
    "state",
    "clock_trusted",
)
EVENT_COLUMNS = ("at", "clock_trusted", "boot_id", "kind", "reason", "voltage_v", "soc", "detail")
# The daemon's columns of power_state: everything but the cancel request.
STATE_COLUMNS = (
    "sampled_at",
    "clock_trusted",
    "source",
    "voltage_v",
    "current_a",
    "power_w",
    "soc",
    "runtime_min",
    "charging",
    "state",
    "reason",
    "shutdown_event_id",
    "shutdown_deadline",
    "fault",
    "fault_detail",
    "planned_shutdown_at",
)
# Events after which the Pi was powered off: the next start reports the outage from the last.
POWEROFF_KINDS = ("shutdown_executed", "critical")
CANCEL_COLUMNS = ("cancel_for", "cancel_requested_by", "cancel_requested_at")


def _rank(expr: str) -> str:
    whens = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STATES))
    return f"(CASE {expr} {whens} ELSE 0 END)"


def _state_of_rank(expr: str) -> str:
    whens = " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(STATES))
    return f"(CASE {expr} {whens} END)"


def _weighted(col: str) -> str:
    """Merge two averages by their sample counts; NULL stays NULL when neither has samples."""
    return (
        f"(COALESCE({col} * samples, 0) + COALESCE(excluded.{col} * excluded.samples, 0))"
        f" / NULLIF((CASE WHEN {col} IS NULL THEN 0 ELSE samples END)"
        f" + (CASE WHEN excluded.{col} IS NULL THEN 0 ELSE excluded.samples END), 0)"
    )


# A bucket written twice (the daemon restarted within a minute, the clock stepped back, a late
# row rolled up after its bucket) is merged, never replaced: no sample is lost or counted twice.
_MERGE = f"""
ON CONFLICT(start_s) DO UPDATE SET
    samples = samples + excluded.samples,
    faults = faults + excluded.faults,
    v_avg = {_weighted("v_avg")},
    i_avg = {_weighted("i_avg")},
    v_min = MIN(COALESCE(v_min, excluded.v_min), COALESCE(excluded.v_min, v_min)),
    v_max = MAX(COALESCE(v_max, excluded.v_max), COALESCE(excluded.v_max, v_max)),
    soc_last = CASE WHEN excluded.soc_last IS NULL THEN soc_last ELSE excluded.soc_last END,
    state = CASE WHEN {_rank("excluded.state")} > {_rank("state")}
                 THEN excluded.state ELSE state END,
    clock_trusted = MIN(clock_trusted, excluded.clock_trusted)
"""


def _rollup_sql(source: str, target: str, bucket_s: int) -> str:
    bucket = f"(m.start_s / {bucket_s} * {bucket_s})"
    return f"""
INSERT INTO {target} ({", ".join(SAMPLE_COLUMNS)})
SELECT {bucket}, SUM(m.samples), SUM(m.faults),
    SUM(m.v_avg * m.samples) / NULLIF(SUM(CASE WHEN m.v_avg IS NULL THEN 0 ELSE m.samples END), 0),
    MIN(m.v_min), MAX(m.v_max),
    SUM(m.i_avg * m.samples) / NULLIF(SUM(CASE WHEN m.i_avg IS NULL THEN 0 ELSE m.samples END), 0),
    (SELECT s.soc_last FROM {source} s
      WHERE s.start_s >= {bucket} AND s.start_s < {bucket} + {bucket_s}
        AND s.soc_last IS NOT NULL
      ORDER BY s.start_s DESC LIMIT 1),
    {_state_of_rank(f"MAX({_rank('m.state')})")},
    MIN(m.clock_trusted)
FROM {source} m
WHERE m.start_s < :cutoff
GROUP BY {bucket}
{_MERGE}
"""


def _json(detail: Any) -> str | None:
    if detail is None or isinstance(detail, str):
        return detail
    return json.dumps(detail, ensure_ascii=False, sort_keys=True)


class PowerRepo:
    def __init__(self, store: Store):
        self.store = store

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Group several writes below into one transaction (one commit, one fsync)."""
        with self.store.transaction() as conn:
            yield conn

    # -- samples -----------------------------------------------------------------------------
    def add_samples(self, rows: Iterable[dict[str, Any]], *, table: str = TABLES[0][0]) -> int:
        """Insert (or merge) aggregated rows, all in one transaction. Returns how many."""
        if table not in {t for t, _ in TABLES}:
            raise ValueError(f"unknown power samples table {table!r}")
        values = [
            tuple(
                int(bool(r[c])) if c == "clock_trusted" else int(r[c]) if c == "start_s" else r[c]
                for c in SAMPLE_COLUMNS
            )
            for r in rows
        ]
        if not values:
            return 0
        sql = (
            f"INSERT INTO {table} ({', '.join(SAMPLE_COLUMNS)})"
            f" VALUES ({', '.join('?' * len(SAMPLE_COLUMNS))}) {_MERGE}"
        )
        with self.store.transaction() as conn:
            conn.executemany(sql, values)
        return len(values)

    def rollup(
        self,
        now_s: float,
        *,
        keep_minutes_s: int = KEEP_MINUTES_S,
        keep_quarters_s: int = KEEP_QUARTERS_S,
    ) -> dict[str, int]:
        """Fold minute rows older than `keep_minutes_s` into 15-minute rows and 15-minute rows
        older than `keep_quarters_s` into daily rows; the folded rows are deleted. Cut-offs fall
        on bucket boundaries, so a bucket is only ever folded whole. Idempotent."""
        (m_table, _), (q_table, q_s), (d_table, d_s) = TABLES
        minute_cutoff = int(now_s - keep_minutes_s) // q_s * q_s
        quarter_cutoff = int(now_s - keep_quarters_s) // d_s * d_s
        out = {}
        with self.store.transaction() as conn:
            for source, target, bucket_s, cutoff in (
                (m_table, q_table, q_s, minute_cutoff),
                (q_table, d_table, d_s, quarter_cutoff),
            ):
                conn.execute(_rollup_sql(source, target, bucket_s), {"cutoff": cutoff})
                out[source] = conn.execute(
                    f"DELETE FROM {source} WHERE start_s < ?", (cutoff,)
                ).rowcount
        return out

    def prune_oldest(self, before_s: float, *, limit: int) -> int:
        """Delete at most `limit` of the oldest buckets that start before `before_s`, coarsest
        table first (its rows are the oldest), in one transaction: pruning.make_room calls it
        when the data folder runs short of space. Returns how many went."""
        left = limit
        with self.store.transaction() as conn:
            for table, _ in reversed(TABLES):
                if left <= 0:
                    break
                left -= conn.execute(
                    f"DELETE FROM {table} WHERE start_s IN (SELECT start_s FROM {table}"
                    " WHERE start_s < ? ORDER BY start_s LIMIT ?)",
                    (int(before_s), left),
                ).rowcount
        return limit - left

    def prune_oldest_events(self, before: str, *, limit: int) -> int:
        """Delete at most `limit` of the oldest events recorded before `before` (ISO), except
        the shutdown the state row names and the last poweroff (an executed shutdown or a
        critical one: the next start reports the outage from it). One transaction; returns
        how many went."""
        with self.store.transaction() as conn:
            return conn.execute(
                "DELETE FROM power_events WHERE id IN (SELECT id FROM power_events"
                " WHERE at < ?"
                " AND id NOT IN (SELECT shutdown_event_id FROM power_state"
                "  WHERE shutdown_event_id IS NOT NULL)"
                " AND id != COALESCE((SELECT MAX(id) FROM power_events"
                "  WHERE kind IN ('shutdown_executed', 'critical')), -1)"
                " ORDER BY id LIMIT ?)",
                (before, limit),
            ).rowcount

    def history(self, since_s: float, *, until_s: float) -> list[dict[str, Any]]:
        """Every stored bucket overlapping [since_s, until_s], oldest first, each at the
        resolution it is kept at (`resolution_s`)."""
        parts = [
            f"SELECT {size} AS resolution_s, {', '.join(SAMPLE_COLUMNS)} FROM {table}"
            f" WHERE start_s > ? - {size} AND start_s <= ?"
            for table, size in TABLES
        ]
        params: list[float] = []
        for _ in TABLES:
            params += [since_s, until_s]
        return self.store.query(" UNION ALL ".join(parts) + " ORDER BY start_s", params)

    def latest_sample(self) -> dict[str, Any] | None:
        for table, size in TABLES:
            row = self.store.query_one(
                f"SELECT {size} AS resolution_s, * FROM {table} ORDER BY start_s DESC LIMIT 1"
            )
            if row is not None:
                return row
        return None

    def totals(self) -> dict[str, Any]:
        """Rows and readings per table (for checks and benchmarks)."""
        out = {}
        for table, _ in TABLES:
            row = self.store.query_one(
                f"SELECT COUNT(*) AS rows, COALESCE(SUM(samples), 0) AS samples,"
                f" COALESCE(SUM(faults), 0) AS faults, MIN(start_s) AS first_s,"
                f" MAX(start_s) AS last_s FROM {table}"
            )
            out[table] = row
        return out

    # -- events ------------------------------------------------------------------------------
    def add_event(self, event: dict[str, Any]) -> int:
        row = {**event, "clock_trusted": int(bool(event["clock_trusted"]))}
        row["detail"] = _json(row.get("detail"))
        with self.store.transaction() as conn:
            cur = conn.execute(
                f"INSERT INTO power_events ({', '.join(EVENT_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(EVENT_COLUMNS))})",
                tuple(row.get(c) for c in EVENT_COLUMNS),
            )
        return int(cur.lastrowid)

    def events(self, *, limit: int = 20, kinds: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The latest events, newest first."""
        where = f" WHERE kind IN ({', '.join('?' * len(kinds))})" if kinds else ""
        rows = self.store.query(
            f"SELECT * FROM power_events{where} ORDER BY id DESC LIMIT ?", (*kinds, limit)
        )
        for r in rows:
            if r["detail"] is not None:
                r["detail"] = json.loads(r["detail"])
        return rows

    def last_event(self, kinds: Sequence[str]) -> dict[str, Any] | None:
        rows = self.events(limit=1, kinds=kinds)
        return rows[0] if rows else None

    # -- current state -----------------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        return self.store.query_one("SELECT * FROM power_state WHERE id = 1")

    def set_state(self, state: dict[str, Any], *, clear_cancel: bool = False) -> None:
        """Upsert the daemon's columns; a pending cancel request survives unless
        `clear_cancel` (a shutdown was just decided, cancelled or executed)."""
        row = {c: state.get(c) for c in STATE_COLUMNS}
        row["clock_trusted"] = int(bool(row["clock_trusted"]))
        if row["charging"] is not None:
            row["charging"] = int(bool(row["charging"]))
        sets = [f"{c} = excluded.{c}" for c in STATE_COLUMNS]
        if clear_cancel:
            sets += [f"{c} = NULL" for c in CANCEL_COLUMNS]
        with self.store.transaction() as conn:
            conn.execute(
                f"INSERT INTO power_state (id, {', '.join(STATE_COLUMNS)})"
                f" VALUES (1, {', '.join('?' * len(STATE_COLUMNS))})"
                f" ON CONFLICT(id) DO UPDATE SET {', '.join(sets)}",
                tuple(row[c] for c in STATE_COLUMNS),
            )

    def request_cancel(self, *, by: str, at: str) -> dict[str, Any] | None:
        """Ask the daemon to call off the pending shutdown. None when none is pending. The
        request names the shutdown it cancels, so it can never cancel a later one."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE power_state SET cancel_for = shutdown_event_id,"
                " cancel_requested_by = ?, cancel_requested_at = ?"
                " WHERE id = 1 AND shutdown_event_id IS NOT NULL",
                (by, at),
            )
            if cur.rowcount == 0:
                return None
        return self.state()

    # -- durability --------------------------------------------------------------------------
    def checkpoint(self) -> tuple[int, int, int]:
        """Copy the WAL into the main file and truncate it: (busy, log frames, checkpointed)."""
        row = self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return int(row[0]), int(row[1]), int(row[2])
