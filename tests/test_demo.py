"""The demo portfolio: deterministic, valid row by row, and shaped like the book the product is for."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import random
import re
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from bcrm.core.errors import Conflict
from bcrm.demo import names
from bcrm.demo.fx import USD_PER_UNIT
from bcrm.demo.generator import generate_portfolio
from bcrm.demo.pipeline import PROBABILITY
from bcrm.demo.users import DEMO_PASSWORD, USERS, demo_users
from bcrm.engagement.models import Interaction, ServiceRequest, SurveyResponse, Task
from bcrm.financing.choices import COMMITMENT_LADDER, COMMITTED_STATUSES
from bcrm.financing.models import ExchangeRate, Participation, ParticipationStatusChange, Project
from bcrm.parties.choices import OrganizationKind
from bcrm.parties.models import Contact, Organization, Tag
from bcrm.parties.ratings import rating_score
from bcrm.parties.services import organization_search_text

AS_OF = dt.date(2026, 3, 2)
CLIENTS = 60
CJK = re.compile(r"[\u4e00-\u9fff]")


def same_words(left: str, right: str) -> bool:
    """Search reads substrings, so the order contacts are listed in (a database collation) does not matter."""
    return sorted(left.split()) == sorted(right.split())


@pytest.fixture
def portfolio(db) -> dict[str, int]:
    return generate_portfolio(clients=CLIENTS, seed=7, as_of=AS_OF)


def wipe() -> None:
    """Remove what the generator wrote (users and teams stay), so it can run again in the same test."""
    for model in (Interaction, ServiceRequest, Task, SurveyResponse, ParticipationStatusChange, Participation,
                  Project, Contact, Organization, Tag, ExchangeRate):
        model.objects.all().delete()


def snapshot() -> dict[str, list]:
    return {
        "orgs": sorted(Organization.objects.values_list(
            "external_id", "legal_name", "local_name", "kind", "country", "rating_agency", "rating_grade",
            "kyc_status", "kyc_expires_on", "relationship_manager__username", "search_text")),
        "contacts": sorted(Contact.objects.values_list("organization__external_id", "full_name", "local_name",
                                                       "email", "phone", "is_primary", "consent_given_at")),
        "participations": sorted(Participation.objects.values_list(
            "organization__external_id", "project__name", "role", "amount", "currency", "status",
            "status_changed_at", "fee_income")),
        "interactions": sorted(Interaction.objects.values_list(
            "organization__external_id", "kind", "occurred_at", "minutes_spent", "summary")),
        "rates": sorted(ExchangeRate.objects.values_list("currency", "as_of", "rate")),
    }


def committed_usd_by_org() -> dict[int, Decimal]:
    latest = {}
    for currency, rate in ExchangeRate.objects.filter(as_of__lte=AS_OF).order_by("as_of").values_list("currency", "rate"):
        latest[currency] = rate
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for org_id, amount, currency in Participation.objects.filter(status__in=COMMITTED_STATUSES).values_list(
            "organization_id", "amount", "currency"):
        totals[org_id] += amount * (Decimal(1) if currency == "USD" else latest[currency])
    return totals


# -- names (no database) --------------------------------------------------------------------------------


def test_brand_syllables_romanise_uniquely():
    pinyin = [p for p, _ in names.SYLLABLES]
    assert len(pinyin) == len(set(pinyin))
    assert len({c for _, c in names.SYLLABLES}) == len(names.SYLLABLES)


def test_name_book_names_are_unique_and_bilingual():
    book = names.NameBook(random.Random(3), surnames=["Carter", "Lowe", "Hughes"])
    drawn = [book.organization(kind, country, "energy")
             for kind in [*names.KIND_PHRASES, "government"] for country in names.COUNTRIES for _ in range(40)]
    assert len({n.legal_name for n in drawn}) == len(drawn)
    chinese = [n for n in drawn if n.local_name]
    assert len(chinese) > 0.7 * len(drawn)
    assert all(CJK.search(n.local_name) for n in chinese)
    assert all(n.legal_name.isascii() or "São" in n.legal_name for n in drawn)


def test_pinyin_apostrophe_separates_vowel_syllables():
    assert names.join_pinyin(["Hua", "An"]) == "Hua'an"
    assert names.join_pinyin(["Hua", "Rui"]) == "Huarui"


# -- the rich demo --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_same_seed_gives_the_same_portfolio():
    generate_portfolio(clients=40, seed=11, as_of=AS_OF)
    first = snapshot()
    wipe()
    generate_portfolio(clients=40, seed=11, as_of=AS_OF)
    assert snapshot() == first
    wipe()
    generate_portfolio(clients=40, seed=12, as_of=AS_OF)
    assert snapshot()["orgs"] != first["orgs"]


def test_counts_are_in_the_expected_ranges(portfolio):
    assert portfolio["parties.Organization"] == CLIENTS == Organization.objects.count()
    for label, model in [("parties.Contact", Contact), ("financing.Project", Project),
                         ("financing.Participation", Participation), ("engagement.Interaction", Interaction),
                         ("engagement.ServiceRequest", ServiceRequest), ("engagement.Task", Task),
                         ("engagement.SurveyResponse", SurveyResponse), ("financing.ExchangeRate", ExchangeRate)]:
        assert portfolio[label] == model.objects.count(), label
    assert CLIENTS <= portfolio["parties.Contact"] <= 4 * CLIENTS
    assert portfolio["financing.Project"] == 12
    assert 40 <= portfolio["financing.Participation"] <= 300
    assert portfolio["financing.ParticipationStatusChange"] > portfolio["financing.Participation"]
    assert 150 <= portfolio["engagement.Interaction"] <= 2000
    assert portfolio["engagement.Interaction_contacts"] >= portfolio["engagement.Interaction"]
    assert portfolio["engagement.ServiceRequest"] > 5 and portfolio["engagement.SurveyResponse"] > 5
    assert portfolio["financing.ExchangeRate"] == 24 * (len(USD_PER_UNIT) - 1)


def test_every_kind_and_many_countries_appear(portfolio):
    kinds = set(Organization.objects.values_list("kind", flat=True))
    assert kinds == set(OrganizationKind.values)
    assert Organization.objects.values("country").distinct().count() >= 8
    assert Organization.objects.exclude(team=None).exists() and Organization.objects.filter(team=None).exists()
    assert Organization.objects.filter(external_id__regex=r"^ORG-\d{6}$").count() == CLIENTS
    assert Organization.tags.through.objects.exists()


def test_value_is_heavy_tailed(portfolio):
    totals = sorted(committed_usd_by_org().values(), reverse=True)
    assert len(totals) >= 10
    top = totals[: max(1, len(totals) // 5)]
    assert sum(top) > Decimal("0.5") * sum(totals)


def test_mirrored_source_cases(portfolio):
    wind = Project.objects.get(local_name="粤东2GW海上风电项目")
    book = Project.objects.get(local_name="供应链金融平台融资簿")
    assert wind.sector == "energy" and book.sector == "finance"
    assert wind.sponsor is not None and wind.sponsor.kind == "sponsor"
    amounts = sorted((p.amount for p in wind.participations.exclude(role="advisory")), reverse=True)
    assert len(amounts) >= 8
    assert sum(amounts[:4]) > Decimal("0.6") * sum(amounts)  # a few core tickets carry the project
    assert book.participations.count() >= 8


def test_some_clients_are_thin(portfolio):
    thin = Organization.objects.annotate(p=Count("participations"), i=Count("interactions")).filter(p=0, i=0)
    assert thin.count() >= 3
    assert thin.filter(kyc_status="not_started", rating_grade="").exists()


def test_names_are_bilingual(portfolio):
    orgs = list(Organization.objects.values_list("legal_name", "local_name"))
    assert len({legal for legal, _ in orgs}) == len(orgs)
    assert sum(1 for _, local in orgs if CJK.search(local)) > len(orgs) / 2
    assert Contact.objects.filter(language="zh-hans").exclude(local_name="").exists()
    assert Contact.objects.filter(language="en").exists()
    assert Project.objects.exclude(local_name="").count() == Project.objects.count()


def test_kyc_and_ratings_are_consistent(portfolio):
    assert not Organization.objects.filter(kyc_status="verified", kyc_expires_on=None).exists()
    assert not Organization.objects.filter(kyc_status="expired", kyc_expires_on__gte=AS_OF).exists()
    statuses = set(Organization.objects.values_list("kyc_status", flat=True))
    assert {"verified", "not_started"} <= statuses and statuses & {"expired", "pending"}
    assert Organization.objects.filter(sanctions_flag=True).exists()
    assert Organization.objects.filter(rating_grade="").exists()
    for agency, grade, score in Organization.objects.exclude(rating_grade="").values_list(
            "rating_agency", "rating_grade", "rating_score"):
        assert score is not None and score == rating_score(agency, grade)


def test_contacts_respect_consent_and_one_primary(portfolio):
    assert not Contact.objects.filter(report_consent=True, consent_given_at=None).exists()
    assert Contact.objects.filter(report_consent=True).exists()
    assert not Contact.objects.values("organization").annotate(
        n=Count("id", filter=Q(is_primary=True))).filter(n__gt=1).exists()
    assert not Organization.objects.annotate(n=Count("contacts")).filter(Q(n=0) | Q(n__gt=4)).exists()


def valid_fields(row) -> None:
    """What ``full_clean`` checks that the database does not: each field's validators and choices (SQLite does not
    even hold a text to its length) and the model's ``clean``. Foreign keys, unique and check constraints are the
    database's own: it checks them as rows are written, and the foreign keys at the end of every test (Django's
    TestCase), without the query per key and row that ``full_clean`` would add."""
    row.clean_fields(exclude=[f.name for f in row._meta.concrete_fields if f.is_relation])
    row.clean()


def test_every_row_passes_model_validation(portfolio):
    for model in (Organization, Contact, Project, Participation, Interaction, ServiceRequest, Task, SurveyResponse):
        for row in model.objects.all()[:400]:
            valid_fields(row)


def test_search_text_matches_the_services(portfolio):
    for org in Organization.objects.prefetch_related("contacts"):
        assert same_words(org.search_text, organization_search_text(org))


def test_participation_history_walks_the_ladder(portfolio):
    ladder = [str(s) for s in COMMITMENT_LADDER]
    changes = defaultdict(list)
    for change in ParticipationStatusChange.objects.order_by("changed_at", "id"):
        changes[change.participation_id].append(change)
    statuses = Counter()
    for p in Participation.objects.all():
        history = changes[p.pk]
        statuses[p.status] += 1
        assert history[0].from_status == "" and history[0].to_status == "prospect"
        for before, after in itertools.pairwise(history):
            assert before.to_status == after.from_status
            assert before.changed_at < after.changed_at
            if after.to_status in ladder:
                assert ladder.index(after.to_status) == ladder.index(after.from_status) + 1
        assert history[-1].to_status == p.status
        assert history[-1].changed_at == p.status_changed_at
        assert p.probability == PROBABILITY[p.status]
        assert p.status_changed_at.tzinfo is not None
        if p.status not in COMMITTED_STATUSES:
            assert p.fee_income == 0
    assert statuses["declined"] + statuses["withdrawn"] > 0
    assert sum(statuses[s] for s in COMMITTED_STATUSES) > 0
    currencies = Counter(Participation.objects.values_list("currency", flat=True))
    assert sum(currencies[c] for c in ("USD", "CNY", "EUR")) > 0.7 * sum(currencies.values())


def test_engagement_history(portfolio):
    reference = dt.datetime.combine(AS_OF, dt.time(0), tzinfo=dt.UTC)
    assert not Interaction.objects.filter(occurred_at__gte=reference + dt.timedelta(days=1)).exists()
    assert Interaction.objects.filter(kind="senior_meeting").exists()
    for interaction in Interaction.objects.prefetch_related("contacts")[:300]:
        people = list(interaction.contacts.all())
        assert 1 <= len(people) <= 2
        assert all(c.organization_id == interaction.organization_id for c in people)
    assert not ServiceRequest.objects.filter(first_response_at__lt=F("opened_at")).exists()
    assert not ServiceRequest.objects.filter(resolved_at__lt=F("opened_at")).exists()
    assert ServiceRequest.objects.filter(resolved_at=None).exists()
    assert ServiceRequest.objects.exclude(resolved_at=None).exists()
    assert not Task.objects.filter(status="done", completed_at=None).exists()
    assert Task.objects.filter(status="open").exists() and Task.objects.filter(status="done").exists()
    assert not Task.objects.exclude(source="manual").exists()
    assert not SurveyResponse.objects.filter(Q(nps__gt=10) | Q(csat__gt=5) | Q(csat__lt=1)).exists()
    assert not SurveyResponse.objects.exclude(contact=None).exclude(
        contact__organization=F("organization")).exists()


def test_big_clients_get_more_and_more_senior_attention(portfolio):
    totals = committed_usd_by_org()
    ranked = sorted(totals, key=totals.get, reverse=True)
    big = set(ranked[: max(3, len(ranked) // 10)])
    per_org = dict(Organization.objects.annotate(n=Count("interactions")).values_list("id", "n"))
    senior = dict(Organization.objects.annotate(
        n=Count("interactions", filter=Q(interactions__kind="senior_meeting"))).values_list("id", "n"))
    others = [o for o in per_org if o not in big and per_org[o]]

    def mean(values):
        return sum(values) / len(values)

    assert mean([per_org[o] for o in big]) > 2 * mean([per_org[o] for o in others])
    assert mean([senior[o] for o in big]) > 2 * mean([senior[o] for o in others])


def test_exchange_rates_cover_every_currency_used(portfolio):
    used = set(Participation.objects.values_list("currency", flat=True)) | set(
        Project.objects.values_list("currency", flat=True))
    rated = set(ExchangeRate.objects.values_list("currency", flat=True)) | {"USD"}
    assert used <= rated
    assert ExchangeRate.objects.filter(currency="CNY").count() == 24
    assert set(ExchangeRate.objects.values_list("quote", flat=True)) == {"USD"}


def test_refuses_to_load_twice(portfolio):
    with pytest.raises(Conflict):
        generate_portfolio(clients=5, seed=1, as_of=AS_OF)


@pytest.mark.django_db
def test_demo_users_can_be_created_again():
    first = demo_users()
    again = demo_users()
    assert [u for u, _r, _p in first.logins] == [u for u, _r, _p in again.logins] == [u[0] for u in USERS]
    assert {p for _u, _r, p in first.logins} == {DEMO_PASSWORD}
    rm = again.users["rm.wang"]
    assert rm.check_password(DEMO_PASSWORD)
    assert rm.groups.filter(name="relationship_manager").exists()
    assert rm.memberships.filter(team__name="Core Investors", weekly_capacity_hours__gt=0).exists()
    assert again.users["admin"].is_superuser


# -- the scale data set ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_scale_mode_loads_lean_valid_rows():
    calls = []
    counts = generate_portfolio(clients=400, seed=5, as_of=AS_OF, scale=True,
                                progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (400, 400)
    assert counts["parties.Organization"] == Organization.objects.count() == 400
    assert counts["engagement.Interaction"] == Interaction.objects.count()
    assert not Interaction.contacts.through.objects.exists()
    per_client = sum(v for k, v in counts.items() if k != "financing.ExchangeRate") / 400
    assert 8 <= per_client <= 18
    assert Participation.objects.count() == ParticipationStatusChange.objects.count()
    for model in (Organization, Contact, Project, Participation, Interaction, ServiceRequest, SurveyResponse,
                  ParticipationStatusChange):
        for row in model.objects.all()[:300]:
            valid_fields(row)
    for org in Organization.objects.prefetch_related("contacts")[:300]:
        assert same_words(org.search_text, organization_search_text(org))
    for p in Participation.objects.select_related("project")[:300]:
        change = p.status_changes.get()
        assert change.to_status == p.status and change.changed_at == p.status_changed_at
    assert Organization.objects.annotate(p=Count("participations"), i=Count("interactions")).filter(p=0, i=0).exists()
    assert not Contact.objects.filter(report_consent=True, consent_given_at=None).exists()
    assert Organization.objects.exclude(local_name="").count() > 200
    # The loader assigned ids itself; ordinary inserts afterwards must not collide with them.
    Organization.objects.create(legal_name="After the load", kind="fund", country="CN")
    Contact.objects.create(organization=Organization.objects.first(), full_name="After the load")


@pytest.mark.django_db
def test_client_search_finds_loaded_and_later_clients_after_a_scale_load():
    """The loader pauses the SQLite search index's triggers and rebuilds it; both must hold afterwards."""
    from django.contrib.auth import get_user_model

    from bcrm.parties.selectors import organization_list
    from bcrm.parties.services import organization_create

    generate_portfolio(clients=150, seed=5, as_of=AS_OF, scale=True)
    lead = get_user_model().objects.get(username="lead")
    for org in Organization.objects.order_by("id")[10:150:35]:
        assert org in organization_list(actor=lead, filters={"q": org.legal_name[:14]})
        email = org.contacts.order_by("id").first().email
        assert org in organization_list(actor=lead, filters={"q": email})
    later = organization_create(actor=lead, data={"legal_name": "Zzyzx Harbour Capital", "kind": "fund",
                                                  "country": "SG"})
    assert list(organization_list(actor=lead, filters={"q": "zzyzx harb"})) == [later]


