"""HTML to PDF (WeasyPrint) for every document bcrm prints: progress reports, the management report,
financing-plan proposals, allocation notices.

WeasyPrint fetches nothing from outside: charts and images are embedded as data: URIs and the URL fetcher
refuses every other scheme, so a document renders the same on an offline server. CJK text is drawn by Pango
with the system's Noto Sans CJK.
"""

from __future__ import annotations


class ExternalResourceRefused(ValueError):
    pass


def report_url_fetcher():
    """WeasyPrint's URL fetcher for documents: data: URIs only; never the network or the disk."""
    from weasyprint.urls import URLFetcher

    class DataOnlyFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if not url.startswith("data:"):
                raise ExternalResourceRefused(f"the report does not fetch {url[:80]!r}")
            return super().fetch(url, headers)

    return DataOnlyFetcher(allowed_protocols={"data"}, allow_redirects=False)


def html_to_pdf(html: str) -> bytes:
    """One HTML document (everything inline or data: URIs) as PDF bytes."""
    from weasyprint import HTML

    return HTML(string=html, url_fetcher=report_url_fetcher()).write_pdf()
