"""Pages of strategy and execution (策略制定与执行): My day, the team board, the playbooks, the tier policy and
the automation runs. Parse, call a selector or service, render; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from bcrm.accounts.permissions import require, user_team_ids
from bcrm.core import formatting
from bcrm.core.errors import Conflict, InvalidInput, ServiceError
from bcrm.core.pagination import paginate
from bcrm.playbooks import selectors, services
from bcrm.playbooks.choices import Action, AddOn, RunMode, Tier
from bcrm.playbooks.forms import PlaybookForm, StepForm, TaskAssignForm, TaskCompleteForm, TierPolicyForm
from bcrm.playbooks.policy import describe
from bcrm.segmentation.choices import Dimension, label_display
from bcrm.ui.forms import active_users, add_service_error
from bcrm.ui.shortcuts import page, page_number, redirect_back, render_page, safe_next, submit_form

# --- My day ----------------------------------------------------------------------------------------


@page
@require_safe
def my_day(request: HttpRequest) -> HttpResponse:
    """我的待办: what is overdue, due today and due this week; requests about to breach; a lead's queues."""
    day = selectors.my_day(request.user)
    sections = [("overdue", _("Overdue"), day.overdue), ("today", _("Due today"), day.today),
                ("week", _("Due in the next seven days"), day.week)]
    return render(request, "playbooks/my_day.html", {"day": day, "now": day.now, "sections": sections})


def _complete_form(task, data=None) -> TaskCompleteForm:
    return TaskCompleteForm(data, kinds=services.interaction_kinds(task), default_minutes=services.default_minutes(task),
                            initial={"version": task.version})


@page
def task_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """The "Complete" form of a task: htmx opens it in the task's row and swaps the row away when done; without
    script it is a page of its own."""
    user = request.user
    task = selectors.task_get_for_user(user=user, pk=pk)
    form = _complete_form(task, request.POST if request.method == "POST" else None)
    htmx = bool(getattr(request, "htmx", False))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            done = services.task_complete(
                actor=user, task=task, minutes=data.get("minutes"), summary=data.get("summary") or "",
                outcome=data.get("outcome") or "", kind=data.get("kind") or None,
                expected_version=data.get("version"))
        except (InvalidInput, Conflict) as exc:
            add_service_error(form, exc)
        else:
            if done.interaction is not None:
                note = _("Done: %(title)s, logged as %(kind)s.") % {
                    "title": done.display_title, "kind": done.interaction.get_kind_display()}
            else:
                note = _("Done: %(title)s.") % {"title": done.display_title}
            if htmx:
                return render(request, "playbooks/_task_done.html", {"task": done, "note": note})
            messages.success(request, note)
            return redirect_back(request, reverse("playbooks:my_day"))
    context = {"task": task, "form": form, "open_form": True, "now": timezone.now(), "next": safe_next(request)}
    if htmx:
        return render(request, "playbooks/_task_item.html", context)
    return render(request, "playbooks/task_complete.html", context)


# --- team board ------------------------------------------------------------------------------------


@page
@require_safe
def team_board(request: HttpRequest) -> HttpResponse:
    user = request.user
    teams = list(selectors.teams_for_user(user))
    context: dict[str, Any] = {"teams": teams, "board": None, "can_assign": services.can_configure_playbooks(user)}
    if teams:
        wanted = request.GET.get("team", "")
        team = (selectors.team_get_for_user(user=user, pk=int(wanted)) if wanted.isdigit()
                else next((t for t in teams if t.pk in _own_team_ids(user)), teams[0]))
        try:
            week = selectors.parse_week(request.GET.get("week"), timezone.localdate())
        except InvalidInput as exc:
            messages.error(request, next(iter(exc.fields.values()))[0])
            week = selectors.week_start(timezone.localdate())
        board = selectors.team_board(user, team, week)
        context.update(board=board, members=list(selectors.team_members(team)) if context["can_assign"] else [])
    return render(request, "playbooks/team_board.html", context)


def _own_team_ids(user) -> list[int]:
    return user_team_ids(user)


