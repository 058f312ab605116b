"""The demo portfolio: a deterministic, fictional book of clients for trying and benchmarking bcrm.

This is seed data, so it deliberately bypasses the services' per-row validation and audit trail:
an audit log that says "the demo loader created 3,000 contacts" one row at a time would be noise,
and a million clients through the services would take hours. The rich demo is written with
``bulk_create`` inside one transaction (all or nothing); the scale data set streams batches through
``bcrm.demo.loader``. The database constraints still apply to every row, the tests run
``full_clean()`` over the result, and the generator fills the denormalised columns the services
would have filled (``rating_score``, ``search_text``). Users and teams are the exception: they
are created through the account services (``demo_users``), audited like any other.

The same seed and reference date give the same portfolio: all randomness comes from one
``random.Random(seed)`` and Faker instances seeded with the same number, and dates are offsets from
``as_of`` (today unless given), so a demo loaded next month has the same shape, moved in time.

Up to ``SCALE_THRESHOLD`` clients the rich demo is built (two mirrored source cases, a dozen named
projects, two years of engagement history); from there on the lean scale data set in
``bcrm.demo.scale`` is streamed in batches instead.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from faker import Faker

from bcrm.core.errors import Conflict, InvalidInput
from bcrm.demo import catalogue, fx, pipeline, profiles
from bcrm.demo.books import demo_books
from bcrm.demo.catalogue import PROJECTS, ProjectSpec, bilingual
from bcrm.demo.names import COUNTRIES, NameBook, Person, email_for
from bcrm.demo.users import PLATFORM, DemoStaff, demo_users
from bcrm.engagement.models import Interaction, ServiceRequest, SurveyResponse, Task
from bcrm.financing.models import ExchangeRate, Participation, ParticipationStatusChange, Project
from bcrm.parties.models import Contact, Organization, Tag
from bcrm.parties.services import organization_search_text

__all__ = ["SCALE_THRESHOLD", "DemoStaff", "demo_users", "generate_portfolio"]

SCALE_THRESHOLD = 50_000
BATCH_SIZE = 2000
Progress = Callable[[int, int], Any]

# How long ago a project's syndication started, by how far along it is (days before the reference date).
PIPELINE_AGE: dict[str, int] = {
    "origination": 120, "development": 300, "structuring": 420, "marketing": 540, "financial_close": 640,
    "construction": 700, "operation": 720,
}
CHINESE_CONTACT_SHARE: dict[str, float] = {"CN": 0.95, "HK": 0.7, "SG": 0.6, "MY": 0.5}
CONTACT_COUNT = profiles.Picker({1: 25, 2: 35, 3: 25, 4: 15})
PARTICIPATION_CURRENCY = profiles.Picker({"USD": 50, "CNY": 25, "EUR": 15, None: 10})
REQUEST_SUBJECTS = [bilingual(s) for s in catalogue.REQUEST_SUBJECTS]
SURVEY_COMMENTS = {mood: [bilingual(c) for c in comments] for mood, comments in catalogue.SURVEY_COMMENTS.items()}
SENIORITY_RANK = {"board": 0, "c_level": 1, "senior": 2, "middle": 3, "staff": 4}
# The platform book's monthly note tranches (see PortfolioBuilder._platform_tranches): BG/NBD parameters per month.
TRANCHE_MONTHS = 24
TRANCHE_R, TRANCHE_ALPHA = 2.0, 2.5   # purchase rate λ ~ Gamma(r, α): about 0.8 tranches a month on average
TRANCHE_A, TRANCHE_B = 2.0, 6.0       # drop-out after each purchase p ~ Beta(a, b): about one in four
TRANCHE_TICKET_USD = 250_000.0        # small beside project tickets: the notes do not reshuffle the value ranking
TRANCHE_OTHER_INVESTORS = 0.8         # the share of investors outside the book's syndicate who buy its notes too
# The monthly pulse survey: months back from the reference date, and the chance a client answers in a month.
SURVEY_PULSE_MONTHS = 12
SURVEY_PULSE, SURVEY_PULSE_BIG = 0.5, 0.9
# A team that works: past-due tasks are done or dropped; the few still open fell due in the last fortnight.
OVERDUE_TASK_STATUS = profiles.Picker({"done": 82, "cancelled": 13, "open": 5})
OVERDUE_OPEN_DAYS = 14


def generate_portfolio(
    *,
    clients: int = 300,
    seed: int = 1,
    progress: Progress | None = None,
    as_of: dt.date | None = None,
    scale: bool | None = None,
) -> dict[str, int]:
    """Load the demo portfolio into an empty database; returns the rows created per model label.

    ``scale`` forces the lean streamed data set (default: from ``SCALE_THRESHOLD`` clients on).
    ``progress(done, total)`` is called as clients are written, for a progress bar.
    """
    if clients < 1:
        raise InvalidInput(fields={"clients": ["The demo needs at least one client."]})
    if Organization.objects.exists():
        raise Conflict(
            "The database already holds organisations; the demo portfolio is only loaded into an empty "
            "database. Use a fresh data folder (BCRM_DATA_DIR) or database (DATABASE_URL)."
        )
    as_of = as_of or timezone.localdate()
    staff = demo_users()
    if clients >= SCALE_THRESHOLD if scale is None else scale:
        from bcrm.demo.scale import ScaleLoader

        return ScaleLoader(clients=clients, seed=seed, as_of=as_of, staff=staff, progress=progress).run()
    with transaction.atomic():
        return PortfolioBuilder(clients=clients, seed=seed, as_of=as_of, staff=staff, progress=progress).run()


def bulk(model: type[Model], rows: list, counts: dict[str, int]) -> list:
    """Insert and count; primary keys come back on PostgreSQL and SQLite alike (RETURNING)."""
    if rows:
        model._default_manager.bulk_create(rows, batch_size=BATCH_SIZE)
    counts[model._meta.label] = counts.get(model._meta.label, 0) + len(rows)
    return rows


def exchange_rates(rng: random.Random, as_of: dt.date) -> list[ExchangeRate]:
    """Monthly rates into the reporting currency, minus any the database already has."""
    reporting = settings.BCRM_REPORTING_CURRENCY
    rows = fx.rate_rows(fx.monthly_usd_rates(rng, as_of), reporting)
    existing = set(ExchangeRate.objects.filter(quote=reporting).values_list("currency", "as_of"))
    return [ExchangeRate(currency=c, quote=reporting, as_of=d, rate=r) for c, d, r in rows if (c, d) not in existing]


def amount_in(usd: float, currency: str) -> Decimal:
    """A USD ticket quoted in ``currency``, rounded the way term sheets round."""
    rate = fx.USD_PER_UNIT[currency]
    return pipeline.money(usd / rate, step=10_000 if rate > 0.01 else 1_000_000)


def surname_pool(fake: Faker, size: int = 3000) -> list[str]:
    return list(dict.fromkeys(fake.last_name() for _ in range(size)))


@dataclass
class Client:
    """One organisation while it is being generated, with what the later steps need to know about it."""

    org: Organization
    size: float  # heavy-tailed appetite: tickets and attention scale with it
    thin: bool
    sanctioned: bool
    contacts: list[Contact] = field(default_factory=list)
    big: bool = False
    committed_usd: float = 0.0
    projects: list[Project] = field(default_factory=list)


class PortfolioBuilder:
    """The rich demo: every feature of the product has something to show."""

    def __init__(self, *, clients: int, seed: int, as_of: dt.date, staff: DemoStaff, progress: Progress | None):
        self.n = clients
        self.as_of = as_of
        self.staff = staff
        self.progress = progress
        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.fake_zh = Faker("zh_CN")
        self.fake_zh.seed_instance(seed)
        self.names = NameBook(self.rng, surnames=surname_pool(self.fake))
        self.ref = profiles.reference_time(as_of, timezone.get_default_timezone())
        self.counts: dict[str, int] = {}
        self.clients: list[Client] = []
        self.rms = [u for name, u in staff.users.items() if name.startswith("rm.")]
        self.unassigned: set[int] = set()

    def run(self) -> dict[str, int]:
        rng = self.rng
        self._report(0)
        tags = {name: Tag.objects.get_or_create(name=name)[0] for name in catalogue.TAGS}
        self._organizations()
        projects = self._projects()
        self._participations(projects)
        self._tags(tags)
        self._interactions()
        self._service_requests()
        self._tasks()
        self._surveys()
        bulk(ExchangeRate, exchange_rates(rng, self.as_of), self.counts)
        demo_books(self.counts)
        self._report(self.n)
        return self.counts

    def _report(self, done: int) -> None:
        if self.progress is not None:
            self.progress(done, self.n)

    # -- organisations and contacts -------------------------------------------------------------

    def _organizations(self) -> None:
        rng, n = self.rng, self.n
        kinds = [profiles.pick_kind(rng) for _ in range(n)]
        if n >= len(profiles.KIND_WEIGHTS):
            kinds[: len(profiles.KIND_WEIGHTS)] = list(profiles.KIND_WEIGHTS)  # every kind appears
            rng.shuffle(kinds)
        ordinary = [i for i, k in enumerate(kinds) if k != "sponsor"]
        # Thin clients: the "insufficient data" work queue has to have something in it.
        thin = set(rng.sample(ordinary, min(len(ordinary), max(2, round(n * 0.08)))))
        sanctioned = set(rng.sample([i for i in ordinary if i not in thin],
                                    min(len(ordinary) - len(thin), max(1, n // 100))))
        # A few new prospects (thin) are not yet assigned to a team; every other client has a team and a
        # relationship manager (a high-value client without an owner is not a team that works).
        thin_order = sorted(thin)
        self.unassigned = set(rng.sample(thin_order, max(1, len(thin_order) // 4))) if thin_order else set()
        # The last few records are duplicates of earlier clients, as a second import leaves them: the
        # duplicate scan at the end of `bcrm demo` finds them.
        duplicates = duplicate_count(n)
        for i, kind in enumerate(kinds):
            if i >= n - duplicates:
                self.clients.append(self._duplicate(i, self.clients[rng.randrange(n - duplicates)]))
            else:
                self.clients.append(self._client(i, kind, i in thin, i in sanctioned))
            if i % 100 == 99:
                self._report(i + 1)
        for client in self.clients:
            # In the order the contacts are listed (primary first), as the services would write it.
            listed = sorted(client.contacts, key=lambda c: (not c.is_primary, c.full_name))
            client.org.search_text = organization_search_text(client.org, listed)
        bulk(Organization, [c.org for c in self.clients], self.counts)
        contacts = []
        for client in self.clients:
            for contact in client.contacts:
                contact.organization_id = client.org.pk
                contacts.append(contact)
        bulk(Contact, contacts, self.counts)

    def _client(self, i: int, kind: str, thin: bool, sanctioned: bool) -> Client:
        rng = self.rng
        country = profiles.pick_country(rng)
        sector = profiles.sector_for(rng, kind)
        name = self.names.organization(kind, country, sector)
        size = rng.paretovariate(1.15)
        if thin:
            agency, grade, score = "", "", None
            kyc, kyc_expires = "not_started", None
            since = None if rng.random() < 0.6 else self.as_of - dt.timedelta(days=rng.randint(10, 300))
        else:
            agency, grade, score = profiles.rating_for(rng, kind, country, sanctioned=sanctioned)
            kyc, kyc_expires = profiles.kyc_for(rng, self.as_of, sanctioned=sanctioned)
            since = profiles.relationship_since(rng, self.as_of, big=size > 5)
        team_key: str | None = profiles.team_for(rng, kind) or profiles.default_team(kind)
        manager = rng.choice(self.staff.team_managers(team_key)) if team_key else None
        if i in self.unassigned:
            team_key, manager = None, None
        org = Organization(
            legal_name=name.legal_name, local_name=name.local_name, kind=kind, country=country, sector=sector,
            website=f"https://www.{name.domain}", rating_agency=agency, rating_grade=grade, rating_score=score,
            kyc_status=kyc, kyc_expires_on=kyc_expires, sanctions_flag=sanctioned, relationship_since=since,
            team=self.staff.teams[team_key] if team_key else None, relationship_manager=manager,
            external_id=f"ORG-{i + 1:06d}",
        )
        client = Client(org=org, size=size, thin=thin, sanctioned=sanctioned)
        count = 1 if thin else CONTACT_COUNT(rng)
        client.contacts = [self._contact(client, country, name.domain, j, big=size > 5) for j in range(count)]
        return client

    def _duplicate(self, i: int, original: Client) -> Client:
        """A second record of ``original``: the legal name typed another way, the same local name, website and
        primary contact, no history of its own (the kind of duplicate an import of another desk's list leaves)."""
        first = original.org
        org = Organization(
            legal_name=duplicate_name(first.legal_name), local_name=first.local_name, kind=first.kind,
            country=first.country, sector=first.sector, website=first.website, kyc_status="not_started",
            team=first.team, relationship_manager=first.relationship_manager, external_id=f"ORG-{i + 1:06d}",
        )
        client = Client(org=org, size=1.0, thin=True, sanctioned=False)
        source = min(original.contacts, key=lambda c: (not c.is_primary, c.full_name))
        client.contacts = [Contact(
            full_name=source.full_name, local_name=source.local_name, title=source.title, seniority=source.seniority,
            email=source.email, phone=source.phone, language=source.language, report_consent=False,
            is_primary=True)]
        return client

    def _person(self, country: str) -> Person:
        if self.rng.random() < CHINESE_CONTACT_SHARE.get(country, 0.12):
            return self.names.chinese_person()
        return Person(f"{self.fake.first_name()} {self.fake.last_name()}", "", False)

    def _contact(self, client: Client, country: str, domain: str, j: int, *, big: bool) -> Contact:
        rng = self.rng
        person = self._person(country)
        seniority = (profiles.SENIORITY_BIG if big else profiles.SENIORITY)(rng)
        title_en, title_zh = rng.choice(catalogue.TITLES[seniority])
        if country == "CN":
            phone = f"+86 {self.fake_zh.phone_number()}"
        else:
            phone = profiles.phone_for(rng, COUNTRIES[country].phone_prefix)
        consent = rng.random() < (0.1 if client.thin else 0.55)
        return Contact(
            full_name=person.full_name, local_name=person.local_name, title=title_zh if person.chinese else title_en,
            seniority=seniority, email=email_for(person.full_name, domain), phone=phone,
            language="zh-hans" if person.chinese else "en", report_consent=consent,
            consent_given_at=profiles.business_time(rng, self.ref, 700) if consent else None,
            is_primary=j == 0 and rng.random() < (0.5 if client.thin else 0.85),
        )

    def _mark_big(self, anchors: list[Client]) -> None:
        """The clients that look like they deserve dedicated service, and so get more and more senior
        attention: the anchors of the two source cases, project sponsors, and the top tenth by commitments."""
        ranked = sorted((c for c in self.clients if c.committed_usd > 0), key=lambda c: -c.committed_usd)
        for client in anchors + ranked[: max(3, len(ranked) // 10)]:
            client.big = True

    def _tags(self, tags: dict[str, Tag]) -> None:
        rng = self.rng
        through = Organization.tags.through
        rows = []
        belt_and_road = {"KZ", "ID", "VN", "PK", "EG", "KE", "SA", "AE"}
        for client in self.clients:
            org = client.org
            chosen = set()
            if client.big:
                for tag, share in (("framework agreement", 0.6), ("co-investor", 0.4), ("repeat investor", 0.5)):
                    if rng.random() < share:
                        chosen.add(tag)
            if client.sanctioned:
                chosen.add("watchlist")
            if org.team_id == self.staff.teams[PLATFORM].pk and rng.random() < 0.7:
                chosen.add("platform client")
            if org.sector == "energy" and rng.random() < 0.3:
                chosen.add("green finance")
            if org.country in belt_and_road and rng.random() < 0.4:
                chosen.add("belt and road")
            if rng.random() < 0.08:
                chosen.add("ESG reporting")
            rows += [through(organization_id=org.pk, tag_id=tags[t].pk) for t in sorted(chosen)]
        bulk(through, rows, self.counts)

    # -- projects and participations ------------------------------------------------------------

    def _projects(self) -> list[tuple[ProjectSpec, Project]]:
        rng = self.rng
        sponsors = [c.org for c in self.clients if c.org.kind == "sponsor" and not c.thin]
        rows = []
        for k, spec in enumerate(PROJECTS, start=1):
            local = [s for s in sponsors if s.country == spec.country]
            sponsor = rng.choice(local or sponsors) if sponsors else None
            rows.append((spec, Project(
                name=spec.name[0], local_name=spec.name[1], external_id=f"PRJ-{k:04d}", sector=spec.sector,
                country=spec.country, stage=spec.stage, currency=spec.currency,
                total_cost=pipeline.money(spec.total_cost, 1_000_000),
                financing_target=pipeline.money(spec.total_cost * spec.target_share, 1_000_000),
                expected_close=self.as_of + dt.timedelta(days=spec.close_in_days), sponsor=sponsor,
                description=bilingual(spec.description),
            )))
        bulk(Project, [p for _, p in rows], self.counts)
        return rows

    def _participations(self, projects: list[tuple[ProjectSpec, Project]]) -> None:
        rng = self.rng
        investors = sorted((c for c in self.clients if not c.thin and c.org.kind in profiles.INVESTOR_KINDS),
                           key=lambda c: -c.size)
        core = investors[: min(6, max(3, len(investors) // 25))]
        strategic = [c for c in investors if c not in core and c.org.kind in profiles.FINANCE_KINDS]
        strategic = strategic[: min(5, max(2, len(investors) // 30))]
        by_kind: dict[str, list[Client]] = {}
        for client in self.clients:
            if not client.thin:
                by_kind.setdefault(client.org.kind, []).append(client)
        planned: list[tuple[Client, ProjectSpec, Project, str, float, bool]] = []

        for spec, project in projects:
            target_usd = spec.total_cost * spec.target_share * fx.USD_PER_UNIT[spec.currency]
            taken: set[int] = set()

            def add(client: Client, usd: float, anchor: bool = False, role: str | None = None,
                    spec: ProjectSpec = spec, project: Project = project, taken: set[int] = taken) -> None:
                if id(client) in taken:
                    return
                taken.add(id(client))
                role = role or profiles.ROLES_BY_KIND[client.org.kind](rng)
                planned.append((client, spec, project, role, usd, anchor))

            if spec.key == catalogue.OFFSHORE_WIND:
                # A few core investors with very large tickets, many general ones with small tickets.
                for client in core:
                    add(client, target_usd * rng.uniform(0.07, 0.16), anchor=True)
                rest = [c for c in investors if c not in core]
                for client in rng.sample(rest, min(len(rest), max(5, round(len(rest) * 0.4)))):
                    add(client, target_usd * rng.lognormvariate(math.log(0.002), 0.6))
            elif spec.key == catalogue.PLATFORM_BOOK:
                # A handful of strategic funding partners among many ordinary platform clients.
                for client in strategic:
                    add(client, target_usd * rng.uniform(0.06, 0.14), anchor=True)
                rest = [c for c in investors if c not in strategic and c not in core]
                for client in rng.sample(rest, min(len(rest), max(5, round(len(rest) * 0.5)))):
                    add(client, target_usd * rng.lognormvariate(math.log(0.0015), 0.7))
            else:
                count = min(len(investors), max(3, min(25, round(len(investors) * rng.uniform(0.04, 0.12)))))
                # Weighted sampling without replacement (Efraimidis–Spirakis): big appetites join more deals.
                keyed = sorted(investors, key=lambda c: -(rng.random() ** (1 / c.size ** 0.8)))
                for client in keyed[:count]:
                    share = min(0.25, 0.01 * client.size ** 0.7 * rng.lognormvariate(0, 0.5))
                    add(client, target_usd * share)
            if project.sponsor is not None:
                owner = next(c for c in self.clients if c.org is project.sponsor)
                add(owner, target_usd * rng.uniform(0.1, 0.3), anchor=True, role="equity")
            if spec.sector in {"energy", "water", "digital"} and by_kind.get("offtaker") and rng.random() < 0.7:
                add(rng.choice(by_kind["offtaker"]), target_usd * rng.uniform(0.01, 0.03), role="offtake")
            if by_kind.get("advisor") and rng.random() < 0.6:
                add(rng.choice(by_kind["advisor"]), rng.uniform(0.3e6, 2.5e6), role="advisory")

        rows: list[Participation] = []
        histories: list[list[tuple[str, str, dt.datetime]]] = []
        for client, spec, project, role, usd, anchor in planned:
            participation, history = self._participation(client, spec, project, role, usd, anchor)
            if participation.status in pipeline.COMMITTED and role != "advisory":
                client.committed_usd += usd
            rows.append(participation)
            histories.append(history)
            if project not in client.projects:
                client.projects.append(project)
        # The platform book's funders buy its monthly note tranches: its participants, and most other investors.
        book = next(((spec, project) for spec, project in projects if spec.key == catalogue.PLATFORM_BOOK), None)
        if book is not None:
            roles = {id(client): role for client, spec, _p, role, _u, _a in planned if spec is book[0]}
            for client in investors:
                if id(client) not in roles and rng.random() > TRANCHE_OTHER_INVESTORS:
                    continue
                role = roles.get(id(client)) or profiles.ROLES_BY_KIND[client.org.kind](rng)
                if role == "advisory":
                    continue
                for participation, history, tranche_usd in self._platform_tranches(client, book[1], role):
                    client.committed_usd += tranche_usd
                    rows.append(participation)
                    histories.append(history)
                if book[1] not in client.projects:
                    client.projects.append(book[1])
        sponsors = [c for c in self.clients if any(c.org is p.sponsor for _s, p in projects)]
        self._mark_big(core + strategic + sponsors)
        bulk(Participation, rows, self.counts)
        # A participation was recorded when its first status was: the enhanced due diligence the playbooks ask
        # for "since it was created" is then the review the team did back then, not one due on the load day.
        for participation, history in zip(rows, histories, strict=True):
            participation.created_at = history[0][2]
        Participation.objects.bulk_update(rows, ["created_at"], batch_size=BATCH_SIZE)
        changes = [
            ParticipationStatusChange(participation_id=p.pk, from_status=f, to_status=t, changed_at=at,
                                      changed_by=p.organization.relationship_manager)
            for p, history in zip(rows, histories, strict=True) for f, t, at in history
        ]
        bulk(ParticipationStatusChange, changes, self.counts)

    def _platform_tranches(self, client: Client, project: Project, role: str
                           ) -> list[tuple[Participation, list[tuple[str, str, dt.datetime]], float]]:
        """The platform book's monthly note tranches this funder bought over the last two years.

        Repeat buying follows the assumptions of the lifetime-value model (BG/NBD with Gamma-Gamma spend), so the
        model has something to fit: while active, a funder buys at its own Poisson rate λ ~ Gamma(r, α) a month;
        after each purchase it stops for good with its own probability p ~ Beta(a, b); each ticket is drawn
        around the funder's own mean spend, independent of how often it buys. One tranche a month at most."""
        rng = self.rng
        months = TRANCHE_MONTHS
        rate = rng.gammavariate(TRANCHE_R, 1 / TRANCHE_ALPHA)
        drop = rng.betavariate(TRANCHE_A, TRANCHE_B)
        mean_ticket = TRANCHE_TICKET_USD * min(client.size, 8.0) ** 0.5 * rng.gammavariate(3.0, 1 / 3.0)
        at = rng.uniform(0, months - 0.5)  # months after the start of the window: the first purchase
        bought: list[int] = []
        while at < months:
            month = int(at)
            if not bought or month != bought[-1]:
                bought.append(month)
            if rng.random() < drop:
                break
            at += rng.expovariate(max(rate, 1e-6))
        currency = project.currency
        out = []
        window = dt.date(self.as_of.year, self.as_of.month, 1)
        for month in bought:
            first_day = month_start(window, month - months)
            committed = self.ref.replace(year=first_day.year, month=first_day.month, day=rng.randint(3, 26))
            if committed >= self.ref:
                continue
            usd = mean_ticket * rng.gammavariate(6.0, 1 / 6.0)
            path = pipeline.status_path(rng, "funded")
            dates = pipeline.path_dates(rng, len(path), committed - dt.timedelta(days=21), committed)
            dates[-1] = committed
            dates = sorted(set(dates))
            if len(dates) < len(path):
                continue
            participation = Participation(
                project=project, organization=client.org, role=role, tranche=f"{first_day:%Y-%m} notes",
                amount=amount_in(usd, currency), currency=currency, status="funded", status_changed_at=dates[-1],
                probability=pipeline.PROBABILITY["funded"],
                fee_income=pipeline.money(pipeline.fee_for(rng, "funded", float(amount_in(usd, currency))), step=100),
            )
            history = [("" if k == 0 else path[k - 1], status, when)
                       for k, (status, when) in enumerate(zip(path, dates, strict=True))]
            out.append((participation, history, usd))
        return out

    def _participation(self, client: Client, spec: ProjectSpec, project: Project, role: str, usd: float,
                       anchor: bool) -> tuple[Participation, list[tuple[str, str, dt.datetime]]]:
        rng = self.rng
        final = pipeline.final_status(rng, spec.stage, anchor=anchor)
        path = pipeline.status_path(rng, final)
        age = PIPELINE_AGE[spec.stage]
        start = self.ref - dt.timedelta(days=rng.randint(age // 2, age), hours=rng.randint(0, 23))
        dates = pipeline.path_dates(rng, len(path), start, self.ref - dt.timedelta(hours=1))
        currency = spec.currency if rng.random() < 0.65 else PARTICIPATION_CURRENCY(rng)
        if currency is None:
            currency = COUNTRIES[client.org.country].currency
        if role == "advisory":
            amount = Decimal("0.00")
            fee = amount_in(usd, currency) if final in pipeline.COMMITTED else Decimal("0.00")
        else:
            amount = amount_in(usd, currency)
            fee = pipeline.money(pipeline.fee_for(rng, final, float(amount)), step=100)
        participation = Participation(
            project=project, organization=client.org, role=role, amount=amount, currency=currency, status=final,
            status_changed_at=dates[-1], probability=pipeline.PROBABILITY[final], fee_income=fee,
        )
        history = [("" if i == 0 else path[i - 1], status, at) for i, (status, at) in enumerate(zip(path, dates, strict=True))]
        return participation, history

    # -- engagement ----------------------------------------------------------------------------

    def _owner(self, client: Client):
        return client.org.relationship_manager or self.rng.choice(self.rms)

    def _interactions(self) -> None:
        rng = self.rng
        rows: list[Interaction] = []
        present: list[list[Contact]] = []
        for client in self.clients:
            if client.thin:
                continue
            count = rng.randint(20, 45) if client.big else min(20, int(rng.expovariate(1 / 5)) + 1)
            kinds = profiles.INTERACTIONS_BIG if client.big else profiles.INTERACTIONS_GENERAL
            by_rank = sorted(client.contacts, key=lambda c: SENIORITY_RANK[c.seniority])
            for _ in range(count):
                kind = kinds(rng)
                project = rng.choice(client.projects) if client.projects and rng.random() < 0.5 else None
                templates = [t for t in catalogue.INTERACTION_TEXT[kind] if project or "{project}" not in t[0]]
                text = rng.choice(templates)
                summary = bilingual(text, project=project.name, project_zh=project.local_name) if project \
                    else bilingual(text)
                rows.append(Interaction(
                    organization=client.org, project=project, kind=kind,
                    occurred_at=profiles.business_time(rng, self.ref, 730), owner=self._owner(client),
                    minutes_spent=rng.randint(*profiles.MINUTES[kind]), summary=summary,
                    outcome=bilingual(rng.choice(catalogue.OUTCOMES)) if rng.random() < 0.5 else "",
                ))
                how_many = min(len(client.contacts), rng.randint(1, 2))
                if kind == "senior_meeting":
                    present.append(by_rank[:how_many])
                else:
                    present.append(rng.sample(client.contacts, how_many))
        bulk(Interaction, rows, self.counts)
        through = Interaction.contacts.through
        links = [through(interaction_id=i.pk, contact_id=c.pk)
                 for i, people in zip(rows, present, strict=True) for c in people]
        bulk(through, links, self.counts)

    def _service_requests(self) -> None:
        rng = self.rng
        rows = []
        for client in self.clients:
            if client.thin or rng.random() > (0.8 if client.big else 0.35):
                continue
            for _ in range(rng.randint(1, 4 if client.big else 2)):
                rows.append(ServiceRequest(organization=client.org, contact=rng.choice(client.contacts),
                                           owner=self._owner(client), **service_request(rng, self.ref, fast=client.big)))
        bulk(ServiceRequest, rows, self.counts)

    def _tasks(self) -> None:
        rng = self.rng
        rows = []
        compliance = self.staff.users["compliance"]
        soon = self.as_of + dt.timedelta(days=30)
        for client in self.clients:
            org = client.org
            if client.thin:
                continue
            count = rng.randint(2, 5) if client.big else rng.choice((0, 0, 1, 1, 2))
            for _ in range(count):
                due = self.ref + dt.timedelta(days=rng.randint(-120, 45), hours=rng.randint(9, 17))
                status, completed = "open", None
                if due < self.ref:
                    status = OVERDUE_TASK_STATUS(rng)
                    if status == "open" and due < self.ref - dt.timedelta(days=OVERDUE_OPEN_DAYS):
                        status = "done"
                elif rng.random() < 0.15:
                    status = "done"
                if status == "done":
                    completed = min(due + dt.timedelta(days=rng.uniform(-5, 5)), self.ref - dt.timedelta(hours=1))
                rows.append(Task(title=bilingual(rng.choice(catalogue.TASK_TITLES)), organization=org,
                                 assignee=self._owner(client), due_at=due, status=status, completed_at=completed,
                                 source="manual"))
            if org.kyc_status == "expired" or (org.kyc_expires_on and org.kyc_expires_on <= soon):
                rows.append(Task(title=bilingual(catalogue.KYC_TASK), organization=org, assignee=compliance,
                                 due_at=self.ref + dt.timedelta(days=7, hours=10), status="open", source="manual"))
        bulk(Task, rows, self.counts)

    def _surveys(self) -> None:
        rng = self.rng
        rows = []
        for client in self.clients:
            if client.thin or rng.random() > (0.6 if client.big else 0.3):
                continue
            for _ in range(rng.randint(1, 3)):
                rows.append(SurveyResponse(organization=client.org, contact=rng.choice(client.contacts),
                                           **survey_response(rng, self.ref, happy=client.big)))
        # The monthly pulse survey of the last year: a share of the clients answer each month, so the monthly
        # NPS of each class rests on dozens of answers (and the effect estimate has outcomes after a run).
        for month in range(SURVEY_PULSE_MONTHS):
            lo, hi = 30 * month + 1, 30 * (month + 1)
            for client in self.clients:
                if client.thin or rng.random() > (SURVEY_PULSE_BIG if client.big else SURVEY_PULSE):
                    continue
                answer = survey_response(rng, self.ref, happy=client.big)
                answer["responded_at"] = profiles.business_time(rng, self.ref, hi, lo)
                rows.append(SurveyResponse(organization=client.org, contact=rng.choice(client.contacts), **answer))
        bulk(SurveyResponse, rows, self.counts)


def month_start(day: dt.date, months: int) -> dt.date:
    """The first of the month ``months`` after ``day``'s month (negative: before)."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def duplicate_count(clients: int) -> int:
    """How many of the demo's records are planted duplicates of others (none in a very small demo)."""
    return 0 if clients < 20 else max(2, round(clients * 0.01))


def duplicate_name(legal_name: str) -> str:
    """The same legal name as another desk typed it: capitals, no punctuation (``Huarui Capital Co., Ltd.`` →
    ``HUARUI CAPITAL CO LTD``); the duplicate scan's strict name key treats both alike."""
    return " ".join("".join(ch for ch in legal_name.upper() if ch.isalnum() or ch in " '-").split())


def service_request(rng: random.Random, ref: dt.datetime, *, fast: bool) -> dict[str, Any]:
    """A request's fields, answered and resolved the way a busy desk does: big clients first, recent ones
    still open. The caller adds organisation, contact and owner."""
    opened = profiles.business_time(rng, ref, 730)
    response: dt.datetime | None = None
    if rng.random() < 0.92:
        response = opened + dt.timedelta(hours=rng.lognormvariate(math.log(2 if fast else 12), 0.8))
        if response >= ref:
            response = None
    resolved: dt.datetime | None = None
    age_days = (ref - opened).days
    if rng.random() < (0.9 if age_days > 14 else 0.35):
        resolved = (response or opened) + dt.timedelta(hours=rng.lognormvariate(math.log(48), 1.0))
        if resolved >= ref:
            resolved = None
        elif response is None:
            response = resolved
    return {"subject": REQUEST_SUBJECTS[rng.randrange(len(REQUEST_SUBJECTS))], "priority": profiles.PRIORITY(rng),
            "opened_at": opened, "first_response_at": response, "resolved_at": resolved}


def survey_response(rng: random.Random, ref: dt.datetime, *, happy: bool) -> dict[str, Any]:
    """A survey answer's fields; clients who get dedicated service are a little happier."""
    nps: int | None = min(10, max(0, round(rng.gauss(8.6 if happy else 7.0, 1.8))))
    csat: int | None = min(5, max(1, round(1 + (nps or 0) * 0.4 + rng.gauss(0, 0.6))))
    roll = rng.random()
    if roll < 0.1:
        nps = None
    elif roll < 0.2:
        csat = None
    comment = ""
    if nps is not None and rng.random() < 0.4:
        mood = "good" if nps >= 9 else "neutral" if nps >= 7 else "bad"
        comment = rng.choice(SURVEY_COMMENTS[mood])
    return {"nps": nps, "csat": csat, "comment": comment, "responded_at": profiles.business_time(rng, ref, 700)}
