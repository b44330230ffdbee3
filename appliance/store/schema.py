"""Numbered schema migrations. Each step runs in its own transaction, once.

Never edit a step that has shipped: add a new one. Steps are SQL so that a technician can read
the schema in one place; the runner lives in db.py.
"""

from __future__ import annotations

from appliance.domain.encounters import ENCOUNTER_TYPES
from appliance.domain.permissions import ROLES


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


ENCOUNTER_COLUMNS = (
    "id",
    "patient_id",
    "origin_patient_id",
    "type",
    "care_date",
    "data",
    "supersedes",
    "correction_reason",
    "voided",
    "staff_id",
    "recorded_at",
    "clock_trusted",
    "boot_id",
)
# Columns of encounters that can never change once written: all but patient_id, which a merge
# of duplicate patients moves to the kept record (origin_patient_id keeps where each was first
# written).
_FROZEN_ENCOUNTER_COLUMNS = tuple(c for c in ENCOUNTER_COLUMNS if c != "patient_id")

M001_INITIAL = f"""
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ({_in(ROLES)})),
    pin_hash TEXT,
    password_hash TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    created_by TEXT REFERENCES staff(id)
);

CREATE TABLE patients (
    id TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL UNIQUE,
    health_number TEXT NOT NULL UNIQUE,
    family_name TEXT NOT NULL,
    given_names TEXT NOT NULL,
    sex TEXT NOT NULL CHECK (sex IN ('F', 'M')),
    birth_date TEXT NOT NULL,
    birth_date_estimated INTEGER NOT NULL DEFAULT 0,
    village TEXT,
    phone TEXT,
    mother_id TEXT REFERENCES patients(id),
    registered_by TEXT REFERENCES staff(id),
    registered_at TEXT NOT NULL,
    merged_into TEXT REFERENCES patients(id),
    -- search columns, written by the store from appliance.domain.names
    search_names TEXT NOT NULL,
    search_keys TEXT NOT NULL,
    family_key TEXT NOT NULL
);
CREATE INDEX patients_family_key ON patients(family_key, birth_date);
CREATE INDEX patients_phone ON patients(phone) WHERE phone IS NOT NULL;
CREATE INDEX patients_mother ON patients(mother_id) WHERE mother_id IS NOT NULL;
CREATE INDEX patients_village ON patients(village);

-- What a patient row looked like before each change: demographics are corrected in place,
-- but nothing is lost.
CREATE TABLE patient_history (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    replaced_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    old TEXT NOT NULL
);
CREATE TRIGGER patients_keep_history AFTER UPDATE ON patients BEGIN
    INSERT INTO patient_history (patient_id, old) VALUES (OLD.id, json_object(
        'health_number', OLD.health_number, 'family_name', OLD.family_name,
        'given_names', OLD.given_names, 'sex', OLD.sex, 'birth_date', OLD.birth_date,
        'birth_date_estimated', OLD.birth_date_estimated, 'village', OLD.village,
        'phone', OLD.phone, 'mother_id', OLD.mother_id, 'merged_into', OLD.merged_into));
END;
CREATE TRIGGER patients_never_deleted BEFORE DELETE ON patients BEGIN
    SELECT RAISE(ABORT, 'patients are never deleted: merge duplicates instead');
END;

CREATE VIRTUAL TABLE patients_fts USING fts5(
    search_names, search_keys,
    content='patients', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 2', prefix='1 2 3'
);
CREATE TRIGGER patients_fts_insert AFTER INSERT ON patients BEGIN
    INSERT INTO patients_fts (rowid, search_names, search_keys)
    VALUES (NEW.rowid, NEW.search_names, NEW.search_keys);
END;
CREATE TRIGGER patients_fts_update AFTER UPDATE OF search_names, search_keys ON patients BEGIN
    INSERT INTO patients_fts (patients_fts, rowid, search_names, search_keys)
    VALUES ('delete', OLD.rowid, OLD.search_names, OLD.search_keys);
    INSERT INTO patients_fts (rowid, search_names, search_keys)
    VALUES (NEW.rowid, NEW.search_names, NEW.search_keys);
END;

CREATE TABLE encounters (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    origin_patient_id TEXT NOT NULL REFERENCES patients(id),
    type TEXT NOT NULL CHECK (type IN ({_in(ENCOUNTER_TYPES)})),
    care_date TEXT NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data)),
    supersedes TEXT REFERENCES encounters(id),
    correction_reason TEXT,
    voided INTEGER NOT NULL DEFAULT 0,
    staff_id TEXT NOT NULL REFERENCES staff(id),
    recorded_at TEXT NOT NULL,
    clock_trusted INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    CHECK ((supersedes IS NULL) = (correction_reason IS NULL))
);
CREATE INDEX encounters_patient ON encounters(patient_id, care_date);
CREATE INDEX encounters_type_date ON encounters(type, care_date);
-- A version is corrected at most once: corrections form a chain, never a fork.
CREATE UNIQUE INDEX encounters_supersedes ON encounters(supersedes) WHERE supersedes IS NOT NULL;
CREATE TRIGGER encounters_append_only BEFORE UPDATE ON encounters
WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _FROZEN_ENCOUNTER_COLUMNS)}
BEGIN
    SELECT RAISE(ABORT, 'encounters are append-only: record a correction instead');
END;
CREATE TRIGGER encounters_never_deleted BEFORE DELETE ON encounters BEGIN
    SELECT RAISE(ABORT, 'encounters are append-only: record a correction instead');
END;

CREATE TABLE merges (
    id TEXT PRIMARY KEY,
    kept_id TEXT NOT NULL REFERENCES patients(id),
    merged_id TEXT NOT NULL REFERENCES patients(id),
    staff_id TEXT NOT NULL REFERENCES staff(id),
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    encounters_moved INTEGER NOT NULL
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    clock_trusted INTEGER NOT NULL,
    staff_id TEXT,
    username TEXT,
    role TEXT,
    action TEXT NOT NULL,
    patient_id TEXT,
    encounter_id TEXT,
    detail TEXT
);
CREATE INDEX audit_patient ON audit(patient_id, id) WHERE patient_id IS NOT NULL;
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_never_deleted BEFORE DELETE ON audit BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

-- Moments the clock was found right (NTP, the modem's network time, a staff member): the
-- offset measured then lets untrusted times recorded earlier in the same boot be read right.
CREATE TABLE clock_events (
    id INTEGER PRIMARY KEY,
    boot_id TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('ntp', 'modem', 'staff')),
    machine_time TEXT NOT NULL,
    true_time TEXT NOT NULL,
    offset_s REAL NOT NULL,
    staff_id TEXT REFERENCES staff(id)
);
CREATE INDEX clock_events_boot ON clock_events(boot_id, id);
CREATE TRIGGER clock_events_append_only BEFORE UPDATE ON clock_events BEGIN
    SELECT RAISE(ABORT, 'clock events are append-only');
END;
"""