@page
@require_POST
def task_assign(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    task = selectors.task_get_for_user(user=user, pk=pk)
    members = selectors.team_members(task.team) if task.team is not None else active_users()
    form = TaskAssignForm(request.POST, members=members)
    fallback = reverse("playbooks:team_board") + (f"?team={task.team_id}" if task.team_id else "")
    if not form.is_valid():
        messages.error(request, _("Choose a member of the team."))
        return redirect_back(request, fallback)
    try:
        services.task_assign(actor=user, task=task, assignee=form.cleaned_data["assignee"],
                             expected_version=form.cleaned_data.get("version"))
    except (InvalidInput, Conflict) as exc:
        messages.error(request, "; ".join([exc.message, *[m for ms in exc.fields.values() for m in ms]]))
    else:
        assignee = form.cleaned_data["assignee"]
        messages.success(request, _("%(task)s assigned to %(name)s.") % {
            "task": task.display_title, "name": assignee.get_full_name() or assignee.get_username()})
    return redirect_back(request, fallback)


# --- playbooks -------------------------------------------------------------------------------------


@page
@require_safe
def playbook_list(request: HttpRequest) -> HttpResponse:
    playbooks = list(selectors.playbooks_with_steps())
    for playbook in playbooks:
        for step in playbook.steps.all():
            step.condition_text = (f"{Dimension(step.only_dimension).label}: "  # type: ignore[attr-defined]
                                   f"{label_display(step.only_dimension, step.only_label)}"
                                   if step.only_dimension in Dimension.values else "")
    return render(request, "playbooks/playbooks.html", {
        "playbooks": playbooks,
        "can_edit": services.can_configure_playbooks(request.user),
    })


def _playbooks_url(anchor: str = "") -> str:
    return reverse("playbooks:playbook_list") + (f"#{anchor}" if anchor else "")


@page
def playbook_edit(request: HttpRequest, code: str) -> HttpResponse:
    user = request.user
    require(services.can_configure_playbooks(user))
    playbook = selectors.playbook_get(code)
    form = PlaybookForm(request.POST or None, instance=playbook)
    saved = submit_form(request, form, lambda: services.playbook_update(
        actor=user, playbook=playbook, data=form.service_data(), expected_version=form.expected_version))
    if saved is not None:
        messages.success(request, _("Changes saved."))
        return redirect(_playbooks_url(f"playbook-{code}"))
    return render(request, "web/form_page.html", {
        "form": form, "title": _("Edit playbook"), "subtitle": playbook.get_code_display(),
        "submit_label": _("Save changes"), "cancel_url": _playbooks_url(f"playbook-{code}"),
    })


@page
def step_create(request: HttpRequest, code: str) -> HttpResponse:
    user = request.user
    require(services.can_configure_playbooks(user))
    playbook = selectors.playbook_get(code)
    form = StepForm(request.POST or None)
    step = submit_form(request, form, lambda: services.step_create(
        actor=user, playbook=playbook, data=_step_data(form)))
    if step is not None:
        messages.success(request, _("Step added."))
        return redirect(_playbooks_url(f"step-{step.pk}"))
    return render(request, "web/form_page.html", {
        "form": form, "title": _("New step"), "subtitle": playbook.get_code_display(),
        "submit_label": _("Add step"), "cancel_url": _playbooks_url(f"playbook-{code}"),
    })


def _step_data(form: StepForm) -> dict[str, Any]:
    data = form.service_data()
    if data.get("position") is None:
        data.pop("position", None)
    return data


@page
def step_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    require(services.can_configure_playbooks(user))
    step = selectors.step_get(pk)
    form = StepForm(request.POST or None, instance=step)
    saved = submit_form(request, form, lambda: services.step_update(
        actor=user, step=step, data=_step_data(form), expected_version=form.expected_version))
    if saved is not None:
        messages.success(request, _("Changes saved."))
        return redirect(_playbooks_url(f"step-{step.pk}"))
    return render(request, "playbooks/step_form.html", {
        "form": form, "title": _("Edit step"), "subtitle": step.playbook.get_code_display(), "step": step,
        "submit_label": _("Save changes"), "cancel_url": _playbooks_url(f"playbook-{step.playbook.code}"),
    })


@page
@require_POST
def step_delete(request: HttpRequest, pk: int) -> HttpResponse:
    step = selectors.step_get(pk)
    code = step.playbook.code
    services.step_delete(actor=request.user, step=step)
    messages.success(request, _("Step deleted."))
    return redirect(_playbooks_url(f"playbook-{code}"))


# --- tier policy -----------------------------------------------------------------------------------


@page
def tier_policy(request: HttpRequest) -> HttpResponse:
    user = request.user
    policy = selectors.active_policy()
    can_edit = services.can_configure_playbooks(user)
    form = None
    if can_edit:
        if request.method == "POST":
            form = TierPolicyForm(request.POST)
            if form.is_valid():
                try:
                    saved = services.tier_policy_save(actor=user, rules=form.rules(), note=form.cleaned_data["note"],
                                                      base_version=form.cleaned_data.get("base_version"))
                except (InvalidInput, Conflict) as exc:
                    _policy_errors(form, exc)
                else:
                    messages.success(request, _("Tier policy version %(v)s is now in force.") % {"v": saved.version})
                    return redirect("playbooks:tier_policy")
        else:
            form = TierPolicyForm(rules=policy.rules, initial={"base_version": policy.version})
    elif request.method == "POST":
        require(False, _("Only a team lead or an administrator may change the tier policy."))
    versions = paginate(selectors.policy_versions(), number=page_number(request), size=20)
    return render_page(request, "playbooks/tier_policy.html", {
        "policy": policy, "description": describe(policy.rules), "counts": selectors.tier_counts(user),
        "form": form, "can_edit": can_edit, "versions": versions,
    }, partial="playbooks/_policy_versions.html", target="policy-versions")


def _policy_errors(form: TierPolicyForm, exc: ServiceError) -> None:
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    for path, msgs in exc.fields.items():
        name = form.field_for_path(path)
        for message in msgs:
            form.add_error(name if name in form.fields else None, message)


# --- automation ------------------------------------------------------------------------------------


def count_labels() -> dict[str, str]:
    """The engine's counters in words; a key not listed here is shown as it is."""
    return {
        "clients": _("Clients considered"), "tiers_changed": _("Clients whose tier changed"),
        "tiers": _("Clients per tier"), "due": _("Steps due"), "created": _("Tasks created"),
        "assigned": _("Tasks assigned"), "overflow": _("Tasks left for the lead (overflow)"),
        "sla_stamped": _("Requests given SLA due dates"), "breaches": _("SLA breaches escalated"),
        "deliveries_queued": _("Progress reports queued"), "report_period": _("Report period"),
        "escalated": _("Requests escalated"), "examined": _("Clients examined"),
        "due_rows_written": _("Next due dates recorded"), "fulfilled": _("Tasks fulfilled and closed"),
    }


def _value_text(value: Any) -> str:
    if isinstance(value, dict):
        names = {**dict(Action.choices), **dict(Tier.choices), **dict(AddOn.choices)}
        return ", ".join(f"{names.get(k, k)}: {formatting.number(v)}" for k, v in value.items()) or "0"
    return formatting.number(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def count_rows(counts: dict[str, Any] | None) -> list[tuple[str, str]]:
    labels = count_labels()
    return [(str(labels.get(key, key)), _value_text(value)) for key, value in (counts or {}).items()]


def overflow_rows(overflow: list[dict[str, Any]] | None) -> list[str]:
    rows = []
    for item in overflow or []:
        # The team's name as stored; a run records "No team" in English, shown in the reader's language.
        no_team = "team_id" in item and item["team_id"] is None
        team = _("No team") if no_team else (item.get("team") or item.get("team_id") or "—")
        rows.append(_("%(team)s: %(tasks)s tasks, %(hours)s h") % {
            "team": team, "tasks": formatting.number(item.get("tasks", 0)),
            "hours": formatting.number(item.get("hours", 0))})
    return rows



@page(access=selectors.may_see_automation_runs)
def automation(request: HttpRequest) -> HttpResponse:
    user = request.user
    can_run = services.can_configure_playbooks(user)
    report = None
    if request.method == "POST":
        dry_run = request.POST.get("mode") == "dry"
        report = services.automation_run(actor=user, dry_run=dry_run, trigger="web",
                                         full=request.POST.get("mode") == "full")
        if not dry_run:
            if report.errors:
                messages.warning(request, _("Automation finished with %(n)s errors.") % {"n": len(report.errors)})
            else:
                messages.success(request, _("Automation finished in %(ms)s ms.") % {"ms": report.duration_ms})
            return redirect("playbooks:automation")
    runs = paginate(selectors.automation_runs(user), number=page_number(request), size=25)
    for run in runs.items:
        run.count_rows, run.overflow_rows = count_rows(run.counts), overflow_rows(run.overflow)
    dry = {"counts": count_rows(report.counts), "overflow": overflow_rows(report.overflow), "errors": report.errors,
           "duration_ms": report.duration_ms, "mode": RunMode(report.mode).label,
           "examined": report.examined} if report is not None else None
    return render_page(request, "playbooks/automation.html", {
        "runs": runs, "can_run": can_run, "report": dry,
    }, partial="playbooks/_automation_runs.html", target="automation-runs")
