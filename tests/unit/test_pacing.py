"""How fast the events writers send after DynamoDB throttles them (AIMD), and the deadline they stop at."""

from __future__ import annotations

import pytest
from shipment_processor.pacing import (
    DECREASE,
    INCREASE_MIN_PER_S,
    MIN_RATE,
    Pacer,
    is_throttling,
    writes_deadline,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_paced_until_dynamodb_first_throttles() -> None:
    pacer = Pacer(Clock())

    assert [pacer.reserve(25) for _ in range(100)] == [0.0] * 100
    assert pacer.rate is None


def test_a_throttle_cuts_the_rate_to_a_share_of_what_was_being_stored() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    for _ in range(40):  # 1,000 items stored within the last second
        pacer.stored(25)
        clock.now += 0.02

    pacer.throttled(sent_at=clock.now)

    assert pacer.rate == pytest.approx(1_000 * DECREASE, rel=0.05)
    assert not pacer.slowest(), "a throttled chain is not counted as failing while it still stores"


def test_sends_are_spaced_at_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    pacer.throttled(sent_at=clock.now)  # nothing stored yet: the slowest rate
    assert pacer.rate == MIN_RATE

    waits = [pacer.reserve(25) for _ in range(3)]

    assert waits == pytest.approx([0.0, 1.0, 2.0])


def test_answers_to_requests_sent_before_the_last_cut_do_not_cut_again() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    for _ in range(50):
        pacer.stored(25)
    sent = clock.now
    clock.now += 0.01
    pacer.throttled(sent_at=clock.now)
    rate = pacer.rate

    pacer.throttled(sent_at=sent)  # in flight when the rate was cut: says nothing new
    assert pacer.rate == rate
    clock.now += 0.05
    pacer.throttled(sent_at=clock.now)
    assert pacer.rate is not None and rate is not None and pacer.rate < rate
    assert pacer.throttles == 3


def test_the_rate_grows_additively_while_writes_are_stored() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    pacer.throttled(sent_at=clock.now)
    assert pacer.rate == MIN_RATE

    for _ in range(10):
        clock.now += 0.1
        pacer.stored(5)

    assert pacer.rate == pytest.approx(MIN_RATE + INCREASE_MIN_PER_S * 1.0)


def test_answers_that_store_nothing_do_not_speed_the_writer_up() -> None:
    """A table refusing everything keeps the writer at its slowest, however long the answers take to come (a
    loaded machine, a slow network): so a writer counts its refused attempts and gives up, as it should."""
    clock = Clock()
    pacer = Pacer(clock)
    pacer.throttled(sent_at=clock.now)
    assert pacer.slowest()

    for _ in range(5):  # answers from other shards' requests, all refused, sent before the cut
        clock.now += 0.5
        pacer.stored(0)
        pacer.throttled(sent_at=clock.now - 10)

    assert pacer.slowest()
    clock.now += 0.5
    pacer.stored(1)
    assert not pacer.slowest(), "what is stored speeds it up again"


def test_a_cut_counts_only_what_was_stored_within_the_last_second() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    pacer.stored(1_000)
    clock.now += 2.0
    pacer.stored(100)  # the 1,000 are two seconds old: out of the window

    pacer.throttled(sent_at=clock.now)

    assert pacer.rate == pytest.approx(100 * DECREASE)


def test_a_rate_never_falls_below_one_batch_a_second() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    for _ in range(20):
        clock.now += 1
        pacer.throttled(sent_at=clock.now)

    assert pacer.rate == MIN_RATE
    assert pacer.slowest()


def test_throttling_is_dynamodbs_throttling_codes_and_unprocessed_items() -> None:
    assert is_throttling("ProvisionedThroughputExceededException")
    assert is_throttling("ThrottlingException")
    assert is_throttling("RequestLimitExceeded")
    assert is_throttling("12 unprocessed items")
    assert not is_throttling("InternalServerError")
    assert not is_throttling("connection failed: ConnectionResetError()")


def test_the_writers_stop_half_the_checkpoint_margin_before_the_invocation_ends() -> None:
    assert writes_deadline(None, 5_000) is None
    assert writes_deadline(30_000, 5_000, clock=lambda: 10.0) == pytest.approx(10.0 + 27.5)
    assert writes_deadline(1_000, 5_000, clock=lambda: 10.0) == 10.0, "already past it: no waiting at all"
