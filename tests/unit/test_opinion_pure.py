"""The pure pieces of a second opinion: the minimal case summary, the name guard, the photo
budget, the message, the [opinion] table."""

from __future__ import annotations

import io
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.clinical.case_summary import (
    NAME_MASK,
    age_text,
    case_summary,
    mask_names,
    name_words,
    names_in,
    summary_text,
)
from appliance.facility_file import OpinionSettingsError, opinion_settings_from
from appliance.opinion.message import compose, reference
from appliance.opinion.photo import PhotoError, fit_photo

ON = date(2026, 10, 15)
RECORD = {
    "id": "p1",
    "health_number": "KLB-000042-7",
    "family_name": "Traoré",
    "given_names": "Aminata Hawa",
    "sex": "F",
    "birth_date": "2000-01-10",
    "village": "Kalaban Coro",
    "phone": "76123456",
    "encounters": [
        {
            "type": "consultation",
            "care_date": "2026-10-12",
            "data": {
                "temperature_c": 39.1,
                "diagnoses": [{"code": "malaria_confirmed"}],
                "prescriptions": [
                    {"drug": "artésunate", "dose": "200 mg", "times_per_day": 1, "days": 3}
                ],
                "notes": "Aminata Traoré, fatiguée",
                "complaints": ["fièvre"],
            },
        }
    ],
    "alerts": [{"severity": "high", "code": "fever.high"}],
    "due": [],
}


def test_the_summary_carries_the_clinical_facts_and_no_name():
    s = case_summary(RECORD, ON)
    text = summary_text(s)
    assert s["health_number"] == "KLB-000042-7" and s["age"] == "26 ans 9 mois"
    assert "malaria_confirmed" in text and "artésunate" in text and "39.1" in text
    for leaked in ("Traoré", "Aminata", "Kalaban", "76123456", "fatiguée", "name"):
        assert leaked not in text and leaked not in str(s)


def test_with_consent_the_name_is_in_the_summary():
    assert "Aminata Hawa Traoré" in summary_text(case_summary(RECORD, ON, include_name=True))


def test_names_found_and_masked_whatever_the_case_or_accents():
    words = name_words(RECORD)
    assert names_in("Mme TRAORE a de la fièvre", words) == ["Traoré"]
    assert names_in("Traorésque ou Aminatas", words) == []  # whole words only
    assert mask_names("traore, Aminata !", words) == f"{NAME_MASK}, {NAME_MASK} !"


@given(st.text(max_size=60))
def test_after_masking_no_name_is_left(text):
    words = name_words(RECORD)
    assert names_in(mask_names(f"{text} Traoré {text}", words), words) == []


@pytest.mark.parametrize(
    ("days", "text"), [(3, "3 j"), (40, "5 sem"), (200, "6 mois"), (800, "2 ans 2 mois")]
)
def test_age_text(days, text):
    assert age_text(days) == text


def test_the_message_is_tagged_and_masked():
    subject, body = compose(
        question_id="01a2-3b4c-5d6e-7f80-aabbccddeeff",
        question="Conduite à tenir ?",
        summary={**case_summary(RECORD, ON), "health_number": "KLB-000042-7"},
        facility="KLB",
        name_words=name_words(RECORD),
        has_photo=True,
    )
    assert subject == f"Avis KLB KLB-000042-7 [{reference('01a2-3b4c-5d6e-7f80-aabbccddeeff')}]"
    assert "Photo jointe." in body and "Traoré" not in body


def _jpeg(size, **kw) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise(size, 50).convert("RGB").save(out, "JPEG", quality=95, **kw)
    return out.getvalue()


def test_the_photo_fits_its_budget_without_metadata():
    from PIL import Image

    exif = Image.Exif()
    exif[0x013B] = "Traoré"
    big = _jpeg((2400, 1800), exif=exif)
    out = fit_photo(big, max_bytes=60_000, max_side=1024)
    assert len(out) <= 60_000 and b"Traor" not in out and b"Exif" not in out
    with Image.open(io.BytesIO(out)) as image:
        assert max(image.size) <= 1024 and image.format == "JPEG"


def test_what_is_no_picture_is_refused():
    with pytest.raises(PhotoError):
        fit_photo(b"not an image at all")


def test_the_opinion_table_is_checked():
    ok = opinion_settings_from({"district_user_group": "DistrGrp001", "monthly_budget_mb": 5})
    assert ok.enabled and ok.recipients() == {"userGroups": [{"id": "DistrGrp001"}]}
    assert not opinion_settings_from({}).enabled
    for bad in ({"district_user_group": "x"}, {"district_users": ["1abcdefghij"]},
                {"photo_max_kb": 5}, {"poll_every_min": True}, {"other": 1}):  # fmt: skip
        with pytest.raises(OpinionSettingsError, match=r"\[opinion\]"):
            opinion_settings_from(bad)
