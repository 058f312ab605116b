"""Segmentation reads shared by the UI, the API and the CLI, restricted to what the actor may see."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import FloatField, Q, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_view_organization, restrict_organizations, sees_all_organizations
from bcrm.core.errors import InvalidInput, NotFound, PermissionDenied
from bcrm.core.formatting import number
from bcrm.financing.walls import organizations_behind_walls
from bcrm.parties.models import Organization
from bcrm.segmentation import changes, compliance
from bcrm.segmentation.choices import (
    INSUFFICIENT,
    Dimension,
    label_display,
    labels_for,
    lower_label,
    upper_label,
)
from bcrm.segmentation.features import FEATURES
from bcrm.segmentation.model_features import note_text
from bcrm.segmentation.models import Assignment, ClientLabels, ClvFit, Criterion, Override, Run


def can_view_portfolio(actor) -> bool:
    """Portfolio-wide figures (distributions, runs, migrations) are for roles that see every client."""
    return sees_all_organizations(actor)


def require_portfolio_view(actor) -> None:
    """Portfolio-wide figures (distributions, runs, migrations) are for roles that see every client."""
    if not can_view_portfolio(actor):
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
    run = Run.objects.select_related("criterion", "clv_fit").filter(pk=pk).first()
    if run is None:
        raise NotFound()
    return run


def clv_fit_list(*, actor):
    """The kept lifetime-value models, newest first."""
    require_portfolio_view(actor)
    return ClvFit.objects.order_by("-as_of", "-id")


def clv_fit_notes(fit: ClvFit) -> list[str]:
    """What the fit reported, in the reader's language (the notes are kept as message codes)."""
    return [note_text(note, _) for note in fit.notes or []]


def latest_run_ids() -> dict[str, int]:
    """The latest finished run of each dimension, in one query (run ids grow with time)."""
    from django.db.models import Max

    return {row["dimension"]: row["last"] for row in Run.objects.filter(status="done").order_by()
            .values("dimension").annotate(last=Max("id"))}


# --- a run's assignments: the latest row per client within the run's chain ------------------------------

def run_chain(run: Run) -> list[int]:
    """The runs whose rows make up ``run``'s assignments, newest first (``Run.chain``; a run from before
    chains, or one that wrote every row, is its own chain)."""
    return [int(i) for i in run.chain] if run.chain else [run.pk]


def effective_where(run: Run, alias: str = "") -> tuple[str, list[int]]:
    """SQL condition (and its parameters) selecting ``run``'s assignments from the assignments table, for
    raw queries: the rows of its chain that no later run of the chain up to ``run`` replaced."""
    prefix = f"{alias}." if alias else ""
    chain = run_chain(run)
    if len(chain) == 1:
        return f"{prefix}run_id = %s", [chain[0]]
    marks = ", ".join(["%s"] * len(chain))
    return (f"({prefix}run_id IN ({marks}) AND ({prefix}superseded_by_id IS NULL OR {prefix}superseded_by_id > %s))",
            [*chain, run.pk])


def effective_assignments(run: Run) -> QuerySet[Assignment]:
    """Every client's assignment in ``run``, whichever run of its chain wrote the row: the one reader of a
    run's assignments (lists, API, migrations, the work queue, explanations, monitoring, resources).

    A run writes rows only for the clients whose result changed (``services``); the others' rows come from
    earlier runs of the chain. Each row carries ``view_line`` (the run's threshold: ``Assignment.margin`` is
    measured against it) and ``view_run_id``. Served by the (run, label, score) and (run, organization)
    indexes: ``run_id IN (chain)`` with the replaced rows filtered out, no self-join."""
    chain = run_chain(run)
    if len(chain) == 1:
        qs = Assignment.objects.filter(run_id=chain[0])
    else:
        qs = Assignment.objects.filter(run_id__in=chain).filter(
            Q(superseded_by__isnull=True) | Q(superseded_by__gt=run.pk))
    return qs.annotate(view_line=Value(run.threshold, output_field=FloatField()), view_run_id=Value(run.pk))


