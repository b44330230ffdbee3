"""Errors the service layer raises; adapters turn them into one clear line or message."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of the service layer's errors."""


class PermissionDenied(ServiceError, PermissionError):
    pass


class NotFound(ServiceError, LookupError):
    pass


class LoginFailed(ServiceError, PermissionError):
    pass


class LoginThrottled(LoginFailed):
    """Too many failed logins lately from this client (or against this name): this attempt was
    not even checked. Says only when to try again and which counter holds it ("pair" or
    "client": this device; "account": this name, from elsewhere), never whether the account
    exists (unknown names are counted alike)."""

    def __init__(self, retry_after_s: int, scope: str = "pair", device_spent: bool = False):
        self.retry_after_s = retry_after_s
        self.scope = scope
        # the browser's device cookie was known for this name but has guessed too much since
        self.device_spent = device_spent
        super().__init__(
            f"trop d'essais, réessayez dans {retry_after_s} s"
            f" / too many attempts, try again in {retry_after_s} s"
        )


class NotProvisioned(ServiceError, RuntimeError):
    pass


class Conflict(ServiceError, ValueError):
    pass


class PossibleDuplicates(ServiceError):
    """Registration stopped: similar patients exist. Register anyway only after a person has
    looked at `candidates`."""

    def __init__(self, candidates: list[dict[str, Any]]):
        self.candidates = candidates
        names = ", ".join(
            f"{c['health_number']} {c['family_name']} {c['given_names']} ({c['birth_date']})"
            for c in candidates[:5]
        )
        super().__init__(f"{len(candidates)} similar patient(s) already registered: {names}")