# Part of migration 2 (three identical tables): frozen with it, like the SQL below.
def _power_samples_table(name: str) -> str:
    return f"""
CREATE TABLE {name} (
    start_s INTEGER PRIMARY KEY,
    samples INTEGER NOT NULL,
    faults INTEGER NOT NULL DEFAULT 0,
    v_avg REAL,
    v_min REAL,
    v_max REAL,
    i_avg REAL,
    soc_last REAL,
    state TEXT NOT NULL CHECK (state IN ('ok', 'warn', 'sensor_fault', 'shutdown_pending')),
    clock_trusted INTEGER NOT NULL
);
"""


# The battery monitor (keneya-power). Readings every few seconds are aggregated before they
# reach the SD card: one row per minute kept 48 hours, per 15 minutes kept 90 days, per day
# forever. A bucket is keyed by its start in Unix seconds (UTC): an integer rowid key is the
# smallest row and needs no separate index. `samples` counts good readings, `faults` the
# readings the sensor could not give; averages are over good readings (NULL when none);
# `state` is the worst state seen in the bucket.
M002_POWER = f"""
{_power_samples_table("power_samples_1m")}
{_power_samples_table("power_samples_15m")}
{_power_samples_table("power_samples_1d")}

CREATE TABLE power_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    clock_trusted INTEGER NOT NULL,
    boot_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('warn', 'warn_cleared', 'shutdown_decided',
        'shutdown_cancelled', 'shutdown_executed', 'sensor_fault', 'sensor_recovered',
        'outage')),
    reason TEXT,
    voltage_v REAL,
    soc REAL,
    detail TEXT CHECK (detail IS NULL OR json_valid(detail))
);
CREATE INDEX power_events_kind ON power_events(kind, id);
CREATE TRIGGER power_events_append_only BEFORE UPDATE ON power_events BEGIN
    SELECT RAISE(ABORT, 'power events are append-only');
END;

-- One row: what the kiosk and the web app show. The daemon owns every column but the
-- cancel_* ones, which a staff member's cancel request writes (for the pending shutdown
-- named by shutdown_event_id) and the daemon reads.
CREATE TABLE power_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sampled_at TEXT NOT NULL,
    clock_trusted INTEGER NOT NULL,
    source TEXT NOT NULL,
    voltage_v REAL,
    current_a REAL,
    power_w REAL,
    soc REAL,
    runtime_min REAL,
    charging INTEGER,
    state TEXT NOT NULL CHECK (state IN ('ok', 'warn', 'sensor_fault', 'shutdown_pending')),
    reason TEXT,
    shutdown_event_id INTEGER REFERENCES power_events(id),
    shutdown_deadline TEXT,
    cancel_for INTEGER,
    cancel_requested_by TEXT,
    cancel_requested_at TEXT
);
"""

# The outbox: reports waiting to leave for the district's DHIS2 over a 3G link that comes and
# goes. One row per version of a report (facility, dataSet, period); a newer version replaces
# an older one that has not left yet (status 'superseded'), so DHIS2 only ever receives the
# latest figures. A row in 'sending' belongs to the one drainer that claimed it.
M003_OUTBOX = """
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('dhis2-datavalueset', 'dhis2-adx')),
    idempotency_key TEXT NOT NULL UNIQUE,
    facility TEXT NOT NULL,
    dataset TEXT NOT NULL,
    period TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    payload TEXT NOT NULL,
    content_type TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'delivered', 'failed', 'superseded')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    last_error TEXT,
    delivered_at TEXT,
    import_summary TEXT CHECK (import_summary IS NULL OR json_valid(import_summary)),
    created_at TEXT NOT NULL,
    superseded_by TEXT REFERENCES outbox(id),
    UNIQUE (facility, dataset, period, version)
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

-- Every try, kept for the technician: what DHIS2 (or the network) answered and how long it took.
CREATE TABLE outbox_attempts (
    id INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL REFERENCES outbox(id),
    at TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    reply_excerpt TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX outbox_attempts_item ON outbox_attempts(item_id, id);
CREATE TRIGGER outbox_attempts_append_only BEFORE UPDATE ON outbox_attempts BEGIN
    SELECT RAISE(ABORT, 'outbox attempts are append-only');
END;
CREATE TRIGGER outbox_attempts_never_deleted BEFORE DELETE ON outbox_attempts BEGIN
    SELECT RAISE(ABORT, 'outbox attempts are append-only');
END;
"""