@pytest.mark.django_db
def test_scale_mode_is_deterministic():
    generate_portfolio(clients=120, seed=5, as_of=AS_OF, scale=True)
    first = snapshot()
    wipe()
    generate_portfolio(clients=120, seed=5, as_of=AS_OF, scale=True)
    assert snapshot() == first


@pytest.mark.django_db(transaction=True)
def test_scale_mode_outside_a_transaction_streams_batches(monkeypatch):
    """The way `bcrm demo --clients 1000000` runs: batches committed one by one (PostgreSQL: on a writer thread)."""
    from django.db import connection

    from bcrm.demo import loader, scale

    monkeypatch.setattr(scale, "CLIENT_BATCH", 50)
    seen = []
    original = loader.BatchWriter.__init__

    def spy(self):
        original(self)
        seen.append(self.threaded)

    monkeypatch.setattr(loader.BatchWriter, "__init__", spy)
    counts = generate_portfolio(clients=180, seed=3, as_of=AS_OF, scale=True)
    assert seen == [connection.vendor == "postgresql"]
    assert Organization.objects.count() == 180
    assert counts["engagement.Interaction"] == Interaction.objects.count()
    assert counts["financing.Participation"] == ParticipationStatusChange.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_write_stops_the_load(monkeypatch):
    from bcrm.demo import loader, scale

    monkeypatch.setattr(scale, "CLIENT_BATCH", 50)

    def fail(batch):
        raise RuntimeError("disk full")

    monkeypatch.setattr(loader.BatchWriter, "_write", staticmethod(fail))
    with pytest.raises(RuntimeError, match="disk full"):
        generate_portfolio(clients=180, seed=3, as_of=AS_OF, scale=True)


