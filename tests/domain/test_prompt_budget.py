"""Fitting a conversation into the prompt: bounded by size, every unanswered message kept."""

from datetime import UTC, datetime

import pytest

from domain.conversation import ContextMessage, Extraction
from domain.extraction import extract
from domain.prompt_budget import (
    LINE_CHARS,
    PromptBudget,
    cap_messages,
    cap_text,
    cut_marker,
    fit_conversation,
)
from domain.prompts import message_text
from domain.settings import Settings

AT = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
SMALL = PromptBudget(message_chars=400, conversation_chars=2000)


def _message(id_: int, text: str | None, direction: str = "in", type_: str = "text"):
    return ContextMessage(id=id_, direction=direction, type=type_, text=text, at=AT)


def _size(messages) -> int:
    return sum(len(message_text(m)) for m in messages)


@pytest.mark.parametrize(
    ("length", "limit"), [(0, 400), (400, 400), (401, 400), (5_000, 400), (1 << 20, 4000)]
)
def test_a_capped_text_keeps_its_head_and_tail_and_says_what_was_cut(length: int, limit: int):
    text = "".join(chr(ord("a") + i % 26) for i in range(length))
    capped, cut = cap_text(text, limit)
    assert len(capped) <= limit
    if length <= limit:
        assert (capped, cut) == (text, 0)
        return
    head, marker, tail = capped.split("\n")
    assert marker == cut_marker(cut)
    assert text.startswith(head) and text.endswith(tail)
    assert len(head) + cut + len(tail) == length
    assert abs(len(head) - len(tail)) <= 1


def test_a_conversation_within_budget_is_sent_as_it_is():
    history = [_message(1, "hola"), _message(2, "¡Hola! ¿En qué te ayudo?", "out")]
    history.append(_message(3, "precio de la limpieza"))
    fitted = fit_conversation(history, {3}, SMALL)
    assert fitted.messages == tuple(history)
    assert (fitted.messages_cut, fitted.chars_cut) == (0, 0)


def test_a_huge_message_is_capped_and_the_cut_recorded():
    huge = "x" * 1_000_000
    fitted = fit_conversation([_message(1, "hola"), _message(2, huge)], {2}, SMALL)
    first, second = fitted.messages
    assert first.text == "hola"
    assert len(second.text) <= SMALL.message_chars and "characters cut" in second.text
    assert fitted.messages_cut == 1
    assert fitted.chars_cut == huge.count("x") - second.text.count("x")


def test_earlier_context_leaves_oldest_first_before_any_unanswered_message_shrinks():
    earlier = [_message(n, f"{n:03d} " + "e" * 296, "in" if n % 2 else "out") for n in range(1, 9)]
    unanswered = [_message(n, f"{n:03d} " + "u" * 296) for n in range(9, 13)]
    fitted = fit_conversation(earlier + unanswered, {9, 10, 11, 12}, SMALL)
    # 12 x 300 characters against 2,000: the six oldest earlier messages leave.
    assert [m.id for m in fitted.messages] == [7, 8, 9, 10, 11, 12]
    assert [m.text for m in fitted.messages[2:]] == [m.text for m in unanswered]
    assert (fitted.messages_cut, fitted.chars_cut) == (6, 6 * 300)
    assert _size(fitted.messages) <= SMALL.conversation_chars


def test_a_long_burst_keeps_every_message_with_the_oldest_shortened_first():
    burst = [_message(1, "soy Ana Pérez, mi correo es ana@example.com " + "a" * 300)]
    burst += [_message(n, f"mensaje {n} " + "b" * 300) for n in range(2, 26)]
    fitted = fit_conversation(burst, {m.id for m in burst}, PromptBudget(400, 6000))
    assert [m.id for m in fitted.messages] == list(range(1, 26))
    assert fitted.messages[0].text.startswith("soy Ana Pérez, mi correo es ana@example.com")
    shortened = [m for m in fitted.messages if "characters cut" in (m.text or "")]
    assert shortened == list(fitted.messages[: len(shortened)])  # the oldest ones
    assert all(len(m.text or "") <= LINE_CHARS for m in shortened)
    assert fitted.messages[-1] == burst[-1]
    assert fitted.messages_cut == len(shortened)
    assert _size(fitted.messages) <= 6000


@pytest.mark.parametrize("count", [13, 50, 1_000])
def test_past_one_line_each_the_oldest_fold_into_a_line_that_counts_them(count: int):
    burst = [_message(n, "z" * 500) for n in range(1, count + 1)]
    fitted = fit_conversation(burst, {m.id for m in burst}, SMALL)
    fold, *kept = fitted.messages
    folded = count - len(kept)
    assert fold.text == f"[… {folded} earlier messages of this burst cut to fit …]"
    assert (fold.id, fold.direction) == (1, "in")
    assert [m.id for m in kept] == list(range(folded + 1, count + 1))
    assert fitted.messages_cut == count
    assert _size(fitted.messages) <= SMALL.conversation_chars


@pytest.mark.parametrize(
    "texts",
    [
        [None, "hola"],
        ["x" * 10_000] * 3,
        [None] * 40 + ["y" * 3_000],
        ["corto"] * 600,
    ],
)
def test_any_burst_fits_the_budget_and_its_newest_message_is_there(texts):
    burst = [_message(n, text, type_="image") for n, text in enumerate(texts, start=1)]
    fitted = fit_conversation(burst, {m.id for m in burst}, SMALL)
    assert _size(fitted.messages) <= SMALL.conversation_chars
    assert fitted.messages[-1].id == len(texts)


def test_capping_for_the_local_rules_keeps_each_message_and_counts_the_cut():
    messages = [_message(1, "hola"), _message(2, "w" * 1000), _message(3, None, type_="audio")]
    capped = cap_messages(messages, 400)
    assert [m.id for m in capped.messages] == [1, 2, 3]
    assert capped.messages[0] == messages[0] and capped.messages[2] == messages[2]
    assert len(capped.messages[1].text or "") <= 400
    assert capped.messages_cut == 1 and 600 <= capped.chars_cut < 1000


@pytest.mark.parametrize("cut", [7, 1_046_528, 5_512_345_678])
def test_the_cut_marker_is_never_read_as_a_fact(cut: int):
    now = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    assert extract(f"hola {cut_marker(cut)} gracias", now=now, services=()) == Extraction()


@pytest.mark.parametrize(
    ("message_chars", "conversation_chars"), [(399, 16_000), (4_000, 3_999), (-1, -1)]
)
def test_a_budget_too_small_to_hold_a_line_is_refused(message_chars, conversation_chars):
    with pytest.raises(ValueError):
        PromptBudget(message_chars, conversation_chars)


def test_the_budget_is_read_from_the_environment():
    env = {"DATABASE_URL": "postgresql:///x"}
    assert Settings.from_env(env).prompt_budget == PromptBudget(4000, 16000)
    env |= {"RECADO_PROMPT_MESSAGE_CHARS": "1000", "RECADO_PROMPT_CONVERSATION_CHARS": "8000"}
    assert Settings.from_env(env).prompt_budget == PromptBudget(1000, 8000)
