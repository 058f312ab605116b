"""What playbooks ask of the apps above them. Those apps fill it in their AppConfig.ready(); playbooks imports
none of them (README "Architecture": a lower app publishes, a higher app implements).

- deliverables: the work behind an automated playbook step, by action (progress: ``Action.PROGRESS_REPORT``
  queues the month's progress reports, ``queue(period=, organization_ids=, now=, run_id=, count_skipped=)``
  returning a result with ``created``). Without one, the automation skips that step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_deliverables: dict[str, Callable[..., Any]] = {}


def set_deliverable(action: str, queue: Callable[..., Any]) -> None:
    _deliverables[action] = queue


def deliverable(action: str) -> Callable[..., Any] | None:
    return _deliverables.get(action)
