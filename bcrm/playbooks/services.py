"""Use cases on the tier policy, the playbooks and their steps, and the tasks the automation makes:
the only writes of the playbooks app. Each one checks who may do it, validates like the forms do,
writes in a transaction and leaves an audit entry."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.models import TeamMembership
from bcrm.accounts.permissions import (
    EDIT_ALL,
    can_edit_organization,
    has_any,
    require,
)
from bcrm.audit.services import audit_record
from bcrm.core import events
from bcrm.core.errors import Conflict, InvalidInput, PermissionDenied
from bcrm.core.fields import day_range_error, only_fields
from bcrm.core.services import create_instance, delete_instance, update_instance
from bcrm.core.texts import shown_as, text
from bcrm.engagement.choices import TaskSource, TaskStatus
from bcrm.engagement.models import Task
from bcrm.engagement.services import interaction_create, lock_open_task, task_event
from bcrm.playbooks import automation as engine
from bcrm.playbooks.calendars import firm_today
from bcrm.playbooks.choices import ACTION_KINDS, Action, CadenceUnit, Channel, OwnerRule, Tier, Trigger
from bcrm.playbooks.models import ClientTier, Playbook, PlaybookStep, TierPolicy
from bcrm.playbooks.policy import tier_table, validate_rules
from bcrm.segmentation.choices import Dimension, labels_for
from bcrm.segmentation.models import ClientLabels

PLAYBOOK_FIELDS = frozenset({"description", "response_sla_hours", "resolution_sla_hours", "is_active"})
STEP_FIELDS = frozenset({
    "position", "action", "trigger", "cadence_count", "cadence_unit", "channel", "owner_rule", "hours",
    "lead_days", "only_dimension", "only_label", "is_active", "phase_in_days", "phase_in_from",
})
# Tasks the engine makes about the work itself: completing them logs no interaction.
HOUSEKEEPING_ACTIONS = frozenset({Action.SLA_ESCALATION.value, Action.CAPACITY_OVERFLOW.value})
# A contact step done through one of these channels is logged as that kind of interaction.
CHANNEL_KINDS = {Channel.MEETING.value: "meeting", Channel.CALL.value: "call", Channel.EMAIL.value: "email"}


def can_configure_playbooks(user) -> bool:
    """Tier policy, playbooks, task placement and automation runs: team leads and administrators."""
    return user is None or has_any(user, EDIT_ALL)


def _require_configure(actor) -> None:
    require(can_configure_playbooks(actor), _("Only a team lead or an administrator may change playbooks."))


def _actor_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


# --- tier policy -----------------------------------------------------------------------------------


@transaction.atomic
def tier_policy_save(*, actor, rules: Any, note: str = "", base_version: int | None = None) -> TierPolicy:
    """Save changed rules as a new, immutable version that becomes the active one.

    ``base_version`` is the version the editor started from; if another version was saved since, the save
    is refused (409) instead of silently replacing it."""
    from bcrm.playbooks.defaults import ensure_defaults

    require(can_configure_playbooks(actor), _("Only a team lead or an administrator may change the tier policy."))
    clean = validate_rules(rules)
    ensure_defaults()
    current = TierPolicy.objects.select_for_update().filter(is_active=True).first()
    if base_version is not None and (current is None or current.version != base_version):
        raise Conflict(_("Someone saved version %(v)s of the tier policy since you opened it. Reload and try again.")
                       % {"v": current.version if current else "?"})
    if current is not None and validate_rules(current.rules) == clean:
        raise InvalidInput(_("Nothing changed: the rules are the same as version %(v)s.") % {"v": current.version})
    top = TierPolicy.objects.aggregate(top=Max("version"))["top"] or 0
    TierPolicy.objects.filter(is_active=True).update(is_active=False)
    created = TierPolicy.objects.create(version=top + 1, is_active=True, rules=clean, note=str(note or "")[:300],
                                        created_by=_actor_or_none(actor))
    audit_record(actor=actor, action="update", instance=created, changes={
        "rules": [current.rules if current else None, clean], "version": [current.version if current else None,
                                                                          created.version]})
    return created


# --- playbooks and steps ---------------------------------------------------------------------------


@transaction.atomic
def playbook_update(*, actor, playbook: Playbook, data: dict[str, Any], expected_version: int | None) -> Playbook:
    """Description, SLAs (business hours) and whether the playbook is in use."""
    _require_configure(actor)
    data = only_fields(data, PLAYBOOK_FIELDS)
    if "description" in data and shown_as(playbook.description, data["description"]):
        data.pop("description")  # the shipped description sent back as shown stays the shipped one (its code)
    if not playbook.is_tier:
        for name in ("response_sla_hours", "resolution_sla_hours"):
            if data.get(name) is not None:
                raise InvalidInput(fields={name: [_("Only a tier's playbook has service-request SLAs.")]})
    response = data.get("response_sla_hours", playbook.response_sla_hours)
    resolution = data.get("resolution_sla_hours", playbook.resolution_sla_hours)
    if response is not None and resolution is not None and Decimal(resolution) < Decimal(response):
        raise InvalidInput(fields={"resolution_sla_hours": [
            _("Resolution cannot be due before the first response.")]})
    return update_instance(actor=actor, instance=playbook, data=data, expected_version=expected_version)


def step_rule_errors(step: PlaybookStep) -> dict[str, list[str]]:
    """The rules a step must follow beyond its own fields (the model's constraints check those)."""
    errors: dict[str, list[str]] = {}
    # the model's range constraints, checked here too so the message lands on its field
    ranges = [("cadence_count", 1, 365, _("The cadence must be between 1 and 365.")),
              ("hours", 0, 200, _("Hours each time must be between 0 and 200.")),
              ("lead_days", 0, 90, _("Tasks can be created at most 90 days ahead.")),
              ("phase_in_days", 0, 365, _("A phase-in lasts at most 365 days."))]
    for name, low, high, message in ranges:
        value = getattr(step, name)
        try:
            if value is not None and not low <= Decimal(str(value)) <= high:
                errors[name] = [str(message)]
        except ArithmeticError:
            pass  # not a number: the field's own validation says so
    if step.owner_rule == OwnerRule.AUTOMATION and step.action != Action.PROGRESS_REPORT:
        errors.setdefault("owner_rule", []).append(
            _("Only the progress report is sent by automation; other steps need a person."))
    if step.action == Action.PROGRESS_REPORT and step.cadence_unit != CadenceUnit.MONTH:
        errors.setdefault("cadence_unit", []).append(_("Progress reports go out by the month."))
    if step.trigger == Trigger.NEW_PARTICIPATION and step.action != Action.DUE_DILIGENCE:
        errors.setdefault("trigger", []).append(_("Only a due-diligence review runs on each new participation."))
    if (error := day_range_error(step.phase_in_from)) is not None:
        errors.setdefault("phase_in_from", []).append(error)
    if step.phase_in_days and step.trigger == Trigger.NEW_PARTICIPATION:
        errors.setdefault("phase_in_days", []).append(
            _("Only a step on a cadence is phased in; a review of each new participation is due as it comes."))
    if bool(step.only_dimension) != bool(step.only_label):
        errors.setdefault("only_label" if step.only_dimension else "only_dimension", []).append(
            _("A condition needs both a dimension and a label."))
    elif step.only_dimension:
        if step.only_dimension not in Dimension.values:
            errors.setdefault("only_dimension", []).append(
                _("Unknown dimension: %(name)s.") % {"name": step.only_dimension})
        elif step.only_label not in labels_for(step.only_dimension):
            errors.setdefault("only_label", []).append(
                _("%(label)s is not a label of %(dimension)s.")
                % {"label": step.only_label, "dimension": Dimension(step.only_dimension).label})
    return errors


def _validate_step(step: PlaybookStep) -> None:
    errors = step_rule_errors(step)
    try:
        step.full_clean()
    except DjangoValidationError as exc:
        known = {m for messages in errors.values() for m in messages}
        for name, messages in InvalidInput.from_django(exc).fields.items():
            fresh = [m for m in messages if m not in known]
            if fresh:
                errors.setdefault(name, []).extend(fresh)
    if errors:
        raise InvalidInput(fields=errors)


@transaction.atomic
def step_create(*, actor, playbook: Playbook, data: dict[str, Any]) -> PlaybookStep:
    _require_configure(actor)
    data = only_fields(data, STEP_FIELDS)
    if "position" not in data or data["position"] is None:
        top = playbook.steps.aggregate(top=Max("position"))["top"]
        data["position"] = 0 if top is None else top + 1
    step = PlaybookStep(playbook=playbook, **data)
    _start_phase_in(step, data, was_active=False, old_days=0)
    _validate_step(step)
    return create_instance(actor=actor, instance=step)


@transaction.atomic
def step_update(*, actor, step: PlaybookStep, data: dict[str, Any], expected_version: int | None) -> PlaybookStep:
    _require_configure(actor)
    data = only_fields(data, STEP_FIELDS)
    locked = PlaybookStep.objects.select_for_update().get(pk=step.pk)
    if expected_version is not None and locked.version != expected_version:
        raise Conflict()
    was_active, old_days = locked.is_active, locked.phase_in_days
    for key, value in data.items():
        setattr(locked, key, value)
    _start_phase_in(locked, data, was_active=was_active, old_days=old_days)
    _validate_step(locked)
    return update_instance(actor=actor, instance=locked, data=data, expected_version=expected_version)


def _start_phase_in(step: PlaybookStep, data: dict[str, Any], *, was_active: bool, old_days: int) -> None:
    """A phase-in starts today (the firm's calendar) when a step is created or switched on with one, or when
    one is asked for or lengthened, unless the start date is given; ``data`` gets the date, so the audit
    entry records it. Without a phase-in the date is cleared."""
    if not step.phase_in_days:
        if step.phase_in_from is not None:
            step.phase_in_from = None
            data["phase_in_from"] = None
        return
    if data.get("phase_in_from") is not None:
        return
    starting = step.phase_in_from is None or (step.is_active and not was_active) or step.phase_in_days > old_days
    if starting:
        step.phase_in_from = firm_today()
        data["phase_in_from"] = step.phase_in_from


@transaction.atomic
def step_delete(*, actor, step: PlaybookStep) -> None:
    """Open tasks made by the step stay (they keep their action and hours); no new ones are made."""
    _require_configure(actor)
    delete_instance(actor=actor, instance=step)


# --- tasks -----------------------------------------------------------------------------------------


def can_complete_task(user, task: Task) -> bool:
    if user is None or has_any(user, EDIT_ALL):
        return True
    pk = getattr(user, "pk", None)
    if pk is None:
        return False
    if task.assignee_id == pk:
        return True
    return task.organization is not None and task.organization.relationship_manager_id == pk


def interaction_kinds(task: Task) -> tuple[str, ...]:
    """The kinds of interaction that fulfil the task, the default first; empty when it logs nothing."""
    if task.source != TaskSource.PLAYBOOK or task.organization_id is None or task.action in HOUSEKEEPING_ACTIONS:
        return ()
    kinds = ACTION_KINDS.get(task.action, ())
    if not kinds:
        return ()
    channel_kind = CHANNEL_KINDS.get(task.step.channel) if task.step_id and task.step else None
    if channel_kind in kinds:
        return (channel_kind, *(k for k in kinds if k != channel_kind))
    return tuple(kinds)


def default_minutes(task: Task) -> int:
    if task.planned_hours is None:
        return 30
    return int((Decimal(task.planned_hours) * 60).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


@transaction.atomic
def task_complete(*, actor, task: Task, minutes: int | None = None, summary: str = "", outcome: str = "",
                  kind: str | None = None, occurred_at: dt.datetime | None = None,
                  expected_version: int | None = None) -> Task:
    """Mark a task done; a playbook task logs the interaction it stands for and links it.

    The assignee, the client's relationship manager, a team lead or an administrator may complete it.
    """
    locked = lock_open_task(task, expected_version)
    require(can_complete_task(actor, locked), _("Only the assignee, the client's relationship manager or a team "
                                                "lead may complete this task."))
    kinds = interaction_kinds(locked)
    data: dict[str, Any] = {"status": TaskStatus.DONE, "completed_at": timezone.now()}
    if kinds:
        errors: dict[str, list[str]] = {}
        chosen = kind or kinds[0]
        if chosen not in kinds:
            errors["kind"] = [_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(kinds)}]
        if minutes is not None and not 0 <= int(minutes) <= 7 * 24 * 60:
            errors["minutes"] = [_("Minutes spent must be between 0 and one week.")]
        if occurred_at is not None and timezone.is_naive(occurred_at):
            errors["occurred_at"] = [_("Give the time with its time zone.")]
        if errors:
            raise InvalidInput(fields=errors)
        project = locked.participation.project if locked.participation_id and locked.participation else None
        typed = (summary or "").strip()
        interaction = interaction_create(actor=actor, organization=locked.organization, data={
            "kind": chosen,
            "minutes_spent": default_minutes(locked) if minutes is None else int(minutes),
            "summary": typed or locked.title,
            "outcome": (outcome or "").strip(),
            "occurred_at": occurred_at or timezone.now(),
            "project": project,
        }, summary=None if typed or not locked.title_code else text(locked.title_code, **locked.title_params))
        data["interaction"] = interaction
    done = update_instance(actor=actor, instance=locked, data=data, expected_version=None)
    events.emit("task.completed", task_event(done))
    return done


@transaction.atomic
def task_assign(*, actor, task: Task, assignee, expected_version: int | None = None) -> Task:
    """A lead places a task (an overflow task first of all) with a member of its team."""
    require(can_configure_playbooks(actor), _("Only a team lead or an administrator may assign tasks."))
    locked = lock_open_task(task, expected_version)
    if assignee is None or not getattr(assignee, "is_active", False):
        raise InvalidInput(fields={"assignee": [_("Choose an active colleague.")]})
    if locked.team_id is not None:
        if not TeamMembership.objects.filter(team_id=locked.team_id, user=assignee).exists():
            raise InvalidInput(fields={"assignee": [
                _("%(name)s is not a member of the task's team.") % {
                    "name": assignee.get_full_name() or assignee.get_username()}]})
    elif locked.organization is not None and not can_edit_organization(assignee, locked.organization):
        raise InvalidInput(fields={"assignee": [_("This colleague may not work on this client.")]})
    return update_instance(actor=actor, instance=locked, data={"assignee": assignee}, expected_version=None)


@transaction.atomic
def task_cancel(*, actor, task: Task, expected_version: int | None = None) -> Task:
    """Drop a task that is no longer needed. Playbook tasks: a lead or an administrator; a manual task also
    whoever may edit its client (or its assignee, when it has no client)."""
    locked = lock_open_task(task, expected_version)
    if locked.source == TaskSource.PLAYBOOK:
        require(can_configure_playbooks(actor), _("Only a team lead or an administrator may cancel playbook tasks."))
    elif locked.organization is not None:
        require(can_edit_organization(actor, locked.organization))
    else:
        require(can_configure_playbooks(actor) or locked.assignee_id == getattr(actor, "pk", None))
    return update_instance(actor=actor, instance=locked,
                           data={"status": TaskStatus.CANCELLED, "completed_at": None}, expected_version=None)


# --- automation ------------------------------------------------------------------------------------


def automation_run(*, actor, as_of: dt.datetime | None = None, dry_run: bool = False, trigger: str = "manual",
                   full: bool = False):
    """Run the automation engine now (a lead or an administrator); the pages, the API and the CLI call this.
    ``full``: examine every client rather than those due or changed since the previous run."""
    if not engine.can_run_automation(actor):
        raise PermissionDenied(_("Only a team lead or an administrator may run the automation."))
    if as_of is not None and timezone.is_naive(as_of):
        raise InvalidInput(fields={"as_of": [_("Give the time with its time zone.")]})
    return engine.run_automation(actor=actor, as_of=as_of, dry_run=dry_run, trigger=trigger, full=full)


# --- tiers between automation runs ---------------------------------------------------------------------

TIER_BATCH = 5000


def tiers_refresh(*, organization_ids, now: dt.datetime | None = None) -> int:
    """Recompute the tier and add-ons of these clients from their current labels with the active policy
    (the automation's own 64-entry table), writing only the rows that changed. Returns how many changed.

    The daily automation does this for the whole book; segmentation calls it (a label listener) for the
    clients whose label a run, an override or an override's end moved, so lists show the new tier at once."""
    from bcrm.playbooks.selectors import active_policy

    ids = sorted({int(i) for i in organization_ids})
    if not ids:
        return 0
    policy = active_policy()
    table = tier_table(policy.rules)
    now = now or timezone.now()
    changed = 0
    for start in range(0, len(ids), TIER_BATCH):
        chunk = ids[start:start + TIER_BATCH]
        labels = {pk: (v or "", r or "", rel or "") for pk, v, r, rel in ClientLabels.objects.filter(
            organization_id__in=chunk).values_list("organization_id", "value", "risk", "relationship")}
        stored = {row.organization_id: row for row in ClientTier.objects.filter(organization_id__in=chunk)}
        create, update = [], []
        for pk in chunk:
            tier, addons = table.get(labels.get(pk, ("", "", "")), (Tier.STANDARD.value, ()))
            addon_text = ",".join(addons)
            row = stored.get(pk)
            if row is None:
                create.append(ClientTier(organization_id=pk, tier=tier, addons=addon_text,
                                         policy_version=policy.version, since=now))
            elif row.tier != tier or row.addons != addon_text:
                if row.tier != tier:
                    row.since = now
                row.tier, row.addons, row.policy_version = tier, addon_text, policy.version
                update.append(row)
        ClientTier.objects.bulk_create(create, batch_size=1000)
        ClientTier.objects.bulk_update(update, ["tier", "addons", "policy_version", "since"], batch_size=1000)
        changed += len(create) + len(update)
    return changed


def tiers_after_labels(organization_ids) -> None:
    """The clients whose label moved get their tier at once; when a classification moved more than
    ``BCRM_TIER_INLINE_LIMIT`` (a first run over a large book), the next automation run re-tiers the whole
    book in bulk instead and the schedule row records that tiers are waiting for it."""
    from django.conf import settings

    from bcrm.playbooks.models import AutomationSchedule

    limit = settings.BCRM_TIER_INLINE_LIMIT
    ids = list(organization_ids[: limit + 1]) if hasattr(organization_ids, "query") else list(organization_ids)
    if len(ids) <= limit:
        tiers_refresh(organization_ids=ids)
        return
    AutomationSchedule.objects.get_or_create(key="daily")
    AutomationSchedule.objects.filter(key="daily", tiers_stale_since__isnull=True).update(
        tiers_stale_since=timezone.now())
