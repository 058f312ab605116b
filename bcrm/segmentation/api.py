"""REST endpoints of the segmentation engine: features, criteria, runs, assignments, labels, overrides."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Query, Router, Schema, Status
from pydantic import AwareDatetime, Field

from bcrm.core.errors import InvalidInput, NotFound
from bcrm.core.schemas import ERRORS, PageIn, PageOut, page_response
from bcrm.parties.selectors import organization_get_for_user
from bcrm.segmentation import compliance, selectors, services
from bcrm.segmentation.features import FEATURES

router = Router(tags=["segmentation"])
DimensionName = Literal["value", "risk", "relationship"]


class FeatureOut(Schema):
    name: str
    family: str
    label: str
    unit: str
    description: str
    higher_is_better: bool


class TermIn(Schema):
    feature: str
    transform: Literal["raw", "log1p", "pct_rank", "minmax"] = "pct_rank"
    direction: Literal["higher", "lower"] = "higher"
    weight: float = Field(1.0, ge=0)


class RuleIn(Schema):
    feature: str
    op: Literal[">=", "<=", ">", "<", "=="]
    value: float
    label: Literal["upper", "lower"]


class CriterionOut(Schema):
    id: int
    dimension: str
    version: int
    is_active: bool
    features: list[dict[str, Any]]
    method: str
    params: dict[str, Any]
    rules: list[dict[str, Any]]
    required_features: list[str]
    min_history_months: int
    min_completeness: float
    hysteresis_margin: float
    upper_name: str
    lower_name: str
    outcome_feature: str
    schedule: str
    note: str
    created_by: str | None
    created_at: dt.datetime

    @staticmethod
    def resolve_created_by(obj) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


class CriterionIn(Schema):
    dimension: DimensionName
    base_version: int | None = Field(None, description="the version you edited; a newer one gets 409")
    note: str = ""
    features: list[TermIn] | None = None
    method: str | None = None
    params: dict[str, Any] | None = None
    rules: list[RuleIn] | None = None
    required_features: list[str] | None = None
    min_history_months: int | None = Field(None, ge=0, le=600)
    min_completeness: float | None = Field(None, ge=0, le=1)
    hysteresis_margin: float | None = Field(None, ge=0)
    upper_name: str | None = None
    lower_name: str | None = None
    outcome_feature: str | None = None
    schedule: Literal["", "daily", "weekly", "monthly"] | None = None


class RunIn(Schema):
    dimension: DimensionName
    as_of: dt.date | None = None
    method: str | None = None
    params: dict[str, Any] | None = None
    dry_run: bool = False
    full: bool = Field(False, description="recompute every client's features (default: only the changed clients')")
    refit_clv: bool = Field(False, description="fit the lifetime-value model anew (default: the kept model, "
                                               "refitted every BCRM_CLV_REFIT_DAYS days)")


class RunOut(Schema):
    id: int
    dimension: str
    criterion_version: int
    as_of: dt.date
    method: str
    params: dict[str, Any]
    threshold: float | None
    counts: dict[str, int]
    migrations: dict[str, dict[str, int]]
    trigger: str
    mode: str = Field(..., description="full: every client's features recomputed; incremental: only the changed "
                                       "clients' (the others from the feature store)")
    recomputed: int | None = Field(None, description="clients whose features were computed from their rows")
    base_run_id: int | None = Field(None, description="the run whose assignments this one builds on (it wrote "
                                                      "rows only for the clients whose result changed); null: "
                                                      "it wrote every client's row")
    written: int | None = Field(None, description="assignment rows this run wrote")
    clv_fit_id: int | None = Field(None, description="the kept lifetime-value model the run predicted with "
                                                     "(GET /segmentation/clv-models)")
    started_at: dt.datetime
    duration_ms: int

    @staticmethod
    def resolve_criterion_version(obj) -> int:
        return obj.criterion.version


class RunDetailOut(RunOut):
    diagnostics: dict[str, Any]
    comparison: list[dict[str, Any]]
    timings: dict[str, float]
    previous_run_id: int | None


class AssignmentOut(Schema):
    organization_id: int
    organization: str
    label: str
    engine_label: str
    previous_label: str
    score: float | None
    margin: float | None
    completeness: float
    stability: float | None
    overridden: bool
    why: list[str]

    @staticmethod
    def resolve_organization(obj) -> str:
        return obj.organization.legal_name

    @staticmethod
    def resolve_why(obj, context) -> list[str]:
        return selectors.explain(obj, actor=context["request"].user)


class AssignmentFilter(Schema):
    label: str | None = None
    order: Literal["-score", "score", "margin"] = "-score"


class LabelOut(Schema):
    dimension: str
    label: str
    label_display: str
    run_id: int | None
    score: float | None
    margin: float | None
    completeness: float | None
    stability: float | None
    overridden: bool
    override_id: int | None
    why: list[str]


class OverrideIn(Schema):
    organization: int
    dimension: DimensionName
    label: str
    reason: str = Field(..., min_length=1)
    expires_at: AwareDatetime


class OverrideOut(Schema):
    id: int
    organization_id: int
    dimension: str
    label: str
    reason: str
    author: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    active: bool

    @staticmethod
    def resolve_author(obj) -> str | None:
        return obj.author.get_username() if obj.author_id else None

    @staticmethod
    def resolve_active(obj) -> bool:
        from django.utils import timezone

        return obj.revoked_at is None and obj.expires_at > timezone.now()


class CompareOut(Schema):
    dimension: str
    run_a: int
    run_b: int
    labels: list[str]
    label_names: list[str]
    matrix: list[list[int]]
    moved: int
    total: int


class MigrationCellIn(Schema):
    a: int = Field(..., description="run A (the earlier run)")
    b: int = Field(..., description="run B, of the same dimension")
    from_label: str = Field(..., alias="from", description="the client's label in run A (a label of the dimension)")
    to_label: str = Field(..., alias="to", description="the client's label in run B")


class MigrationDeltaOut(Schema):
    feature: str
    feature_name: str
    in_top_a: bool = Field(..., description="among run A's top contributions (else no value is known there)")
    in_top_b: bool
    value_a: float | None
    value_b: float | None
    value_a_text: str
    value_b_text: str
    contribution_a: float | None
    contribution_b: float | None
    contribution_change: float | None = Field(..., description="B − A; null unless in both runs' top list")
    magnitude: float = Field(..., description="the sort key: |contribution_change|, or the size of the one "
                                              "contribution known when the feature is in one run's list only")


class MigrationClientOut(Schema):
    organization_id: int
    organization: str
    label_a: str
    label_b: str
    score_a: float | None
    score_b: float | None
    score_change: float | None
    margin_a: float | None
    margin_b: float | None
    line_a: float | None
    line_b: float | None
    line_moved: bool
    deltas: list[MigrationDeltaOut]
    sentences: list[str]


@router.get("/segmentation/features", response=list[FeatureOut], summary="The feature registry")
def list_features(request):
    return [
        {"name": f.name, "family": f.family, "label": str(f.label), "unit": f.unit,
         "description": str(f.description), "higher_is_better": f.higher_is_better}
        for f in FEATURES.values()
    ]


@router.get("/segmentation/criteria", response={200: list[CriterionOut], **ERRORS}, summary="Criterion versions")
def list_criteria(request, dimension: DimensionName | None = None):
    for dim in ([dimension] if dimension else ["value", "risk", "relationship"]):
        services.criterion_active(dim)  # version 1 exists once anyone asks
    return list(selectors.criterion_list(actor=request.user, dimension=dimension))


@router.get("/segmentation/criteria/{dimension}", response={200: CriterionOut, **ERRORS},
            summary="The active criterion of a dimension")
def get_active_criterion(request, dimension: DimensionName):
    selectors.require_portfolio_view(request.user)
    return services.criterion_active(dimension)


@router.get("/segmentation/criteria/{dimension}/{version}", response={200: CriterionOut, **ERRORS})
def get_criterion(request, dimension: DimensionName, version: int):
    selectors.require_portfolio_view(request.user)
    return services.criterion_get(dimension, version)


@router.post("/segmentation/criteria", response={201: CriterionOut, **ERRORS},
             summary="Save a new criterion version (fields left out keep the active version's values)")
def create_criterion(request, payload: CriterionIn):
    data = payload.dict(exclude_unset=True)
    dimension = data.pop("dimension")
    note = data.pop("note", "")
    base = data.pop("base_version", None)
    spec = {k: v for k, v in data.items() if v is not None}
    criterion = services.criterion_create_version(actor=request.user, dimension=dimension, spec=spec, note=note,
                                                  base_version=base)
    return Status(201, criterion)


@router.post("/segmentation/runs", response={200: dict[str, Any], 201: dict[str, Any], **ERRORS},
             summary="Run the classification (dry_run: compute and report, write nothing)")
def create_run(request, payload: RunIn):
    report = services.run_segmentation(actor=request.user, dimension=payload.dimension, as_of=payload.as_of,
                                       method=payload.method, params=payload.params, dry_run=payload.dry_run,
                                       full=payload.full, refit_clv=payload.refit_clv)
    data = report.as_dict()
    data["diagnostics"] = compliance.visible_diagnostics(request.user, data["diagnostics"])
    return Status(200 if report.dry_run else 201, data)


class ClvModelOut(Schema):
    id: int
    as_of: dt.date
    fitted_at: dt.datetime
    params: dict[str, float] = Field(..., description="BG/NBD r, alpha, a, b and, when the spend model held, "
                                                      "Gamma-Gamma p, q, gamma")
    customers: int
    log_likelihood: float | None
    notes: list[str]

    @staticmethod
    def resolve_notes(obj) -> list[str]:
        return selectors.clv_fit_notes(obj)


@router.get("/segmentation/clv-models", response={200: PageOut[ClvModelOut], **ERRORS},
            summary="The kept lifetime-value models, newest first (runs predict with the newest recent one)")
def list_clv_models(request, page: Query[PageIn] = None):  # type: ignore[assignment]  # ninja: no paging parameters, the defaults
    return page_response(selectors.clv_fit_list(actor=request.user), page or PageIn(page=1, page_size=50))


@router.get("/segmentation/runs", response={200: PageOut[RunOut], **ERRORS})
def list_runs(request, dimension: DimensionName | None = None, page: Query[PageIn] = None):  # type: ignore[assignment]  # ninja: no paging parameters, the defaults
    return page_response(selectors.run_list(actor=request.user, dimension=dimension), page or PageIn(page=1, page_size=50))


@router.get("/segmentation/runs/compare", response={200: CompareOut, **ERRORS},
            summary="Migration matrix between two runs of one dimension")
def compare_runs(request, a: int, b: int):
    run_a = selectors.run_get(actor=request.user, pk=a)
    run_b = selectors.run_get(actor=request.user, pk=b)
    return selectors.migration_matrix(actor=request.user, run_a=run_a, run_b=run_b)


@router.get("/segmentation/runs/compare/clients", response={200: PageOut[MigrationClientOut], **ERRORS},
            summary="The clients of one cell of the migration matrix, and why they moved (feature deltas)")
def compare_runs_clients(request, cell: Query[MigrationCellIn], page: Query[PageIn]):
    run_a = selectors.run_get(actor=request.user, pk=cell.a)
    run_b = selectors.run_get(actor=request.user, pk=cell.b)
    selectors.migration_cell_check(run_a=run_a, run_b=run_b, from_label=cell.from_label, to_label=cell.to_label)
    qs = selectors.migration_clients(actor=request.user, run_a=run_a, run_b=run_b, from_label=cell.from_label,
                                     to_label=cell.to_label)
    result = page_response(qs, page)
    reasons = selectors.migration_reasons(actor=request.user, run_a=run_a, run_b=run_b,
                                          assignments_b=result["items"])
    result["items"] = [{"organization": b.organization.legal_name, **reasons[b.organization_id]}
                       for b in result["items"] if b.organization_id in reasons]
    return result


@router.get("/segmentation/runs/{run_id}", response={200: RunDetailOut, **ERRORS})
def get_run(request, run_id: int):
    run = selectors.run_get(actor=request.user, pk=run_id)
    run.diagnostics = compliance.visible_diagnostics(request.user, run.diagnostics)  # shown, never saved
    return run


@router.get("/segmentation/runs/{run_id}/assignments", response={200: PageOut[AssignmentOut], **ERRORS},
            summary="One row per client of a run (restricted to the clients you may see)")
def list_assignments(request, run_id: int, filters: Query[AssignmentFilter], page: Query[PageIn]):
    run = selectors.run_get(actor=request.user, pk=run_id)
    qs = selectors.assignment_list(actor=request.user, run=run, label=filters.label, order=filters.order)
    result = page_response(qs, page)
    for item in result["items"]:
        item.run = run  # explanations read the run's criterion: one run, not one query per row
    return result


@router.get("/organizations/{org_id}/labels", response={200: list[LabelOut], **ERRORS},
            summary="The client's current label per dimension, with why")
def organization_labels(request, org_id: int):
    organization = organization_get_for_user(user=request.user, pk=org_id)
    out = []
    for item in selectors.organization_labels(actor=request.user, organization=organization):
        a = item["assignment"]
        override = item["override"]
        out.append({
            "dimension": item["dimension"], "label": item["label"], "label_display": item["label_display"],
            "run_id": a.run_id if a else None, "score": a.score if a else None, "margin": a.margin if a else None,
            "completeness": a.completeness if a else None, "stability": a.stability if a else None,
            "overridden": override is not None, "override_id": override.pk if override else None,
            "why": item["why"],
        })
    return out


@router.get("/segmentation/overrides", response={200: PageOut[OverrideOut], **ERRORS})
def list_overrides(request, dimension: DimensionName, active: bool = True, page: Query[PageIn] = None):  # type: ignore[assignment]  # ninja: no paging parameters, the defaults
    qs = selectors.override_list(actor=request.user, dimension=dimension, active=active)
    return page_response(qs, page or PageIn(page=1, page_size=50))


@router.post("/segmentation/overrides", response={201: OverrideOut, **ERRORS}, summary="Set a label by hand")
def create_override(request, payload: OverrideIn):
    try:
        organization = organization_get_for_user(user=request.user, pk=payload.organization)
    except NotFound:
        raise InvalidInput(fields={"organization": [f"No such organization (id {payload.organization}), "
                                                    "or you may not see it."]}) from None
    override = services.override_create(actor=request.user, organization=organization, dimension=payload.dimension,
                                        label=payload.label, reason=payload.reason, expires_at=payload.expires_at)
    return Status(201, override)


@router.post("/segmentation/overrides/{override_id}/expire", response={200: OverrideOut, **ERRORS},
             summary="End an override now")
def expire_override(request, override_id: int):
    override = selectors.override_get(actor=request.user, pk=override_id)
    return services.override_expire(actor=request.user, override=override)


class ExpertScorecardOut(Schema):
    version: int
    config: dict[str, Any]
    can_edit: bool


class ExpertScorecardIn(Schema):
    config: dict[str, Any]
    note: str = ""
    base_version: int | None = Field(None, description="the version you edited; a newer one gets 409")


@router.get("/segmentation/expert-scorecard", response={200: ExpertScorecardOut, **ERRORS},
            summary="The expert risk scorecard's points in force (version 0 = the default)")
def get_expert_scorecard(request):
    selectors.require_portfolio_view(request.user)
    config, version = services.expert_scorecard_active()
    return {"version": version, "config": config, "can_edit": services.can_edit_scorecard(request.user)}


@router.post("/segmentation/expert-scorecard", response={201: ExpertScorecardOut, **ERRORS},
             summary="Save a new version of the expert scorecard (compliance, lead, admin)")
def save_expert_scorecard(request, payload: ExpertScorecardIn):
    row = services.expert_scorecard_save(actor=request.user, config=payload.config, note=payload.note,
                                         base_version=payload.base_version)
    return Status(201, {"version": row.version, "config": row.config, "can_edit": True})
