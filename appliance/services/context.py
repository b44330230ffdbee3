"""What every service call needs: the store, the clock, the facility, and the audit helper."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.clock import Clock, ClockReading
from appliance.domain.facility_settings import is_on
from appliance.domain.permissions import allowed
from appliance.services.errors import NotProvisioned, PermissionDenied
from appliance.store import Store


@dataclass(frozen=True)
class Actor:
    """An authenticated staff member. Only services.auth makes these."""

    id: str
    username: str
    role: str
    display_name: str


@dataclass
class Context:
    store: Store
    clock: Clock

    @classmethod
    def open(cls, store: Store, **clock_options: Any) -> Context:
        return cls(store, Clock(store, **clock_options))

    @property
    def facility_code(self) -> str:
        code = self.store.get_setting("facility_code")
        if not code:
            raise NotProvisioned(
                "this appliance has no facility yet: run `keneya db init --facility-code CODE`"
                " or provision it"
            )
        return code

    @property
    def malaria_vaccine(self) -> bool:
        """Whether the district gives the malaria vaccine (a provisioned facility setting)."""
        return is_on(self.store.get_setting("malaria_vaccine"))

    def now(self) -> ClockReading:
        return self.clock.now()

    def require(self, actor: Actor, permission: str) -> None:
        if not isinstance(actor, Actor):
            raise PermissionDenied("not logged in")
        if not allowed(actor.role, permission):
            raise PermissionDenied(f"{actor.username} ({actor.role}) may not {permission}")

    def audit(
        self,
        actor: Actor | None,
        action: str,
        *,
        patient_id: str | None = None,
        encounter_id: str | None = None,
        detail: Any = None,
        reading: ClockReading | None = None,
    ) -> None:
        reading = reading or self.now()
        self.store.audit.append(
            {
                "at": reading.iso(),
                "clock_trusted": reading.trusted,
                "staff_id": actor.id if actor else None,
                "username": actor.username if actor else None,
                "role": actor.role if actor else None,
                "action": action,
                "patient_id": patient_id,
                "encounter_id": encounter_id,
                "detail": detail,
            }
        )
