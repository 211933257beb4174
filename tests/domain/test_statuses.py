"""The delivery state machine: every (current, new) pair, and every arrival order."""

import itertools

import pytest

from domain.statuses import DeliveryStatus, advance, status_effect

P, SG, ST, D, R, F, C = (
    DeliveryStatus.PENDING,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
    DeliveryStatus.FAILED,
    DeliveryStatus.CANCELLED,
)

# Every transition that counts as progress; all other pairs must be refused.
FORWARD = {
    # Withdrawn before it goes (the send step only withdraws while no attempt is out).
    P: {SG, ST, D, R, F, C},
    SG: {ST, D, R, F, C},
    ST: {D, R, F},
    # Reached the customer's device: a failure reported for it, earlier or later, cannot undo that.
    D: {R},
    R: set(),
    # Failed, then proof of delivery: the proof wins. A late `sent` changes nothing.
    F: {D, R},
    # Withdrawn, but a status webhook proves an earlier attempt went out after all.
    C: {ST, D, R, F},
}

# The rule, stated on its own: a message settles on the first of these it has (read and delivered
# prove delivery, failed is the provider giving up, sent is acceptance; then our own states).
PROOF = (R, D, F, ST, C, SG, P)
PROVIDER_STATUSES = (ST, D, R, F)
SUBSETS = [
    frozenset(chosen)
    for size in range(len(PROVIDER_STATUSES) + 1)
    for chosen in itertools.combinations(PROVIDER_STATUSES, size)
]
# What a message may be when its provider statuses arrive: not yet sent (the statuses were parked
# or carry our callback id), withdrawn, sent, or failed by the send step itself.
STARTS = (P, SG, C, ST, F)


def test_table_covers_every_status():
    assert set(FORWARD) == set(DeliveryStatus)


@pytest.mark.parametrize(
    ("current", "new"),
    list(itertools.product(DeliveryStatus, DeliveryStatus)),
    ids=lambda s: s.value,
)
def test_transition(current: DeliveryStatus, new: DeliveryStatus):
    assert advance(current, new) is (new in FORWARD[current])


def _settle(start: DeliveryStatus, arrivals: tuple[DeliveryStatus, ...]) -> tuple:
    """Apply statuses in arrival order: the final state and the failure reports left open."""
    current = start
    # A message the send step failed already has its dead letter.
    open_failures = 1 if start == F else 0
    reports = 0
    for new in arrivals:
        effect = status_effect(current, new)
        reports += effect.reports_failure
        open_failures += effect.reports_failure - effect.settles_failure
        if effect.moves:
            current = new
    return current, open_failures, reports


@pytest.mark.parametrize("start", STARTS, ids=lambda s: s.value)
@pytest.mark.parametrize("received", SUBSETS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_final_state_is_a_function_of_the_set_received_not_the_order(
    start: DeliveryStatus, received: frozenset[DeliveryStatus]
):
    expected = next(s for s in PROOF if s in received | {start})
    for arrivals in itertools.permutations(received):
        final, open_failures, reports = _settle(start, arrivals)
        assert final is expected, arrivals
        # A failure is reported at most once, and stays open exactly when the message is failed.
        assert reports <= 1, arrivals
        assert open_failures == (1 if final is F else 0), arrivals


def test_read_then_failed_and_failed_then_read_both_end_read():
    assert _settle(ST, (R, F)) == (R, 0, 0)
    assert _settle(ST, (F, R)) == (R, 0, 1)


def test_out_of_order_webhooks_settle_on_the_furthest_status():
    # read arrives first, then the late delivered and sent: only read is recorded.
    current = ST
    for incoming in (R, D, ST):
        if advance(current, incoming):
            current = incoming
    assert current is R


def test_values_are_the_stored_strings():
    assert [s.value for s in DeliveryStatus] == [
        "pending",
        "sending",
        "sent",
        "delivered",
        "read",
        "failed",
        "cancelled",
    ]
    assert DeliveryStatus("delivered") is D