# Tablet browser sessions. The cookie carries a random token; only its SHA-256 is stored, so a
# copy of the database opens no live session. A row exists before login (it holds the CSRF
# token and the language of the login page); logging in replaces it with a new one.
M004_WEB_SESSIONS = """
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    staff_id TEXT REFERENCES staff(id),
    csrf TEXT NOT NULL,
    lang TEXT NOT NULL DEFAULT 'fr' CHECK (lang IN ('fr', 'en')),
    created_s REAL NOT NULL,
    last_seen_s REAL NOT NULL
);
CREATE INDEX web_sessions_seen ON web_sessions(last_seen_s);
"""

# What a kiosk form held when the power went or the screen locked: offered back to the same
# staff member afterwards. One draft per (staff member, patient, encounter type); a draft is
# not a record of care and is deleted once the encounter is saved or discarded.
M005_DRAFTS = """
CREATE TABLE drafts (
    staff_id TEXT NOT NULL REFERENCES staff(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    kind TEXT NOT NULL,
    data TEXT NOT NULL CHECK (json_valid(data)),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (staff_id, patient_id, kind)
);
"""

# Reports sent by SMS when the 3G data link failed them for days: one row per outbox item, with
# how many of its parts have left, so a power cut between two parts resumes where it stopped
# (the part in flight may go twice; the gateway keeps one per message id and part number).
M006_OUTBOX_SMS = """
CREATE TABLE outbox_sms (
    item_id TEXT PRIMARY KEY REFERENCES outbox(id),
    message_id INTEGER NOT NULL,
    number TEXT NOT NULL,
    texts TEXT NOT NULL CHECK (json_valid(texts)),
    parts_sent INTEGER NOT NULL DEFAULT 0,
    message_refs TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(message_refs)),
    started_at TEXT NOT NULL,
    sent_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
"""

# Which database this is: written once, kept by every backup, so a restore can tell its own
# backups from another facility's or another card's (a database made anew has a new identity).
M007_DATABASE_ID = """
INSERT OR IGNORE INTO settings (key, value)
VALUES ('database_id', lower(hex(randomblob(16))));
"""

# The attempts of an item that has left (delivered) or was replaced (superseded) may go when the
# data folder runs short of space (appliance/store/pruning.py); those of an item still waiting
# stay: they are what a technician reads to see why it has not left.
M008_PRUNABLE_ATTEMPTS = """
DROP TRIGGER outbox_attempts_never_deleted;
CREATE TRIGGER outbox_attempts_kept_while_waiting BEFORE DELETE ON outbox_attempts
WHEN (SELECT status FROM outbox WHERE id = OLD.item_id) NOT IN ('delivered', 'superseded')
BEGIN
    SELECT RAISE(ABORT, 'outbox attempts are append-only while their item waits');
END;
"""

# A clock step (chrony, `date -s`) after a trust event makes its offset wrong: each event keeps
# the boot-relative time it was measured at (CLOCK_BOOTTIME, which no step moves), so a later
# reading can tell a step from time passing; a step found with no NTP to vouch for the new time
# is kept, once per event, so `clock status` and the audit say since when the clock is doubted.
M009_CLOCK_STEPS = """
ALTER TABLE clock_events ADD COLUMN boot_s REAL;
CREATE TABLE clock_steps (
    id INTEGER PRIMARY KEY,
    boot_id TEXT NOT NULL,
    after_event INTEGER NOT NULL UNIQUE REFERENCES clock_events(id),
    machine_time TEXT NOT NULL,
    expected_time TEXT NOT NULL,
    step_s REAL NOT NULL,
    boot_s REAL NOT NULL
);
CREATE TRIGGER clock_steps_append_only BEFORE UPDATE ON clock_steps BEGIN
    SELECT RAISE(ABORT, 'clock steps are append-only');
END;
"""

# Power states and events of the low-power wait (issue 17), named sensor faults on the state
# row. SQLite cannot change a CHECK constraint in place: each power table is renamed, made again
# with the wider CHECK and refilled (power_state's reference follows the renamed events table,
# then points at the new one once power_state itself is made again). No row changes.
_M010_STATES = "'ok', 'warn', 'sensor_fault', 'shutdown_pending', 'low_power_wait', 'critical'"


def _m010_samples_table(name: str) -> str:
    return f"""
ALTER TABLE {name} RENAME TO {name}_old;
CREATE TABLE {name} (
    start_s INTEGER PRIMARY KEY,
    samples INTEGER NOT NULL,
    faults INTEGER NOT NULL DEFAULT 0,
    v_avg REAL,
    v_min REAL,
    v_max REAL,
    i_avg REAL,
    soc_last REAL,
    state TEXT NOT NULL CHECK (state IN ({_M010_STATES})),
    clock_trusted INTEGER NOT NULL
);
INSERT INTO {name} SELECT * FROM {name}_old;
DROP TABLE {name}_old;
"""


