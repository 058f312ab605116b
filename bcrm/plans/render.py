"""The proposal document of a plan: one HTML page (shown in the browser, e-mailed) and its PDF (WeasyPrint,
bcrm/ui/pdf.py), in Chinese or English."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import capfirst

from bcrm.core.formatting import money, number
from bcrm.plans.models import FinancingPlan, PlanVersion
from bcrm.plans.terms import TERM_FIELDS
from bcrm.ui.pdf import html_to_pdf

LANGUAGES = ("en", "zh-hans")


def term_label(name: str) -> str:
    """A term's name for people (the model field's verbose name), in the active language."""
    field = PlanVersion._meta.get_field(name)
    return capfirst(str(getattr(field, "verbose_name", name)))


def _rows(version: PlanVersion) -> list[tuple[str, object]]:
    rows = []
    for name in TERM_FIELDS:
        if name in ("rationale",):
            continue
        value = getattr(version, name)
        if value in (None, ""):
            continue
        display = getattr(version, f"get_{name}_display", None)
        if name in ("amount", "arrangement_fee"):
            value = money(value, currency=version.currency)
        elif name in ("margin_bps", "upfront_fee_pct", "commitment_fee_pct"):
            value = number(value.normalize() if value == value.to_integral() else value)
        elif display is not None:
            value = display()
        rows.append((term_label(name), value))
    return rows


def plan_document(plan: FinancingPlan, language: str, *, version: PlanVersion | None = None) -> str:
    version = version or plan.current
    with translation.override(language):
        return render_to_string("plans/proposal_document.html", {
            "plan": plan, "version": version, "rows": _rows(version), "language": language,
            "today": timezone.localdate()})


def plan_pdf(plan: FinancingPlan, language: str, *, version: PlanVersion | None = None) -> bytes:
    return html_to_pdf(plan_document(plan, language, version=version))


def pdf_filename(plan: FinancingPlan, version: PlanVersion | None = None) -> str:
    number = version.number if version else plan.current_number
    return f"financing-plan-{plan.pk}-v{number}.pdf"
