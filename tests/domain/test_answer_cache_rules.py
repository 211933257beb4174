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


CLEANING = Extraction(services=("Limpieza dental",))
WHITENING = Extraction(services=("Blanqueamiento dental",))
FILLING = Extraction(services=("Resina",))


@pytest.mark.parametrize(
    ("text", "intent", "extraction", "expected"),
    [
        ("¿A qué hora abren?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("¿Cuál es su horario?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("¿Dónde están ubicados?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("¿Cuál es la dirección?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("¿Tienen estacionamiento?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("¿Aceptan seguro médico?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("¿Qué formas de pago aceptan?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("What are your opening hours?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("Where are you located?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("Do you have parking?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("Do you take insurance?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("Can I pay by card?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
        ("¿Cuánto cuesta una limpieza?", Intent.PRICE, CLEANING, TtlClass.GENERAL),
        ("¿Qué precio tiene el blanqueamiento?", Intent.QUESTION, WHITENING, TtlClass.GENERAL),
        ("¿Qué tratamientos ofrecen?", Intent.QUESTION, NOTHING_FOUND, TtlClass.GENERAL),
        ("How much is a cleaning?", Intent.PRICE, CLEANING, TtlClass.GENERAL),
        ("Is a filling 1250 pesos?", Intent.PRICE, FILLING, TtlClass.GENERAL),
        ("What does whitening cost?", Intent.QUESTION, WHITENING, TtlClass.GENERAL),
        ("What services do you offer?", Intent.QUESTION, NOTHING_FOUND, TtlClass.GENERAL),
        ("¿Quién es el doctor?", Intent.QUESTION, NOTHING_FOUND, TtlClass.TRANSIENT),
        # "esta"/"este" are demonstratives too, but not among the words pointing back.
        ("¿Esta clínica tiene estacionamiento?", Intent.QUESTION, NOTHING_FOUND, TtlClass.FAQ),
    ],
)
def test_cacheable_questions(
    text: str, intent: Intent, extraction: Extraction, expected: TtlClass
) -> None:
    assert _class(text, intent, extraction) is expected


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
        "¿Cuánto me cobran por lo que me hice ayer?",
        "Me hice una limpieza, ¿cuánto dura el efecto?",
        "Me hicieron una resina, ¿es normal la sensibilidad?",
        "¿Cuánto dura mi tratamiento?",
        "I had a filling, is sensitivity normal?",
        "I got whitening done, is sensitivity normal?",
        "I've had braces before, is the treatment different?",
        # pointing back at earlier messages
        "¿Y eso cuánto cuesta?",
        "¿Cuánto dura esa?",
        "¿Ese incluye anestesia?",
        "¿Esos tienen garantía?",
        "¿Y esas?",
        "¿Esto duele?",
        "¿Aquello también lo hacen?",
        "¿Cuesta lo mismo?",
        "¿Y el otro?",
        "¿La otra es más barata?",
        "How long does that take?",
        "Does it hurt?",
        "Is this covered by insurance?",
        "Do those come with a warranty?",
        "Are these painful?",
        "Do you do them for kids?",
        "And the other one?",
        "Same one as before?",
        # data in the text
        "¿Me llaman al 55 1234 5678?",
        "Order 884213, what are your hours?",
        "¿Precio para juan@example.com?",
    ],
)
def test_never_cacheable_questions(text: str) -> None:
    assert _class(text) is None
    assert _class(text, Intent.PRICE) is None
    # Naming a catalogue service does not make them cacheable.
    assert _class(text, Intent.QUESTION, CLEANING) is None


@pytest.mark.parametrize(
    ("text", "intent", "extraction"),
    [
        ("¿Cuánto cuesta?", Intent.PRICE, NOTHING_FOUND),
        ("¿Cuánto sale?", Intent.PRICE, NOTHING_FOUND),
        ("¿Qué precio tiene?", Intent.QUESTION, NOTHING_FOUND),
        ("¿Cuánto cuesta el estacionamiento?", Intent.PRICE, NOTHING_FOUND),
        ("Precios por favor", Intent.QUESTION, NOTHING_FOUND),
        ("How much?", Intent.PRICE, NOTHING_FOUND),
        ("What are your prices?", Intent.QUESTION, NOTHING_FOUND),
        ("How much for a crown?", Intent.PRICE, NOTHING_FOUND),  # not in the catalogue
        ("Is a filling 1250 pesos?", Intent.PRICE, NOTHING_FOUND),
    ],
)
def test_prices_name_a_service_or_a_faq(text: str, intent: Intent, extraction: Extraction) -> None:
    assert _class(text, intent, extraction) is None
    assert _class(text, intent, extraction, matched_faq=True) is TtlClass.FAQ


@pytest.mark.parametrize(
    "text", ["¡Hola!", "Hi there", "Buenos días", "hola, ¿cómo estás?", "¿A qué hora abren?"]
)
def test_greetings_are_never_cached(text: str) -> None:
    # The model greets people by name, and a greeting is cheap to answer anyway.
    assert _class(text, Intent.GREETING) is None
    assert _class(text, Intent.GREETING, matched_faq=True) is None


@pytest.mark.parametrize(
    "intent",
    [
        Intent.GREETING,
        Intent.BOOK,
        Intent.RESCHEDULE,
        Intent.CANCEL,
        Intent.HUMAN,
        Intent.COMPLAINT,
        Intent.OTHER,
    ],
)
def test_only_questions_and_prices_are_cached(intent: Intent) -> None:
    assert _class("¿A qué hora abren?", intent) is None
    assert _class("¿A qué hora abren?", Intent.QUESTION) is TtlClass.FAQ


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
    assert _class(text[:290], Intent.PRICE, CLEANING) is TtlClass.GENERAL


def test_empty_questions_are_not_cached() -> None:
    assert _class("👍") is None
    assert _class("¿¡!?") is None


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
