"""The answer cache's rules: question keys, what may be cached (and for how long), similarity."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.answer_cache import (
    TTL,
    CacheEntry,
    TtlClass,
    best_similar,
    cache_class,
    cosine,
    hit_rate,
    normalize_question,
    scope_key,
)
from domain.conversation import Extraction, Intent

NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
NOTHING_FOUND = Extraction()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Hola! ¿A qué hora abren?", "a que hora abren"),
        ("¿¿A QUÉ HORA ABREN??", "a que hora abren"),
        ("Buenos días, ¿a qué hora abren? 🙂", "a que hora abren"),
        ("buenas tardes   a que  hora abren", "a que hora abren"),
        ("Hola, buenas, por favor ¿a qué hora abren?", "a que hora abren"),
        ("¿A qué hora abren, por favor?", "a que hora abren"),
        ("Hi! How much is a cleaning?", "how much is a cleaning"),
        ("hey, how much is a cleaning please", "how much is a cleaning"),
        ("Hello... how much is a cleaning??? thanks!", "how much is a cleaning"),
        ("¿Dónde están ubicados?", "donde estan ubicados"),
        ("¿Cuánto cuesta el blanqueamiento?", "cuanto cuesta el blanqueamiento"),
    ],
)
def test_equivalent_questions_share_a_key(a: str, b: str) -> None:
    assert normalize_question(a) == normalize_question(b) == b


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("¡Hola!", "hola"),  # a bare greeting keeps its words: it is the question
        ("Buenos días 👋", "buenos dias"),
        ("👍", ""),
        ("¿¡!?", ""),
        ("hola, ¿cuánto cuesta la limpieza?", "cuanto cuesta la limpieza"),
        ("¿Aceptan tarjeta? hola", "aceptan tarjeta hola"),  # only leading greetings go
    ],
)
def test_normalisation_edges(text: str, key: str) -> None:
    assert normalize_question(text) == key


def _class(
    text: str,
    intent: Intent = Intent.QUESTION,
    extraction: Extraction = NOTHING_FOUND,
    matched_faq: bool = False,
) -> TtlClass | None:
    return cache_class(text, intent=intent, extraction=extraction, matched_faq=matched_faq)


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("¿A qué hora abren?", Intent.QUESTION, TtlClass.FAQ),
        ("¿Cuál es su horario?", Intent.QUESTION, TtlClass.FAQ),
        ("¿Dónde están ubicados?", Intent.QUESTION, TtlClass.FAQ),
        ("¿Cuál es la dirección?", Intent.QUESTION, TtlClass.FAQ),
        ("¿Tienen estacionamiento?", Intent.QUESTION, TtlClass.FAQ),
        ("¿Aceptan seguro médico?", Intent.QUESTION, TtlClass.FAQ),
        ("¿Qué formas de pago aceptan?", Intent.QUESTION, TtlClass.FAQ),
        ("What are your opening hours?", Intent.QUESTION, TtlClass.FAQ),
        ("Where are you located?", Intent.QUESTION, TtlClass.FAQ),
        ("Do you have parking?", Intent.QUESTION, TtlClass.FAQ),
        ("Do you take insurance?", Intent.QUESTION, TtlClass.FAQ),
        ("Can I pay by card?", Intent.QUESTION, TtlClass.FAQ),
        ("¿Cuánto cuesta una limpieza?", Intent.PRICE, TtlClass.GENERAL),
        ("¿Qué precio tiene el blanqueamiento?", Intent.QUESTION, TtlClass.GENERAL),
        ("¿Qué tratamientos ofrecen?", Intent.QUESTION, TtlClass.GENERAL),
        ("How much is a cleaning?", Intent.PRICE, TtlClass.GENERAL),
        ("Is a filling 1250 pesos?", Intent.PRICE, TtlClass.GENERAL),
        ("What services do you offer?", Intent.QUESTION, TtlClass.GENERAL),
        ("¡Hola!", Intent.GREETING, TtlClass.TRANSIENT),
        ("Hi there", Intent.GREETING, TtlClass.TRANSIENT),
        ("¿Quién es el doctor?", Intent.QUESTION, TtlClass.TRANSIENT),
    ],
)
def test_cacheable_questions(text: str, intent: Intent, expected: TtlClass) -> None:
    assert _class(text, intent) is expected


@pytest.mark.parametrize(
    "text",
    [
        # availability and the clock
        "¿Tienen disponibilidad?",
        "¿Hay lugar para una limpieza?",
        "¿Tienen algún hueco libre?",
        "¿Hay espacio el viernes?",
        "¿Hay turno libre?",
        "¿Abren hoy?",
        "¿Atienden mañana?",
        "¿Tienen algo esta semana?",
        "¿Están abiertos ahora?",
        "¿Abren los sábados?",
        "¿Puedo ir a las 10:30?",
        "¿Puede ser el 12/05?",
        "Do you have availability?",
        "Is there a slot free?",
        "Any openings for a cleaning?",
        "Are you open today?",
        "Can I come tomorrow at 5pm?",
        "Anything this week?",
        "Are you open right now?",
        "Are you open on Saturday?",
        # the customer's own records
        "¿A qué hora es mi cita?",
        "¿Cuándo es mi turno?",
        "¿Está confirmada mi reserva?",
        "¿Dónde está mi pedido?",
        "¿Cuánto debo en mi cuenta?",
        "¿Me mandan mi factura?",
        "Tengo una cita, ¿dónde estacionar?",
        "When is my appointment?",
        "Is my booking confirmed?",
        "Where is my order?",
        "Can you check my account?",
        "Can you send my invoice?",
        "Why is my bill so high?",
        "I booked a cleaning, how much is it?",
        # data in the text
        "¿Me llaman al 55 1234 5678?",
        "Order 884213, what are your hours?",
        "¿Precio para juan@example.com?",
    ],
)
def test_never_cacheable_questions(text: str) -> None:
    assert _class(text) is None
    assert _class(text, Intent.PRICE) is None


@pytest.mark.parametrize(
    "intent", [Intent.BOOK, Intent.RESCHEDULE, Intent.CANCEL, Intent.HUMAN, Intent.COMPLAINT]
)
def test_only_questions_prices_and_greetings_are_cached(intent: Intent) -> None:
    assert _class("¿A qué hora abren?", intent) is None
    assert _class("¿A qué hora abren?", Intent.OTHER) is None


@pytest.mark.parametrize(
    "extraction",
    [
        Extraction(name="Ana"),
        Extraction(email="ana@example.com"),
        Extraction(phone_e164="+5215512345678"),
        Extraction(when=NOW, date_only=True, when_text="el martes"),
    ],
)
def test_personal_extractions_are_never_cached(extraction: Extraction) -> None:
    assert _class("¿Cuánto cuesta una limpieza?", Intent.PRICE, extraction) is None


def test_a_mentioned_service_is_not_personal() -> None:
    extraction = Extraction(services=("Limpieza dental",))
    assert _class("¿Y la limpieza?", Intent.QUESTION, extraction) is TtlClass.GENERAL


def test_a_matched_faq_is_faq() -> None:
    assert _class("¿Quién es el doctor?", matched_faq=True) is TtlClass.FAQ
    # ... but a matched FAQ never overrides availability.
    assert _class("¿Hay disponibilidad hoy?", matched_faq=True) is None


def test_long_questions_are_not_cached() -> None:
    text = "¿Cuánto cuesta una limpieza? " + "de verdad " * 30
    assert len(text) > 300
    assert _class(text, Intent.PRICE) is None
    assert _class(text[:290], Intent.PRICE) is TtlClass.GENERAL


def test_empty_questions_are_not_cached() -> None:
    assert _class("👍", Intent.GREETING) is None


def test_ttls() -> None:
    assert TTL[TtlClass.FAQ] == timedelta(hours=24)
    assert TTL[TtlClass.GENERAL] == timedelta(hours=4)
    assert TTL[TtlClass.TRANSIENT] == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((1.0, 0.0), (1.0, 0.0), 1.0),
        ((1.0, 0.0), (0.0, 1.0), 0.0),
        ((1.0, 0.0), (-1.0, 0.0), -1.0),
        ((3.0, 4.0), (6.0, 8.0), 1.0),
        ((1.0, 1.0), (1.0, 0.0), 0.7071067811865475),
        ((0.0, 0.0), (1.0, 0.0), 0.0),
    ],
)
def test_cosine(a: tuple[float, ...], b: tuple[float, ...], expected: float) -> None:
    assert cosine(a, b) == pytest.approx(expected)


def test_cosine_refuses_vectors_of_different_lengths() -> None:
    with pytest.raises(ValueError):
        cosine((1.0, 0.0), (1.0, 0.0, 0.0))


def _entry(
    question: str, embedding: tuple[float, ...] | None, expires_in: timedelta = timedelta(hours=1)
) -> CacheEntry:
    return CacheEntry(
        question=question,
        answer=f"answer to {question}",
        ttl_class=TtlClass.FAQ,
        embedding=embedding,
        created_at=NOW - timedelta(minutes=5),
        expires_at=NOW + expires_in,
        hits=0,
    )


@pytest.mark.parametrize(
    ("entries", "threshold", "expected"),
    [
        ([], 0.9, None),
        ([_entry("a", (1.0, 0.0))], 0.9, ("a", 1.0)),
        ([_entry("a", (1.0, 0.1))], 0.9, ("a", 0.9950371902099892)),
        ([_entry("a", (1.0, 1.0))], 0.9, None),  # 0.707: below the threshold
        ([_entry("a", (1.0, 0.2)), _entry("b", (1.0, 0.05))], 0.9, ("b", 0.998752338877845)),
        ([_entry("a", (1.0, 0.0), expires_in=timedelta(0))], 0.9, None),  # expires now
        ([_entry("a", (1.0, 0.0), expires_in=-timedelta(seconds=1))], 0.9, None),
        (
            [_entry("old", (1.0, 0.0), -timedelta(seconds=1)), _entry("new", (1.0, 0.3))],
            0.9,
            ("new", 0.9578262852211514),
        ),
        ([_entry("a", (1.0, 0.0, 0.0))], 0.5, None),  # another model's dimension
        ([_entry("a", None)], 0.0, None),
        ([_entry("a", (1.0, 0.0, 0.0)), _entry("b", (0.9, 0.1))], 0.9, ("b", 0.9938837346736)),
    ],
)
def test_best_similar(
    entries: list[CacheEntry], threshold: float, expected: tuple[str, float] | None
) -> None:
    found = best_similar((1.0, 0.0), entries, now=NOW, threshold=threshold)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found[0].question, found[1]) == (expected[0], pytest.approx(expected[1]))


def test_scope_changes_with_each_part() -> None:
    base = scope_key("f1", "v1", "es")
    assert len({base, scope_key("f2", "v1", "es"), scope_key("f1", "v2", "es")}) == 3
    assert scope_key("f1", "v1", "en") != base
    assert scope_key("f1", "v1", "es") == base


@pytest.mark.parametrize(
    ("results", "rate"),
    [
        ({}, None),
        ({"skip": 4}, None),
        ({"hit_exact": 1, "hit_semantic": 1, "miss": 2, "skip": 10}, 0.5),
        ({"miss": 3}, 0.0),
        ({"hit_semantic": 2}, 1.0),
    ],
)
def test_hit_rate(results: dict[str, int], rate: float | None) -> None:
    assert hit_rate(results) == rate
