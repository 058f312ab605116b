"""Use cases on interactions, service requests, tasks and survey responses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_write, require, require_delete, require_organization_write
from bcrm.core import events
from bcrm.core.batch import BatchRow, EntityBatch
from bcrm.core.errors import Conflict, InvalidInput, ServiceError
from bcrm.core.fields import only_fields
from bcrm.core.services import create_instance, delete_instance, update_instance
from bcrm.engagement.choices import TaskSource, TaskStatus
from bcrm.engagement.hooks import sla_due_dates, task_rules
from bcrm.engagement.models import Interaction, ServiceRequest, SurveyResponse, Task
from bcrm.engagement.selectors import task_list
from bcrm.financing.walls import require_project_visible
from bcrm.parties.services import OrganizationAccess

INTERACTION_FIELDS = frozenset({"project", "kind", "occurred_at", "owner", "minutes_spent", "summary", "outcome"})
REQUEST_FIELDS = frozenset({
    "contact", "subject", "description", "priority", "opened_at", "first_response_at", "resolved_at", "owner",
})
TASK_FIELDS = frozenset({"title", "description", "organization", "assignee", "due_at", "status"})


def _contacts_of(organization, contacts) -> list:
    contacts = list(contacts or [])
    strangers = [c for c in contacts if c.organization_id != organization.pk]
    if strangers:
        raise InvalidInput(fields={"contacts": [
            _("%(contact)s does not work at %(organization)s.") % {"contact": c, "organization": organization}
            for c in strangers
        ]})
    return contacts


def interaction_default_owner(actor) -> int | None:
    """Who owns an interaction logged without an owner: its author (none for the system)."""
    return getattr(actor, "pk", None)


def system_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The columns of a summary the system writes, from :func:`bcrm.core.texts.text`: its code and parameters,
    and the English rendering in ``summary`` (search, exports)."""
    return {"summary": summary["message"], "summary_code": summary["template"], "summary_params": summary["params"]}


@transaction.atomic
def interaction_create(*, actor, organization, data: dict[str, Any], contacts=None,
                       summary: dict[str, Any] | None = None) -> Interaction:
    """Log an interaction. ``summary``: a text the system writes (``bcrm.core.texts.text``), stored as its code so
    each reader sees it in their language; it takes the place of ``data["summary"]``."""
    require_organization_write(actor, organization)
    data = only_fields(data, INTERACTION_FIELDS)
    if summary is not None:
        data.update(system_summary(summary))
    require_project_visible(actor, data.get("project"))
    if "owner" not in data:
        data["owner_id"] = interaction_default_owner(actor)
    data.setdefault("occurred_at", timezone.now())
    interaction = Interaction(organization=organization, **data)
    return create_instance(actor=actor, instance=interaction, m2m={"contacts": _contacts_of(organization, contacts)})


@transaction.atomic
def interaction_update(*, actor, interaction: Interaction, data: dict[str, Any], expected_version: int | None,
                       contacts=None) -> Interaction:
    require_organization_write(actor, interaction.organization)
    data = only_fields(data, INTERACTION_FIELDS)
    if interaction.summary_code and "summary" in data and data["summary"] != interaction.summary:
        data.update(summary_code="", summary_params={})  # a person rewrote the system's summary: theirs stands
    require_project_visible(actor, data.get("project"))
    m2m = {"contacts": _contacts_of(interaction.organization, contacts)} if contacts is not None else None
    return update_instance(actor=actor, instance=interaction, data=data, expected_version=expected_version, m2m=m2m)


class InteractionBatch(EntityBatch):
    """Interactions in bulk with :func:`interaction_create` / :func:`interaction_update`'s rules. A row's
    contacts (ids, of its organisation) are in ``row.m2m["contacts"]``; ``default_owner``: whether a new row
    without an owner gets the author, as :func:`interaction_create` does when no owner is given."""

    model = Interaction

    def __init__(self, actor, *, now=None, orgs: OrganizationAccess | None = None, default_owner: bool = True):
        super().__init__(actor, now=now)
        self.orgs = orgs or OrganizationAccess(actor)
        self.default_owner = default_owner

    def check_create(self, row: BatchRow, full: dict[str, Any]) -> None:
        self.orgs.require_write(full.get("organization_id"))
        if self.default_owner and full.get("owner_id") is None:
            full["owner_id"] = interaction_default_owner(self.actor)

    def check_update(self, row: BatchRow, changed: dict[str, Any]) -> None:
        self.orgs.require_write(row.obj.organization_id)
        if "summary" in changed and row.obj.summary_code:
            changed.update(summary_code="", summary_params={})  # an imported summary replaces the system's
        if "organization_id" in changed:
            self.orgs.require_write(changed["organization_id"])

    def after_write(self, creates: list[BatchRow], updates: list[BatchRow]) -> None:
        rows = [r for r in creates + updates if "contacts" in r.m2m]
        if not rows:
            return
        through = Interaction.contacts.through
        through.objects.filter(interaction_id__in=[r.pk for r in updates if "contacts" in r.m2m]).delete()
        through.objects.bulk_create([through(interaction_id=r.pk, contact_id=c) for r in rows for c in r.m2m["contacts"]])