@pytest.mark.django_db
def test_the_scale_staff_grows_with_the_portfolio_in_desks(monkeypatch):
    """Desks of DESK_MANAGERS relationship managers and a lead, about one manager per CLIENTS_PER_MANAGER clients
    of a team (the logins who work for it count), written once: a second load reads them back."""
    from django.contrib.auth import get_user_model

    from bcrm.accounts.models import TeamMembership
    from bcrm.demo import users

    monkeypatch.setattr(users, "CLIENTS_PER_MANAGER", 10)
    staff = demo_users()
    made = users.scale_staff(staff, clients=400, shares={"core": 0.5, "fi": 0.25})
    # core: 20 managers, 2 of them logins -> 18 in desks of 8, 8, 2; fi: 10, 2 logins -> 8 in one desk
    assert made == {"desks": 4, "managers": 26, "leads": 4}
    assert [len(managers) for _team, managers in staff.team_desks("core")] == [2, 8, 8, 2]
    assert [len(managers) for _team, managers in staff.team_desks("fi")] == [2, 8]
    User = get_user_model()
    desk_rm = User.objects.get(username="rm.core.002.3")
    assert not desk_rm.has_usable_password()  # seed data: nobody signs in as them
    assert desk_rm.groups.filter(name="relationship_manager").exists()
    membership = TeamMembership.objects.get(user=desk_rm)
    assert membership.team.name == "Core Investors · Desk 2" and membership.team.name_local == "核心投资人 第2组"
    assert membership.weekly_capacity_hours == users.DESK_MANAGER_HOURS
    lead = User.objects.get(username="lead.fi.001")
    assert lead.groups.filter(name="lead").exists() and lead.memberships.get().team.name.startswith("Financial")
    users_before = User.objects.count()
    again = users.scale_staff(demo_users(), clients=400, shares={"core": 0.5, "fi": 0.25})
    assert again == made and User.objects.count() == users_before
    # a portfolio the logins already cover gets no desks
    assert users.scale_staff(demo_users(), clients=20, shares={"core": 0.5})["desks"] == 0