M010_POWER_WAIT = f"""
{_m010_samples_table("power_samples_1m")}
{_m010_samples_table("power_samples_15m")}
{_m010_samples_table("power_samples_1d")}

ALTER TABLE power_events RENAME TO power_events_old;
DROP INDEX power_events_kind;
CREATE TABLE power_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    clock_trusted INTEGER NOT NULL,
    boot_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('warn', 'warn_cleared', 'shutdown_decided',
        'shutdown_cancelled', 'shutdown_executed', 'sensor_fault', 'sensor_recovered',
        'outage', 'fault', 'fault_cleared', 'low_power_wait', 'services_resumed', 'critical')),
    reason TEXT,
    voltage_v REAL,
    soc REAL,
    detail TEXT CHECK (detail IS NULL OR json_valid(detail))
);
INSERT INTO power_events SELECT * FROM power_events_old;

-- fault: the sensor fault the monitor named (sensor_lost, reversed_shunt, wrong_shunt,
-- chip_reset, implausible), NULL when none; fault_detail: one line for the technician;
-- planned_shutdown_at: when the monitor expects to start the safe shutdown (NULL: not
-- expected); runtime_min now counts to that point, not to an empty battery.
ALTER TABLE power_state RENAME TO power_state_old;
CREATE TABLE power_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sampled_at TEXT NOT NULL,
    clock_trusted INTEGER NOT NULL,
    source TEXT NOT NULL,
    voltage_v REAL,
    current_a REAL,
    power_w REAL,
    soc REAL,
    runtime_min REAL,
    charging INTEGER,
    state TEXT NOT NULL CHECK (state IN ({_M010_STATES})),
    reason TEXT,
    shutdown_event_id INTEGER REFERENCES power_events(id),
    shutdown_deadline TEXT,
    cancel_for INTEGER,
    cancel_requested_by TEXT,
    cancel_requested_at TEXT,
    fault TEXT,
    fault_detail TEXT,
    planned_shutdown_at TEXT
);
INSERT INTO power_state (id, sampled_at, clock_trusted, source, voltage_v, current_a, power_w,
    soc, runtime_min, charging, state, reason, shutdown_event_id, shutdown_deadline, cancel_for,
    cancel_requested_by, cancel_requested_at)
SELECT id, sampled_at, clock_trusted, source, voltage_v, current_a, power_w, soc, runtime_min,
    charging, state, reason, shutdown_event_id, shutdown_deadline, cancel_for,
    cancel_requested_by, cancel_requested_at FROM power_state_old;
DROP TABLE power_state_old;
DROP TABLE power_events_old;
CREATE INDEX power_events_kind ON power_events(kind, id);
CREATE TRIGGER power_events_append_only BEFORE UPDATE ON power_events BEGIN
    SELECT RAISE(ABORT, 'power events are append-only');
END;
"""

# Each patient's follow-up items (appliance/clinical/due.py), kept current in the same
# transaction as every write that can change them and rebuilt nightly: the facility lists
# read only the rows they show. The state on a day follows from the dates (due.state_on):
# upcoming before due_date, due, overdue from overdue_from, defaulter from defaulter_from,
# gone after ends_on. `village` is the contact's (the mother's for a child without one).
M011_DUE_ITEMS = """
CREATE TABLE due_items (
    patient_id TEXT NOT NULL REFERENCES patients(id),
    reason_code TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    due_date TEXT NOT NULL,
    upcoming_from TEXT NOT NULL,
    overdue_from TEXT NOT NULL,
    defaulter_from TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    urgent INTEGER NOT NULL,
    village TEXT NOT NULL,
    contact TEXT NOT NULL CHECK (json_valid(contact)),
    computed_on TEXT NOT NULL,
    PRIMARY KEY (patient_id, reason_code)
) WITHOUT ROWID;
CREATE INDEX due_items_due ON due_items(due_date, defaulter_from, ends_on);
CREATE INDEX due_items_defaulter ON due_items(defaulter_from, ends_on);
CREATE INDEX due_items_village ON due_items(village, due_date);
"""

# SMS reminders (appliance/clinical/reminders.py): each patient's opt-in consent and language,
# and the queue the modem daemon sends from. One row is one SMS to one phone (a household's
# items together); `items` lists what it reminds of, so a plan run twice queues nothing new.
M012_REMINDERS = """
ALTER TABLE patients ADD COLUMN sms_consent INTEGER NOT NULL DEFAULT 0
    CHECK (sms_consent IN (0, 1));
ALTER TABLE patients ADD COLUMN sms_language TEXT NOT NULL DEFAULT 'fr'
    CHECK (sms_language IN ('fr', 'bm'));
CREATE TABLE reminders (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    phone TEXT NOT NULL,
    reason_codes TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('before', 'defaulter')),
    due_date TEXT NOT NULL,
    items TEXT NOT NULL CHECK (json_valid(items)),
    planned_for TEXT NOT NULL,
    text TEXT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('fr', 'bm')),
    status TEXT NOT NULL CHECK (status IN
        ('queued', 'sending', 'sent', 'failed', 'delivered', 'skipped_cap')),
    attempts INTEGER NOT NULL DEFAULT 0,
    message_ref INTEGER,
    error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    UNIQUE (patient_id, reason_codes, kind, due_date)
);
CREATE INDEX reminders_status ON reminders(status, planned_for);
CREATE INDEX reminders_planned ON reminders(planned_for);
"""

# Failed logins, counted per (account, client), per client and per account
# (appliance/services/login_throttle.py says the policy). `scope` names which of the three a
# row counts; the unused key is ''. `account` is the username as typed (folded), known or not,
# so an unknown name is throttled like a real one. last_attempt_s: the last failed attempt (or
# one still being checked). Kept across restarts: a restart must not hand an attacker fresh
# free attempts. staff.failed_attempts and staff.locked_until, the per-account lockout this
# replaces, stay in the table unused (dropping columns there would mean rebuilding a table
# other tables reference).
M013_LOGIN_THROTTLE = """
CREATE TABLE login_throttle (
    scope TEXT NOT NULL CHECK (scope IN ('pair', 'client', 'account')),
    account TEXT NOT NULL,
    client TEXT NOT NULL,
    failures INTEGER NOT NULL CHECK (failures >= 0),
    first_failed_s REAL NOT NULL,
    last_attempt_s REAL NOT NULL,
    PRIMARY KEY (scope, account, client)
) WITHOUT ROWID;
CREATE INDEX login_throttle_last ON login_throttle(last_attempt_s);
CREATE INDEX login_throttle_account ON login_throttle(account);
"""

