import pytest

from appliance.domain import permissions as p

CLINICAL_TYPES = (
    "consultation",
    "anc",
    "delivery",
    "postnatal",
    "immunization",
    "growth",
    "family_planning",
    "chronic",
)

# The expected table, written out role by role so a change to it is a visible decision.
EXPECTED_WRITES = {
    "admin": set(),
    "doctor": set(CLINICAL_TYPES),
    "nurse": set(CLINICAL_TYPES),
    "midwife": {"anc", "delivery", "postnatal", "family_planning", "immunization", "growth"},
    "matron": {"anc", "delivery", "postnatal", "family_planning", "immunization", "growth"},
    "health_worker": {"immunization", "growth"},
    "technician": set(),
}


@pytest.mark.parametrize("role", p.ROLES)
@pytest.mark.parametrize("kind", CLINICAL_TYPES)
def test_encounter_writes(role, kind):
    assert p.allowed(role, p.write(kind)) == (kind in EXPECTED_WRITES[role])


@pytest.mark.parametrize("role", p.ROLES)
def test_reading_patients(role):
    assert p.allowed(role, p.READ_PATIENT) == (role != "technician")


@pytest.mark.parametrize("role", p.ROLES)
def test_technician_sees_status_only(role):
    assert p.allowed(role, p.VIEW_STATUS)


@pytest.mark.parametrize("role", p.ROLES)
def test_staff_management_and_audit_are_admin_only(role):
    assert p.allowed(role, p.MANAGE_STAFF) == (role == "admin")
    assert p.allowed(role, p.READ_AUDIT) == (role == "admin")


@pytest.mark.parametrize("role", p.ROLES)
def test_merge(role):
    assert p.allowed(role, p.MERGE_PATIENTS) == (role in ("admin", "doctor"))


@pytest.mark.parametrize("role", p.ROLES)
def test_cancelling_a_low_battery_shutdown(role):
    expected = role in ("admin", "doctor", "nurse", "midwife", "technician")
    assert p.allowed(role, p.CANCEL_SHUTDOWN) == expected


def test_technician_sees_status_and_power_only():
    assert p.PERMISSIONS["technician"] == {p.VIEW_STATUS, p.CANCEL_SHUTDOWN}


def test_unknown_role_has_nothing():
    assert not p.allowed("visitor", p.READ_PATIENT)