def test_team_shares_cover_every_client():
    from bcrm.demo import profiles

    shares = profiles.team_shares()
    assert set(shares) == {"core", "fi", "platform"}
    assert sum(shares.values()) == pytest.approx(1.0)


@pytest.mark.django_db
def test_scale_clients_sit_at_desks_with_their_manager(monkeypatch):
    """Every scale client has a team, and its relationship manager works at that desk; participations were
    recorded when the client joined the syndication, not when the demo was loaded."""
    from bcrm.accounts.models import TeamMembership
    from bcrm.demo import users

    monkeypatch.setattr(users, "CLIENTS_PER_MANAGER", 8)
    generate_portfolio(clients=150, seed=4, as_of=AS_OF, scale=True)
    assert not Organization.objects.filter(team=None).exists()
    seats = set(TeamMembership.objects.values_list("team_id", "user_id"))
    managed = Organization.objects.exclude(relationship_manager=None)
    assert managed.count() >= 120
    assert all(pair in seats for pair in managed.values_list("team_id", "relationship_manager_id"))
    assert managed.exclude(team__name__in=["Core Investors", "Financial Institutions", "Platform Clients"]).exists()
    late = timezone.now() - dt.timedelta(days=1)
    assert not Participation.objects.filter(created_at__gt=late).exists()
    assert not Participation.objects.filter(created_at__gt=F("status_changed_at")).exists()


