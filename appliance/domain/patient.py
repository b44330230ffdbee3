"""What a patient registration must contain, checked before it reaches the store."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from appliance.domain.encounters import InvalidEncounter, problems_of

MAX_AGE_YEARS = 120
_NAME = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?$")


class InvalidPatient(InvalidEncounter):
    """The registration was refused; `problems` lists (field, message)."""


def normalise_phone(text: str) -> str:
    """Mali numbers: 8 digits after +223. Keep them as `+223XXXXXXXX`."""
    digits = re.sub(r"[\s.\-()]", "", text)
    if digits.startswith("00223"):
        digits = "+" + digits[2:]
    if digits.startswith("+223"):
        digits = digits[4:]
    if not re.fullmatch(r"\d{8}", digits):
        raise PydanticCustomError(
            "phone",
            "'{p}' is not a Mali phone number (8 digits, optionally after +223)",
            {"p": text},
        )
    return "+223" + digits


def estimated_birth_date(today: date, *, years: int = 0, months: int = 0) -> date:
    """A birth date for an age given in years and months: the same day that many months ago
    (the 1st when that day does not exist), flagged as estimated by the caller."""
    total = years * 12 + months
    y, m = divmod(today.year * 12 + today.month - 1 - total, 12)
    try:
        return date(y, m + 1, today.day)
    except ValueError:
        return date(y, m + 1, 1)


def age_in_months(birth: date, on: date) -> int:
    """Completed calendar months from `birth` to `on`: the inverse of estimated_birth_date, so
    a child registered as 15 months is 15 months that day and until the day before 16."""
    months = (on.year - birth.year) * 12 + on.month - birth.month
    return months - (on.day < birth.day)


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    family_name: str = Field(min_length=1, max_length=80)
    given_names: str = Field(min_length=1, max_length=120)
    sex: Literal["F", "M"]
    birth_date: date | None = None
    age_years: int | None = Field(None, ge=0, le=MAX_AGE_YEARS)
    age_months: int | None = Field(None, ge=0, le=11 + 12 * 5)
    birth_date_estimated: bool = False
    village: str | None = Field(None, max_length=80)
    phone: str | None = Field(None, max_length=30)  # "+223 76 12 34 56", spaces as typed
    mother_id: str | None = Field(None, max_length=40)  # a record id (36 characters)
    # opt-in SMS reminders to `phone`, in French or Bambara (off unless the patient says yes)
    sms_consent: bool = False
    sms_language: Literal["fr", "bm"] = "fr"

    @field_validator("family_name", "given_names")
    @classmethod
    def _letters(cls, v: str) -> str:
        v = " ".join(v.split())
        if not _NAME.match(v):
            raise PydanticCustomError(
                "name", "'{v}' must be letters (spaces, - and ' allowed)", {"v": v}
            )
        return v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return normalise_phone(v) if v else None

    @field_validator("sms_language", mode="before")
    @classmethod
    def _language(cls, v: Any) -> Any:
        return (v.strip().lower() or "fr") if isinstance(v, str) else ("fr" if v is None else v)

    @field_validator("sms_consent", mode="before")
    @classmethod
    def _consent(cls, v: Any) -> Any:
        # form checkboxes send "on"/"1"; an absent box is no consent
        if isinstance(v, str):
            return v.strip().lower() in ("1", "on", "true", "oui", "yes")
        return False if v is None else v

    @field_validator("sex", mode="before")
    @classmethod
    def _sex(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _birth(self, info: ValidationInfo) -> PatientIn:
        today: date | None = (info.context or {}).get("today")
        has_age = self.age_years is not None or self.age_months is not None
        if self.birth_date is None and not has_age:
            raise PydanticCustomError("birth", "give birth_date, or an age in years/months")
        if self.birth_date is not None and has_age:
            raise PydanticCustomError("birth", "give birth_date or an age, not both")
        if has_age:
            if today is None:
                raise PydanticCustomError("birth", "an age needs today's date")
            self.birth_date = estimated_birth_date(
                today, years=self.age_years or 0, months=self.age_months or 0
            )
            self.birth_date_estimated = True
            self.age_years = self.age_months = None
        if today is not None:
            if self.birth_date > today:  # type: ignore[operator]
                raise PydanticCustomError(
                    "birth_future",
                    "birth_date {b} is in the future",
                    {"b": self.birth_date.isoformat()},
                )  # type: ignore[union-attr]
            if (today - self.birth_date).days > MAX_AGE_YEARS * 366:  # type: ignore[operator]
                raise PydanticCustomError(
                    "birth_past",
                    "birth_date {b} is more than {n} years ago",
                    {"b": self.birth_date.isoformat(), "n": MAX_AGE_YEARS},
                )  # type: ignore[union-attr]
        return self

    def fields(self) -> dict[str, Any]:
        """What the store keeps (ages are already turned into an estimated birth date)."""
        data = self.model_dump(exclude={"age_years", "age_months"})
        data["birth_date"] = self.birth_date.isoformat()  # type: ignore[union-attr]
        return data


def validate_patient(data: dict[str, Any], *, today: date) -> PatientIn:
    try:
        return PatientIn.model_validate(data, context={"today": today})
    except PydanticValidationError as e:
        raise InvalidPatient(problems_of(e), e.errors()) from None
