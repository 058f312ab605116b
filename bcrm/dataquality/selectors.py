"""The data-quality report: per client and per dimension, the evidence the segmentation engine will
use, how complete it is, and what is missing (issue 3, item 5).

It reads the same features, with the same active criteria and evidence rules, as a run does, so
"classifiable here" means "classified by the next run". Nothing is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import restrict_organizations, sees_all_organizations
from bcrm.core.errors import InvalidInput
from bcrm.core.pagination import MAX_PAGE_SIZE, Page, check_page, clamp_page
from bcrm.parties.models import Organization
from bcrm.segmentation import compliance
from bcrm.segmentation.choices import Dimension
from bcrm.segmentation.classify import feature_names_for, today
from bcrm.segmentation.features import FEATURES, FeatureMatrix, Population, check_as_of, compute_features
from bcrm.segmentation.scoring import evidence, score
from bcrm.segmentation.selectors import feature_name
from bcrm.segmentation.services import criterion_active


@dataclass
class DimensionQuality:
    dimension: str
    criterion: Any
    completeness: np.ndarray
    ok: np.ndarray
    reasons: dict[str, np.ndarray]
    missing_by_feature: dict[str, np.ndarray]


@dataclass
class QualityReport:
    population: Population
    dimensions: list[DimensionQuality]
    matrix: FeatureMatrix

    def summary(self) -> dict[str, Any]:
        n = self.population.size
        out: dict[str, Any] = {"as_of": self.population.as_of.isoformat(), "clients": n, "dimensions": []}
        for dq in self.dimensions:
            out["dimensions"].append({
                "dimension": dq.dimension,
                "criterion_version": dq.criterion.version,
                "classifiable": int(dq.ok.sum()),
                "insufficient": int(n - dq.ok.sum()),
                "classifiable_share": float(dq.ok.mean()) if n else None,
                "mean_completeness": float(dq.completeness.mean()) if n else None,
                "insufficient_reasons": {reason: int(mask.sum()) for reason, mask in dq.reasons.items()},
                "missing_by_feature": {name: int(mask.sum()) for name, mask in dq.missing_by_feature.items()},
            })
        return out

    def client_rows(self, index: int) -> list[dict[str, Any]]:
        rows = []
        for dq in self.dimensions:
            rows.append({
                "dimension": dq.dimension,
                "completeness": float(dq.completeness[index]),
                "classifiable": bool(dq.ok[index]),
                "missing": [name for name, mask in dq.missing_by_feature.items() if mask[index]],
                "failing": [reason for reason, mask in dq.reasons.items() if mask[index]],
            })
        return rows

    def describe(self, dq: DimensionQuality, index: int) -> list[str]:
        """What is missing for one client on one dimension, in words."""
        lines = []
        for reason, mask in dq.reasons.items():
            if not mask[index]:
                continue
            if reason == compliance.COMPLIANCE_REASON:
                lines.append(compliance.compliance_text())
            elif reason.startswith("feature:"):
                lines.append(_("Required: %(f)s") % {"f": feature_name(reason[8:])})
            elif reason == "history":
                lines.append(_("History shorter than %(m)s months") % {"m": dq.criterion.min_history_months})
            elif reason == "completeness":
                lines.append(_("Completeness below %(p)s%%") % {"p": f"{dq.criterion.min_completeness * 100:.0f}"})
        missing = [feature_name(name) for name, mask in dq.missing_by_feature.items() if mask[index]]
        if missing:
            lines.append(_("Missing: %(list)s") % {"list": ", ".join(missing)})
        return lines


def data_quality(*, actor, as_of: dt.date | None = None, organization_ids: list[int] | None = None) -> QualityReport:
    """The evidence per client and dimension, for the clients ``actor`` may see; features derived from KYC and
    sanctions fields appear only for the roles that may see those fields (``segmentation.compliance``)."""
    as_of = check_as_of(as_of or today())
    qs = Organization.objects.order_by("id")
    if not sees_all_organizations(actor):
        qs = restrict_organizations(actor, qs)
    if organization_ids is not None:
        qs = qs.filter(pk__in=organization_ids)
    ids = np.fromiter(qs.values_list("id", flat=True).iterator(chunk_size=50_000), dtype=np.int64)
    pop = Population(ids=ids, as_of=as_of)
    criteria = [criterion_active(d) for d in Dimension.values]
    names: list[str] = []
    for criterion in criteria:
        names += [n for n in feature_names_for(criterion) if n not in names]
    matrix = compute_features(names, pop)
    columns = {name: (fv.values, fv.missing) for name, fv in matrix.columns.items()}
    history = matrix.columns["history_months"]
    dimensions = []
    for criterion in criteria:
        scored = score(columns, criterion.features)
        ok, reasons = evidence(
            columns, required=criterion.required_features, completeness=scored.completeness,
            min_completeness=criterion.min_completeness,
            history_months=np.where(history.missing, np.nan, history.values),
            min_history_months=criterion.min_history_months,
        )
        used = list(dict.fromkeys([t["feature"] for t in criterion.features] + list(criterion.required_features)))
        # Figures on KYC and sanctions features are for the roles that may see those fields.
        dimensions.append(DimensionQuality(
            dimension=criterion.dimension, criterion=criterion, completeness=np.nan_to_num(scored.completeness),
            ok=ok, reasons=compliance.visible_reason_masks(actor, reasons),
            missing_by_feature={name: matrix.columns[name].missing for name in compliance.visible_features(actor, used)}))
    return QualityReport(pop, dimensions, matrix)


#: Clients lacking evidence shown per page on the data-quality page.
LACKING_PAGE_SIZE = 50


@dataclass(frozen=True)
class LackingClient:
    """One client lacking evidence on one dimension: how complete, whether classifiable, what it lacks (in words
    and as feature and rule codes)."""

    organization: Any
    completeness: float
    classifiable: bool
    lacks: list[str]
    missing: list[str]
    failing: list[str]


def lacking_order(dq: DimensionQuality) -> list[int]:
    """Positions (in the report's population) of the clients lacking evidence on ``dq``'s dimension, worst
    first: those that cannot be classified, then by completeness (ties: by client id)."""
    order = np.lexsort((dq.completeness, dq.ok))
    return [int(i) for i in order if not dq.ok[i] or dq.completeness[i] < 1.0]


def lacking_clients(report: QualityReport, dimension: str, *, number: int = 1, size: int = LACKING_PAGE_SIZE,
                    strict: bool = False) -> Page:
    """One page of the clients of ``report`` (already those its reader may see) lacking evidence on
    ``dimension``, worst first, as :class:`LackingClient` rows (organisations read in one query).

    Paged by the shared rules (:mod:`bcrm.core.pagination`): ``strict`` (the API) refuses a page or size out of
    bounds with InvalidInput and answers an empty page past the end; otherwise (the page) the number is brought
    into bounds and a page past the end shows the last one."""

    if dimension not in Dimension.values:
        raise InvalidInput(fields={"dimension": [_("Unknown dimension %(value)r: choose one of %(choices)s.")
                                                 % {"value": dimension, "choices": ", ".join(Dimension.values)}]})
    dq = next(d for d in report.dimensions if d.dimension == dimension)
    lacking = lacking_order(dq)
    if strict:
        check_page(number, size)
    else:
        size = max(1, min(size, MAX_PAGE_SIZE))
        number = min(clamp_page(number), max(1, -(-len(lacking) // size)))  # past the end: the last page
    chosen = lacking[(number - 1) * size: number * size]
    ids = [int(report.population.ids[i]) for i in chosen]
    orgs = Organization.objects.in_bulk(ids)
    rows = [LackingClient(
        organization=orgs.get(int(report.population.ids[i])), completeness=float(dq.completeness[i]),
        classifiable=bool(dq.ok[i]), lacks=report.describe(dq, i),
        missing=[name for name, mask in dq.missing_by_feature.items() if mask[i]],
        failing=[reason for reason, mask in dq.reasons.items() if mask[i]]) for i in chosen]
    return Page(items=rows, number=number, size=size, count=len(lacking), count_is_capped=False)


def export_rows(report: QualityReport) -> Iterator[list[Any]]:
    """One row per client and dimension, for CSV/XLSX export, names looked up in batches."""
    yield ["organization_id", "legal_name", "dimension", "criterion_version", "completeness", "classifiable",
           "failing_rules", "missing_features"]
    ids = report.population.ids
    for start in range(0, ids.size, 5000):
        chunk = ids[start:start + 5000]
        names = dict(Organization.objects.filter(pk__in=chunk.tolist()).values_list("id", "legal_name"))
        for offset, oid in enumerate(chunk.tolist()):
            index = start + offset
            for dq in report.dimensions:
                failing = [r for r, m in dq.reasons.items() if m[index]]
                missing = [f for f, m in dq.missing_by_feature.items() if m[index]]
                yield [oid, names.get(oid, ""), dq.dimension, dq.criterion.version,
                       round(float(dq.completeness[index]), 3), "yes" if dq.ok[index] else "no",
                       "; ".join(failing), "; ".join(missing)]


def export_csv(report: QualityReport) -> Iterator[str]:
    """CSV text in pieces (UTF-8 with a BOM so spreadsheets read Chinese names), cells neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    for row in export_rows(report):
        writer.writerow([_neutralise(v) for v in row])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


FEATURE_LABELS = {name: spec.label for name, spec in FEATURES.items()}
