"""What the dedicated tier achieves, estimated on the portfolio's own data (reads only).

* **Regression discontinuity** (:func:`bcrm.stats.rdd.estimate`): the running variable is each client's
  score in one run of the dimension (``Assignment.score``), the line is that run's threshold. The run is the
  one asked for, or by default the latest whose as-of date is at least :data:`MIN_OUTCOME_DAYS` days old, so
  there has been time for outcomes (the latest run when none is that old). The outcome
  is measured after the run's as-of date (from the first instant of the next day, in the display time zone,
  up to now): the client's mean NPS or CSAT answer in that window (no answer: left out), or its
  commitments that reached firm commitment or later in that window, in the reporting currency at the
  latest rates (none: 0). ``treated`` is 1 for clients whose current tier is "dedicated" (the fuzzy
  design); when no client has a tier yet, the sharp design (the effect of being above the line).
* **Before/after** (:func:`bcrm.stats.rdd.before_after`): clients who migrated upward between the run
  before it and the run (lower class then, upper class in the run), their outcome in a window of the same
  length before the run's as-of as after it.

Too little data is a result (verdict "too_few" with notes), not an error; an unknown dimension or outcome
is :class:`InvalidInput`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from django.db.models import Avg, Case, ExpressionWrapper, F, FloatField, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput
from bcrm.engagement.models import SurveyResponse
from bcrm.financing.choices import COMMITTED_STATUSES
from bcrm.financing.models import Participation
from bcrm.financing.selectors import rates_to_reporting
from bcrm.financing.walls import unwalled
from bcrm.monitoring.choices import Outcome
from bcrm.playbooks.choices import Tier
from bcrm.playbooks.models import ClientTier
from bcrm.segmentation.choices import Dimension, lower_label, upper_label
from bcrm.segmentation.features import fetch, to_float
from bcrm.segmentation.models import Run
from bcrm.segmentation.selectors import effective_assignments
from bcrm.stats import ModelError, density, rdd

BINS = 20
#: By default the estimate uses the latest run at least this many days old: a run as of today has no
#: outcomes after it yet.
MIN_OUTCOME_DAYS = 30


def _translated(details: list[dict[str, Any]]) -> list[str]:
    out = []
    for note in details:
        try:
            out.append(_(note["template"]) % note["params"])
        except (KeyError, TypeError, ValueError):
            out.append(note.get("message", ""))
    return out


def _day_end(day: dt.date) -> dt.datetime:
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return timezone.make_aware(midnight, timezone.get_default_timezone())


def _aligned(ids: np.ndarray, rows: list[tuple], fill: float) -> np.ndarray:
    out = np.full(ids.size, fill, dtype=np.float64)
    if rows and ids.size:
        got = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        values = to_float([r[1] for r in rows])
        inside = np.isin(got, ids)
        out[np.searchsorted(ids, got[inside])] = values[inside]
    return out


def outcome_values(outcome: str, ids: np.ndarray, start: dt.datetime, end: dt.datetime) -> np.ndarray:
    """Each client's outcome in [start, end), aligned with ``ids`` (ascending); NaN where unknown."""
    if end <= start:
        return np.full(ids.size, np.nan)
    if outcome in (Outcome.NPS, Outcome.CSAT):
        rows = fetch(SurveyResponse.objects.filter(responded_at__gte=start, responded_at__lt=end,
                                                   **{f"{outcome}__isnull": False})
                     .order_by().values("organization_id").annotate(mean=Avg(outcome))
                     .values_list("organization_id", "mean"))
        return _aligned(ids, rows, np.nan)
    rates = rates_to_reporting(timezone.localtime(end, timezone.get_default_timezone()).date())
    fx = Case(*[When(currency=code, then=Value(float(rate))) for code, rate in rates.items()],
              default=Value(None), output_field=FloatField())
    rows = fetch(unwalled(Participation.objects.filter(status__in=COMMITTED_STATUSES, status_changed_at__gte=start,
                                                       status_changed_at__lt=end))
                 .order_by().values("organization_id")
                 .annotate(total=Sum(ExpressionWrapper(F("amount") * fx, output_field=FloatField())))
                 .values_list("organization_id", "total"))
    return np.nan_to_num(_aligned(ids, rows, 0.0))


def _check(dimension: Any, outcome: Any) -> None:
    fields = {}
    if dimension not in Dimension.values:
        fields["dimension"] = [_("Unknown dimension %(value)r: choose one of %(choices)s.")
                               % {"value": dimension, "choices": ", ".join(Dimension.values)}]
    if outcome not in Outcome.values:
        fields["outcome"] = [_("Unknown outcome %(value)r: choose one of %(choices)s.")
                             % {"value": outcome, "choices": ", ".join(Outcome.values)}]
    if fields:
        raise InvalidInput(fields=fields)


def pick_runs(dimension: str, now: dt.datetime, run_id: Any = None) -> list[Any]:
    """[the run the estimate uses, the run before it] (either may be missing): ``run_id`` when given (a run of
    ``dimension``), else the latest run as of :data:`MIN_OUTCOME_DAYS` days ago or earlier, else the latest."""
    from django.db.models import Q

    done = Run.objects.filter(dimension=dimension, status="done")
    if run_id not in (None, ""):
        try:
            run = done.filter(pk=int(run_id)).first()
        except (TypeError, ValueError):
            run = None
        if run is None:
            raise InvalidInput(fields={"run": [_("There is no finished %(dimension)s run with id %(id)s.") % {
                "dimension": Dimension(dimension).label, "id": run_id}]})
    else:
        today = timezone.localtime(now, timezone.get_default_timezone()).date()
        run = (done.filter(as_of__lte=today - dt.timedelta(days=MIN_OUTCOME_DAYS))
               .order_by("-as_of", "-started_at", "-id").first()
               or done.order_by("-started_at", "-id").first())
    if run is None:
        return []
    previous = (done.filter(Q(as_of__lt=run.as_of) | Q(as_of=run.as_of, started_at__lt=run.started_at))
                .order_by("-as_of", "-started_at", "-id").first())
    return [run] if previous is None else [run, previous]


