"""Fault injection for the sandbox: answer the next requests with an error, or hang.

Tests use it to make the platform fail at a chosen step (a 500, a request that never
answers) and to hold an import in ``validating`` or ``ingesting`` while a client is
killed.
"""

from __future__ import annotations

import re
import threading

import attrs


@attrs.define
class Rule:
    """What to do with the next ``count`` requests matching ``method`` and ``path``."""

    action: str  # "fail" or "hang"
    count: int
    method: str | None
    path: re.Pattern[str] | None
    status: int = 500
    seconds: float = 0.0
    after: bool = False  # hang after handling the request, before answering

    def matches(self, method: str, path: str) -> bool:
        """True if this rule applies to the request."""
        return (self.method is None or self.method == method) and (
            self.path is None or self.path.search(path) is not None
        )


class Faults:
    """The sandbox's fault rules, and holds on its background stages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.released = threading.Event()  # set on stop or clear: ends every hang
        self._holds: dict[str, threading.Event] = {}

    def fail(
        self, count: int = 1, status: int = 500, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``."""
        self._add(Rule("fail", count, method, re.compile(path) if path else None, status=status))

    def hang(
        self,
        seconds: float = 3600.0,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        after: bool = False,
    ) -> None:
        """Hang the next ``count`` matching requests for ``seconds`` (or until cleared);
        with ``after``, the request is carried out first and only the answer hangs."""
        self._add(
            Rule("hang", count, method, re.compile(path) if path else None, 500, seconds, after)
        )

    def _add(self, rule: Rule) -> None:
        with self._lock:
            self.released.clear()
            self._rules.append(rule)

    def clear(self) -> None:
        """Drop every rule, release hanging requests and held stages."""
        with self._lock:
            self._rules.clear()
            self.released.set()
            for event in self._holds.values():
                event.set()
            self._holds.clear()

    def take(self, method: str, path: str) -> Rule | None:
        """The rule for this request (counting it down), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.count > 0 and rule.matches(method, path):
                    rule.count -= 1
                    return rule
        return None

    def wait(self, seconds: float) -> None:
        """Hang: block up to ``seconds`` or until released."""
        self.released.wait(seconds)

    # -- holds on background stages -------------------------------------------

    def hold(self, stage: str) -> None:
        """Keep imports in ``stage`` ("validating" or "ingesting") until :meth:`release`."""
        with self._lock:
            self._holds.setdefault(stage, threading.Event())

    def release(self, stage: str) -> None:
        """Let imports held in ``stage`` go on."""
        with self._lock:
            event = self._holds.pop(stage, None)
        if event is not None:
            event.set()

    def wait_for_release(self, stage: str, stopping: threading.Event) -> None:
        """Block a background stage while it is held (or until the sandbox stops)."""
        while not stopping.is_set():
            with self._lock:
                event = self._holds.get(stage)
            if event is None:
                return
            event.wait(0.1)
