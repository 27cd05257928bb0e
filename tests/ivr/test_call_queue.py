"""The line queue's order and claims (ivr.call_queue): arrival order, callback owner first."""

from __future__ import annotations

from datetime import datetime

import pytest

from ivr.call_queue import CallQueue, CallQueues, QueueingReservations, Waiter
from ivr.hotline import LocalReservations


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


def joined(queue: CallQueue, clock: Clock, *callers: tuple[str, str]) -> list[Waiter]:
    waiters = []
    for call_id, owner in callers:
        clock.t += 1
        waiter = Waiter(call_id, f"138{call_id}", owner)
        assert queue.join(waiter, max_length=10) is not None
        waiters.append(waiter)
    return waiters


def test_positions_follow_arrival(clock):
    queue = CallQueue("hq", clock)
    a, b, c = joined(queue, clock, ("a", ""), ("b", ""), ("c", ""))
    assert [queue.position(w) for w in (a, b, c)] == [1, 2, 3]
    queue.leave(b)
    assert [queue.position(w) for w in (a, b, c)] == [1, 0, 2]


def test_a_free_engineer_takes_the_longest_waiting(clock):
    queue = CallQueue("hq", clock)
    a, b = joined(queue, clock, ("a", ""), ("b", ""))
    assert queue.next_for("张伟") is a
    assert not queue.claim(b, "张伟")
    assert queue.claim(a, "张伟")
    assert queue.position(a) == 0 and queue.position(b) == 1


def test_the_owner_takes_their_caller_first(clock):
    """3.3(5): 李娜 owns c's open callback, so 李娜 takes c before the longer-waiting a and b."""
    queue = CallQueue("hq", clock)
    a, b, c = joined(queue, clock, ("a", ""), ("b", ""), ("c", "李娜"))
    assert queue.next_for("李娜") is c
    assert queue.next_for("张伟") is a
    assert not queue.claim(a, "李娜")
    assert queue.claim(c, "李娜")
    assert queue.may_take(a) and not queue.may_take(b)


def test_only_the_head_or_an_owned_caller_asks_the_router(clock):
    queue = CallQueue("hq", clock)
    a, b, c = joined(queue, clock, ("a", ""), ("b", ""), ("c", "李娜"))
    assert [queue.may_take(w) for w in (a, b, c)] == [True, False, True]


def test_a_full_queue_refuses_newcomers_but_not_returning_callers(clock):
    queue = CallQueue("hq", clock)
    a, b = joined(queue, clock, ("a", ""), ("b", ""))
    assert queue.join(Waiter("c", "138c"), max_length=2) is None
    assert queue.claim(a, "张伟")  # a is rung ...
    clock.t += 1
    assert queue.join(Waiter("d", "138d"), max_length=2) == 2
    assert queue.join(a, max_length=2) == 1  # ... nobody answered: a is back, first again


def test_stats_count_waiting_and_the_longest_wait(clock):
    queue = CallQueue("hq", clock)
    assert queue.stats().waiting == 0 and queue.stats().longest_wait_s == 0
    joined(queue, clock, ("a", ""), ("b", ""))
    clock.t += 30
    stats = queue.stats()
    assert stats.waiting == 2 and stats.longest_wait_s == pytest.approx(31)


@pytest.mark.parametrize(("position", "staffed", "talks", "expected"), [
    (1, 1, [], 120.0),  # half the assumed 240 s conversation
    (3, 1, [], 600.0),
    (3, 5, [], 120.0),
    (2, 1, [100.0, 200.0], 225.0),  # measured: mean 150 s
])
def test_expected_wait(clock, position, staffed, talks, expected):
    queue = CallQueue("hq", clock)
    for talk in talks:
        queue.conversation_ended(talk)
    assert queue.expected_wait_s(position, staffed, assumed_talk_s=240.0) == pytest.approx(expected)


def test_a_release_wakes_every_line(clock):
    queues = CallQueues(clock)
    hq, regional = queues.line("hq"), queues.line("regional")
    before = (hq.generation, regional.generation)
    reservations = QueueingReservations(LocalReservations(), queues)
    assert reservations.reserve("张伟") and not reservations.reserve("张伟")
    reservations.release("张伟", datetime.now(), talked=True)
    assert hq.generation > before[0] and regional.generation > before[1]
    assert reservations.reserve("张伟")
    assert set(queues.stats()) == {"hq", "regional"}