@pytest.mark.django_db
def test_demo_at_scale_keeps_the_overflow_small_and_times_each_phase(monkeypatch):
    """`bcrm demo` on the scale data set (forced at a small size): staff in proportion, so the first automation
    run assigns nearly every task within capacity; the history covers every client, however many pages they
    take; each phase prints its time and the command ends with the whole time and each phase's."""
    from bcrm.demo import generator, users
    from bcrm.monitoring import demo as monitoring_demo
    from bcrm.playbooks.models import AutomationRun, ClientTier

    monkeypatch.setattr(generator, "SCALE_THRESHOLD", 100)
    monkeypatch.setattr(users, "CLIENTS_PER_MANAGER", 20)
    monkeypatch.setattr(monitoring_demo, "BATCH", 7)
    out = io.StringIO()
    call_command("demo", clients=160, no_serve=True, stdout=out, verbosity=0)
    text = out.getvalue()
    assert "accounts.Team (desks)" in text
    run = AutomationRun.objects.get()
    assert run.counts["assigned"] >= 20, run.counts
    assert run.counts["overflow"] <= run.counts["assigned"] // 10, run.counts
    assert not run.counts["created"].get("due_diligence")  # the history reviewed every participation but the newest
    # the history: every client with a tier has its cycles, the last page too
    tiered = set(ClientTier.objects.values_list("organization_id", flat=True))
    covered = set(Task.objects.filter(source_key__startswith="hist:").values_list("organization_id", flat=True))
    assert len(tiered) == 160 and covered == tiered
    # the history logs the interactions its done tasks stand for
    assert Task.objects.filter(source_key__startswith="hist:", status="done").exclude(interaction=None).exists()
    # the phases and the summary
    for line in ("Service history:", "Automation:", "KPI snapshots:", "Duplicate scan:"):
        assert re.search(re.escape(line) + r".*\(\d+\.\d s\)\n", text), line
    summary = text[text.index("\nTime: "):]
    duration = r"(\d+ min \d\d s|[\d.]+ s)"
    assert re.match(rf"\nTime: {duration} in all", summary)
    for phase in ("migrate", "rows", "classification: value", "service history", "first automation run",
                  "KPI snapshots", "duplicate scan"):
        assert re.search(rf"\n  {re.escape(phase)} +{duration} +\d+%", summary), phase