def latest_run(dimension: str) -> Run | None:
    return Run.objects.filter(dimension=dimension, status="done").select_related("criterion").order_by(
        "-started_at", "-id").first()


def assignment_list(*, actor, run: Run, label: str | None = None, order: str = "-score") -> QuerySet[Assignment]:
    qs = restrict_organizations(actor, effective_assignments(run), prefix="organization__")
    if label:
        qs = qs.filter(label=label)
    if order in ("margin", "score"):  # the margin is the score less the run's one line: the same order
        qs = qs.order_by("score", "organization_id")
    else:
        qs = qs.order_by("-score", "organization_id")
    return qs.select_related("organization")


def insufficient_queue(*, actor, dimension: str) -> QuerySet[Assignment]:
    """Clients the latest run could not classify, with what is missing: a data-collection work queue."""
    run = latest_run(dimension)
    if run is None:
        return Assignment.objects.none()
    qs = restrict_organizations(actor, effective_assignments(run).filter(label=INSUFFICIENT),
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
        from django.db.models import Max

        # each dimension's latest run (one query), then the client's standing row in each: in the run's chain
        # and not replaced
        last = Run.objects.filter(status="done").order_by().values("dimension").annotate(last=Max("id")).values("last")
        runs = {run.pk: run for run in Run.objects.filter(pk__in=last).select_related("criterion")}
        if runs:
            owner = {run_id: run for run in runs.values() for run_id in run_chain(run)}
            for a in Assignment.objects.filter(organization=organization, run_id__in=list(owner),
                                               superseded_by__isnull=True):
                run = owner[a.run_id]
                a.run = run  # read as the latest run's row: its line, its criterion
                a.__dict__["view_line"] = run.threshold
                assignments[run.dimension] = a
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
            "why": explain(assignment, actor=actor) if assignment else [],
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
        raise InvalidInput(_("Compare two runs of the same dimension."))
    table = connection.ops.quote_name(Assignment._meta.db_table)
    where_a, params_a = effective_where(run_a, "a")
    where_b, params_b = effective_where(run_b, "b")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.label, b.label, COUNT(*) FROM {table} a JOIN {table} b "
            f"ON a.organization_id = b.organization_id AND {where_b} WHERE {where_a} "
            f"GROUP BY a.label, b.label",
            [*params_b, *params_a],
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
    moved_ids = effective_assignments(run_a).filter(label=from_label).values("organization_id")
    qs = effective_assignments(run_b).filter(label=to_label, organization_id__in=moved_ids)
    return restrict_organizations(actor, qs, prefix="organization__").select_related("organization").order_by(
        "-score", "organization_id")


# --- the "why" in plain language ---------------------------------------------------------------

def feature_name(name: str) -> str:
    spec = FEATURES.get(name)
    return str(spec.label) if spec else name


def format_feature_value(name: str, value: float | None) -> str:
    from django.conf import settings

    if value is None:
        return _("unknown")
    unit = FEATURES[name].unit if name in FEATURES else ""
    if unit == "money":
        return f"{settings.BCRM_REPORTING_CURRENCY} {number(round(value))}"
    decimals = changes.SHOWN_DECIMALS.get(unit, 2)  # what a daily run compares the value at, too
    if unit == "share":
        return f"{value * 100:.{decimals - 2}f}%"
    if unit == "flag":
        return _("yes") if value >= 0.5 else _("no")
    if unit in ("years", "months"):
        return f"{value:.{decimals}f}"
    if float(value).is_integer():
        return str(int(value))
    if unit == "score":  # 0–100 or 0–10: a tenth is precise enough
        return f"{value:.{decimals}f}"
    return f"{value:.2f}"


def reason_label(reason: str) -> str:
    """An evidence rule a client fails, in words: "feature:x", "history" or "completeness"."""
    if reason.startswith("feature:"):
        return _("required %(feature)s missing") % {"feature": feature_name(reason[8:])}
    if reason == "history":
        return _("too little history")
    if reason == "completeness":
        return _("evidence too incomplete")
    if reason == compliance.COMPLIANCE_REASON:
        return compliance.compliance_text()
    return reason


def _override_text(dimension: str, assignment: Assignment) -> str:
    return _("Set by hand (override); the engine said: %(label)s.") % {
        "label": label_display(dimension, assignment.engine_label)}


def _rule_text(run: Run, index: int) -> str:
    """The knock-out rule number ``index`` of the run's criterion, in words ("" if it no longer exists)."""
    rules = run.criterion.rules
    rule = rules[index] if 0 <= index < len(rules) else None
    if not rule:
        return ""
    dimension = run.dimension
    side = upper_label(dimension) if rule["label"] == "upper" else lower_label(dimension)
    return _("Rule: %(feature)s %(op)s %(value)s puts the client in “%(label)s” whatever its score.") % {
        "feature": feature_name(rule["feature"]), "op": rule["op"],
        "value": format_feature_value(rule["feature"], rule["value"]), "label": label_display(dimension, side)}


def _hysteresis_text(run: Run) -> str:
    return _("Kept on its previous side by the hysteresis margin of %(m)s.") % {"m": run.criterion.hysteresis_margin}


def visible_explanation(actor, assignment: Assignment, run: Run | None = None) -> dict[str, Any]:
    """The assignment's stored explanation as ``actor`` may see it (``compliance.visible_explanation``)."""
    run = run or assignment.run
    data = compliance.visible_explanation(actor, assignment.explanation, run.criterion.rules)
    if assignment.organization_id in organizations_behind_walls(actor):
        data = compliance.visible_deal_explanation(data, run.criterion.rules)
    return data


def explain(assignment: Assignment, *, actor, run: Run | None = None) -> list[str]:
    """Sentences saying why the client got its label: rule, evidence, the line, what lifted or lowered it,
    as ``actor`` may read them (a reader who may not see KYC and sanctions fields reads that a compliance
    rule applied, not which). ``run`` is the run being read (the row may come from an earlier run of its
    chain, with the same criterion); by default the row's own."""
    run = run or assignment.run
    dimension = run.dimension
    data = visible_explanation(actor, assignment, run)
    lines: list[str] = []
    if assignment.overridden:
        lines.append(_override_text(dimension, assignment))
    if "r" in data:
        rule_text = _rule_text(run, data["r"])
        if rule_text:
            lines.append(rule_text)
    if data.get("xr"):
        lines.append(compliance.compliance_text())
    if data.get("xd"):
        lines.append(compliance.deal_rule_text())
    if assignment.engine_label == INSUFFICIENT:
        for reason in data.get("m", []):
            if reason == compliance.COMPLIANCE_REASON:
                lines.append(compliance.compliance_text())
            elif reason.startswith("feature:"):
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
    if (assignment.score is not None and run.threshold is not None and "r" not in data and "xr" not in data
            and "xd" not in data):
        if assignment.margin is not None and assignment.margin >= 0:
            lines.append(_("Score %(score).3f is %(margin).3f above the line at %(line).3f.") % {
                "score": assignment.score, "margin": assignment.margin, "line": run.threshold})
        elif assignment.margin is not None:
            lines.append(_("Score %(score).3f is %(margin).3f below the line at %(line).3f.") % {
                "score": assignment.score, "margin": -assignment.margin, "line": run.threshold})
    if data.get("k"):
        lines.append(_hysteresis_text(run))
    for name, value, contribution in data.get("c", []):
        if contribution >= 0:
            text = _("%(feature)s (%(value)s) lifts the score by %(delta).3f against a typical client.")
        else:
            text = _("%(feature)s (%(value)s) lowers the score by %(delta).3f against a typical client.")
        lines.append(text % {"feature": feature_name(name), "value": format_feature_value(name, value),
                             "delta": abs(contribution)})
    if data.get("xc") and not data.get("xr"):
        lines.append(compliance.compliance_text())
    if assignment.stability is not None:
        lines.append(_("Stability: the label held in %(pct)s%% of resampled populations.") % {
            "pct": f"{assignment.stability * 100:.0f}"})
    return lines


# --- why clients moved between two runs -----------------------------------------------------------

MAX_DELTAS = 3  # features shown per client: the ones whose contribution changed most
MINUS = "\u2212"


def migration_cell_check(*, run_a: Run, run_b: Run, from_label: str, to_label: str) -> None:
    """A cell of the migration matrix: two runs of one dimension and two of its labels."""
    if run_a.dimension != run_b.dimension:
        raise InvalidInput(_("Compare two runs of the same dimension."),
                           fields={"b": [_("Run #%(id)s is of another dimension.") % {"id": run_b.pk}]})
    labels = labels_for(run_a.dimension)
    allowed = ", ".join(labels)
    fields = {name: [_("Choose one of the labels of the dimension: %(labels)s.") % {"labels": allowed}]
              for name, value in (("from", from_label), ("to", to_label)) if value not in labels}
    if fields:
        raise InvalidInput(_("“from” and “to” must be labels of the %(dimension)s dimension: %(labels)s.") % {
            "dimension": Dimension(run_a.dimension).label, "labels": allowed}, fields=fields)


def migration_reasons(*, actor, run_a: Run, run_b: Run, assignments_b) -> dict[int, dict[str, Any]]:
    """Why each client of one page of a migration cell is where it is in run B: ``describe_move`` of its
    assignments in the two runs. ``assignments_b`` are run B's rows (from ``migration_clients``, a page of
    them); run A's rows of the same clients come in one query. Clients the actor may not see are left out."""
    if run_a.dimension != run_b.dimension:
        raise InvalidInput(_("Compare two runs of the same dimension."))
    sees_all = sees_all_organizations(actor)
    rows = [b for b in assignments_b if sees_all or can_view_organization(actor, b.organization)]
    if not rows:
        return {}
    before = {a.organization_id: a for a in effective_assignments(run_a).filter(
        organization_id__in=[b.organization_id for b in rows]).only(
        "organization_id", "label", "engine_label", "score", "overridden", "held_by_hysteresis",
        "explanation")}
    return {b.organization_id: describe_move(before.get(b.organization_id), b, run_a, run_b, actor=actor)
            for b in rows}


def run_line(run: Run) -> float | None:
    """The run's dividing line: the threshold found, or the fixed line when nobody reached it."""
    if run.threshold is not None:
        return float(run.threshold)
    fixed = (run.params or {}).get("threshold") if run.method == "fixed" else None
    return float(fixed) if isinstance(fixed, int | float) else None


def _fixed(value: float | None) -> str:
    return _("unknown") if value is None else f"{value:.3f}"


def signed(value: float, digits: int = 3) -> str:
    """+0.020, −0.114 (a true minus sign), 0.000 when the change rounds to nothing."""
    rounded = round(value, digits)
    if rounded > 0:
        return f"+{rounded:.{digits}f}"
    if rounded < 0:
        return f"{MINUS}{-rounded:.{digits}f}"
    return f"{0:.{digits}f}"


def _top_contributions(explanation: dict[str, Any] | None) -> dict[str, tuple[float | None, float]]:
    out: dict[str, tuple[float | None, float]] = {}
    for item in (explanation or {}).get("c", []):
        name, value, contribution = item[0], item[1], item[2]
        out[name] = (None if value is None else float(value), float(contribution))
    return out


def feature_deltas(explanation_a: dict[str, Any] | None, explanation_b: dict[str, Any] | None,
                   limit: int = MAX_DELTAS) -> list[dict[str, Any]]:
    """The features in either run's top contributions, with value and contribution in each run, the
    largest change first (at most ``limit``).

    A run records only its top contributions: a feature missing from one run's list has no value or
    contribution there (None, never a guess) and no ``contribution_change``; it is ranked by the size of
    the contribution it had in the run that lists it (``magnitude``)."""
    top_a, top_b = _top_contributions(explanation_a), _top_contributions(explanation_b)
    rows: list[dict[str, Any]] = []
    for name in dict.fromkeys([*top_a, *top_b]):
        in_a, in_b = name in top_a, name in top_b
        value_a, contribution_a = top_a[name] if in_a else (None, None)
        value_b, contribution_b = top_b[name] if in_b else (None, None)
        if contribution_a is not None and contribution_b is not None:
            rounded = round(contribution_b - contribution_a, 6)
            change: float | None = rounded
            magnitude = abs(rounded)
        else:
            change = None
            magnitude = abs(contribution_a if contribution_a is not None else contribution_b or 0.0)
        rows.append({
            "feature": name, "feature_name": feature_name(name),
            "in_top_a": in_a, "in_top_b": in_b, "value_a": value_a, "value_b": value_b,
            "value_a_text": format_feature_value(name, value_a) if in_a else _("not among the top contributions"),
            "value_b_text": format_feature_value(name, value_b) if in_b else _("not among the top contributions"),
            "contribution_a": contribution_a, "contribution_b": contribution_b, "contribution_change": change,
            "magnitude": magnitude,
        })
    rows.sort(key=lambda r: (-r["magnitude"], r["feature"]))
    return rows[:limit]


def _delta_sentence(delta: dict[str, Any], run_a: Run, run_b: Run) -> str:
    args = {"feature": delta["feature_name"], "a": delta["value_a_text"], "b": delta["value_b_text"]}
    if delta["in_top_a"] and delta["in_top_b"]:
        return _("%(feature)s: %(a)s → %(b)s (contribution %(ca)s → %(cb)s).") % {
            **args, "ca": signed(delta["contribution_a"]), "cb": signed(delta["contribution_b"])}
    if delta["in_top_a"]:
        return _("%(feature)s: %(a)s → not among the top contributions (contribution %(ca)s in run #%(id)s).") % {
            **args, "ca": signed(delta["contribution_a"]), "id": run_a.pk}
    return _("%(feature)s: not among the top contributions → %(b)s (contribution %(cb)s in run #%(id)s).") % {
        **args, "cb": signed(delta["contribution_b"]), "id": run_b.pk}


def _insufficient_sentence(run: Run, explanation: dict[str, Any]) -> str:
    reasons = [reason_label(r) for r in explanation.get("m", [])]
    if not reasons:
        return _("Run #%(id)s: insufficient data.") % {"id": run.pk}
    return _("Run #%(id)s: insufficient data (%(reasons)s).") % {"id": run.pk, "reasons": "; ".join(reasons)}


def _in_run(run: Run, text: str) -> str:
    return _("Run #%(id)s: %(text)s") % {"id": run.pk, "text": text}


def describe_move(a: Assignment | None, b: Assignment, run_a: Run, run_b: Run, *, actor) -> dict[str, Any]:
    """Why a client is where it is in run B compared with run A, from its two assignments and the two runs
    alone (no query): scores, margins and lines, the feature deltas, and short sentences saying it.

    ``a`` is None when the client was not in run A. Sentences come in the active language; decisive
    causes first (insufficient data, an override, a rule, hysteresis), then the score against the line,
    then the features whose contribution changed most. Both explanations are read as ``actor`` may see
    them: rules, values and contributions of compliance features are not named to a reader who may not
    see KYC and sanctions fields."""
    dimension = run_b.dimension
    exp_a = visible_explanation(actor, a, run_a) if a is not None else {}
    exp_b = visible_explanation(actor, b, run_b)
    line_a, line_b = run_line(run_a), run_line(run_b)
    score_a = a.score if a is not None else None
    score_b = b.score
    score_change = round(score_b - score_a, 6) if score_a is not None and score_b is not None else None
    line_moved = line_a is not None and line_b is not None and round(line_a, 3) != round(line_b, 3)
    deltas = feature_deltas(exp_a, exp_b)
    label_a = a.label if a is not None else ""
    engine_a = a.engine_label if a is not None else ""
    moved = label_a != b.label
    sentences: list[str] = []

    # decisive causes: evidence, overrides, rules, hysteresis
    if a is None:
        sentences.append(_("Not in run #%(id)s.") % {"id": run_a.pk})
    elif engine_a == INSUFFICIENT:
        sentences.append(_insufficient_sentence(run_a, exp_a))
    if b.engine_label == INSUFFICIENT:
        sentences.append(_insufficient_sentence(run_b, exp_b))
    elif engine_a == INSUFFICIENT:
        sentences.append(_("Run #%(id)s had enough evidence to classify the client.") % {"id": run_b.pk})
    for run, assignment, data in ((run_a, a, exp_a), (run_b, b, exp_b)):
        if assignment is None:
            continue
        if assignment.overridden:
            sentences.append(_in_run(run, _override_text(dimension, assignment)))
        if "r" in data:
            rule_text = _rule_text(run, data["r"])
            if rule_text:
                sentences.append(_in_run(run, rule_text))
        if data.get("xr"):
            sentences.append(_in_run(run, compliance.compliance_text()))
        if data.get("xd"):
            sentences.append(_in_run(run, compliance.deal_rule_text()))
        if assignment.held_by_hysteresis or data.get("k"):
            sentences.append(_in_run(run, _hysteresis_text(run)))

    # the score against the line
    if score_change is not None:
        args = {"a": _fixed(score_a), "b": _fixed(score_b), "change": signed(score_change)}
        if line_moved:
            sentences.append(_("Score %(a)s → %(b)s (%(change)s); the line moved %(la)s → %(lb)s.") % {
                **args, "la": _fixed(line_a), "lb": _fixed(line_b)})
        elif line_b is not None:
            sentences.append(_("Score %(a)s → %(b)s (%(change)s); the line stayed at %(line)s.") % {
                **args, "line": _fixed(line_b)})
        else:
            sentences.append(_("Score %(a)s → %(b)s (%(change)s).") % args)
    elif score_a is not None or score_b is not None:
        sentences.append(_("Score %(a)s → %(b)s.") % {"a": _fixed(score_a), "b": _fixed(score_b)})
    cause = _line_or_score(a, b, exp_a, exp_b, line_a, line_b, dimension) if moved else ""
    if cause:
        sentences.append(cause)
    if moved and a is not None and run_a.criterion_id != run_b.criterion_id:
        sentences.append(_("The criterion changed between the runs: version %(a)s → %(b)s.") % {
            "a": run_a.criterion.version, "b": run_b.criterion.version})

    # the features whose contribution changed most (one whose change rounds to nothing explains nothing)
    sentences.extend(_delta_sentence(delta, run_a, run_b) for delta in deltas if delta["magnitude"] >= 0.0005)
    if (exp_a.get("xc") or exp_b.get("xc")) and not (exp_a.get("xr") or exp_b.get("xr")):
        sentences.append(compliance.compliance_text())
    return {
        "organization_id": b.organization_id, "label_a": label_a, "label_b": b.label,
        "score_a": score_a, "score_b": score_b, "score_change": score_change,
        "margin_a": a.margin if a is not None else None, "margin_b": b.margin,
        "line_a": line_a, "line_b": line_b, "line_moved": line_moved,
        "deltas": deltas, "sentences": sentences,
    }


def _line_or_score(a: Assignment | None, b: Assignment, exp_a: dict[str, Any], exp_b: dict[str, Any],
                   line_a: float | None, line_b: float | None, dimension: str) -> str:
    """For a client the engine moved across the line (no override, rule or hysteresis on either side):
    did the line move past it, or did its score cross the line?"""
    up, low = upper_label(dimension), lower_label(dimension)
    if a is None or {a.engine_label, b.engine_label} != {up, low}:
        return ""
    if a.overridden or b.overridden or "r" in exp_a or "r" in exp_b or exp_a.get("xr") or exp_b.get("xr"):
        return ""
    if a.held_by_hysteresis or b.held_by_hysteresis or exp_a.get("k") or exp_b.get("k"):
        return ""
    if a.score is None or b.score is None or line_a is None or line_b is None:
        return ""
    was_upper = a.engine_label == up
    score_alone = (b.score >= line_a) != was_upper  # the new score against the old line: across
    line_alone = (a.score >= line_b) != was_upper  # the old score against the new line: across
    if line_alone and not score_alone:
        return _("Its score alone would not have moved it: the line moved, not the client.")
    if score_alone and not line_alone:
        return _("The line alone would not have moved it: its score crossed the line.")
    return _("Both its score and the line moved it across.")
