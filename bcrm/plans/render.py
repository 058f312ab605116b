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


def term_value(version: PlanVersion, name: str) -> object:
    """A term's value for people: labels for choices, grouped money with its currency, plain rates."""
    value = getattr(version, name)
    if value is None or value == "":
        return None
    if name in ("amount", "arrangement_fee"):
        return money(value, currency=version.currency)
    if name in ("margin_bps", "upfront_fee_pct", "commitment_fee_pct"):
        return number(value.normalize() if value == value.to_integral() else value)
    display = getattr(version, f"get_{name}_display", None)
    return display() if display is not None else value


def _rows(version: PlanVersion) -> list[tuple[str, object]]:
    return [(term_label(name), term_value(version, name)) for name in TERM_FIELDS
            if name != "rationale" and getattr(version, name) not in (None, "")]


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
