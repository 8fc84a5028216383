"""Fixtures for the data-parallel tests: an in-process group of ranks on threads (no torch.distributed)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest


class ThreadGroup:
    """``world`` ranks as threads exchanging Python objects: the ``Collective`` protocol without processes."""

    def __init__(self, world: int) -> None:
        self.world = world
        self._barrier = threading.Barrier(world, timeout=30)
        self._slots: list[Any] = [None] * world

    def member(self, rank: int) -> "ThreadCollective":
        return ThreadCollective(self, rank)

    def run(self, fn: Callable[[int, "ThreadCollective"], Any]) -> list[Any]:
        """``fn(rank, comm)`` on every rank at once; each rank's return value (or exception), by rank."""
        def call(r: int) -> Any:
            try:
                return fn(r, self.member(r))
            except Exception as exc:  # noqa: BLE001 -- the test inspects it
                return exc

        with ThreadPoolExecutor(self.world) as pool:
            return list(pool.map(call, range(self.world)))


class ThreadCollective:
    def __init__(self, group: ThreadGroup, rank: int) -> None:
        self._g, self._rank = group, rank

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._g.world

    def all_gather_object(self, obj: Any) -> list[Any]:
        self._g._slots[self._rank] = obj
        self._g._barrier.wait()
        out = list(self._g._slots)
        self._g._barrier.wait()  # nobody overwrites a slot before everyone has read
        return out

    def broadcast_object(self, obj: Any) -> Any:
        return self.all_gather_object(obj)[0]

    def barrier(self) -> None:
        self._g._barrier.wait()


@pytest.fixture()
def thread_group() -> Callable[[int], ThreadGroup]:
    return ThreadGroup
