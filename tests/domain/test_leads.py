"""Filling the lead without erasing, the score rules and the stage ladder."""

from dataclasses import replace
from datetime import datetime

import pytest

from domain.conversation import Extraction, Intent, LeadFacts
from domain.leads import INTENT_POINTS, merge_lead, score_delta, stage_for

EMPTY = LeadFacts(name=None, name_source=None, email=None, phone_e164=None, score=0, stage="new")
FROM_PROFILE = replace(EMPTY, name="mari ❤️", name_source="profile")
STATED = replace(EMPTY, name="María López", name_source="stated")
FULL = replace(STATED, email="maria@example.com", phone_e164="+5215512345678")
TOMORROW_5PM = datetime(2026, 11, 25, 17, 0)


@pytest.mark.parametrize(
    ("current", "extraction", "changes"),
    [
        (EMPTY, Extraction(), {}),
        (
            EMPTY,
            Extraction(name="María López"),
            {"name": "María López", "name_source": "stated"},
        ),
        (
            FROM_PROFILE,
            Extraction(name="María López"),
            {"name": "María López", "name_source": "stated"},
        ),
        # The channel gave a name without saying where it came from: a stated one improves it.
        (
            replace(EMPTY, name="Mari"),
            Extraction(name="María López"),
            {"name": "María López", "name_source": "stated"},
        ),
        # The customer confirms the profile's name: it becomes a stated one, unchanged.
        (replace(FROM_PROFILE, name="Ana"), Extraction(name="Ana"), {"name_source": "stated"}),
        (STATED, Extraction(name="Mariana"), {}),
        (STATED, Extraction(name="María López"), {}),
        (EMPTY, Extraction(email="ana@example.com"), {"email": "ana@example.com"}),
        (EMPTY, Extraction(phone_e164="+5215512345678"), {"phone_e164": "+5215512345678"}),
        (FULL, Extraction(email="other@example.com", phone_e164="+5215599999999"), {}),
        (
            FROM_PROFILE,
            Extraction(name="Ana Ruiz", email="ana@example.com", phone_e164="+5215512345678"),
            {
                "name": "Ana Ruiz",
                "name_source": "stated",
                "email": "ana@example.com",
                "phone_e164": "+5215512345678",
            },
        ),
        # Nothing said: nothing erased.
        (FULL, Extraction(), {}),
        (FULL, Extraction(services=("Resina",), when=TOMORROW_5PM), {}),
    ],
)
def test_merge_lead(current: LeadFacts, extraction: Extraction, changes: dict[str, object]):
    assert merge_lead(current, extraction) == changes


def test_merge_never_sets_none():
    for current in (EMPTY, FROM_PROFILE, STATED, FULL):
        for extraction in (
            Extraction(),
            Extraction(name="Ana", email="a@example.com", phone_e164="+5215512345678"),
        ):
            assert None not in merge_lead(current, extraction).values()


def test_every_intent_has_points():
    assert set(INTENT_POINTS) == set(Intent)


@pytest.mark.parametrize(
    ("intent", "points"),
    [
        (Intent.BOOK, 25),
        (Intent.RESCHEDULE, 10),
        (Intent.PRICE, 10),
        (Intent.QUESTION, 5),
        (Intent.GREETING, 0),
        (Intent.HUMAN, 0),
        (Intent.OTHER, 0),
        (Intent.COMPLAINT, -10),
        (Intent.CANCEL, -15),
        (None, 0),
    ],
)
def test_intent_points(intent: Intent | None, points: int):
    current = replace(EMPTY, score=50)
    assert score_delta(current, {}, (), Extraction(), intent) == points


@pytest.mark.parametrize(
    ("changes", "new_services", "extraction", "intent", "delta"),
    [
        ({"name": "Ana", "name_source": "stated"}, (), Extraction(name="Ana"), None, 5),
        # A name confirmed, not newly recorded, earns nothing.
        ({"name_source": "stated"}, (), Extraction(name="Ana"), None, 0),
        ({"email": "a@example.com"}, (), Extraction(email="a@example.com"), None, 10),
        ({"phone_e164": "+5215512345678"}, (), Extraction(), None, 5),
        # Already known email: extraction alone earns nothing.
        ({}, (), Extraction(email="a@example.com"), None, 0),
        ({}, ("Resina",), Extraction(services=("Resina",)), None, 10),
        ({}, ("Resina", "Ortodoncia"), Extraction(), None, 20),
        ({}, ("Resina", "Resina"), Extraction(), None, 10),
        ({}, (), Extraction(when=TOMORROW_5PM), None, 15),
        (
            {"name": "Ana", "name_source": "stated", "email": "a@example.com"},
            ("Limpieza dental",),
            Extraction(when=TOMORROW_5PM),
            Intent.BOOK,
            5 + 10 + 10 + 15 + 25,
        ),
    ],
)
def test_score_rules(
    changes: dict[str, object],
    new_services: tuple[str, ...],
    extraction: Extraction,
    intent: Intent | None,
    delta: int,
):
    current = replace(EMPTY, score=20)
    assert score_delta(current, changes, new_services, extraction, intent) == delta


@pytest.mark.parametrize(
    ("score", "intent", "new_services", "delta"),
    [
        (95, Intent.BOOK, (), 5),
        (100, Intent.BOOK, ("Resina",), 0),
        (10, Intent.CANCEL, (), -10),
        (0, Intent.COMPLAINT, (), 0),
        (60, Intent.CANCEL, (), -15),
    ],
)
def test_score_stays_within_0_and_100(
    score: int, intent: Intent, new_services: tuple[str, ...], delta: int
):
    current = replace(EMPTY, score=score)
    assert score_delta(current, {}, new_services, Extraction(), intent) == delta


@pytest.mark.parametrize(
    ("score", "current", "stage"),
    [
        (0, "new", "new"),
        (19, "new", "new"),
        (20, "new", "engaged"),
        (49, "new", "engaged"),
        (50, "new", "qualified"),
        (100, "new", "qualified"),
        (50, "engaged", "qualified"),
        # Never backwards.
        (0, "engaged", "engaged"),
        (10, "qualified", "qualified"),
        (30, "qualified", "qualified"),
        # An agent's decision stands.
        (100, "customer", "customer"),
        (0, "customer", "customer"),
        (100, "lost", "lost"),
        (0, "lost", "lost"),
    ],
)
def test_stage_for(score: int, current: str, stage: str):
    assert stage_for(score, current) == stage