def run_choices(dimension: str, limit: int = 50) -> list[dict[str, Any]]:
    """The dimension's finished runs with a line, newest first, for the effect page's run select."""
    return [dict(row) for row in Run.objects.filter(dimension=dimension, status="done", threshold__isnull=False)
            .order_by("-as_of", "-started_at", "-id").values("id", "as_of", "method")[:limit]]


def manipulation_check(scores: np.ndarray, threshold: float, alpha: float = 0.05) -> dict[str, Any]:
    """McCrary's density test at the line (are clients bunched just above it?) and at two placebo lines,
    for the effect page and the management report. ``available`` is False, with the reason, when too few
    clients lie on a side."""
    finite = scores[np.isfinite(scores)]
    try:
        test = density.density_test(finite, threshold)
    except ModelError as exc:
        return {"available": False, "reason": _(exc.template) % exc.params}
    placebos = [{"threshold": t.threshold, "log_difference": t.log_difference, "p_value": t.p_value,
                 "rejects": t.rejects(alpha)} for t in density.placebo_tests(finite, threshold)]
    check = {"available": True, "alpha": alpha, "rejects": test.rejects(alpha), "placebos": placebos,
             **test.as_dict()}
    if test.rejects(alpha):
        check["warning"] = (_("More clients lie just above the line than the scores below it would lead one to "
                              "expect (density test p = %(p)s): scores may have been nudged over the line, which "
                              "biases the estimate.") if test.log_difference > 0 else
                            _("Fewer clients lie just above the line than the scores below it would lead one to "
                              "expect (density test p = %(p)s): scores may have been held under the line, which "
                              "biases the estimate.")) % {"p": f"{test.p_value:.3f}"}
        if any(p["rejects"] for p in placebos):
            check["warning"] += " " + _("The test also rejects at a placebo line, so the shape of the scores, not "
                                        "the line, may be what it reacts to.")
    return check


def estimate_effect(*, dimension: str, outcome: str, now: dt.datetime, alpha: float = 0.05,
                    run_id: Any = None) -> dict[str, Any]:
    _check(dimension, outcome)
    runs = pick_runs(dimension, now, run_id)
    result: dict[str, Any] = {"dimension": dimension, "outcome": outcome, "run": None, "previous_run": None,
                              "estimate": None, "bins": [], "before_after": None, "window": None,
                              "manipulation": None}
    if not runs or runs[0].threshold is None:
        empty = rdd.estimate(np.zeros(0), np.zeros(0), 0.0, alpha=alpha).as_dict()
        empty.update(threshold=None, notes=[_("There is no classification run with a line on this dimension yet, "
                                              "so there is nothing to compare.")])
        result["estimate"] = empty
        return result
    run = runs[0]
    threshold = float(run.threshold)
    start = _day_end(run.as_of)
    result["run"] = {"id": run.pk, "as_of": run.as_of.isoformat(), "threshold": threshold, "method": run.method}
    result["window"] = {"after_from": start.isoformat(), "after_to": now.isoformat()}

    rows = fetch(effective_assignments(run).order_by("organization_id")
                 .values_list("organization_id", "score", "label"))
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    scores = np.array([np.nan if r[1] is None else float(r[1]) for r in rows], dtype=np.float64)
    labels = np.array([r[2] for r in rows], dtype=object)
    y = outcome_values(outcome, ids, start, now)

    dedicated = np.fromiter(ClientTier.objects.filter(tier=Tier.DEDICATED).values_list("organization_id", flat=True),
                            dtype=np.int64)
    has_tiers = ClientTier.objects.exists()
    treated = np.isin(ids, dedicated).astype(np.float64) if has_tiers else None
    try:
        rd = rdd.estimate(scores, y, threshold, treated=treated, alpha=alpha)
        known = np.isfinite(scores) & np.isfinite(y)
        bins = rdd.binned_means(scores[known], y[known], threshold, bins=BINS).as_rows()
    except ModelError as exc:
        raise InvalidInput(_(exc.template) % exc.params) from exc
    estimate = rd.as_dict()
    estimate["notes"] = _translated(rd.note_details)
    if now <= start:
        estimate["notes"].append(_("The run is as of %(as_of)s: outcomes after it cannot be measured yet.")
                                 % {"as_of": run.as_of.isoformat()})
    if treated is None:
        estimate["notes"].append(_("No client has a service tier yet: this is the effect of being above the line."))
    result["manipulation"] = manipulation_check(scores, threshold, alpha)
    if result["manipulation"].get("warning"):
        estimate["notes"].insert(0, result["manipulation"]["warning"])
    result["estimate"] = estimate
    result["bins"] = bins

    if len(runs) > 1:
        previous = runs[1]
        result["previous_run"] = {"id": previous.pk, "as_of": previous.as_of.isoformat()}
        was_lower = np.fromiter(effective_assignments(previous).filter(label=lower_label(dimension))
                                .values_list("organization_id", flat=True), dtype=np.int64)
        moved = ids[(labels == upper_label(dimension)) & np.isin(ids, was_lower)]
        width = now - start
        after = outcome_values(outcome, moved, start, now)
        before = outcome_values(outcome, moved, start - width, start)
        pairs = rdd.before_after(before, after, alpha)
        view = pairs.as_dict()
        view["notes"] = _translated(pairs.note_details)
        view["migrated"] = int(moved.size)
        view["before_from"] = (start - width).isoformat()
        result["before_after"] = view
    return result