# Devices a staff member has logged in from (the browser's keneya_device cookie, kept here as
# its SHA-256). The account-wide counter of failed logins does not hold such a device back, so
# an attacker spreading guesses over many addresses cannot keep the real user out of a tablet
# they have used before. `failures`: wrong secrets from that device since its last success;
# past a few it is held back like any other (a stolen cookie is no free pass).
M014_LOGIN_DEVICES = """
CREATE TABLE login_devices (
    token_hash TEXT NOT NULL,
    account TEXT NOT NULL,
    last_login_s REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    PRIMARY KEY (token_hash, account)
) WITHOUT ROWID;
CREATE INDEX login_devices_last ON login_devices(last_login_s);
"""

# Name search ranks equally close matches by their most recent visit. patient_recency holds,
# per patient (by the rowid patients_fts also uses), the latest care date and whether the
# record is still active (not merged into another): a row small enough that sorting a few
# thousand matches of a common name by it costs less than reading their patient rows. Kept by
# triggers on every write that changes it: a registration, a merge, a new encounter,
# encounters moved by a merge. Voided encounters count too: the visit took place.
# The patient history now records changes of what staff see, not the rebuild of the search
# columns when the phonetic key changes (appliance/store/patients.py, refresh_search_columns).
M015_NAME_SEARCH = """
CREATE TABLE patient_recency (
    patient_rowid INTEGER PRIMARY KEY,
    last_visit TEXT,
    active INTEGER NOT NULL CHECK (active IN (0, 1))
);
INSERT INTO patient_recency (patient_rowid, last_visit, active)
SELECT p.rowid, (SELECT MAX(e.care_date) FROM encounters e WHERE e.patient_id = p.id),
    p.merged_into IS NULL
FROM patients p;
CREATE TRIGGER patients_recency_insert AFTER INSERT ON patients BEGIN
    INSERT INTO patient_recency (patient_rowid, last_visit, active)
    VALUES (NEW.rowid, NULL, NEW.merged_into IS NULL);
END;
CREATE TRIGGER patients_recency_merged AFTER UPDATE OF merged_into ON patients BEGIN
    UPDATE patient_recency SET active = NEW.merged_into IS NULL WHERE patient_rowid = NEW.rowid;
END;
CREATE TRIGGER encounters_recency_insert AFTER INSERT ON encounters BEGIN
    UPDATE patient_recency SET last_visit = NEW.care_date
    WHERE patient_rowid = (SELECT rowid FROM patients WHERE id = NEW.patient_id)
        AND (last_visit IS NULL OR last_visit < NEW.care_date);
END;
CREATE TRIGGER encounters_recency_moved AFTER UPDATE OF patient_id ON encounters BEGIN
    UPDATE patient_recency SET last_visit = NEW.care_date
    WHERE patient_rowid = (SELECT rowid FROM patients WHERE id = NEW.patient_id)
        AND (last_visit IS NULL OR last_visit < NEW.care_date);
END;
DROP TRIGGER patients_keep_history;
CREATE TRIGGER patients_keep_history AFTER UPDATE OF id, sequence, health_number, family_name,
    given_names, sex, birth_date, birth_date_estimated, village, phone, mother_id,
    registered_by, registered_at, merged_into, sms_consent, sms_language ON patients BEGIN
    INSERT INTO patient_history (patient_id, old) VALUES (OLD.id, json_object(
        'health_number', OLD.health_number, 'family_name', OLD.family_name,
        'given_names', OLD.given_names, 'sex', OLD.sex, 'birth_date', OLD.birth_date,
        'birth_date_estimated', OLD.birth_date_estimated, 'village', OLD.village,
        'phone', OLD.phone, 'mother_id', OLD.mother_id, 'merged_into', OLD.merged_into));
END;
"""

