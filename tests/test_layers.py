"""The layers (README "Architecture"): no app imports upward, and the hooks that let a lower app ask a higher
one are filled in by the higher app's AppConfig.ready()."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bcrm.core import schedule
from bcrm.engagement import hooks as engagement_hooks
from bcrm.engagement.choices import TaskSource
from bcrm.parties import hooks as parties_hooks
from bcrm.playbooks import hooks as playbooks_hooks
from bcrm.playbooks.choices import Action
from bcrm.playbooks.services import task_assign, task_complete
from bcrm.progress.services import queue_progress_reports

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold():
    """The same check `make lint` runs: an upward import anywhere in bcrm fails it."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_cross_app_import_runs_upward():
    result = subprocess.run([sys.executable, "tools/xapp.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "upward 0 " in result.stdout


def test_the_worker_reads_the_schedule_each_app_registered():
    assert [work.name for work in schedule.registered()] == [
        "queue.heartbeat", "segmentation", "imports.heartbeat", "mailbox and calendar sync", "automation",
        "automation.heartbeat", "e-mail deliveries", "kpi snapshot", "audit seal", "audit check", "backup",
        "webhooks"]


def test_the_hooks_of_lower_apps_are_filled_by_the_apps_above():
    rules = engagement_hooks.task_rules(TaskSource.PLAYBOOK)
    assert rules is not None and rules.complete is task_complete and rules.assign is task_assign
    assert engagement_hooks.task_rules(TaskSource.MANUAL) is None  # a task made by hand is edited as it is
    assert engagement_hooks._sla_policy, "playbooks sets the SLA policy of new service requests"
    assert playbooks_hooks.deliverable(Action.PROGRESS_REPORT) is queue_progress_reports
    assert "tiers_pending" in parties_hooks._CLIENT_LIST_CONTEXT
