"""Who may do what: the one permission table. The service layer checks it on every call."""

from __future__ import annotations

from appliance.domain.encounters import ENCOUNTER_TYPES

ROLES = ("admin", "doctor", "midwife", "nurse", "matron", "health_worker", "technician")

READ_PATIENT = "patient.read"
REGISTER_PATIENT = "patient.register"
EDIT_PATIENT = "patient.edit"
MERGE_PATIENTS = "patient.merge"
READ_AUDIT = "audit.read"
MANAGE_STAFF = "staff.manage"
VIEW_REPORTS = "report.view"
VIEW_STATUS = "status.view"
CONFIRM_CLOCK = "clock.confirm"
# Call off a pending low-battery shutdown when the power comes back: whoever runs the day
# (admin, doctor, nurse, midwife) and the technician, since it is a power matter.
CANCEL_SHUTDOWN = "power.cancel_shutdown"
# Installs the update on offer (a signed bundle from a USB stick): the head of the facility.
INSTALL_UPDATE = "update.install"
# Asks the district for a second opinion over 3G: the clinicians who examine.
ASK_OPINION = "opinion.ask"
# Refers a patient to the CSRéf and records the counter-referral: the clinical roles that see
# the emergencies (a matron sends a woman in obstructed labour on).
REFER_PATIENT = "patient.refer"
# The training library: the care staff read it; the head of the facility adds and removes
# documents (they come from the district on a USB stick).
READ_LIBRARY = "library.read"
MANAGE_LIBRARY = "library.manage"
# The facility's dashboard (coverage against targets, by month and sex): the head of the
# facility and those who run its maternal and child programmes.
VIEW_DASHBOARD = "dashboard.view"


def write(encounter_type: str) -> str:
    return f"encounter.write.{encounter_type}"


_CLINICAL_ALL = {
    READ_PATIENT,
    REGISTER_PATIENT,
    EDIT_PATIENT,
    CONFIRM_CLOCK,
    VIEW_REPORTS,
    VIEW_STATUS,
    REFER_PATIENT,
} | {write(t) for t in ENCOUNTER_TYPES}
_MIDWIFE_TYPES = ("anc", "delivery", "postnatal", "family_planning", "immunization", "growth")

PERMISSIONS: dict[str, frozenset[str]] = {
    # Runs the facility: staff, merges, reports, the audit trail. Also sees records (a small
    # CSCom's head is often its doctor) but records care only with a clinical role.
    "admin": frozenset(
        {
            CANCEL_SHUTDOWN,
            READ_PATIENT,
            REGISTER_PATIENT,
            EDIT_PATIENT,
            MERGE_PATIENTS,
            READ_AUDIT,
            MANAGE_STAFF,
            VIEW_REPORTS,
            VIEW_STATUS,
            CONFIRM_CLOCK,
            INSTALL_UPDATE,
        }
    ),
    "doctor": frozenset(_CLINICAL_ALL | {MERGE_PATIENTS, CANCEL_SHUTDOWN}),
    "nurse": frozenset(_CLINICAL_ALL | {CANCEL_SHUTDOWN}),
    "midwife": frozenset(
        {READ_PATIENT, REGISTER_PATIENT, EDIT_PATIENT, CONFIRM_CLOCK, VIEW_REPORTS, VIEW_STATUS}
        | {CANCEL_SHUTDOWN, REFER_PATIENT}
        | {write(t) for t in _MIDWIFE_TYPES}
    ),
    # Matrons (matrones) are auxiliary midwives: the same maternal and child care.
    "matron": frozenset(
        {READ_PATIENT, REGISTER_PATIENT, CONFIRM_CLOCK, VIEW_STATUS, REFER_PATIENT}
        | {write(t) for t in _MIDWIFE_TYPES}
    ),
    "health_worker": frozenset(
        {
            READ_PATIENT,
            REGISTER_PATIENT,
            CONFIRM_CLOCK,
            VIEW_STATUS,
            write("immunization"),
            write("growth"),
        }
    ),
    # Keeps the machine running; sees power, modem and queue status, never a patient.
    "technician": frozenset({VIEW_STATUS, CANCEL_SHUTDOWN}),
}

# Guidelines are for the staff who give care and run the facility (the technician keeps to
# power and status); the admin also manages them.
for _role in ROLES:
    if _role != "technician":
        PERMISSIONS[_role] = PERMISSIONS[_role] | {READ_LIBRARY}
PERMISSIONS["admin"] = PERMISSIONS["admin"] | {MANAGE_LIBRARY}

for _role in ("doctor", "nurse", "midwife"):
    PERMISSIONS[_role] = PERMISSIONS[_role] | {ASK_OPINION}

for _role in ("admin", "doctor", "matron"):
    PERMISSIONS[_role] = PERMISSIONS[_role] | {VIEW_DASHBOARD}

assert set(PERMISSIONS) == set(ROLES), "every role needs a row in the permission table"


def allowed(role: str, permission: str) -> bool:
    return permission in PERMISSIONS.get(role, frozenset())
