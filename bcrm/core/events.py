"""Domain events: what happened, said once by the service that made it happen, for whoever listens.

A service calls :func:`emit` (or :func:`emit_many` for a batch) inside its own transaction, after the change:
``emit("task.completed", {"task": 12, …})``. Listeners registered with :func:`listen` (in an app's
``AppConfig.ready``) are called at once, in the same transaction, so what they record (e.g. the webhook outbox of
:mod:`bcrm.connect`) commits or rolls back with the change itself. This module imports nothing of bcrm, so any
app can emit without importing the apps that listen.

:func:`wanted` lets a hot path (automation creating a million tasks) skip building payloads nobody listens to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

# The events bcrm emits, with what their payload holds (ids, codes and values; never free text about a person).
EVENTS: dict[str, str] = {
    "client.class_changed": "organization, dimension, from, to, source (run or override)",
    "task.created": "task, organization, assignee, due_at, source",
    "task.completed": "task, organization, assignee, completed_at",
    "survey.answered": "invitation, organization, contact, nps, csat",
    "plan.status_changed": "plan, organization, project, from, to",
    "book.allocated": "project, tranche, policy, lines, total",
}

Listener = Callable[[str, Sequence[Mapping[str, Any]]], None]
Interest = Callable[[str], bool]

_listeners: list[tuple[Listener, Interest | None]] = []


def listen(listener: Listener, *, interested: Interest | None = None) -> None:
    """Call ``listener(name, payloads)`` for every event; ``interested(name)`` (optional, cheap) says whether the
    listener wants events of that name at all, so emitters can skip building payloads."""
    if all(existing is not listener for existing, _ in _listeners):
        _listeners.append((listener, interested))


def wanted(name: str) -> bool:
    """Whether any listener wants events called ``name``."""
    return any(interested is None or interested(name) for _, interested in _listeners)


def emit_many(name: str, payloads: Iterable[Mapping[str, Any]]) -> None:
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r}")
    batch = [dict(p) for p in payloads]
    if not batch:
        return
    for listener, interested in _listeners:
        if interested is None or interested(name):
            listener(name, batch)


def emit(name: str, payload: Mapping[str, Any]) -> None:
    emit_many(name, [payload])
