"""The monthly management report: the dashboard's content as HTML and PDF in English and Chinese (read back
with pypdf), through the CLI, the page, the API, and its e-mail to the leads through a real SMTP server."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from bcrm.monitoring import presenters, report
from bcrm.monitoring.models import ManagementReportDelivery
from tests import test_migration_why as why
from tests import test_monitoring_snapshot as shared
from tests.doors import Api
from tests.factories import make_user
from tests.test_monitoring_snapshot import PERIOD

portfolio = shared.portfolio
moves = why.moves
computed = shared.computed

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    assert data[:5] == b"%PDF-"
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def flat(text: str) -> str:
    return " ".join(text.split())


def cli(*args) -> str:
    out = io.StringIO()
    call_command("report", "management", *args, stdout=out)
    return out.getvalue()


def with_email(user, address):
    user.email = address
    user.save(update_fields=["email"])
    return user


# --- content, both languages ----------------------------------------------------------------------------------


def test_cli_writes_the_pdf_in_english_and_chinese(computed, tmp_path):
    cli("--period", PERIOD, "--pdf", str(tmp_path / "en.pdf"))
    cli("--period", PERIOD, "--language", "zh-hans", "--pdf", str(tmp_path / "zh.pdf"))
    en = flat(pdf_text((tmp_path / "en.pdf").read_bytes()))
    assert "Management report 2026-04" in en
    assert "Dedicated service" in en and "Standard service" in en
    assert "1,880,000.55" in en          # the dedicated tier's commitments (hand-computed in the snapshot tests)
    assert "2,130,000.55" in en          # all clients
    assert "Where service falls short" in en and "Pipeline by status" in en
    zh = flat(pdf_text((tmp_path / "zh.pdf").read_bytes()))
    assert "管理报告" in zh and "专属服务" in zh and "1,880,000.55" in zh
    assert "Dedicated service" not in zh


def test_cli_computes_a_missing_snapshot_and_writes_html(portfolio, tmp_path):
    out = json.loads(cli("--period", PERIOD, "--html", str(tmp_path / "r.html"), "--json"))
    assert out["computed_run"]["rows"] > 0
    html = (tmp_path / "r.html").read_text()
    assert "<html lang=\"en\"" in html and "data:image/svg+xml;base64," in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing fetched from outside


def test_pipeline_rows_hand_computed(computed):
    figures = shared.figures("tier", "all")
    rows = {r["status"]: r for r in presenters.pipeline_rows(figures)}
    assert list(rows) == ["term_sheet", "firm_commitment", "allocated", "funded", "declined"]  # ladder order
    assert rows["funded"]["count"] == 2 and rows["funded"]["amount"] == "1,330,000.55"
    # shares of the converted pipeline: 1,330,000.55 / 2,380,000.55
    assert rows["funded"]["share"] == "55.9%"


@pytest.mark.parametrize("args, message", [
    (["--period", "2026-13", "--pdf", "x.pdf"], "YYYY-MM"),
    (["--period", PERIOD, "--language", "fr", "--pdf", "x.pdf"], "zh-hans"),
    (["--period", PERIOD], "--pdf"),
    (["--period", PERIOD, "--send", "--to", "not-an-address"], "e-mail"),
])
def test_cli_bad_input(computed, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CommandError, match=message):
        cli(*args)
    assert not (tmp_path / "x.pdf").exists()
    assert not ManagementReportDelivery.objects.exists()


# --- the page and the API: who may read it -----------------------------------------------------------------


def test_page_gives_the_pdf_and_the_html(computed, lead):
    browser = Client()
    browser.force_login(lead)
    response = browser.get(f"/dashboard/report/?period={PERIOD}&language=zh-hans")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "management-report-2026-04-zh-hans.pdf" in response["Content-Disposition"]
    assert "管理报告" in pdf_text(response.content)
    html = browser.get(f"/dashboard/report/?period={PERIOD}&format=html&language=en")
    assert html.status_code == 200 and b"Figures by Service tier" in html.content


def test_page_refuses_an_rm_and_bad_input(computed, rm, lead):
    browser = Client()
    browser.force_login(rm)
    assert browser.get(f"/dashboard/report/?period={PERIOD}").status_code == 403
    browser.force_login(lead)
    assert browser.get("/dashboard/report/?period=2026-13").status_code == 422
    assert browser.get(f"/dashboard/report/?period={PERIOD}&format=docx").status_code == 422
    assert browser.get("/dashboard/report/?period=2025-01").status_code == 404  # no snapshot


def test_api_pdf_and_permission(computed, analyst, rm):
    response = Api(analyst).request("get", f"/kpis/management-report?period={PERIOD}&language=en")
    assert response.status_code == 200 and "Management report 2026-04" in flat(pdf_text(response.content))
    assert Api(rm).request("get", f"/kpis/management-report?period={PERIOD}").status_code == 403
    bad = Api(analyst).request("get", f"/kpis/management-report?period={PERIOD}&language=fr")
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["path"] == "language"


# --- sending -----------------------------------------------------------------------------------------------


def test_api_send_to_leads_through_smtp_with_both_pdfs(computed, lead, analyst, smtp_server):
    with_email(lead, "lead@bank.example")
    with_email(make_user("admin_user", "admin"), "admin@bank.example")
    with_email(analyst, "analyst@bank.example")  # not a recipient by default
    assert Api(analyst).request("post", "/kpis/management-report/send", {"period": PERIOD}).status_code == 403
    response = Api(lead).request("post", "/kpis/management-report/send", {"period": PERIOD})
    assert response.status_code == 200, response.content
    assert sorted(response.json()["sent"]) == ["admin@bank.example", "lead@bank.example"]
    assert sorted(m["To"] for m in smtp_server.messages) == ["admin@bank.example", "lead@bank.example"]
    message = smtp_server.messages[0]
    assert "Management report 2026-04" in message["Subject"] and "管理报告" in message["Subject"]
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert set(attachments) == {"management-report-2026-04-en.pdf", "management-report-2026-04-zh-hans.pdf"}
    assert "专属服务" in pdf_text(attachments["management-report-2026-04-zh-hans.pdf"])
    assert "Where service falls short" in message.get_body(("plain",)).get_content()
    assert ManagementReportDelivery.objects.filter(period=PERIOD, status="sent").count() == 2


def test_the_monthly_send_goes_once_and_records_a_failure(computed, lead, smtp_server, settings):
    with_email(lead, "lead@bank.example")
    listening = settings.EMAIL_PORT
    settings.EMAIL_PORT = 1  # nobody listens there
    first = report.send(actor=None, period=PERIOD, trigger="schedule", resend=False)
    assert list(first.failed) == ["lead@bank.example"] and not first.sent
    row = ManagementReportDelivery.objects.get()
    assert row.status == "failed" and row.attempts == 1 and row.last_error
    settings.EMAIL_PORT = listening
    second = report.send(actor=None, period=PERIOD, trigger="schedule", resend=False)
    assert second.sent == ["lead@bank.example"]
    third = report.send(actor=None, period=PERIOD, trigger="schedule", resend=False)  # a second worker
    assert third.skipped == ["lead@bank.example"] and not third.sent
    assert len(smtp_server.messages) == 1
    again = report.send(actor=lead, period=PERIOD)  # a person asking sends again
    assert again.sent == ["lead@bank.example"] and len(smtp_server.messages) == 2
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 3


def test_cli_send_to_an_address(computed, smtp_server):
    text = cli("--period", PERIOD, "--send", "--to", "Board@Bank.example")
    assert "sent to 1: board@bank.example" in text
    assert [m["To"] for m in smtp_server.messages] == ["board@bank.example"]


def test_the_worker_snapshot_task_sends_the_report(portfolio, lead, smtp_server, settings):
    from bcrm.monitoring.tasks import scheduled_snapshot

    with_email(lead, "lead@bank.example")
    result = scheduled_snapshot.call(PERIOD)
    assert result["management_report"] == {"sent": 1, "failed": 0}
    settings.BCRM_MANAGEMENT_REPORT_EMAIL = False
    assert "management_report" not in scheduled_snapshot.call(PERIOD)
    assert len(smtp_server.messages) == 1


# --- the migrations summary (pure) ----------------------------------------------------------------------


@given(st.dictionaries(st.sampled_from(["", "high", "general", "insufficient"]),
                       st.dictionaries(st.sampled_from(["high", "general", "insufficient"]),
                                       st.integers(0, 10_000)), max_size=4))
def test_migration_rows_add_up(table):
    [row] = presenters.migration_rows([{"dimension": "value", "id": 2, "previous_run": 1, "as_of": None,
                                        "migrations": table}])
    get = lambda a, b: (table.get(a) or {}).get(b, 0)  # noqa: E731
    assert row["up"] == get("general", "high") and row["down"] == get("high", "general")
    assert row["to_insufficient"] == get("high", "insufficient") + get("general", "insufficient")
    assert row["from_insufficient"] == get("insufficient", "high") + get("insufficient", "general")
    assert row["new"] == sum((table.get("") or {}).values())


# --- migrations on the dashboard and in the report ---------------------------------------------------------------


def test_dashboard_and_report_show_the_latest_migrations_with_a_drill_down(moves, lead):
    import re

    from django.utils import timezone

    from bcrm.monitoring import services

    period = f"{timezone.localdate():%Y-%m}"
    services.compute_snapshot(actor=lead, period=period)
    run_b = moves["b"]
    down = run_b.migrations["high"]["general"]
    assert down >= 2  # Client 19 and Client 14 (see the fixture)
    browser = Client()
    browser.force_login(lead)
    html = browser.get(f"/dashboard/?period={period}").content.decode()
    row = re.search(r'<tr data-dimension="value">(.*?)</tr>', html, re.S).group(1)
    link = f"/segmentation/value/compare/?a={moves['a'].pk}&amp;b={run_b.pk}&amp;from=high&amp;to=general"
    assert f'{link}#cell-clients">{down}</a>' in row
    cell = browser.get(link.replace("&amp;", "&")).content.decode()
    assert "Client 19" in cell and "Committed amount" in cell
    built = report.build(lead, period, "en")
    value = next(m for m in built.migrations if m["dimension"] == "value")
    assert (value["run"], value["down"]) == (run_b.pk, down)
    assert f"#{run_b.pk}" in flat(pdf_text(report.render_pdf(built)))





def test_the_admin_lists_deliveries_read_only(computed, smtp_server):
    from django.contrib.auth import get_user_model

    cli("--period", PERIOD, "--send", "--to", "board@bank.example")
    admin = get_user_model().objects.create_superuser("root", "root@bank.example", "pw-for-tests-2026")
    browser = Client()
    browser.force_login(admin)
    page = browser.get("/admin/monitoring/managementreportdelivery/")
    assert page.status_code == 200 and b"board@bank.example" in page.content
    assert browser.get("/admin/monitoring/managementreportdelivery/add/").status_code == 403
    assert browser.get("/admin/monitoring/snapshotrun/").status_code == 200


def test_the_report_draws_no_conclusion_from_a_handful_of_observations(computed, lead):
    """The hand-computed portfolio has a few answers and contacts per segment: below presenters.MIN_COMPARED the
    report ranks no segment ("Standard service has the lowest NPS, -100.0 (1 responses)" was wrong twice)."""
    for language, too_few in (("en", "too few responses to compare"), ("zh-hans", "答卷太少,无法比较各分组")):
        built = report.build(lead, PERIOD, language)
        said = [s for section in built.sections for s in section.sentences]
        assert not any("lowest" in s or "最低" in s for s in said), said
        assert any(too_few in s for s in said), said
        html = report.render_html(built)
        assert "1 responses" not in html and too_few in html


# --- the report and the dashboard cannot drift ------------------------------------------------------------------


def test_the_report_shows_the_figures_the_dashboard_shows(computed, lead):
    from bcrm.monitoring import services as monitoring_services

    monitoring_services.compute_snapshot(actor=lead, period="2026-03", now=shared.NOW)  # a trend needs two
    built = report.build(lead, PERIOD, "en")
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(lead)
    for section in built.sections:
        page = browser.get("/dashboard/", {"period": PERIOD, "breakdown": section.breakdown, "figure": "cadence"})
        assert page.status_code == 200
        assert page.context["rows"] == section.rows and page.context["rows"]
        assert page.context["sentences"] == section.sentences
        if section.breakdown == "tier":
            assert page.context["total"] == built.total and built.total["clients"] == 5
            assert page.context["pipeline"] == built.pipeline and built.pipeline
            assert page.context["migrations"] == built.migrations
            assert {"top": page.context["lorenz_top"], "gini": page.context["lorenz_gini"]} == built.lorenz
            charts = {k: v for k, v in built.charts.items() if not k.startswith("trend_")}
            assert page.context["charts"] == charts and {"commitments", "nps", "service", "pipeline"} <= set(charts)
            assert page.context["trend"] is not None and page.context["trend"] == built.charts["trend_cadence"]
    html = report.render_html(built)
    for row in built.tier.rows:           # and the document prints them
        assert row["committed"] in html
