"""The scale data set: about a dozen related rows per client, streamed in batches, for a million clients.

It answers "is the app still fast with a real bank's book in it?", so it keeps the shape of the
rich demo (same kinds, countries, ratings, heavy-tailed tickets, ladder statuses, thin clients) but
trades richness for speed:

- names come from precomputed pools combined by index instead of Faker per row;
- interactions carry no contact links (the M2M table would add another row or two per interaction);
- each participation keeps one status-change row (its latest step) instead of its whole path;
- rows go in through ``bcrm.demo.loader`` (executemany / COPY with ids assigned here) rather than
  ``bulk_create``, whose per-value SQL compilation made a million clients take 25 minutes;
- on SQLite the client-search FTS index is rebuilt once at the end instead of row by row.

Each batch of clients is written, with everything that hangs off it, in one transaction (on a
second thread while the next batch is generated, see ``BatchWriter``), so memory stays bounded by
two batches and SQLite's write-ahead log by one batch's rows. An interrupted load therefore leaves
complete clients behind; load into a fresh database to start over.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone
from faker import Faker

from bcrm.accounts.models import Team
from bcrm.demo import catalogue, profiles
from bcrm.demo.catalogue import ASSETS, PROJECT_PLACES, PROJECTS, bilingual
from bcrm.demo.fx import USD_PER_UNIT
from bcrm.demo.generator import (
    CHINESE_CONTACT_SHARE,
    PIPELINE_AGE,
    Progress,
    amount_in,
    bulk,
    exchange_rates,
    service_request,
    surname_pool,
    survey_response,
)
from bcrm.demo.loader import BatchWriter, SearchIndexPause, TableLoader, reset_sequences
from bcrm.demo.names import CN_GIVEN, CN_SURNAMES, COUNTRIES, NameBook, email_for, join_pinyin
from bcrm.demo.pipeline import (
    ANCHOR_OUTCOMES,
    COMMITTED,
    FINAL_STATES,
    LADDER,
    PROBABILITY,
    STAGE_OUTCOMES,
    fee_for,
    money,
)
from bcrm.demo.users import DemoStaff, scale_staff
from bcrm.engagement.models import Interaction, ServiceRequest, SurveyResponse
from bcrm.financing.models import ExchangeRate, Participation, ParticipationStatusChange, Project
from bcrm.parties.models import Contact, Organization, Tag

CLIENT_BATCH = 10_000
CONTACTS = profiles.Picker({1: 35, 2: 35, 3: 30})
PARTICIPATIONS = profiles.Picker({0: 10, 1: 12, 2: 18, 3: 22, 4: 20, 5: 18})
INTERACTIONS = profiles.Picker({0: 8, 1: 10, 2: 14, 3: 16, 4: 16, 5: 12, 6: 10, 8: 8, 12: 6})
STAGES = profiles.Picker({"origination": 10, "development": 12, "structuring": 14, "marketing": 18,
                          "financial_close": 10, "construction": 18, "operation": 18})
FINAL = {stage: profiles.Picker(list(zip(FINAL_STATES, weights, strict=True)))
         for stage, weights in STAGE_OUTCOMES.items()}
ANCHOR_FINAL = {stage: profiles.Picker(list(zip(FINAL_STATES, weights, strict=True)))
                for stage, weights in ANCHOR_OUTCOMES.items()}
CURRENCY = profiles.Picker({"USD": 50, "CNY": 30, "EUR": 12, None: 8})
THIN_SHARE = 0.08
BIG_SIZE = 8.0  # Pareto(1.15) appetite above which a client looks like a dedicated-service client (~9%)
ZERO = Decimal("0.00")


@dataclass
class ScaleClient:
    index: int
    pk: int
    kind: str
    country: str
    size: float
    thin: bool
    big: bool
    sanctioned: bool
    owner_id: int
    contact_ids: list[int] = field(default_factory=list)
    projects: list[int] = field(default_factory=list)


class ScaleLoader:
    def __init__(self, *, clients: int, seed: int, as_of: dt.date, staff: DemoStaff, progress: Progress | None):
        self.n = clients
        self.as_of = as_of
        self.staff = staff
        self.progress = progress
        self.rng = random.Random(seed)
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.first_names = list(dict.fromkeys(fake.first_name() for _ in range(3000)))
        self.names = NameBook(self.rng, surnames=surname_pool(fake), long_brands=True)
        singles = list(CN_GIVEN)
        pairs = [(join_pinyin([a[0], b[0]]), a[1] + b[1]) for a in CN_GIVEN for b in CN_GIVEN if a != b]
        self.given_names = singles * 20 + pairs  # one-character given names are common too
        self.ref = profiles.reference_time(as_of, timezone.get_default_timezone())
        self.counts: dict[str, int] = {}
        self.projects: list[tuple[int, str, str, str, float]] = []  # (pk, country, currency, stage, target USD)
        self.tags: dict[str, int] = {}
        self.rms = [u.pk for name, u in staff.users.items() if name.startswith("rm.")]
        self.seats: dict[str, list[tuple[int, int]]] = {}
        self.summaries = {kind: [bilingual(t) for t in texts if "{project}" not in t[0]]
                          for kind, texts in catalogue.INTERACTION_TEXT.items()}
        self.outcomes = [bilingual(o) for o in catalogue.OUTCOMES]
        self.titles = {s: ([t[0] for t in titles], [t[1] for t in titles]) for s, titles in catalogue.TITLES.items()}

    def run(self) -> dict[str, int]:
        desks = scale_staff(self.staff, clients=self.n, shares=profiles.team_shares())
        self.seats = {key: [(team, manager) for team, managers in self.staff.team_desks(key) for manager in managers]
                      for key in self.staff.teams}
        self.counts[f"{Team._meta.label} (desks)"] = desks["desks"]
        self.counts[f"{get_user_model()._meta.label} (desk managers and leads)"] = desks["managers"] + desks["leads"]
        with transaction.atomic():
            self.tags = {name: Tag.objects.get_or_create(name=name)[0].pk for name in catalogue.TAGS}
            bulk(ExchangeRate, exchange_rates(self.rng, self.as_of), self.counts)
        now = timezone.now()
        self.tables: dict[type[models.Model], TableLoader] = {
            model: TableLoader(model, now=now) for model in (
                Organization, Contact, Project, Participation, ParticipationStatusChange, Interaction,
                ServiceRequest, SurveyResponse, Organization.tags.through,
            )
        }
        self._report(0)
        with SearchIndexPause(Organization):
            writer = BatchWriter()
            try:
                for start in range(0, self.n, CLIENT_BATCH):
                    stop = min(self.n, start + CLIENT_BATCH)
                    self._batch(start, stop)
                    writer.submit([(table, table.take()) for table in self.tables.values()])
                    self._report(stop)
            finally:
                writer.close()
        reset_sequences(list(self.tables))
        for model, table in self.tables.items():
            self.counts[model._meta.label] = table.count
        return self.counts

    def _report(self, done: int) -> None:
        if self.progress is not None:
            self.progress(done, self.n)

    def _batch(self, start: int, stop: int) -> None:
        rng = self.rng
        clients = [self._client(i) for i in range(start, stop)]
        if not self.projects:
            self._projects([c for c in clients if c.kind == "sponsor" and not c.thin])
        requests, surveys = self.tables[ServiceRequest], self.tables[SurveyResponse]
        tags = self.tables[Organization.tags.through]
        for client in clients:
            if client.thin:
                continue
            self._participations(client)
            self._interactions(client)
            roll = rng.random()
            contact_id = client.contact_ids[rng.randrange(len(client.contact_ids))]
            if roll < 0.5:
                requests.add({"organization_id": client.pk, "contact_id": contact_id, "owner_id": client.owner_id,
                              **service_request(rng, self.ref, fast=client.big)})
            elif roll < 0.9:
                surveys.add({"organization_id": client.pk, "contact_id": contact_id,
                             **survey_response(rng, self.ref, happy=client.big)})
            if client.sanctioned:
                tags.add({"organization_id": client.pk, "tag_id": self.tags["watchlist"]})
            elif rng.random() < 0.1:
                tags.add({"organization_id": client.pk, "tag_id": self.tags[rng.choice(catalogue.TAGS)]})

    def _client(self, i: int) -> ScaleClient:
        rng = self.rng
        kind = profiles.pick_kind(rng)
        country = profiles.pick_country(rng)
        sector = profiles.sector_for(rng, kind)
        name = self.names.organization(kind, country, sector)
        thin = kind != "sponsor" and rng.random() < THIN_SHARE
        sanctioned = not thin and rng.random() < 0.004
        size = rng.paretovariate(1.15)
        big = size > BIG_SIZE and not thin
        if thin:
            agency, grade, score = "", "", None
            kyc, kyc_expires, since = "not_started", None, None
        else:
            agency, grade, score = profiles.rating_for(rng, kind, country, sanctioned=sanctioned)
            kyc, kyc_expires = profiles.kyc_for(rng, self.as_of, sanctioned=sanctioned)
            since = profiles.relationship_since(rng, self.as_of, big=big)
        # every client has a team, as in the rich demo (the kind's default when none took it on): a client nobody
        # looks after would put its playbook tasks in the overflow queue at every run
        team_key = profiles.team_for(rng, kind) or profiles.default_team(kind)
        team_id = manager = None
        if team_key is not None:
            # a seat is a manager at a desk: desks draw clients in proportion to their managers
            seats = self.seats[team_key]
            if rng.random() < 0.92:
                team_id, manager = seats[rng.randrange(len(seats))]
            else:
                team_id = seats[i % len(seats)][0]
        contacts = [self._contact(country, name.domain, j, big=big, thin=thin)
                    for j in range(1 if thin else CONTACTS(rng))]
        # The text organization_search_text() builds: names, then contacts as listed (primary first).
        parts = [name.legal_name, name.local_name]
        for contact in sorted(contacts, key=lambda c: (not c["is_primary"], c["full_name"])):
            parts += [contact["full_name"], contact["local_name"], contact["email"]]
        pk = self.tables[Organization].add({
            "legal_name": name.legal_name, "local_name": name.local_name, "kind": kind, "country": country,
            "sector": sector, "website": f"https://www.{name.domain}", "rating_agency": agency,
            "rating_grade": grade, "rating_score": score, "kyc_status": kyc, "kyc_expires_on": kyc_expires,
            "sanctions_flag": sanctioned, "relationship_since": since,
            "team_id": team_id, "relationship_manager_id": manager,
            "external_id": f"ORG-{i + 1:07d}", "search_text": " ".join(p for p in parts if p).lower(),
        })
        client = ScaleClient(index=i, pk=pk, kind=kind, country=country, size=size, thin=thin, big=big,
                             sanctioned=sanctioned, owner_id=manager or self.rms[i % len(self.rms)])
        table = self.tables[Contact]
        for contact in contacts:
            contact["organization_id"] = pk
            client.contact_ids.append(table.add(contact))
        return client

    def _contact(self, country: str, domain: str, j: int, *, big: bool, thin: bool) -> dict:
        rng = self.rng
        chinese = rng.random() < CHINESE_CONTACT_SHARE.get(country, 0.12)
        if chinese:
            surname, surname_zh = CN_SURNAMES[rng.randrange(len(CN_SURNAMES))]
            given, given_zh = self.given_names[rng.randrange(len(self.given_names))]
            full_name, local_name = f"{surname} {given}", surname_zh + given_zh
        else:
            full_name = (f"{self.first_names[rng.randrange(len(self.first_names))]} "
                         f"{self.names.surnames[rng.randrange(len(self.names.surnames))]}")
            local_name = ""
        seniority = (profiles.SENIORITY_BIG if big else profiles.SENIORITY)(rng)
        titles = self.titles[seniority][1 if chinese else 0]
        consent = rng.random() < (0.1 if thin else 0.55)
        return {
            "full_name": full_name, "local_name": local_name, "title": titles[rng.randrange(len(titles))],
            "seniority": seniority, "email": email_for(full_name, domain),
            "phone": profiles.phone_for(rng, COUNTRIES[country].phone_prefix),
            "language": "zh-hans" if chinese else "en", "report_consent": consent,
            "consent_given_at": profiles.business_time(rng, self.ref, 700) if consent else None,
            "is_primary": j == 0 and rng.random() < 0.85,
        }

    def _projects(self, sponsors: list[ScaleClient]) -> None:
        """The named catalogue first (the two source cases among them), then assets at places."""
        rng = self.rng
        count = max(len(PROJECTS) + 20, self.n // 500)
        rows: list[tuple[dict, float]] = []
        seen: set[str] = set()
        for spec in PROJECTS:
            seen.add(spec.name[0])
            rows.append(({
                "name": spec.name[0], "local_name": spec.name[1], "sector": spec.sector, "country": spec.country,
                "stage": spec.stage, "currency": spec.currency, "total_cost": money(spec.total_cost, 1_000_000),
                "financing_target": money(spec.total_cost * spec.target_share, 1_000_000),
                "expected_close": self.as_of + dt.timedelta(days=spec.close_in_days),
                "description": bilingual(spec.description),
            }, spec.total_cost * spec.target_share * USD_PER_UNIT[spec.currency]))
        while len(rows) < count:
            code, (place, place_zh) = rng.choice(PROJECT_PLACES)
            asset, asset_zh, sector, usd_per_mw = rng.choice(ASSETS)
            mw = rng.choice((50, 100, 150, 200, 300, 400, 500, 800, 1000))
            base, base_zh = f"{place} {asset.format(mw=mw)}", f"{place_zh}{asset_zh.format(mw=mw)}"
            name, local, phase = base, base_zh, 1
            while name in seen:
                phase += 1
                name, local = f"{base} Phase {phase}", f"{base_zh}{phase}期"
            seen.add(name)
            cost_usd = mw * usd_per_mw if usd_per_mw else rng.lognormvariate(math.log(5e8), 0.8)
            currency = COUNTRIES[code].currency if rng.random() < 0.4 else "USD"
            share = rng.uniform(0.6, 0.8)
            rows.append(({
                "name": name, "local_name": local, "sector": sector, "country": code, "stage": STAGES(rng),
                "currency": currency, "total_cost": money(cost_usd / USD_PER_UNIT[currency], 1_000_000),
                "financing_target": money(cost_usd * share / USD_PER_UNIT[currency], 1_000_000),
                "expected_close": self.as_of + dt.timedelta(days=rng.randint(-700, 700)),
            }, cost_usd * share))
        table = self.tables[Project]
        for k, (values, target_usd) in enumerate(rows, start=1):
            local_sponsors = [s for s in sponsors if s.country == values["country"]] or sponsors
            values["external_id"] = f"PRJ-{k:05d}"
            values["sponsor_id"] = local_sponsors[rng.randrange(len(local_sponsors))].pk if local_sponsors else None
            pk = table.add(values)
            self.projects.append((pk, values["country"], values["currency"], values["stage"], target_usd))

    def _participations(self, client: ScaleClient) -> None:
        rng = self.rng
        roles = profiles.ROLES_BY_KIND.get(client.kind)
        if roles is None:
            return
        count = PARTICIPATIONS(rng)
        n_projects = len(self.projects)
        chosen: set[int] = set()
        while len(chosen) < count:
            # Popular projects draw many investors (the offshore wind farm is project 0).
            chosen.add(min(n_projects - 1, int(n_projects * rng.random() ** 1.8)))
        participations, changes = self.tables[Participation], self.tables[ParticipationStatusChange]
        outcomes = ANCHOR_FINAL if client.size > 2 * BIG_SIZE else FINAL
        for index in sorted(chosen):
            project_id, _country, project_currency, stage, target_usd = self.projects[index]
            role = roles(rng)
            final = outcomes[stage](rng)
            currency = project_currency if rng.random() < 0.6 else CURRENCY(rng)
            if currency is None:
                currency = COUNTRIES[client.country].currency
            if role == "advisory":
                amount = ZERO
                fee = amount_in(rng.uniform(0.1e6, 1.5e6), currency) if final in COMMITTED else ZERO
            else:
                amount = amount_in(min(0.3 * target_usd, 2e5 * client.size * rng.lognormvariate(0, 0.8)), currency)
                fee = money(fee_for(rng, final, float(amount)), step=100)
            if final in LADDER:
                rung = LADDER.index(final)
                before = LADDER[rung - 1] if rung else ""
            else:
                before = LADDER[rng.randint(0, 3) if final == "declined" else rng.randint(2, 6)]
            changed = self.ref - dt.timedelta(days=rng.randint(1, PIPELINE_AGE[stage]), hours=rng.randint(0, 23))
            # recorded when the client joined the syndication, some way between its start and the latest step
            # (not at load time: the automation's first run would take every one for a new participation)
            started = self.ref - dt.timedelta(days=PIPELINE_AGE[stage] + 1)
            created = started + (changed - started) * (((client.index * 31 + index) % 50) / 100)
            pk = participations.add({
                "project_id": project_id, "organization_id": client.pk, "role": role, "amount": amount,
                "currency": currency, "status": final, "status_changed_at": changed,
                "probability": PROBABILITY[final], "fee_income": fee, "created_at": created,
            })
            changes.add({"participation_id": pk, "from_status": before, "to_status": final, "changed_at": changed,
                         "changed_by_id": client.owner_id})
            client.projects.append(project_id)

    def _interactions(self, client: ScaleClient) -> None:
        rng = self.rng
        table = self.tables[Interaction]
        kinds = profiles.INTERACTIONS_BIG if client.big else profiles.INTERACTIONS_GENERAL
        projects = client.projects
        for _ in range(INTERACTIONS(rng) + (6 if client.big else 0)):
            kind = kinds(rng)
            summaries = self.summaries[kind]
            low, high = profiles.MINUTES[kind]
            table.add({
                "organization_id": client.pk, "kind": kind,
                "project_id": projects[rng.randrange(len(projects))] if projects and rng.random() < 0.3 else None,
                "occurred_at": profiles.business_time(rng, self.ref, 730), "owner_id": client.owner_id,
                "minutes_spent": rng.randint(low, high), "summary": summaries[rng.randrange(len(summaries))],
                "outcome": self.outcomes[rng.randrange(len(self.outcomes))] if rng.random() < 0.3 else "",
            })