@pytest.mark.django_db
def test_the_first_run_on_an_established_book_stays_within_capacity(monkeypatch, settings):
    """The scale demo as at 100,000 clients, where the first classification runs move more labels than are
    re-tiered inline (the tiers wait for the automation): the history still gives every client the steps the
    automation will find, each step's last completion spread over its own cycle (a KYC refresh 0-6 months ago,
    a plan review 0-3 months ago), so the first run makes only the tasks of the next weeks and nearly all of
    them fit the managers' week."""
    from bcrm.demo import generator, users
    from bcrm.playbooks.businesstime import add_cadence
    from bcrm.playbooks.choices import ACTION_KINDS
    from bcrm.playbooks.models import AutomationRun, ClientTier, PlaybookStep

    monkeypatch.setattr(generator, "SCALE_THRESHOLD", 100)
    monkeypatch.setattr(users, "CLIENTS_PER_MANAGER", 20)
    settings.BCRM_TIER_INLINE_LIMIT = 40  # 200 clients: each dimension's first run leaves the tiers stale
    call_command("demo", clients=200, no_serve=True, stdout=io.StringIO(), verbosity=0)
    run = AutomationRun.objects.get()
    made = Task.objects.filter(source_key__startswith="pb:")
    # every cadence task counts from a completion in the history: none for a step the history never served
    assert made.exists() and not made.filter(source_key__endswith=":new").exists()
    assert not run.counts["created"].get("due_diligence")
    assert run.counts["overflow"] <= made.count() * 0.05, run.counts

    today = timezone.localtime(run.as_of).date()
    tiers = dict(ClientTier.objects.values_list("organization_id", "addons"))
    for action, clients in (("kyc_refresh", [o for o, a in tiers.items() if "kyc_refresh" in a]),
                            ("plan_review", list(ClientTier.objects.filter(tier="dedicated")
                                                 .values_list("organization_id", flat=True)))):
        step = PlaybookStep.objects.get(action=action)
        cycle = (today - add_cadence(today, -step.cadence_count, step.cadence_unit)).days
        last = dict(Interaction.objects.filter(organization_id__in=clients, kind__in=ACTION_KINDS[action],
                                               occurred_at__lt=run.as_of)
                    .values("organization_id").annotate(at=Max("occurred_at")).values_list("organization_id", "at"))
        assert len(clients) >= 30 and set(last) == set(clients), action
        # the ages of the last completions fill the cycle: each quarter of it holds a fair share of the clients
        quarters = Counter(min(3, int(4 * (run.as_of - at).days / cycle)) for at in last.values())
        assert all(quarters[q] >= 0.1 * len(clients) for q in range(4)), (action, quarters)
        # so the first run finds the step due for the clients in its lead time, not for all of them
        assert made.filter(action=action).count() <= 0.25 * len(clients), action


