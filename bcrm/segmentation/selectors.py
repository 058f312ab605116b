"""Segmentation reads shared by the UI, the API and the CLI, restricted to what the actor may see."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_view_organization, restrict_organizations, sees_all_organizations
from bcrm.core.errors import NotFound, PermissionDenied
from bcrm.parties.models import Organization
from bcrm.segmentation.choices import INSUFFICIENT, Dimension, label_display, lower_label, upper_label
from bcrm.segmentation.features import FEATURES
from bcrm.segmentation.models import Assignment, ClientLabels, Criterion, Override, Run


def require_portfolio_view(actor) -> None:
    """Portfolio-wide figures (distributions, runs, migrations) are for roles that see every client."""
    if not sees_all_organizations(actor):
        raise PermissionDenied(_("Portfolio-wide segmentation figures are for roles that see every client."))


def criterion_list(*, actor, dimension: str | None = None) -> QuerySet[Criterion]:
    require_portfolio_view(actor)
    qs = Criterion.objects.select_related("created_by").order_by("dimension", "-version")
    return qs.filter(dimension=dimension) if dimension else qs


def run_list(*, actor, dimension: str | None = None) -> QuerySet[Run]:
    require_portfolio_view(actor)
    qs = Run.objects.select_related("criterion", "created_by").defer("comparison", "diagnostics")
    return qs.filter(dimension=dimension) if dimension else qs


def run_get(*, actor, pk: int) -> Run:
    require_portfolio_view(actor)
    run = Run.objects.select_related("criterion").filter(pk=pk).first()
    if run is None:
        raise NotFound()
    return run


def latest_run_ids() -> dict[str, int]:
    """The latest finished run of each dimension, in one query (run ids grow with time)."""
    from django.db.models import Max

    return {row["dimension"]: row["last"] for row in Run.objects.filter(status="done").order_by()
            .values("dimension").annotate(last=Max("id"))}


def latest_run(dimension: str) -> Run | None:
    return Run.objects.filter(dimension=dimension, status="done").select_related("criterion").order_by(
        "-started_at", "-id").first()


def assignment_list(*, actor, run: Run, label: str | None = None, order: str = "-score") -> QuerySet[Assignment]:
    qs = restrict_organizations(actor, Assignment.objects.filter(run=run), prefix="organization__")
    if label:
        qs = qs.filter(label=label)
    if order == "margin":
        qs = qs.order_by("margin", "organization_id")
    elif order == "score":
        qs = qs.order_by("score", "organization_id")
    else:
        qs = qs.order_by("-score", "organization_id")
    return qs.select_related("organization")


def insufficient_queue(*, actor, dimension: str) -> QuerySet[Assignment]:
    """Clients the latest run could not classify, with what is missing: a data-collection work queue."""
    run = latest_run(dimension)
    if run is None:
        return Assignment.objects.none()
    qs = restrict_organizations(actor, Assignment.objects.filter(run=run, label=INSUFFICIENT),
                                prefix="organization__")
    return qs.select_related("organization", "organization__relationship_manager").order_by(
        "completeness", "organization__legal_name", "organization_id")


def organization_labels(*, actor, organization) -> list[dict[str, Any]]:
    """Each dimension's current label of one client, its latest assignment, "why" and active override."""
    if not can_view_organization(actor, organization):
        raise NotFound()
    current = ClientLabels.objects.filter(organization=organization).first()
    assignments: dict[str, Assignment] = {}
    overrides: dict[str, Override] = {}
    if current is not None:  # a run or an override always writes the current labels
        latest = latest_run_ids()
        if latest:
            assignments = {a.run.dimension: a for a in Assignment.objects.filter(
                organization=organization, run_id__in=list(latest.values())).select_related("run", "run__criterion")}
        overrides = {o.dimension: o for o in Override.objects.filter(
            organization=organization, revoked_at__isnull=True, expires_at__gt=timezone.now(),
        ).select_related("author").order_by("created_at", "id")}
    out = []
    for dimension in Dimension.values:
        code = getattr(current, dimension, "") if current else ""
        assignment = assignments.get(dimension)
        out.append({
            "dimension": dimension,
            "dimension_label": str(Dimension(dimension).label),
            "label": code,
            "label_display": label_display(dimension, code),
            "is_upper": code == upper_label(dimension),
            "is_insufficient": code == INSUFFICIENT,
            "assignment": assignment,
            "override": overrides.get(dimension),
            "why": explain(assignment) if assignment else [],
        })
    return out


