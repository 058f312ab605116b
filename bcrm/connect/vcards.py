"""Contacts as vCard 4.0 (RFC 6350), out and back in, round-trip safe with Chinese names.

One card per contact: ``UID:urn:bcrm:contact:<id>``, ``FN`` the name as written in the Latin alphabet and a
second ``FN;LANGUAGE=zh-Hans`` with the local name, ``N`` (family; given, from the Latin name), ``ORG`` the
organisation's legal name (``X-BCRM-ORGANIZATION`` its id), ``TITLE``, ``EMAIL``, ``TEL`` and ``LANG``.

Import reads any vCard 3.0/4.0 file (an address book exported from Outlook, a phone, another CRM). A card
with a bcrm UID updates that contact; otherwise a card whose e-mail matches a contact of the organisation
updates it; otherwise a new contact is created in the organisation named by ``X-BCRM-ORGANIZATION`` or by
``ORG`` (the legal or the local name, exactly). Each card goes through the contact services (permissions,
validation, audit); the file is imported whole or not at all, and every bad card is named with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import vobject
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput, ServiceError
from bcrm.parties.models import Contact, Organization
from bcrm.parties.selectors import contact_list, organization_base
from bcrm.parties.services import contact_create, contact_update

UID_PREFIX = "urn:bcrm:contact:"
MAX_CARDS = 20_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
LANGUAGES = {"zh": "zh-hans", "zh-hans": "zh-hans", "zh-cn": "zh-hans", "en": "en"}


def _is_chinese(params: dict[str, list[str]]) -> bool:
    return any(str(v).lower().startswith("zh") for v in params.get("LANGUAGE", []))


def _split_name(full_name: str) -> tuple[str, str]:
    parts = full_name.split()
    if len(parts) < 2:
        return full_name, ""
    return parts[-1], " ".join(parts[:-1])


def card_of(contact: Contact) -> vobject.base.Component:
    card = vobject.vCard()
    card.add("version").value = "4.0"
    card.add("uid").value = f"{UID_PREFIX}{contact.pk}"
    card.add("fn").value = contact.full_name
    if contact.local_name:
        local = card.add("fn")
        local.value = contact.local_name
        local.params["LANGUAGE"] = ["zh-Hans"]
    family, given = _split_name(contact.full_name)
    card.add("n").value = vobject.vcard.Name(family=family, given=given)
    card.add("org").value = [contact.organization.legal_name]
    card.add("x-bcrm-organization").value = str(contact.organization_id)
    if contact.title:
        card.add("title").value = contact.title
    if contact.email:
        card.add("email").value = contact.email
    if contact.phone:
        card.add("tel").value = contact.phone
    card.add("lang").value = "zh-Hans" if contact.language == "zh-hans" else "en"
    return card


def export(*, actor, organization: Organization | None = None) -> str:
    """Every contact the actor may see (of one organisation, if given) as one vCard file."""
    contacts = contact_list(actor=actor, organization=organization).order_by("organization_id", "id")
    return "".join(card_of(contact).serialize() for contact in contacts.iterator(chunk_size=2000))


@dataclass
class ImportResult:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": len(self.created), "updated": len(self.updated), "unchanged": len(self.unchanged)}


def _value(card, name: str) -> str:
    items = card.contents.get(name, [])
    for item in items:
        value = item.value
        if isinstance(value, list):
            value = value[0] if value else ""
        return str(value).strip()
    return ""


def _fields(card) -> dict[str, Any]:
    names = card.contents.get("fn", [])
    latin = next((n.value for n in names if not _is_chinese(n.params)), "")
    local = next((n.value for n in names if _is_chinese(n.params)), "")
    if not latin and not local and "n" in card.contents:
        name = card.n.value
        latin = " ".join(str(p) for p in (name.given, name.family) if p)
    data: dict[str, Any] = {"full_name": (latin or local).strip()}
    if local:
        data["local_name"] = local.strip()
    for key, prop in (("title", "title"), ("email", "email"), ("phone", "tel")):
        value = _value(card, prop)
        if value or prop in card.contents:
            data[key] = value
    language = LANGUAGES.get(_value(card, "lang").lower())
    if language:
        data["language"] = language
    return data


def _organization(actor, card) -> Organization:
    visible = organization_base(actor=actor)
    reference = _value(card, "x-bcrm-organization")
    if reference.isdigit():
        found = visible.filter(pk=int(reference)).first()
        if found is not None:
            return found
    name = _value(card, "org").split(";")[0].strip()
    if not name:
        raise InvalidInput(_("The card names no organisation (ORG)."))
    matches = list(visible.filter(Q(legal_name=name) | Q(local_name=name))[:2])
    if len(matches) != 1:
        raise InvalidInput(_("No single organisation you may see is called “%(name)s”.") % {"name": name})
    return matches[0]


def _existing(actor, card, organization: Organization, email: str) -> Contact | None:
    uid = _value(card, "uid")
    if uid.startswith(UID_PREFIX) and uid[len(UID_PREFIX):].isdigit():
        found = contact_list(actor=actor).filter(pk=int(uid[len(UID_PREFIX):])).first()
        if found is not None:
            return found
    if email:
        return contact_list(actor=actor, organization=organization).filter(email__iexact=email).first()
    return None


def read_upload(upload) -> str:
    """An uploaded .vcf as text (RFC 6350: UTF-8), bounded in size."""
    limit = _("A vCard file may hold at most %(mb)s MB.") % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)}
    if upload.size and upload.size > MAX_UPLOAD_BYTES:
        raise InvalidInput(limit, code="vcard_too_big")
    return text_of(upload.read(MAX_UPLOAD_BYTES + 1))


def text_of(raw: bytes) -> str:
    if len(raw) > MAX_UPLOAD_BYTES:
        raise InvalidInput(_("A vCard file may hold at most %(mb)s MB.") % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)},
                           code="vcard_too_big")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(_("vCard files are read as UTF-8 (RFC 6350); this one is not."),
                           code="vcard_encoding") from exc


def read_cards(text: str) -> list:
    try:
        cards = list(vobject.readComponents(text, validate=False, ignoreUnreadable=False))
    except Exception as exc:  # vobject raises ParseError and a few plain errors on malformed input
        raise InvalidInput(_("This is not a vCard file: %(error)s") % {"error": str(exc)[:200]},
                           code="vcard_malformed") from exc
    cards = [c for c in cards if c.name.upper() == "VCARD"]
    if not cards:
        raise InvalidInput(_("The file holds no vCard."), code="vcard_empty")
    if len(cards) > MAX_CARDS:
        raise InvalidInput(_("At most %(count)s cards per file.") % {"count": f"{MAX_CARDS:,}"}, code="vcard_too_many")
    return cards


def import_text(*, actor, text: str) -> ImportResult:
    """Import a vCard file: all cards or none; an InvalidInput naming every bad card otherwise."""
    cards = read_cards(text)
    result = ImportResult()
    problems: dict[str, list[str]] = {}
    with transaction.atomic():
        for number, card in enumerate(cards, start=1):
            label = _("card %(number)s") % {"number": number}
            try:
                with transaction.atomic():
                    _import_card(actor, card, result)
            except ServiceError as exc:
                details = [f"{path}: {message}" for path, messages in exc.fields.items() for message in messages]
                problems[f"{label} ({_fields(card).get('full_name') or '?'})"] = [exc.message, *details]
        if problems:
            raise InvalidInput(_("%(count)s of %(total)s cards cannot be imported; nothing was imported.")
                               % {"count": len(problems), "total": len(cards)}, fields=problems, code="vcard_rows")
    return result


def _import_card(actor, card, result: ImportResult) -> None:
    data = _fields(card)
    if not data["full_name"]:
        raise InvalidInput(_("The card has no name (FN)."))
    organization = _organization(actor, card)
    contact = _existing(actor, card, organization, data.get("email", ""))
    if contact is None:
        result.created.append(contact_create(actor=actor, organization=organization, data=data).pk)
        return
    changed = {k: v for k, v in data.items() if getattr(contact, k) != v}
    if not changed:
        result.unchanged.append(contact.pk)
        return
    contact_update(actor=actor, contact=contact, data=changed, expected_version=contact.version)
    result.updated.append(contact.pk)


def export_ids(cards: Iterable) -> list[str]:
    return [_value(card, "uid") for card in cards]
