"""The bounded hand-over behind the W&B writer, with real threads: it waits, never drops, bounds memory."""

from __future__ import annotations

import threading
import time

from exptool.tracking.writers._backlog import Backlog


def test_a_full_backlog_makes_the_producer_wait_until_the_consumer_takes():
    backlog = Backlog(capacity=10)
    for i in range(10):
        assert backlog.put(i, 1)
    got: list[int] = []

    def consume() -> None:
        time.sleep(0.3)
        while len(got) < 30:
            got.extend(backlog.take(4))

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(10, 30):
        assert backlog.put(i, 1)
    consumer.join(10)
    assert got == list(range(30))  # in order, nothing lost
    assert backlog.waits >= 1 and backlog.waited > 0.1 and backlog.peak <= 10


def test_an_item_bigger_than_the_budget_still_passes_an_empty_backlog():
    backlog = Backlog(capacity=10)
    assert backlog.put("big", 100)
    assert backlog.take(5) == ["big"]


def test_a_stalled_consumer_is_given_up_on_and_a_closed_backlog_refuses():
    backlog = Backlog(capacity=2)
    backlog.put("a", 2)
    started = time.monotonic()
    assert backlog.put("b", 1, stall=0.5) is False  # nobody takes anything: give up, do not hang
    assert time.monotonic() - started >= 0.5
    backlog.close()
    assert backlog.put("c", 1) is False
    assert backlog.put("end", 0, force=True)  # the end marker still goes in
    assert backlog.take(10) == ["a", "end"]


def test_close_wakes_a_waiting_producer():
    backlog = Backlog(capacity=1)
    backlog.put("a", 1)
    result: list[bool] = []
    producer = threading.Thread(target=lambda: result.append(backlog.put("b", 1)))
    producer.start()
    time.sleep(0.2)
    backlog.close()
    producer.join(5)
    assert result == [False]