# Referrals to the CSRéf and their counter-referrals. The referral's form never changes once
# written (a mistake is voided with a reason, as an encounter's); the counter-referral is
# written once, when the patient comes back; the urgent SMS's state moves as the modem daemon
# sends it. A merge of duplicate patients moves the referrals to the kept record.
M016_REFERRALS = """
CREATE TABLE referrals (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    care_date TEXT NOT NULL,
    urgency TEXT NOT NULL CHECK (urgency IN ('urgent', 'non_urgent')),
    reason TEXT NOT NULL,
    to_facility TEXT NOT NULL,
    evacuation INTEGER NOT NULL CHECK (evacuation IN (0, 1)),
    data TEXT NOT NULL CHECK (json_valid(data)),
    staff_id TEXT NOT NULL REFERENCES staff(id),
    recorded_at TEXT NOT NULL,
    sms_status TEXT NOT NULL CHECK (sms_status IN
        ('not_urgent', 'no_consent', 'no_phone', 'backdated', 'queued', 'sending', 'sent',
         'failed')),
    sms_phone TEXT,
    sms_text TEXT,
    sms_attempts INTEGER NOT NULL DEFAULT 0,
    sms_ref INTEGER,
    sms_error TEXT,
    sms_sent_at TEXT,
    returned_on TEXT,
    return_data TEXT CHECK (return_data IS NULL OR json_valid(return_data)),
    return_staff_id TEXT REFERENCES staff(id),
    return_recorded_at TEXT,
    voided_reason TEXT,
    CHECK ((returned_on IS NULL) = (return_data IS NULL))
);
CREATE INDEX referrals_patient ON referrals(patient_id, care_date);
CREATE INDEX referrals_date ON referrals(care_date);
CREATE INDEX referrals_awaiting ON referrals(care_date)
    WHERE returned_on IS NULL AND voided_reason IS NULL;
CREATE INDEX referrals_sms_queued ON referrals(recorded_at) WHERE sms_status = 'queued';
CREATE TRIGGER referrals_form_frozen BEFORE UPDATE ON referrals
WHEN NEW.id IS NOT OLD.id OR NEW.care_date IS NOT OLD.care_date
    OR NEW.urgency IS NOT OLD.urgency OR NEW.reason IS NOT OLD.reason
    OR NEW.to_facility IS NOT OLD.to_facility OR NEW.evacuation IS NOT OLD.evacuation
    OR NEW.data IS NOT OLD.data OR NEW.staff_id IS NOT OLD.staff_id
    OR NEW.recorded_at IS NOT OLD.recorded_at
BEGIN
    SELECT RAISE(ABORT, 'a referral is never rewritten: void it and write a new one');
END;
CREATE TRIGGER referrals_returned_once BEFORE UPDATE OF returned_on, return_data ON referrals
WHEN OLD.returned_on IS NOT NULL
    AND (NEW.returned_on IS NOT OLD.returned_on OR NEW.return_data IS NOT OLD.return_data)
BEGIN
    SELECT RAISE(ABORT, 'the counter-referral is already recorded');
END;
CREATE TRIGGER referrals_voided_once BEFORE UPDATE OF voided_reason ON referrals
WHEN OLD.voided_reason IS NOT NULL AND NEW.voided_reason IS NOT OLD.voided_reason
BEGIN
    SELECT RAISE(ABORT, 'the referral is already voided');
END;
CREATE TRIGGER referrals_never_deleted BEFORE DELETE ON referrals BEGIN
    SELECT RAISE(ABORT, 'referrals are never deleted: void it instead');
END;
CREATE TRIGGER referrals_follow_merge AFTER UPDATE OF merged_into ON patients
WHEN NEW.merged_into IS NOT NULL BEGIN
    UPDATE referrals SET patient_id = NEW.merged_into WHERE patient_id = NEW.id;
END;
"""

# Second opinions: a clinician's question about one patient, with the minimal case summary
# and an optional photo (JPEG, already re-encoded to its budget), sent to the district as a
# DHIS2 message conversation. The text and subject are fixed when asked, so what leaves is
# what was checked for the patient's name. `file_resource_id` and `conversation_id` are kept
# the moment DHIS2 gives them, so a send resumed after a lost reply or a power cut neither
# uploads the photo twice nor opens a second conversation. Replies are kept by DHIS2's
# message id; `seen_at` is when the clinician who asked saw them.
M017_OPINIONS = """
CREATE TABLE opinion_questions (
    id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients(id),
    asked_by TEXT NOT NULL REFERENCES staff(id),
    asked_at TEXT NOT NULL,
    question TEXT NOT NULL,
    name_consented INTEGER NOT NULL CHECK (name_consented IN (0, 1)),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    photo BLOB,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'sent', 'answered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    last_error TEXT,
    file_resource_id TEXT,
    conversation_id TEXT,
    sent_at TEXT,
    message_count INTEGER NOT NULL DEFAULT 0,
    checked_at TEXT,
    answered_at TEXT
);
CREATE INDEX opinion_questions_patient ON opinion_questions(patient_id, id);
CREATE INDEX opinion_questions_due ON opinion_questions(status, next_attempt_at);
CREATE TABLE opinion_replies (
    id INTEGER PRIMARY KEY,
    question_id TEXT NOT NULL REFERENCES opinion_questions(id),
    message_id TEXT NOT NULL,
    sender TEXT,
    text TEXT NOT NULL,
    created TEXT,
    fetched_at TEXT NOT NULL,
    seen_at TEXT,
    UNIQUE (question_id, message_id)
);
CREATE INDEX opinion_replies_unseen ON opinion_replies(question_id) WHERE seen_at IS NULL;
CREATE TABLE opinion_attempts (
    id INTEGER PRIMARY KEY,
    question_id TEXT REFERENCES opinion_questions(id),
    at TEXT NOT NULL,
    step TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    bytes INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX opinion_attempts_question ON opinion_attempts(question_id);
-- 3G bytes of the second opinions (requests and replies, HTTP level) per calendar month.
CREATE TABLE opinion_traffic (
    month TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0
);
"""

