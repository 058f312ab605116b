"""The progress report's figures, its HTML in both languages and its PDF read back with pypdf."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from bcrm.core.errors import InvalidInput
from bcrm.progress import selectors
from bcrm.progress.charts import financing_chart
from bcrm.progress.periods import is_period, parse_period, period_of, previous_period
from bcrm.progress.render import render_html, render_pdf
from bcrm.ui.charts import validated
from bcrm.ui.pdf import ExternalResourceRefused, report_url_fetcher
from tests.progress_fixtures import PERIOD, solar_project

# Periods (pure) --------------------------------------------------------------------------------------------


@given(st.dates(min_value=dt.date(1900, 2, 1), max_value=dt.date(2999, 12, 31)))
def test_a_day_lies_in_its_period_and_the_previous_period_ends_the_day_before_the_month(day):
    start, end = parse_period(period_of(day))
    assert start <= day <= end and start.day == 1 and (end + dt.timedelta(days=1)).day == 1
    prev_start, prev_end = parse_period(previous_period(day))
    assert prev_end == start - dt.timedelta(days=1) and prev_start.day == 1


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-4", "26-04", "2026/04", "", "2026-04-01", " ", "abcd-ef"])
def test_bad_periods_are_refused(text):
    assert not is_period(text)
    with pytest.raises(ValueError):
        parse_period(text)


# The report's figures ----------------------------------------------------------------------------------------


@pytest.fixture
def project(db, team):
    return solar_project(team)[0]


def test_financing_is_converted_with_the_rates_dated_at_the_end_of_the_period(project, django_assert_num_queries):
    with django_assert_num_queries(5):  # milestones, updates, amounts by status and currency, rates, closing checklist
        report = selectors.progress_report(project, PERIOD, "en")
    money = report.financing
    assert money.currency == "CNY" and money.rates_as_of == dt.date(2026, 4, 30)
    ladder = {row.status: row for row in money.ladder}
    # USD 50,000 at CNY/USD 0.14 → 357,142.86 CNY; EUR 20,000 at 1.10/0.14 → 157,142.86 CNY (the May rates
    # must not be used for April).
    assert ladder["firm_commitment"].amount == Decimal("300000.00")
    assert ladder["funded"].amount == Decimal("357142.86")
    assert ladder["term_sheet"].amount == Decimal("157142.86")
    assert ladder["declined"].amount == Decimal("100000.00") and not ladder["declined"].committed
    assert [ladder[s].count for s in ("firm_commitment", "funded", "term_sheet", "declined", "prospect")] == [1, 1, 1, 1, 0]
    assert money.target == Decimal("1000000")
    assert money.committed == Decimal("657142.86")
    assert money.committed_share == Decimal("0.6571") and money.committed_percent == Decimal("65.7")
    assert money.pipeline == Decimal("157142.86")
    assert money.unconverted_currencies == []


def test_milestones_are_done_due_or_overdue_at_the_end_of_the_period(project):
    report = selectors.progress_report(project, PERIOD, "en")
    states = {m.name: m.state for m in report.milestones}
    assert states == {
        "Feasibility study approved": "done",
        "Grid connection agreement": "overdue",
        "Financial close": "due",
        "Land lease signed": "overdue",  # completed only in May
    }
    assert report.milestone_counts == {"done": 1, "due": 1, "overdue": 2}
    assert [m.name for m in selectors.progress_report(project, "2026-05", "en").milestones if m.state == "done"] == [
        "Feasibility study approved", "Land lease signed"]


def test_only_the_updates_written_in_the_period_in_local_time_are_reported(project):
    report = selectors.progress_report(project, PERIOD, "en")
    assert [u.body for u in report.updates] == ["四月底：条款清单谈判进入最后阶段。", "April: two lenders approved."]


def test_a_currency_without_a_rate_is_left_out_and_named(db, team):
    project, _orgs = solar_project(team, with_rates=False)
    money = selectors.progress_report(project, PERIOD, "en").financing
    assert money.unconverted_currencies == ["EUR", "USD"]
    assert money.committed == Decimal("300000.00")


def test_the_current_month_is_reported_as_of_today(project):
    start, end = parse_period("2026-04")
    assert selectors.report_as_of(end, today=dt.date(2026, 4, 12)) == dt.date(2026, 4, 12)
    assert selectors.report_as_of(end, today=dt.date(2026, 7, 1)) == end


@pytest.mark.parametrize(("period", "language", "field"), [("2026-13", "en", "period"), ("2026-04", "fr", "language")])
def test_bad_period_or_language_is_a_field_error(project, period, language, field):
    with pytest.raises(InvalidInput) as caught:
        selectors.progress_report(project, period, language)
    assert field in caught.value.fields


# HTML, chart and PDF ---------------------------------------------------------------------------------------


def test_the_chart_is_valid_vega_lite_and_lists_target_committed_and_statuses(project):
    chart = financing_chart(selectors.progress_report(project, PERIOD, "en").financing)
    validated(chart)
    assert [row[0] for row in chart.rows] == ["Financing target", "Committed", "Term sheet", "Firm commitment",
                                              "Funded", "Declined"]
    assert chart.rows[1][1] == "657,143"
    assert chart.svg().lstrip().startswith("<svg")


def test_html_in_english_and_chinese(project):
    english = render_html(selectors.progress_report(project, PERIOD, "en"), "en")
    assert '<html lang="en">' in english and "Qinghai Solar Power Station" in english and "青海光伏电站" in english
    assert "Grid connection agreement" in english and "657,143 CNY" in english
    assert "data:image/svg+xml;base64," in english  # the chart, embedded: nothing fetched
    assert "http://" not in english.replace("http://www.w3.org", "")
    chinese = render_html(selectors.progress_report(project, PERIOD, "zh-hans"), "zh-hans")
    assert '<html lang="zh-Hans">' in chinese and "并网协议" in chinese and "Grid connection agreement" not in chinese
    assert "Noto Sans CJK SC" in chinese


def test_email_html_has_the_unsubscribe_link(project):
    html = render_html(selectors.progress_report(project, PERIOD, "en"), "en", for_email=True,
                       unsubscribe_url="http://crm.example/unsubscribe/abc/")
    assert 'href="http://crm.example/unsubscribe/abc/"' in html


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_pdf_text_has_the_chinese_and_the_english_project_name(project, language):
    pdf = render_pdf(selectors.progress_report(project, PERIOD, language), language)
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "青海光伏电站" in text
    assert "Qinghai Solar Power Station" in text
    assert "2026-04" in text
    if language == "zh-hans":
        assert "四月底" in text and "并网协议" in text
    fonts = {str(font) for page in reader.pages for font in (page.get("/Resources", {}).get("/Font", {}) or {}).values()}
    assert fonts  # fonts are embedded (the CJK one among them)


def test_the_pdf_renderer_fetches_nothing_from_outside():
    fetcher = report_url_fetcher()
    for url in ("http://example.com/a.css", "https://example.com/x.png", "file:///etc/passwd"):
        with pytest.raises(ExternalResourceRefused):
            fetcher.fetch(url)
    assert fetcher.fetch("data:text/plain;base64,aGk=").read() == b"hi"
