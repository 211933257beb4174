"""Every exit of the send step before the provider is called, from facts alone."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.breaker import CLOSED, Breaker, BreakerPolicy, BreakerState
from domain.models import ConversationStatus
from domain.send_decision import (
    OutboundContent,
    SendAction,
    SendFacts,
    as_template,
    build_request,
    decide_send,
)
from domain.statuses import DeliveryStatus as S

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WAIT = timedelta(seconds=120)
POLICY = BreakerPolicy(failure_threshold=5, cooldown=timedelta(seconds=30))
TEMPLATE = {"name": "we_miss_you", "language": "es_MX"}
TEXT = OutboundContent(7, "text", "5215512345678", "Hola", {"author": "assistant"})
FACTS = SendFacts(
    content=TEXT,
    status=S.PENDING,
    recorded_provider_id=None,
    proven_provider_id=None,
    uncertain=False,
    started_at=None,
    now=NOW,
    evidence_wait=WAIT,
    conversation_status=ConversationStatus.OPEN,
    last_inbound_at=NOW - timedelta(hours=1),
    sending_paused=False,
    credentials_error=None,
    reengagement_template=None,
    breaker=CLOSED,
    breaker_policy=POLICY,
)
SENDING = {"status": S.SENDING, "uncertain": True}
OPEN_UNTIL = Breaker(BreakerState.OPEN, 5, NOW + timedelta(seconds=10))
COOLED = Breaker(BreakerState.OPEN, 5, NOW - timedelta(seconds=1))
TRIAL_OUT = Breaker(BreakerState.HALF_OPEN, 5, NOW + timedelta(seconds=40))


@pytest.mark.parametrize(
    ("changes", "action"),
    [
        # Evidence of an earlier send comes first: never a second copy.
        ({"status": S.SENT, "recorded_provider_id": "wamid.1"}, SendAction.DONE),
        ({"status": S.FAILED}, SendAction.DONE),
        ({"status": S.CANCELLED}, SendAction.DONE),
        ({**SENDING, "recorded_provider_id": "wamid.1"}, SendAction.MARK_SENT),
        ({**SENDING, "proven_provider_id": "wamid.2"}, SendAction.MARK_SENT),
        ({**SENDING, "started_at": NOW - timedelta(seconds=5)}, SendAction.AWAIT_EVIDENCE),
        # A person owns the conversation: the assistant's reply is withdrawn, a notice is not.
        ({"conversation_status": ConversationStatus.HANDOFF}, SendAction.WITHDRAW),
        ({"conversation_status": ConversationStatus.CLOSED}, SendAction.WITHDRAW),
        (
            {
                "conversation_status": ConversationStatus.HANDOFF,
                "content": replace(TEXT, details={"author": "handoff_notice"}),
            },
            SendAction.SEND,
        ),
        # Withdrawing outranks a paused tenant: nothing is left to send later.
        (
            {"conversation_status": ConversationStatus.HANDOFF, "sending_paused": True},
            SendAction.WITHDRAW,
        ),
        ({"sending_paused": True}, SendAction.PAUSED),
        ({"sending_paused": True, "credentials_error": "no token"}, SendAction.PAUSED),
        ({"credentials_error": "no token"}, SendAction.UNUSABLE_CREDENTIALS),
        # The 24-hour window.
        ({"last_inbound_at": NOW - timedelta(hours=25)}, SendAction.WINDOW_CLOSED),
        ({"last_inbound_at": None}, SendAction.WINDOW_CLOSED),
        (
            {"last_inbound_at": None, "credentials_error": "no token"},
            SendAction.UNUSABLE_CREDENTIALS,
        ),
        (
            {"last_inbound_at": NOW - timedelta(hours=25), "reengagement_template": TEMPLATE},
            SendAction.SEND,
        ),
        # What the provider would refuse whatever we do.
        ({"content": replace(TEXT, type="location")}, SendAction.INVALID),
        ({"content": replace(TEXT, type="image")}, SendAction.INVALID),
        ({"content": replace(TEXT, text="")}, SendAction.INVALID),
        # The breaker, only for a message that could go.
        ({"breaker": OPEN_UNTIL}, SendAction.AWAIT_BREAKER),
        ({"breaker": TRIAL_OUT}, SendAction.AWAIT_BREAKER),
        ({"breaker": OPEN_UNTIL, "content": replace(TEXT, type="location")}, SendAction.INVALID),
        ({"breaker": COOLED}, SendAction.SEND),
        ({}, SendAction.SEND),
        ({**SENDING, "uncertain": False}, SendAction.SEND),
        ({**SENDING, "started_at": NOW - WAIT}, SendAction.SEND),
    ],
)
def test_each_exit(changes: dict, action: SendAction) -> None:
    assert decide_send(replace(FACTS, **changes)).action == action


def test_a_send_carries_its_request_with_our_id() -> None:
    verdict = decide_send(FACTS)

    assert verdict.request == build_request(TEXT)
    assert verdict.request["biz_opaque_callback_data"] == "recado:7"
    assert (verdict.resend, verdict.trial_until, verdict.template) == (False, None, None)


def test_after_waiting_long_enough_for_evidence_the_send_counts_as_a_resend() -> None:
    verdict = decide_send(replace(FACTS, **SENDING, started_at=NOW - WAIT))

    assert verdict.action == SendAction.SEND
    assert verdict.resend


def test_evidence_is_awaited_until_the_wait_is_over() -> None:
    verdict = decide_send(replace(FACTS, **SENDING, started_at=NOW - timedelta(seconds=5)))

    assert verdict.wait == timedelta(seconds=115)


def test_an_id_proven_by_a_stored_status_is_recorded_even_for_a_settled_message() -> None:
    settled = decide_send(replace(FACTS, status=S.FAILED, proven_provider_id="wamid.2"))
    accepted = decide_send(replace(FACTS, **SENDING, proven_provider_id="wamid.2"))
    recorded = decide_send(
        replace(FACTS, **SENDING, recorded_provider_id="wamid.1", proven_provider_id="wamid.1")
    )

    assert (settled.action, settled.attach_provider_id) == (SendAction.DONE, "wamid.2")
    assert accepted.attach_provider_id == "wamid.2"
    assert recorded.attach_provider_id is None


def test_outside_the_window_the_template_replaces_the_text() -> None:
    verdict = decide_send(
        replace(FACTS, last_inbound_at=NOW - timedelta(hours=25), reengagement_template=TEMPLATE)
    )

    assert verdict.template == TEMPLATE
    assert verdict.request == build_request(as_template(TEXT, TEMPLATE))
    assert verdict.request["type"] == "template"


def test_a_template_conversion_is_kept_when_the_breaker_defers_the_send() -> None:
    verdict = decide_send(
        replace(
            FACTS,
            last_inbound_at=None,
            reengagement_template=TEMPLATE,
            breaker=OPEN_UNTIL,
        )
    )

    assert (verdict.action, verdict.template) == (SendAction.AWAIT_BREAKER, TEMPLATE)


@pytest.mark.parametrize(
    ("breaker", "wait"),
    [(OPEN_UNTIL, timedelta(seconds=10)), (TRIAL_OUT, POLICY.cooldown)],
)
def test_the_breaker_says_how_long_to_wait(breaker: Breaker, wait: timedelta) -> None:
    assert decide_send(replace(FACTS, breaker=breaker)).wait == wait


def test_after_the_cool_down_the_send_is_the_trial_call() -> None:
    verdict = decide_send(replace(FACTS, breaker=COOLED))

    assert verdict.trial_until == NOW + POLICY.trial_timeout


def test_an_invalid_message_says_why() -> None:
    verdict = decide_send(replace(FACTS, content=replace(TEXT, type="location")))

    assert verdict.reason == "type 'location' cannot be sent"
