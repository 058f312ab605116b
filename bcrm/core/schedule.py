"""The worker's schedule: what `bcrm worker` checks every tick.

Each app registers its own scheduled work in its AppConfig.ready() (segmentation: scheduled re-runs and
ended overrides; playbooks: the daily automation; progress: report deliveries due or to retry; monitoring:
the monthly KPI snapshot). The worker reads only this registry, so it imports no app above core, and a new
app's schedule is one ``register`` call in that app.

A check claims what is due (a row lock, so several workers never do anything twice), enqueues it and
returns the names of what it enqueued (empty when nothing was due). Checks run in registration order, which
is INSTALLED_APPS order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[[], list[str]]


@dataclass(frozen=True)
class ScheduledWork:
    name: str
    check: Check


_registry: dict[str, ScheduledWork] = {}


def register(name: str, check: Check) -> None:
    """Add (or replace) the scheduled work ``name``: ``check()`` enqueues what is due and names it."""
    _registry[name] = ScheduledWork(name, check)


def registered() -> list[ScheduledWork]:
    return list(_registry.values())


def tick() -> list[str]:
    """Run every check once; the names of everything enqueued."""
    due: list[str] = []
    for work in _registry.values():
        due.extend(work.check())
    return due