# The training library (appliance/library): one row per PDF kept in the data folder's
# library/ (named <id>.pdf), its text once, page by page, in library_pages. library_fts
# indexes title and page text through a view (external content: the text is not stored
# twice); triggers keep it in step with library_pages. A document's pages are deleted before
# the document (store/library.py), which fires the delete trigger while its title is there.
M018_LIBRARY = """
CREATE TABLE library_documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    language TEXT NOT NULL,
    topic TEXT NOT NULL,
    page INTEGER CHECK (page IS NULL OR page >= 1),
    source TEXT NOT NULL,
    published TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    file_name TEXT NOT NULL,
    bytes INTEGER NOT NULL CHECK (bytes > 0),
    pages INTEGER NOT NULL CHECK (pages >= 1),
    added_at TEXT NOT NULL,
    added_by TEXT REFERENCES staff(id)
);
CREATE INDEX library_documents_topic ON library_documents(topic);
CREATE TABLE library_pages (
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES library_documents(id),
    page INTEGER NOT NULL CHECK (page >= 1),
    body TEXT NOT NULL,
    UNIQUE (document_id, page)
);
CREATE VIEW library_page_text AS
    SELECT p.id AS id, d.title AS title, p.body AS body
    FROM library_pages p JOIN library_documents d ON d.id = p.document_id;
CREATE VIRTUAL TABLE library_fts USING fts5(
    title, body,
    content='library_page_text', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3'
);
CREATE TRIGGER library_pages_fts_insert AFTER INSERT ON library_pages BEGIN
    INSERT INTO library_fts (rowid, title, body) VALUES (NEW.id,
        (SELECT title FROM library_documents WHERE id = NEW.document_id), NEW.body);
END;
CREATE TRIGGER library_pages_fts_delete BEFORE DELETE ON library_pages BEGIN
    INSERT INTO library_fts (library_fts, rowid, title, body) VALUES ('delete', OLD.id,
        (SELECT title FROM library_documents WHERE id = OLD.document_id), OLD.body);
END;
"""

# The dashboard's stored monthly counts (appliance/store/dashboard.py). dashboard_counts holds
# one month's counts per (indicator, sex, key); dashboard_fresh says which (month, family)
# were computed; a write that can change a family's counts of a month marks it in
# dashboard_stale, from the triggers below, in the write's own transaction. A mark replaced
# takes a new id, so a computation only clears the marks it read before it began.
# Which months a write can change, by family (appliance/reports/dashboard_definitions.py):
# its own month; for a vaccine, the month of the child's first birthday (fully immunized)
# and the month the dose was due (follow-up, from dashboard_schedule, which the service
# fills from the schedule); for an antenatal contact, the months of the woman's contacts in
# the 44 weeks after it (milestones move within a pregnancy); for a growth visit, the months
# of the child's visits from 90 days before (outcomes) to 60 days after (new cases); for any
# encounter, the month of the patient's next visit of the year when none came before it
# (distinct patients count in the month of their first visit). A correction marks the
# corrected version's months too. A merge, or a changed sex or birth date, marks every month
# of the patient's encounters.
_DASHBOARD_CHANGED = (
    "(SELECT NEW.patient_id AS pid, NEW.type AS type, NEW.care_date AS day, NEW.data AS data"
    " UNION ALL SELECT patient_id, type, care_date, data FROM encounters"
    " WHERE id = NEW.supersedes)"
)
_DASHBOARD_BIRTH_MONTHS = """
    INSERT OR REPLACE INTO dashboard_stale (month, family)
    SELECT substr(date({b}, '+1 year'), 1, 7), 'fic' WHERE {b} IS NOT NULL
    UNION SELECT substr(date({b}, '+' || s.days || ' days'), 1, 7), 'followup'
        FROM dashboard_schedule s WHERE {b} IS NOT NULL;"""
_DASHBOARD_ALL_MONTHS = """
    INSERT OR REPLACE INTO dashboard_stale (month, family)
    SELECT DISTINCT substr(care_date, 1, 7), '*' FROM encounters WHERE patient_id = {p};"""
