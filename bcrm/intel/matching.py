"""Addresses to contacts: exact, then normalised, then the organisations' e-mail domains.

A :class:`Matcher` loads the contacts, the organisations' domains, the internal domains and one user's
exclusions once, then matches in memory (the capture of a whole mailbox makes no query per address)."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import getaddresses

from django.conf import settings
from django.contrib.auth import get_user_model

from bcrm.parties.models import Contact, Organization

# Personal and free-mail domains: never matched to an organisation, never offered as new contacts.
FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
    "yahoo.co.uk", "icloud.com", "me.com", "mac.com", "aol.com", "gmx.de", "gmx.net", "web.de", "proton.me",
    "protonmail.com", "mail.com", "yandex.ru", "qq.com", "foxmail.com", "163.com", "126.com", "sina.com",
    "sohu.com", "aliyun.com", "139.com", "yeah.net",
})


def normalise(address: str) -> str:
    """Lower case, no surrounding spaces or angle brackets, no "+tag" in the local part."""
    address = address.strip().strip("<>").strip().lower()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    local = local.split("+", 1)[0]
    return f"{local}@{domain}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def parse_addresses(*values: str) -> list[tuple[str, str]]:
    """(display name, lower-case address) pairs from header values; malformed entries dropped."""
    found = []
    for name, addr in getaddresses([v for v in values if v]):
        addr = addr.strip().lower()
        if "@" in addr and " " not in addr and len(addr) <= 320:
            found.append((name.strip(), addr))
    return found


def internal_domains() -> set[str]:
    configured = {d.strip().lower() for d in settings.BCRM_INTERNAL_DOMAINS if d.strip()}
    users = get_user_model().objects.exclude(email="").values_list("email", flat=True)
    return configured | {domain_of(e) for e in users if "@" in e}


@dataclass
class Match:
    contacts: list[int] = field(default_factory=list)  # contact ids
    organization_id: int | None = None
    unknown_at_known_domain: list[tuple[str, str, int]] = field(default_factory=list)  # (address, name, org)
    internal: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


class Matcher:
    def __init__(self, user):
        self.exact: dict[str, tuple[int, int]] = {}
        self.contact_org: dict[int, int] = {}
        self.normalised: dict[str, tuple[int, int]] = {}
        for pk, org, email in Contact.objects.exclude(email="").values_list("pk", "organization_id", "email"):
            self.exact.setdefault(email.strip().lower(), (pk, org))
            self.normalised.setdefault(normalise(email), (pk, org))
            self.contact_org[pk] = org
        self.domains: dict[str, int] = {}
        for pk, domains in Organization.objects.exclude(email_domains=[]).values_list("pk", "email_domains"):
            for domain in domains or []:
                self.domains.setdefault(str(domain).lower(), pk)
        self.internal = internal_domains()
        own = (getattr(user, "email", "") or "").lower()
        self.own = {own} if own else set()
        values = set(user.capture_exclusions.values_list("value", flat=True))
        self.excluded_addresses = {v.lower() for v in values if "@" in v}
        self.excluded_domains = {v.lower().lstrip("@") for v in values if "@" not in v}

    def is_internal(self, address: str) -> bool:
        return address in self.own or domain_of(address) in self.internal

    def excluded(self, address: str) -> bool:
        domain = domain_of(address)
        return (address in self.excluded_addresses or normalise(address) in self.excluded_addresses
                or domain in self.excluded_domains or domain in FREE_MAIL)

    def contact_for(self, address: str) -> tuple[int, int] | None:
        return self.exact.get(address) or self.normalised.get(normalise(address))

    def match(self, people: list[tuple[str, str]]) -> Match:
        result = Match()
        orgs: dict[int, int] = {}
        seen: set[str] = set()
        for name, address in people:
            if address in seen:
                continue
            seen.add(address)
            if self.is_internal(address):
                result.internal.append(address)
                continue
            if self.excluded(address):
                result.excluded.append(address)
                continue
            result.external.append(address)
            hit = self.contact_for(address)
            if hit:
                result.contacts.append(hit[0])
                orgs[hit[1]] = orgs.get(hit[1], 0) + 1
                continue
            org = self.domains.get(domain_of(address))
            if org is not None:
                result.unknown_at_known_domain.append((address, name, org))
        if orgs:
            # The organisation most of the matched people belong to; only its contacts are kept.
            best = max(orgs.items(), key=lambda kv: (kv[1], -kv[0]))[0]
            result.organization_id = best
            result.contacts = [c for c in dict.fromkeys(result.contacts) if self.contact_org[c] == best]
        elif result.unknown_at_known_domain:
            result.organization_id = result.unknown_at_known_domain[0][2]
        return result
