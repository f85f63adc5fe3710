"""A bounded hand-over between a producer (the training thread) and one consumer thread.

The W&B writer puts every call here and its thread takes them off in batches. The backlog holds
at most ``capacity`` bytes (an estimate of what each item keeps alive), so memory stays flat over
a long run; when it is full, ``put`` waits for the consumer instead of dropping anything. It only
gives up (returns False) when the consumer stops taking items for ``stall`` seconds, which means
the backend itself is stuck or unreachable, or once the backlog is closed.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any


class Backlog:
    """A FIFO of ``(item, cost)`` with a cost budget; ``put`` blocks while the budget is spent.

    Attributes:
        capacity: the budget (bytes, estimated by the producer).
        taken: items handed to the consumer so far (what progress and stall checks watch).
        peak: the largest total cost held at once.
        waits: how many ``put`` calls had to wait for room (backpressure events).
        waited: seconds producers spent waiting in total.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.taken = 0
        self.peak = 0
        self.waits = 0
        self.waited = 0.0
        self._items: collections.deque[tuple[Any, int]] = collections.deque()
        self._cost = 0
        self._closed = False
        self._cond = threading.Condition(threading.Lock())

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any, cost: int = 1, *, stall: float | None = None, force: bool = False) -> bool:
        """Append ``item``; when it does not fit, wait until half the budget is free.

        An item bigger than the whole budget waits for an empty backlog.

        Args:
            stall: give up (return False) once the consumer has taken nothing for this many seconds.
            force: append at once, even when full or closed (the end-of-stream marker).

        Returns:
            True when the item was queued, False when the backlog is closed or the consumer stalled.
        """
        with self._cond:
            if not force and self._items and self._cost + cost > self.capacity and not self._closed:
                # Wait until half the budget is free, not just room for this item: a producer that
                # wakes for every item taken would compete with the consumer for the GIL all the time.
                low = min(self.capacity // 2, self.capacity - cost)
                self.waits += 1
                started = last_move = time.monotonic()
                seen = self.taken
                while self._items and self._cost > low and not self._closed:
                    self._cond.wait(0.25)
                    now = time.monotonic()
                    if self.taken != seen:
                        seen, last_move = self.taken, now
                    elif stall is not None and now - last_move >= stall:
                        self.waited += now - started
                        return False
                self.waited += time.monotonic() - started
            if self._closed and not force:
                return False
            self._items.append((item, cost))
            self._cost += cost
            if self._cost > self.peak:
                self.peak = self._cost
            self._cond.notify_all()
            return True

    def take(self, most: int) -> list[Any]:
        """Remove and return up to ``most`` items (at least one; waits for it)."""
        with self._cond:
            while not self._items:
                self._cond.wait()
            batch = []
            for _ in range(min(most, len(self._items))):
                item, cost = self._items.popleft()
                self._cost -= cost
                batch.append(item)
            self.taken += len(batch)
            self._cond.notify_all()
            return batch

    def close(self) -> None:
        """Refuse further items and wake every waiting producer (they return False)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