@pytest.mark.django_db
def test_the_history_tiers_every_client_as_the_first_automation_run_will():
    """The first automation run re-tiers the whole book from the current labels with the active policy, so the
    history does the same: a stored tier left stale (a classification stored it before the other dimensions had
    their labels) is not taken, and a client never classified is standard without add-ons."""
    from bcrm.monitoring.demo import _tiers_and_addons
    from bcrm.playbooks.defaults import ensure_defaults
    from bcrm.playbooks.models import ClientTier
    from bcrm.segmentation.models import ClientLabels

    ensure_defaults()
    stale, high, risky, plain, unlabelled = (
        Organization.objects.create(legal_name=f"Client {k}", kind="fund", country="CN") for k in range(5))
    for org, value, risk in ((stale, "general", "high"), (high, "high", "low"), (risky, "general", "high"),
                             (plain, "general", "low")):
        ClientLabels.objects.create(organization=org, value=value, risk=risk, relationship="ordinary")
    # stored by a value run before the risk labels existed: no add-ons
    ClientTier.objects.create(organization=stale, tier="standard", addons="", policy_version=1,
                              since=timezone.now())
    tiers, addons, labels = _tiers_and_addons()
    assert tiers == {stale.pk: "standard", high.pk: "dedicated", risky.pk: "standard", plain.pk: "standard",
                     unlabelled.pk: "standard"}
    assert addons[stale.pk] == addons[risky.pk] and "enhanced_dd" in addons[risky.pk]
    assert "kyc_refresh" in addons[risky.pk]
    assert plain.pk not in addons and unlabelled.pk not in addons
    assert labels[high.pk]["value"] == "high"


# -- the command ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_command_prints_logins_loads_and_skips_a_second_load():
    out = io.StringIO()
    call_command("demo", clients=25, no_serve=True, stdout=out, verbosity=0)
    text = out.getvalue()
    assert "rm.wang" in text and DEMO_PASSWORD in text and "relationship_manager" in text
    assert Organization.objects.count() == 25
    assert "http://127.0.0.1:8000/" in text
    # the monitoring dashboard opens with two runs per dimension, service history and four monthly snapshots
    from bcrm.monitoring.models import KpiSnapshot
    from bcrm.segmentation.models import Run

    assert Run.objects.count() == 6 and Run.objects.filter(previous_run__isnull=False).count() == 3
    history = Task.objects.filter(source_key__startswith="hist:").count()
    assert history > 0 and "Service history:" in text
    assert KpiSnapshot.objects.values("period").distinct().count() == 4
    judged = KpiSnapshot.objects.filter(breakdown="tier", segment="all", team__isnull=True).values_list("figures",
                                                                                                          flat=True)
    assert any(f["cadence"]["judged"] for f in judged)
    # financing plans for dedicated clients, closing checklists at several stages (one signed off)
    from bcrm.closing.models import Checklist
    from bcrm.plans.models import FinancingPlan

    assert FinancingPlan.objects.filter(organization__service_tier__tier="dedicated").exists()
    assert Checklist.objects.exists() and "Financing plans:" in text
    out = io.StringIO()
    call_command("demo", clients=25, no_serve=True, stdout=out, verbosity=0)
    assert "already holds 25 organisations" in out.getvalue()
    assert Organization.objects.count() == 25
    assert Task.objects.filter(source_key__startswith="hist:").count() == history  # written once


# -- the story the demo tells (issue 13): a team that works, figures that speak --------------------------------

STORY_CLIENTS = 300  # the size `make demo` loads: the story is told at that size


@pytest.fixture
def served(monkeypatch, settings):
    """`bcrm serve` without gunicorn and without starting a worker: records what would have run."""
    import os
    import subprocess

    import gunicorn.app.base

    seen: dict[str, object] = {}

    class Worker:
        pid = 1

        def terminate(self):
            pass

    def popen(args, **kwargs):
        seen["worker_env"] = dict(kwargs.get("env") or os.environ)
        return Worker()

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(gunicorn.app.base.BaseApplication, "run", lambda self: seen.setdefault("served", True))
    monkeypatch.setenv("BCRM_BASE_URL", "")  # not set explicitly: derived from the served port
    settings.BCRM_BASE_URL = "http://127.0.0.1:8000"  # restored after the test
    settings.EMAIL_BACKEND = "bcrm.core.mailbox.EmlFileBackend"  # what settings choose without EMAIL_HOST
    return seen


