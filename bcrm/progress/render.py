"""The report as HTML (e-mail body, preview) and as PDF (WeasyPrint), in English or Simplified Chinese.

WeasyPrint fetches nothing from outside: the chart is embedded as a data: URI and the url_fetcher
refuses every other scheme, so a report renders the same on an offline server.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone, translation

from bcrm.progress.charts import financing_chart
from bcrm.progress.selectors import ProgressReport, clean_language
from bcrm.ui.pdf import ExternalResourceRefused, html_to_pdf, report_url_fetcher

__all__ = ["ExternalResourceRefused", "render_html", "render_pdf", "report_url_fetcher"]


def chart_svg_uri(report: ProgressReport, language: str) -> str:
    with translation.override(language):
        return financing_chart(report.financing).svg_data_uri()


def _context(report: ProgressReport, language: str, **extra: Any) -> dict[str, Any]:
    chart = financing_chart(report.financing)
    return {"report": report, "chart": chart, "generated_at": timezone.localtime(), **extra}


def render_html(report: ProgressReport, language: str, *, for_email: bool = False,
                unsubscribe_url: str | None = None, svg_uri: str | None = None, for_pdf: bool = False) -> str:
    """The whole report as one HTML document with the chart as a static SVG image."""
    language = clean_language(language)
    with translation.override(language):
        context = _context(report, language, for_email=for_email, for_pdf=for_pdf, unsubscribe_url=unsubscribe_url,
                           interactive=False, chart_svg_uri=svg_uri or chart_svg_uri(report, language))
        return render_to_string("progress/report_document.html", context)


def render_text(report: ProgressReport, language: str, *, unsubscribe_url: str | None = None) -> str:
    with translation.override(clean_language(language)):
        return render_to_string("progress/email/report.txt", {"report": report, "unsubscribe_url": unsubscribe_url})


def render_subject(report: ProgressReport, language: str) -> str:
    with translation.override(clean_language(language)):
        text = render_to_string("progress/email/subject.txt", {"report": report, "name": report.project_display_name})
    return " ".join(text.split())


def render_pdf(report: ProgressReport, language: str, *, svg_uri: str | None = None) -> bytes:
    return html_to_pdf(render_html(report, language, for_pdf=True, svg_uri=svg_uri))


def pdf_filename(report: ProgressReport) -> str:
    from django.utils.text import slugify

    slug = slugify(report.project.name)[:60] or f"project-{report.project.pk}"
    return f"progress-{slug}-{report.period}.pdf"
