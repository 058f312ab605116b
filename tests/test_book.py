"""The syndication book: summary, coverage, history, allocation preview and commit, notices; through the
service, the API, the CLI and the page."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from bcrm.audit.models import AuditEntry
from bcrm.book import selectors, services
from bcrm.book.models import Allocation, AllocationNotice, Book
from bcrm.core import delivery
from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.financing.models import ExchangeRate, Participation, ParticipationStatusChange
from bcrm.segmentation.models import ClientLabels
from bcrm.ui.charts import validated
from tests.doors import Api
from tests.doors import command as run_command
from tests.factories import make_contact, make_org, make_participation, make_project

D = Decimal


@pytest.fixture
def book(db):
    return build_book()


def build_book() -> Book:
    """Tranche A, target 1,000,000 USD, lots of 10,000, minimum 50,000: 1.5 m firm (oversubscribed), 200 k soft."""
    project = make_project(name="Solar Book")
    book = Book.objects.create(project=project, tranche="A", target=D(1_000_000), currency="USD",
                               min_ticket=D(50_000), lot_size=D(10_000))
    strategic = make_org(legal_name="Strategic Bank")
    ClientLabels.objects.create(organization=strategic, relationship="strategic", value="high")
    make_contact(strategic, language="zh-hans", is_primary=True)
    other = make_org(legal_name="Other Fund")
    make_contact(other)
    small = make_org(legal_name="Small Fund")
    soft = make_org(legal_name="Soft Bank")
    day = timezone.now() - dt.timedelta(days=3)
    for org, amount, status in ((strategic, 600_000, "firm_commitment"), (other, 800_000, "firm_commitment"),
                                (small, 100_000, "firm_commitment"), (soft, 200_000, "soft_interest")):
        p = make_participation(project, org, tranche="A", amount=D(amount), status=status, role="senior_debt")
        ParticipationStatusChange.objects.create(participation=p, from_status="", to_status=status,
                                                 changed_at=day)
        day += dt.timedelta(days=1)
    make_participation(project, make_org(), tranche="B", amount=D(999_999), status="firm_commitment")
    return book


def test_summary_totals_coverage_and_history(book, lead):
    summary = selectors.book_summary(actor=lead, book=book)
    steps = {row["status"]: row for row in summary["steps"]}
    assert steps["firm_commitment"]["amount"] == D(1_500_000) and steps["firm_commitment"]["count"] == 3
    assert summary["firm_coverage"] == D("1.5") and summary["coverage"] == D("1.7")
    assert summary["oversubscribed"]
    history = selectors.book_history(actor=lead, book=book)
    assert [p["coverage"] for p in history] == [D("0.6"), D("1.4"), D("1.5"), D("1.7")]


def test_history_chart_is_valid_vega_lite(book, lead):
    from bcrm.book.views import history_chart

    chart = history_chart(selectors.book_history(actor=lead, book=book))
    validated(chart)
    assert chart.rows[-1][1:] == ["1.50", "1.70"]


def test_another_currency_without_a_rate_is_a_clear_error(book, lead):
    Participation.objects.filter(tranche="A", organization__legal_name="Small Fund").update(currency="EUR")
    with pytest.raises(InvalidInput) as err:
        selectors.book_summary(actor=lead, book=book)
    assert err.value.code == "no_rate"
    ExchangeRate.objects.create(currency="EUR", quote="USD", as_of=dt.date(2020, 1, 1), rate=D("1.1"))
    summary = selectors.book_summary(actor=lead, book=book)
    assert {r["status"]: r["amount"] for r in summary["steps"]}["firm_commitment"] == D(1_510_000)


def test_priority_preview_fills_strategic_first(book, lead):
    preview = services.allocation_preview(actor=lead, book=book, policy="priority")
    got = {line["organization"]: line["amount"] for line in preview["lines"]}
    # Small Fund's share of the rest (44,444) is below the 50,000 minimum: it goes to Other Fund.
    assert got == {"Strategic Bank": D(600_000), "Other Fund": D(400_000), "Small Fund": D(0)}
    assert preview["allocated"] == D(1_000_000)
    assert not Participation.objects.filter(status="allocated").exists()  # a preview changes nothing


def test_commit_needs_a_lead_and_changes_nothing_when_refused(book, rm, viewer):
    for actor in (rm, viewer):
        with pytest.raises(PermissionDenied):
            services.allocation_commit(actor=actor, book=book, policy="pro_rata")
    assert not Allocation.objects.exists()


def test_commit_moves_lines_to_allocated_audits_and_sends_notices(book, lead):
    record, _preview = services.allocation_commit(actor=lead, book=book, policy="pro_rata")
    allocated = Participation.objects.filter(tranche="A", status="allocated")
    assert sum(p.amount for p in allocated) == D(1_000_000) == record.allocated
    assert ParticipationStatusChange.objects.filter(to_status="allocated").count() == allocated.count()
    assert AuditEntry.objects.filter(object_id=str(record.pk), action="create").exists()
    assert AllocationNotice.objects.filter(allocation=record).count() == 2  # two participants have a contact
    summary = delivery.send("allocation_notice")
    assert summary.sent == 2
    subjects = sorted(m.subject for m in mail.outbox)
    assert any("配售" in s for s in subjects) and any("Allocation notice" in s for s in subjects)
    assert all(m.attachments[0][2] == "application/pdf" for m in mail.outbox)
    with pytest.raises(InvalidInput) as err:  # the target is reached: nothing left to allocate
        services.allocation_commit(actor=lead, book=book, policy="pro_rata")
    assert err.value.code == "fully_allocated"


def test_undersubscribed_book_is_refused_and_nothing_changes(book, lead):
    Book.objects.filter(pk=book.pk).update(target=D(5_000_000))
    book.refresh_from_db()
    with pytest.raises(InvalidInput) as err:
        services.allocation_commit(actor=lead, book=book, policy="pro_rata")
    assert err.value.code == "undersubscribed"
    assert not Participation.objects.filter(status="allocated").exists()


def test_api_book_preview_commit_and_bad_input(book, lead, rm):
    api = Api(lead)
    status, body = api.get(f"/projects/{book.project_id}/book?tranche=A")
    assert status == 200 and body["coverage"] == "1.7000" and body["target"] == "1000000.00"
    status, body = api.post(f"/projects/{book.project_id}/book/allocate",
                            {"tranche": "A", "policy": "pro_rata", "dry_run": True})
    assert status == 200 and body["allocated"] == "1000000.00" and not body["committed"]
    assert {line["organization"]: line["priority_class"] for line in body["lines"]}["Strategic Bank"] == [0, 0]
    status, body = Api(rm).post(f"/projects/{book.project_id}/book/allocate", {"tranche": "A", "policy": "pro_rata"})
    assert status == 403
    status, body = api.post(f"/projects/{book.project_id}/book/allocate",
                            {"tranche": "A", "policy": "manual", "manual": {"999999": "10"}})
    assert status == 422 and body["error"]["code"] == "unknown_line"
    status, body = api.post(f"/projects/{book.project_id}/books",
                            {"tranche": "C", "target": "-5", "currency": "USD"})
    assert status == 422
    status, body = api.post(f"/projects/{book.project_id}/books",
                            {"tranche": "C", "target": "500000", "currency": "USD", "lot_size": "30000",
                             "min_ticket": "50000"})
    assert status == 422 and not Book.objects.filter(tranche="C").exists()
    status, body = api.post(f"/projects/{book.project_id}/book/allocate", {"tranche": "A", "policy": "priority"})
    assert status == 200 and body["committed"]
    assert Participation.objects.filter(status="allocated").count() == 2


def test_cli_show_and_allocate(book):
    out = run_command("book", "show", str(book.project_id), "--tranche", "A", "--json")
    data = json.loads(out)
    assert data["coverage"] == "1.7000"
    out = run_command("book", "allocate", str(book.project_id), "--tranche", "A", "--policy", "pro_rata",
                      "--dry-run", "--json")
    data = json.loads(out)
    assert data["allocated"] == "1000000.00" and not data["committed"]
    assert not Participation.objects.filter(status="allocated").exists()
    text = run_command("book", "allocate", str(book.project_id), "--tranche", "A", "--policy", "pro_rata")
    assert "1,000,000.00" in text
    assert Participation.objects.filter(status="allocated").exists()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_book_page(book, lead, client, language):
    client.force_login(lead)
    response = client.get(f"/projects/{book.project_id}/book/?tranche=A&policy=priority",
                          HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Strategic Bank" in body and "chart-book-ladder" in body and "chart-book-history" in body
    assert ("配售" if language == "zh-hans" else "Allocation") in body
    response = client.post(f"/projects/{book.project_id}/book/allocate/", {"tranche": "A", "policy": "priority"})
    assert response.status_code == 302
    assert Participation.objects.filter(status="allocated").count() == 2


def test_settings_page_creates_a_book_and_refuses_bad_input(db, rm, viewer, client):
    project = make_project()
    url = f"/projects/{project.pk}/book/settings/"
    good = {"tranche": "Senior", "target": "500000", "currency": "USD", "min_ticket": "50000",
            "lot_size": "10000", "priority_order": "relationship,value"}
    client.force_login(viewer)
    assert client.post(url, good).status_code == 403
    client.force_login(rm)
    for bad in ({"lot_size": "30000"}, {"target": "-1"}, {"priority_order": "value,value"}):
        assert client.post(url, {**good, **bad}).status_code == 422
    assert not Book.objects.exists()
    assert client.post(url, good).status_code == 302
    book = Book.objects.get()
    assert (book.tranche, book.target, book.priority_dimensions) == ("Senior", D(500_000), ["relationship", "value"])


def _firm(book) -> dict[str, Participation]:
    return {p.organization.legal_name: p for p in Participation.objects.filter(
        project=book.project, tranche="A", status="firm_commitment").select_related("organization")}


def test_manual_allocation_on_the_page_starts_from_pro_rata_checks_the_rules_and_commits(book, lead, rm, client):
    firm = _firm(book)
    url = f"/projects/{book.project_id}/book/"
    client.force_login(lead)
    body = client.get(url, {"tranche": "A", "policy": "manual"}).content.decode()
    start = services.allocation_preview(actor=lead, book=book, policy="pro_rata")["lines"]
    shown = {int(pk): D(value.replace(",", "")) for pk, value in re.findall(r'name="amount-(\d+)" id="amount-\d+" value="([^"]*)"', body)}
    assert shown == {line["participation_id"]: line["amount"] for line in start}  # starts from the pro-rata split
    typed = {f"amount-{firm['Strategic Bank'].pk}": "600,000", f"amount-{firm['Other Fund'].pk}": "345,000",
             f"amount-{firm['Small Fund'].pk}": "0"}
    refused = client.get(url, {"tranche": "A", "policy": "manual", **typed}).content.decode()
    assert 'id="preview-error"' in refused and "Commit this allocation" not in refused
    assert 'value="345,000"' in refused  # what was typed stays, to be corrected
    typed[f"amount-{firm['Other Fund'].pk}"] = "350,000"
    shown = client.get(url, {"tranche": "A", "policy": "manual", **typed}).content.decode()
    assert 'id="preview-error"' not in shown and "Commit this allocation" in shown
    client.force_login(rm)  # only a lead commits, whatever the form says
    assert client.post(f"{url}allocate/", {"tranche": "A", "policy": "manual", **typed}).status_code == 403
    assert not Participation.objects.filter(status="allocated").exists()
    client.force_login(lead)
    bad = {**typed, f"amount-{firm['Small Fund'].pk}": "lots"}
    client.post(f"{url}allocate/", {"tranche": "A", "policy": "manual", **bad})
    assert not Participation.objects.filter(status="allocated").exists()
    assert client.post(f"{url}allocate/", {"tranche": "A", "policy": "manual", **typed}).status_code == 302
    allocated = {p.organization.legal_name: p.amount for p in Participation.objects.filter(status="allocated")
                 .select_related("organization")}
    assert allocated == {"Strategic Bank": D(600_000), "Other Fund": D(350_000)}
    assert Allocation.objects.get().policy == "manual"


def test_manual_amounts_parse_separators_and_refuse_what_is_not_an_amount():
    from bcrm.book.views import manual_amounts

    assert manual_amounts({"amount-7": "1,250,000", "amount-8": " 10 000 ", "amount-9": "", "other": "x"}) == {
        7: D(1_250_000), 8: D(10_000), 9: D(0)}
    for bad in ("lots", "1e400x", "NaN", "Infinity"):
        with pytest.raises(InvalidInput):
            manual_amounts({"amount-7": bad})
