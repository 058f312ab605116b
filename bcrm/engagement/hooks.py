"""What engagement asks of the apps above it. Those apps fill it in their AppConfig.ready(); engagement imports
none of them (README "Architecture": a lower app publishes, a higher app implements).

- the SLA policy: when a new service request's first response and resolution are due (playbooks: the
  client's tier playbook in the team's working calendar);
- task rules: how a task that a higher app generated (``Task.source``) is completed and placed (playbooks: a
  playbook task logs the interaction it stands for and is placed by a lead within its team).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DueDates = tuple[dt.datetime | None, dt.datetime | None]
SlaPolicy = Callable[[Any, dt.datetime], DueDates]

_sla_policy: list[SlaPolicy] = []


def set_sla_policy(policy: SlaPolicy) -> None:
    """``policy(organization, opened_at)`` gives (first response due, resolution due)."""
    _sla_policy[:] = [policy]


def sla_due_dates(organization, opened_at: dt.datetime) -> DueDates:
    """(first response due, resolution due) of a request opened now; (None, None) without a policy."""
    return _sla_policy[0](organization, opened_at) if _sla_policy else (None, None)


@dataclass(frozen=True)
class TaskRules:
    """How the tasks of one source are done and placed, instead of a plain edit of the task."""

    #: ``complete(actor=, task=, expected_version=)``: done with its defaults, returns the task
    complete: Callable[..., Any]
    #: ``assign(actor=, task=, assignee=, expected_version=)``: returns the task
    assign: Callable[..., Any]


_task_rules: dict[str, TaskRules] = {}


def set_task_rules(source: str, rules: TaskRules) -> None:
    _task_rules[source] = rules


def task_rules(source: str) -> TaskRules | None:
    return _task_rules.get(source)