@pytest.mark.django_db
def test_the_demo_tells_the_story_of_a_team_that_works(served):
    """One small `bcrm demo` (STORY_CLIENTS clients, served on another port), then each part of the story."""
    from django.conf import settings as live
    from django.utils import timezone

    from bcrm.dedupe.models import DuplicateCandidate, DuplicateScan
    from bcrm.demo.generator import duplicate_count
    from bcrm.monitoring.effect import estimate_effect
    from bcrm.monitoring.forms import default_period
    from bcrm.monitoring.models import KpiSnapshot
    from bcrm.monitoring.selectors import snapshot_periods
    from bcrm.playbooks.models import AutomationRun
    from bcrm.segmentation.model_features import fit_portfolio_clv
    from bcrm.segmentation.models import ClientLabels

    out = io.StringIO()
    call_command("demo", clients=STORY_CLIENTS, port=8123, stdout=out, verbosity=0)
    text = out.getvalue()
    now = timezone.now()

    # links in e-mails name the port the demo serves on, in the web server and in its worker
    assert served["served"] and "Open http://127.0.0.1:8123/" in text
    assert live.BCRM_BASE_URL == "http://127.0.0.1:8123"
    assert served["worker_env"]["BCRM_BASE_URL"] == "http://127.0.0.1:8123"
    assert "EMAIL_BACKEND" not in served["worker_env"] and ".eml" in text

    # relationship managers with a realistic load: a handful of overdue tasks each, a small overflow queue
    overdue = Counter(Task.objects.filter(status="open", due_at__lt=now, assignee__groups__name="relationship_manager")
                      .values_list("assignee__username", flat=True))
    assert overdue and max(overdue.values()) <= 6, overdue
    run = AutomationRun.objects.get()
    assert run.counts["assigned"] >= 20
    assert run.counts["overflow"] <= max(3, run.counts["assigned"] // 10), run.counts
    assert Task.objects.filter(status="open", source="playbook", assignee=None,
                               action__in=["contact", "plan_review", "senior_meeting", "kyc_refresh",
                                           "due_diligence", "data_collection"]).count() <= 10

    # every high-value client has a team and a relationship manager
    high = Organization.objects.filter(pk__in=ClientLabels.objects.filter(value="high").values("organization_id"))
    assert high.count() >= 20
    assert not high.filter(Q(team=None) | Q(relationship_manager=None)).exists()

    # the lifetime-value model fits: predicted CLV (15 % of the value score) exists for the repeat clients
    fit = fit_portfolio_clv(timezone.localdate())
    assert fit["predicted_clv"] is not None
    import numpy as np
    assert int(np.isfinite(fit["predicted_clv"]).sum()) >= 50

    # the duplicate scan has run and found every planted duplicate next to its original
    scan = DuplicateScan.objects.get(entity="organizations")
    assert scan.status == "done" and "Duplicate scan:" in text
    planted = Organization.objects.order_by("-external_id")[:duplicate_count(STORY_CLIENTS)]
    assert len(planted) == duplicate_count(STORY_CLIENTS) == 3
    for duplicate in planted:
        original = Organization.objects.exclude(pk=duplicate.pk).get(local_name=duplicate.local_name,
                                                                      website=duplicate.website)
        low, high_id = sorted((original.pk, duplicate.pk))
        assert DuplicateCandidate.objects.filter(entity="organizations", low_id=low, high_id=high_id).exists()

    # enough clients near the value line for the effect estimate: not "too few clients near the line"
    estimate = estimate_effect(dimension="value", outcome="nps", now=now)["estimate"]
    assert estimate["n_left"] >= 20 and estimate["n_right"] >= 20, estimate["notes"]
    assert not any("clients near the line" in n and "Only" in n for n in estimate["notes"])
    assert not any(n.startswith("Too few clients near the line") for n in estimate["notes"])
    assert estimate["verdict"] in ("effect", "no_detectable_effect"), estimate["notes"]  # it says something

    # NPS per class rests on dozens of answers in the month the dashboard opens on
    period = default_period(snapshot_periods())
    assert period < f"{timezone.localdate():%Y-%m}"
    for breakdown, segments in (("tier", ("dedicated", "standard")), ("value", ("high", "general"))):
        for segment in segments:
            figures = KpiSnapshot.objects.get(period=period, breakdown=breakdown, segment=segment,
                                              team__isnull=True).figures
            assert figures["nps"]["n"] >= 24, (breakdown, segment, figures["nps"])
