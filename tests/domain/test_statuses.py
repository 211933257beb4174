"""The delivery state machine: every (current, new) pair."""

import itertools

import pytest

from domain.statuses import DeliveryStatus, advance

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
    D: {R, F},
    R: set(),
    F: set(),
    # Withdrawn, but a status webhook proves an earlier attempt went out after all.
    C: {ST, D, R, F},
}


def test_table_covers_every_status():
    assert set(FORWARD) == set(DeliveryStatus)


@pytest.mark.parametrize(
    ("current", "new"),
    list(itertools.product(DeliveryStatus, DeliveryStatus)),
    ids=lambda s: s.value,
)
def test_transition(current: DeliveryStatus, new: DeliveryStatus):
    assert advance(current, new) is (new in FORWARD[current])


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
