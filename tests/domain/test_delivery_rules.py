"""Pure delivery rules: resend safety, the 24-hour window, the breaker, pacing."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.breaker import CLOSED, Breaker, BreakerPolicy, BreakerState, admit, on_transient_failure
from domain.outbox import SendDecision, callback_data, parse_callback_data, send_decision
from domain.pacing import Rate, take
from domain.statuses import DeliveryStatus as S
from domain.window import WindowDecision, inbound_at, window_decision

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WAIT = timedelta(seconds=120)


@pytest.mark.parametrize(
    ("status", "provider_id", "uncertain", "started", "expected"),
    [
        (S.PENDING, None, False, None, SendDecision.SEND),
        (S.SENDING, None, False, NOW, SendDecision.SEND),  # provider said no: safe to send
        (S.SENDING, None, True, NOW - timedelta(seconds=5), SendDecision.AWAIT_EVIDENCE),
        (S.SENDING, None, True, NOW - WAIT, SendDecision.RESEND),
        (S.SENDING, "wamid.1", True, NOW, SendDecision.ALREADY_ACCEPTED),
        (S.SENT, "wamid.1", False, NOW, SendDecision.DONE),
        (S.DELIVERED, "wamid.1", False, NOW, SendDecision.DONE),
        (S.READ, "wamid.1", False, NOW, SendDecision.DONE),
        (S.FAILED, None, False, NOW, SendDecision.DONE),
    ],
)
def test_send_decision(status, provider_id, uncertain, started, expected):
    decision = send_decision(
        status=status,
        provider_message_id=provider_id,
        uncertain=uncertain,
        started_at=started,
        now=NOW,
        evidence_wait=WAIT,
    )
    assert decision == expected


def test_callback_data_round_trip_and_foreign_values():
    assert parse_callback_data(callback_data(42)) == 42
    for foreign in (None, "", "recado:", "recado:x1", "other:42", "recado:4²"):
        assert parse_callback_data(foreign) is None


@pytest.mark.parametrize(
    ("is_template", "hours_ago", "has_template", "expected"),
    [
        (False, 1, False, WindowDecision.SEND),
        (False, 23.99, False, WindowDecision.SEND),
        (False, 24, True, WindowDecision.USE_TEMPLATE),
        (False, 48, False, WindowDecision.NEEDS_HUMAN),
        (False, None, True, WindowDecision.USE_TEMPLATE),
        (True, 48, False, WindowDecision.SEND),
    ],
)
def test_window_decision(is_template, hours_ago, has_template, expected):
    last = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    decision = window_decision(
        is_template=is_template,
        last_inbound_at=last,
        now=NOW,
        has_reengagement_template=has_template,
    )
    assert decision == expected


@pytest.mark.parametrize(
    ("provider_at", "expected"),
    [
        (NOW - timedelta(hours=2), NOW - timedelta(hours=2)),  # written before it arrived
        (NOW, NOW),
        (NOW + timedelta(seconds=5), NOW),  # a sender's clock a little ahead
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), NOW),
    ],
)
def test_an_inbound_message_counts_as_written_no_later_than_received(provider_at, expected):
    assert inbound_at(provider_at, NOW) == expected


def test_a_year_9999_timestamp_does_not_hold_the_window_open():
    written = inbound_at(datetime(9999, 12, 31, tzinfo=UTC), NOW)
    later = NOW + timedelta(hours=25)
    decision = window_decision(
        is_template=False, last_inbound_at=written, now=later, has_reengagement_template=False
    )
    assert decision == WindowDecision.NEEDS_HUMAN


def test_breaker_opens_after_threshold_then_half_opens_and_closes():
    policy = BreakerPolicy(failure_threshold=3, cooldown=timedelta(seconds=30))
    breaker = CLOSED
    for _ in range(2):
        breaker = on_transient_failure(breaker, NOW, policy)
        assert admit(breaker, NOW, policy)[0]
    breaker = on_transient_failure(breaker, NOW, policy)
    assert breaker.state == BreakerState.OPEN
    assert admit(breaker, NOW + timedelta(seconds=29), policy)[0] is False
    allowed, trial = admit(breaker, NOW + timedelta(seconds=30), policy)
    assert allowed and trial.state == BreakerState.HALF_OPEN
    # While the trial is out, nobody else calls.
    assert admit(trial, NOW + timedelta(seconds=31), policy)[0] is False
    # A failed trial opens it again for a full cool-down.
    reopened = on_transient_failure(trial, NOW + timedelta(seconds=31), policy)
    assert reopened == Breaker(BreakerState.OPEN, 4, NOW + timedelta(seconds=61))
    # A trial that never reports frees the slot.
    assert admit(trial, NOW + timedelta(seconds=30) + policy.trial_timeout, policy)[0]


def test_pacing_allows_a_burst_then_the_rate():
    rate = Rate(per_second=2, burst=3)
    tat = None
    for _ in range(3):
        wait, tat = take(tat, NOW, rate)
        assert wait is None
    wait, unchanged = take(tat, NOW, rate)
    assert wait == timedelta(milliseconds=500)
    assert unchanged == tat
    wait, _ = take(tat, NOW + timedelta(milliseconds=500), rate)
    assert wait is None
