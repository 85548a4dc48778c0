"""The answers a `Repository` keeps: the most recently used, shared between threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

import pandas as pd

__all__ = ["ResultCache"]

T = TypeVar("T")


class ResultCache:
    """Answers by key, the least recently used forgotten beyond *size*.

    A DataFrame is handed out as a copy, so that a caller changing it changes no other
    caller's answer.

    Parameters
    ----------
    size
        Answers kept at most.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.RLock()
        self._answers: OrderedDict[Hashable, object] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._answers

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._answers.clear()

    def put(self, key: Hashable, value: object) -> None:
        """Keep *value* as the answer of *key*."""
        with self._lock:
            self._answers[key] = value
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The answer of *key*, from ``compute()`` when it is not kept (then kept).

        *compute* runs outside the lock, so that no query waits for another's; two
        threads asking for the same missing key may both compute it.
        """
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return _copy(cast(T, self._answers[key]))
        value = compute()
        self.put(key, value)
        return _copy(value)


def _copy(value: T) -> T:
    return cast(T, value.copy()) if isinstance(value, pd.DataFrame) else value