def organizations_by_id(*, actor, ids) -> dict[int, Organization]:
    """Names for lists of client ids (near the line, who would move), in one query."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if not wanted:
        return {}
    qs = restrict_organizations(actor, Organization.objects.filter(pk__in=wanted)).only(
        "id", "legal_name", "local_name")
    return {o.pk: o for o in qs}


def override_list(*, actor, dimension: str, active: bool = True) -> QuerySet[Override]:
    """Overrides of one dimension, newest first: those in force, or those that ended."""
    qs = restrict_organizations(actor, Override.objects.filter(dimension=dimension), prefix="organization__")
    now = timezone.now()
    if active:
        qs = qs.filter(revoked_at__isnull=True, expires_at__gt=now)
    else:
        qs = qs.exclude(revoked_at__isnull=True, expires_at__gt=now)
    return qs.select_related("organization", "author", "revoked_by").order_by("-created_at", "-id")


def override_get(*, actor, pk: int) -> Override:
    override = restrict_organizations(actor, Override.objects.all(), prefix="organization__").select_related(
        "organization").filter(pk=pk).first()
    if override is None:
        raise NotFound()
    return override


def run_options(*, actor, dimension: str, limit: int = 200) -> list[Run]:
    """Recent runs of a dimension for the compare form, newest first."""
    require_portfolio_view(actor)
    return list(Run.objects.filter(dimension=dimension).select_related("criterion").only(
        "id", "dimension", "as_of", "started_at", "method", "criterion__version").order_by(
        "-started_at", "-id")[:limit])


def migration_matrix(*, actor, run_a: Run, run_b: Run) -> dict[str, Any]:
    """How many clients went from each label in run A to each label in run B (same dimension)."""
    require_portfolio_view(actor)
    if run_a.dimension != run_b.dimension:
        from bcrm.core.errors import InvalidInput

        raise InvalidInput(_("Compare two runs of the same dimension."))
    table = connection.ops.quote_name(Assignment._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.label, b.label, COUNT(*) FROM {table} a JOIN {table} b "
            f"ON a.organization_id = b.organization_id AND b.run_id = %s WHERE a.run_id = %s "
            f"GROUP BY a.label, b.label",
            [run_b.pk, run_a.pk],
        )
        rows = cursor.fetchall()
    dimension = run_a.dimension
    labels = [upper_label(dimension), lower_label(dimension), INSUFFICIENT]
    cells = {(a, b): n for a, b, n in rows}
    matrix = [[cells.get((a, b), 0) for b in labels] for a in labels]
    moved = sum(n for (a, b), n in cells.items() if a != b)
    return {"dimension": dimension, "run_a": run_a.pk, "run_b": run_b.pk, "labels": labels,
            "label_names": [label_display(dimension, code) for code in labels], "matrix": matrix,
            "moved": moved, "total": sum(cells.values())}


def migration_clients(*, actor, run_a: Run, run_b: Run, from_label: str, to_label: str) -> QuerySet[Assignment]:
    """The clients behind one cell of the migration matrix, with their assignment in run B."""
    moved_ids = Assignment.objects.filter(run=run_a, label=from_label).values("organization_id")
    qs = Assignment.objects.filter(run=run_b, label=to_label, organization_id__in=moved_ids)
    return restrict_organizations(actor, qs, prefix="organization__").select_related("organization").order_by(
        "-score", "organization_id")


# --- the "why" in plain language ---------------------------------------------------------------

def feature_name(name: str) -> str:
    spec = FEATURES.get(name)
    return str(spec.label) if spec else name


def format_feature_value(name: str, value: float | None) -> str:
    from django.conf import settings
    from django.contrib.humanize.templatetags.humanize import intcomma

    if value is None:
        return _("unknown")
    unit = FEATURES[name].unit if name in FEATURES else ""
    if unit == "money":
        return f"{settings.BCRM_REPORTING_CURRENCY} {intcomma(round(value))}"
    if unit == "share":
        return f"{value * 100:.0f}%"
    if unit == "flag":
        return _("yes") if value >= 0.5 else _("no")
    if unit in ("years", "months"):
        return f"{value:.1f}"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}"


def reason_label(reason: str) -> str:
    """An evidence rule a client fails, in words: "feature:x", "history" or "completeness"."""
    if reason.startswith("feature:"):
        return _("required %(feature)s missing") % {"feature": feature_name(reason[8:])}
    if reason == "history":
        return _("too little history")
    if reason == "completeness":
        return _("evidence too incomplete")
    return reason


def explain(assignment: Assignment) -> list[str]:
    """Sentences saying why the client got its label: rule, evidence, the line, what lifted or lowered it."""
    run = assignment.run
    dimension = run.dimension
    data = assignment.explanation or {}
    lines: list[str] = []
    if assignment.overridden:
        lines.append(_("Set by hand (override); the engine said: %(label)s.") % {
            "label": label_display(dimension, assignment.engine_label)})
    if "r" in data:
        rules = run.criterion.rules
        rule = rules[data["r"]] if data["r"] < len(rules) else None
        if rule:
            side = upper_label(dimension) if rule["label"] == "upper" else lower_label(dimension)
            lines.append(_("Rule: %(feature)s %(op)s %(value)s puts the client in “%(label)s” whatever its score.") % {
                "feature": feature_name(rule["feature"]), "op": rule["op"],
                "value": format_feature_value(rule["feature"], rule["value"]), "label": label_display(dimension, side)})
    if assignment.engine_label == INSUFFICIENT:
        for reason in data.get("m", []):
            if reason.startswith("feature:"):
                lines.append(_("Missing required evidence: %(feature)s.") % {"feature": feature_name(reason[8:])})
            elif reason == "history":
                months = data.get("h")
                lines.append(
                    _("Too little history: %(have)s months known, %(need)s needed.") % {
                        "have": "0" if months is None else f"{months:.0f}",
                        "need": run.criterion.min_history_months})
            elif reason == "completeness":
                lines.append(_("Evidence completeness %(have)s%% is below the %(need)s%% required.") % {
                    "have": f"{(data.get('p') or 0) * 100:.0f}", "need": f"{run.criterion.min_completeness * 100:.0f}"})
        return lines
    if assignment.score is not None and run.threshold is not None and "r" not in data:
        if assignment.margin is not None and assignment.margin >= 0:
            lines.append(_("Score %(score).3f is %(margin).3f above the line at %(line).3f.") % {
                "score": assignment.score, "margin": assignment.margin, "line": run.threshold})
        elif assignment.margin is not None:
            lines.append(_("Score %(score).3f is %(margin).3f below the line at %(line).3f.") % {
                "score": assignment.score, "margin": -assignment.margin, "line": run.threshold})
    if data.get("k"):
        lines.append(_("Kept on its previous side by the hysteresis margin of %(m)s.") % {
            "m": run.criterion.hysteresis_margin})
    for name, value, contribution in data.get("c", []):
        if contribution >= 0:
            text = _("%(feature)s (%(value)s) lifts the score by %(delta).3f against a typical client.")
        else:
            text = _("%(feature)s (%(value)s) lowers the score by %(delta).3f against a typical client.")
        lines.append(text % {"feature": feature_name(name), "value": format_feature_value(name, value),
                             "delta": abs(contribution)})
    if assignment.stability is not None:
        lines.append(_("Stability: the label held in %(pct)s%% of resampled populations.") % {
            "pct": f"{assignment.stability * 100:.0f}"})
    return lines