@transaction.atomic
def interaction_delete(*, actor, interaction: Interaction) -> None:
    require_delete(actor)
    delete_instance(actor=actor, instance=interaction)


def _request_contact(organization, data):
    contact = data.get("contact")
    if contact is not None:
        _contacts_of(organization, [contact])


@transaction.atomic
def service_request_create(*, actor, organization, data: dict[str, Any]) -> ServiceRequest:
    require_organization_write(actor, organization)
    data = only_fields(data, REQUEST_FIELDS)
    data.setdefault("opened_at", timezone.now())
    _request_contact(organization, data)
    request = ServiceRequest(organization=organization, **data)
    if isinstance(request.opened_at, dt.datetime) and timezone.is_aware(request.opened_at):
        request.response_due_at, request.resolution_due_at = sla_due_dates(organization, request.opened_at)
    return create_instance(actor=actor, instance=request)


@transaction.atomic
def service_request_update(*, actor, service_request: ServiceRequest, data: dict[str, Any],
                           expected_version: int | None) -> ServiceRequest:
    require_organization_write(actor, service_request.organization)
    data = only_fields(data, REQUEST_FIELDS)
    _request_contact(service_request.organization, data)
    return update_instance(actor=actor, instance=service_request, data=data, expected_version=expected_version)


@transaction.atomic
def service_request_delete(*, actor, service_request: ServiceRequest) -> None:
    require_delete(actor)
    delete_instance(actor=actor, instance=service_request)


@transaction.atomic
def task_create(*, actor, data: dict[str, Any]) -> Task:
    data = only_fields(data, TASK_FIELDS)
    organization = data.get("organization")
    if organization is not None:
        require_organization_write(actor, organization)
    else:
        require(can_write(actor))
    if data.get("status") == TaskStatus.DONE:
        data["completed_at"] = timezone.now()
    task = create_instance(actor=actor, instance=Task(source=TaskSource.MANUAL, **data))
    events.emit("task.created", task_event(task))
    return task


def task_event(task: Task) -> dict[str, Any]:
    """A task as its events tell it (ids, codes and times; never the free text)."""
    return {"task": task.pk, "organization": task.organization_id, "assignee": task.assignee_id,
            "due_at": task.due_at, "status": task.status, "source": task.source,
            "completed_at": task.completed_at}


@transaction.atomic
def task_update(*, actor, task: Task, data: dict[str, Any], expected_version: int | None) -> Task:
    if task.organization is not None:
        require_organization_write(actor, task.organization)
    else:
        require(can_write(actor) or task.assignee_id == getattr(actor, "pk", None))
    data = only_fields(data, TASK_FIELDS)
    if "status" in data:
        data["completed_at"] = timezone.now() if data["status"] == TaskStatus.DONE else None
    if "title" in data and task.title_code:
        # A generated title sent back as shown (in any language) stays generated; a new one is the person's.
        if str(data["title"]).strip() in task.titles_shown():
            data.pop("title")
        else:
            data["title_code"], data["title_params"] = "", {}
    was_done = task.status == TaskStatus.DONE
    task = update_instance(actor=actor, instance=task, data=data, expected_version=expected_version)
    if task.status == TaskStatus.DONE and not was_done:
        events.emit("task.completed", task_event(task))
    return task


@transaction.atomic
def task_delete(*, actor, task: Task) -> None:
    require_delete(actor)
    delete_instance(actor=actor, instance=task)


def lock_open_task(task: Task, expected_version: int | None) -> Task:
    """The task, locked for update, when it is still open (and at ``expected_version``); else the Conflict
    that says why (already done, cancelled, changed meanwhile)."""
    locked = (Task.objects.select_for_update(of=("self",))
              .select_related("organization", "step", "participation").get(pk=task.pk))
    if locked.status != TaskStatus.OPEN:
        if locked.status == TaskStatus.DONE:
            raise Conflict(_("This task is already done."), code="already_done")
        raise Conflict(_("This task was cancelled."), code="cancelled")
    if expected_version is not None and locked.version != expected_version:
        raise Conflict()
    return locked