M019_DASHBOARD = f"""
CREATE TABLE dashboard_counts (
    month TEXT NOT NULL,
    indicator TEXT NOT NULL,
    sex TEXT NOT NULL DEFAULT '',
    key TEXT NOT NULL DEFAULT '',
    n INTEGER NOT NULL,
    PRIMARY KEY (month, indicator, sex, key)
) WITHOUT ROWID;
CREATE TABLE dashboard_fresh (
    month TEXT NOT NULL,
    family TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (month, family)
) WITHOUT ROWID;
CREATE TABLE dashboard_stale (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    month TEXT NOT NULL,
    family TEXT NOT NULL,  -- '*': every family
    UNIQUE (month, family)
);
CREATE TABLE dashboard_schedule (
    antigen TEXT NOT NULL,
    dose INTEGER NOT NULL,
    days INTEGER NOT NULL,
    PRIMARY KEY (antigen, dose)
) WITHOUT ROWID;
-- the follow-up reads the children due in a month by their birth dates
CREATE INDEX patients_birth_date ON patients(birth_date);

CREATE TRIGGER encounters_dashboard_insert AFTER INSERT ON encounters BEGIN
    INSERT OR REPLACE INTO dashboard_stale (month, family)
    SELECT substr(c.day, 1, 7), CASE c.type WHEN 'delivery' THEN 'birth'
        WHEN 'postnatal' THEN 'birth' ELSE c.type END
    FROM {_DASHBOARD_CHANGED} c
    WHERE c.type IN ('immunization', 'anc', 'delivery', 'postnatal', 'growth', 'consultation')
    UNION SELECT substr(c.day, 1, 7), 'followup' FROM {_DASHBOARD_CHANGED} c
        WHERE c.type = 'immunization'
    UNION SELECT substr(c.day, 1, 7), 'seen' FROM {_DASHBOARD_CHANGED} c;
    INSERT OR REPLACE INTO dashboard_stale (month, family)
    SELECT substr(MIN(e.care_date), 1, 7) AS month, 'seen'
    FROM {_DASHBOARD_CHANGED} c JOIN encounters e ON e.patient_id = c.pid
        AND e.care_date >= c.day AND e.care_date < (substr(c.day, 1, 4) + 1) || '-01-01'
    WHERE e.id != NEW.id AND e.voided = 0
        AND NOT EXISTS (SELECT 1 FROM encounters s WHERE s.supersedes = e.id)
        AND NOT EXISTS (SELECT 1 FROM encounters b WHERE b.patient_id = c.pid
            AND b.care_date >= substr(c.day, 1, 4) || '-01-01' AND b.care_date < c.day
            AND b.voided = 0 AND NOT EXISTS (SELECT 1 FROM encounters s WHERE s.supersedes = b.id))
    GROUP BY c.pid, c.day HAVING month IS NOT NULL;
    INSERT OR REPLACE INTO dashboard_stale (month, family)
    SELECT substr(date(p.birth_date, '+1 year'), 1, 7), 'fic'
    FROM {_DASHBOARD_CHANGED} c JOIN patients p ON p.id = c.pid WHERE c.type = 'immunization'
    UNION SELECT substr(date(p.birth_date, '+' || s.days || ' days'), 1, 7), 'followup'
    FROM {_DASHBOARD_CHANGED} c JOIN patients p ON p.id = c.pid
        JOIN dashboard_schedule s ON s.antigen = json_extract(c.data, '$.antigen')
            AND s.dose = json_extract(c.data, '$.dose')
    WHERE c.type = 'immunization'
    UNION SELECT substr(e.care_date, 1, 7), 'anc'
    FROM {_DASHBOARD_CHANGED} c JOIN encounters e ON e.patient_id = c.pid AND e.type = 'anc'
        AND e.care_date BETWEEN c.day AND date(c.day, '+308 days')
    WHERE c.type = 'anc'
    UNION SELECT substr(e.care_date, 1, 7), 'growth'
    FROM {_DASHBOARD_CHANGED} c JOIN encounters e ON e.patient_id = c.pid AND e.type = 'growth'
        AND e.care_date BETWEEN date(c.day, '-90 days') AND date(c.day, '+60 days')
    WHERE c.type = 'growth';
END;
CREATE TRIGGER encounters_dashboard_moved AFTER UPDATE OF patient_id ON encounters BEGIN
    INSERT OR REPLACE INTO dashboard_stale (month, family)
    VALUES (substr(NEW.care_date, 1, 7), '*');
END;
CREATE TRIGGER patients_dashboard_insert AFTER INSERT ON patients BEGIN
    {_DASHBOARD_BIRTH_MONTHS.format(b="NEW.birth_date")}
END;
CREATE TRIGGER patients_dashboard_changed AFTER UPDATE OF sex, birth_date ON patients BEGIN
    {_DASHBOARD_ALL_MONTHS.format(p="NEW.id")}
    {_DASHBOARD_BIRTH_MONTHS.format(b="OLD.birth_date")}
    {_DASHBOARD_BIRTH_MONTHS.format(b="NEW.birth_date")}
END;
CREATE TRIGGER patients_dashboard_merged AFTER UPDATE OF merged_into ON patients BEGIN
    {_DASHBOARD_ALL_MONTHS.format(p="NEW.merged_into")}
    {_DASHBOARD_BIRTH_MONTHS.format(b="NEW.birth_date")}
END;
"""

# Each growth visit's nutrition status as the dashboard worked it out (WHO z-scores, the
# costly part of a month's growth counts), so a month is counted again from stored statuses.
# Encounters are append-only; a status changes only with the child's sex or birth date, or
# when a merge moves the visit to another child: those forget it.
M020_GROWTH_STATUS = """
CREATE TABLE dashboard_growth_status (
    encounter_id TEXT PRIMARY KEY,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER patients_growth_status_changed AFTER UPDATE OF sex, birth_date ON patients BEGIN
    DELETE FROM dashboard_growth_status
    WHERE encounter_id IN (SELECT id FROM encounters WHERE patient_id = NEW.id);
END;
CREATE TRIGGER encounters_growth_status_moved AFTER UPDATE OF patient_id ON encounters BEGIN
    DELETE FROM dashboard_growth_status WHERE encounter_id = NEW.id;
END;
-- recovered now needs a measured visit: the growth counts of version 19 are counted again
DELETE FROM dashboard_fresh WHERE family = 'growth';
"""

# (version, name, sql). Append only.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial record store", M001_INITIAL),
    (2, "power samples, events and state", M002_POWER),
    (3, "outbox for DHIS2 reports", M003_OUTBOX),
    (4, "tablet browser sessions", M004_WEB_SESSIONS),
    (5, "kiosk form drafts", M005_DRAFTS),
    (6, "reports sent by SMS", M006_OUTBOX_SMS),
    (7, "database identity", M007_DATABASE_ID),
    (8, "prunable attempts of sent outbox items", M008_PRUNABLE_ATTEMPTS),
    (9, "clock steps", M009_CLOCK_STEPS),
    (10, "power: low-power wait, critical, named sensor faults", M010_POWER_WAIT),
    (11, "stored follow-up items", M011_DUE_ITEMS),
    (12, "SMS reminders: consent, language, queue", M012_REMINDERS),
    (13, "login throttling per client and account", M013_LOGIN_THROTTLE),
    (14, "devices staff have logged in from", M014_LOGIN_DEVICES),
    (15, "name search: each patient's last visit", M015_NAME_SEARCH),
    (16, "referrals and counter-referrals", M016_REFERRALS),
    (17, "second opinions", M017_OPINIONS),
    (18, "training library", M018_LIBRARY),
    (19, "dashboard: stored monthly counts", M019_DASHBOARD),
    (20, "dashboard: growth visits' nutrition status", M020_GROWTH_STATUS),
]