@transaction.atomic
def task_done(*, actor, task: Task, expected_version: int | None = None) -> Task:
    """The one-click "done" (the task list's button and its bulk action): a generated task is completed by the
    rules of the app that made it (``hooks.task_rules``: a playbook task logs the interaction it stands for),
    any other task is set done through its edit."""
    rules = task_rules(task.source)
    if rules is not None:
        return rules.complete(actor=actor, task=task, expected_version=expected_version)
    if task.status != TaskStatus.OPEN:
        lock_open_task(task, None)  # raises the Conflict that says why (already done, cancelled)
    return task_update(actor=actor, task=task, data={"status": TaskStatus.DONE}, expected_version=expected_version)


@transaction.atomic
def task_reassign(*, actor, task: Task, assignee, expected_version: int | None = None) -> Task:
    """Give a task to someone else: a generated task by the rules of the app that made it (a playbook task is
    placed by a lead within its team), any other task through its edit, as its edit form does."""
    if assignee is None or not getattr(assignee, "is_active", False):
        raise InvalidInput(fields={"assignee": [_("Choose an active colleague.")]})
    rules = task_rules(task.source)
    if rules is not None:
        return rules.assign(actor=actor, task=task, assignee=assignee, expected_version=expected_version)
    return task_update(actor=actor, task=task, data={"assignee": assignee}, expected_version=expected_version)


BULK_ACTIONS = ("complete", "reassign")
BULK_MAX = 500


@dataclass
class BulkOutcome:
    """What a bulk action did: the tasks it changed and, for each one it did not, why."""

    action: str
    changed: list[int] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "changed": self.changed, "refused": self.refused,
                "changed_count": len(self.changed), "refused_count": len(self.refused)}


def task_bulk(*, actor, action: str, task_ids: list[int], assignee=None,
              versions: dict[int, int] | None = None) -> BulkOutcome:
    """Complete or reassign many tasks, each through the service a single edit uses (``task_done``,
    ``task_reassign``): the same permission checks, audit entries and version bumps per row. Each row is its
    own transaction, so one refusal (no permission, a stale version, already done) leaves the others done,
    and the outcome lists what was changed and what was refused, with the reason."""
    if action not in BULK_ACTIONS:
        raise InvalidInput(fields={"action": [_("Choose one of: %(actions)s.") % {"actions": ", ".join(BULK_ACTIONS)}]})
    ids = list(dict.fromkeys(int(pk) for pk in task_ids))
    if not ids:
        raise InvalidInput(fields={"tasks": [_("Select at least one task.")]})
    if len(ids) > BULK_MAX:
        raise InvalidInput(fields={"tasks": [_("Select at most %(n)s tasks at a time.") % {"n": BULK_MAX}]})
    if action == "reassign" and (assignee is None or not getattr(assignee, "is_active", False)):
        raise InvalidInput(fields={"assignee": [_("Choose an active colleague.")]})
    versions = versions or {}
    visible = {task.pk: task for task in task_list(actor=actor).filter(pk__in=ids).select_related("step")}
    outcome = BulkOutcome(action=action)
    for pk in ids:
        task = visible.get(pk)
        if task is None:
            outcome.refused.append({"id": pk, "code": "not_found", "message": _("Not found, or you may not see it.")})
            continue
        try:
            with transaction.atomic():
                if action == "complete":
                    task_done(actor=actor, task=task, expected_version=versions.get(pk))
                else:
                    task_reassign(actor=actor, task=task, assignee=assignee, expected_version=versions.get(pk))
        except ServiceError as exc:
            message = exc.message
            if isinstance(exc, InvalidInput) and exc.fields:
                message = "; ".join(str(m) for messages in exc.fields.values() for m in messages) or message
            outcome.refused.append({"id": pk, "code": exc.code, "message": str(message)})
        else:
            outcome.changed.append(pk)
    return outcome


@transaction.atomic
def survey_response_create(*, actor, contact, data: dict[str, Any]) -> SurveyResponse:
    """Record a survey answer. ``actor`` None is the contact answering through their link."""
    if actor is not None:
        require_organization_write(actor, contact.organization)
    data = only_fields(data, {"nps", "csat", "comment", "responded_at"})
    data.setdefault("responded_at", timezone.now())
    response = SurveyResponse(contact=contact, organization=contact.organization, **data)
    return create_instance(actor=actor, instance=response)
