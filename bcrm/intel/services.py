"""The writes of relationship intelligence: connect and disconnect accounts, the exclusion list, the review
queue's decisions. Permissions are checked here, for every door."""

from __future__ import annotations

from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from bcrm.accounts.permissions import can_edit_organization, require
from bcrm.core.errors import InvalidInput, NotFound
from bcrm.intel.crypto import encrypt
from bcrm.intel.matching import FREE_MAIL, normalise
from bcrm.intel.models import (
    AccountKind,
    CapturedItem,
    ConnectedAccount,
    Exclusion,
    ItemStatus,
    ReviewCandidate,
    ReviewStatus,
    SyncStatus,
)
from bcrm.parties.services import contact_create

HOST_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")


def account_connect(*, actor, host: str, port: int, username: str, password: str, kind: str = AccountKind.IMAP,
                    use_tls: bool = True, folder: str = "INBOX", keep_subject: bool = True) -> ConnectedAccount:
    """Connect ``actor``'s own mailbox or calendar (opt-in): the password is stored encrypted."""
    require(bool(actor and actor.is_authenticated))
    errors: dict[str, list[str]] = {}
    host = (host or "").strip().lower()
    if not host or set(host) - HOST_CHARS:
        errors["host"] = [_("Enter a server name.")]
    if not 1 <= int(port or 0) <= 65535:
        errors["port"] = [_("Enter a port between 1 and 65535.")]
    if not (username or "").strip():
        errors["username"] = [_("Enter the user name.")]
    if not password:
        errors["password"] = [_("Enter the (app) password.")]
    if kind not in AccountKind.values:
        errors["kind"] = [_("Unknown kind.")]
    if errors:
        raise InvalidInput(fields=errors)
    return ConnectedAccount.objects.create(
        user=actor, kind=kind, host=host, port=int(port), username=username.strip(), use_tls=use_tls,
        password_encrypted=encrypt(password), folder=(folder or "INBOX").strip()[:255],
        keep_subject=keep_subject, status=SyncStatus.NEVER)


def _own_account(actor, account_id: int) -> ConnectedAccount:
    owner = getattr(actor, "pk", None)
    account = ConnectedAccount.objects.filter(pk=account_id, user_id=owner).first() if owner else None
    if account is None:
        raise NotFound()
    return account


def account_update(*, actor, account_id: int, keep_subject: bool | None = None,
                   active: bool | None = None) -> ConnectedAccount:
    account = _own_account(actor, account_id)
    if keep_subject is not None:
        account.keep_subject = keep_subject
    if active is not None:
        account.active = active
    account.save(update_fields=["keep_subject", "active", "updated_at"])
    return account


def account_disconnect(*, actor, account_id: int) -> None:
    """Forget the account and its password; what was captured from it stays."""
    _own_account(actor, account_id).delete()


def exclusion_add(*, actor, value: str) -> Exclusion:
    value = (value or "").strip().lower().lstrip("@")
    if "@" in value:
        try:
            validate_email(value)
        except Exception:  # noqa: BLE001 - Django's ValidationError: reported as the field's error
            raise InvalidInput(fields={"value": [_("Enter an e-mail address or a domain.")]}) from None
        value = normalise(value)
    elif "." not in value or " " in value or len(value) > 253:
        raise InvalidInput(fields={"value": [_("Enter an e-mail address or a domain.")]})
    exclusion, _created = Exclusion.objects.get_or_create(user=actor, value=value)
    return exclusion


def exclusion_remove(*, actor, value: str) -> None:
    Exclusion.objects.filter(user=actor, value=(value or "").strip().lower().lstrip("@")).delete()


def _candidate(actor, candidate_id: int) -> ReviewCandidate:
    candidate = (ReviewCandidate.objects.select_for_update().select_related("organization")
                 .filter(pk=candidate_id).first())
    if candidate is None or not can_edit_organization(actor, candidate.organization):
        raise NotFound()
    if candidate.status != ReviewStatus.PENDING:
        raise InvalidInput(_("This suggestion was already decided."), code="already_decided")
    return candidate


@transaction.atomic
def candidate_accept(*, actor, candidate_id: int, full_name: str = "") -> ReviewCandidate:
    """Create the suggested contact (with the organisation's write permission) and match the items that
    were waiting for it."""
    candidate = _candidate(actor, candidate_id)
    name = (full_name or candidate.display_name or candidate.address.split("@")[0]).strip()[:200]
    contact = contact_create(actor=actor, organization=candidate.organization,
                             data={"full_name": name, "email": candidate.address})
    candidate.status, candidate.contact, candidate.decided_by = ReviewStatus.ACCEPTED, contact, actor
    candidate.save(update_fields=["status", "contact", "decided_by", "updated_at"])
    waiting = CapturedItem.objects.filter(organization=candidate.organization, status=ItemStatus.UNMATCHED,
                                          sender=candidate.address)
    for item in waiting:
        item.contacts.add(contact)
    return candidate


@transaction.atomic
def candidate_reject(*, actor, candidate_id: int) -> ReviewCandidate:
    candidate = _candidate(actor, candidate_id)
    candidate.status, candidate.decided_by = ReviewStatus.REJECTED, actor
    candidate.save(update_fields=["status", "decided_by", "updated_at"])
    return candidate


def organization_domains_valid(domains: list[str]) -> list[str]:
    """Clean organisation e-mail domains; free-mail domains are refused (they are nobody's organisation)."""
    clean = []
    for raw in domains:
        domain = str(raw).strip().lower().lstrip("@")
        if not domain or "." not in domain or " " in domain or domain in FREE_MAIL:
            raise InvalidInput(fields={"email_domains": [_("%(domain)s is not an organisation's domain.")
                                                         % {"domain": raw}]})
        clean.append(domain)
    return list(dict.fromkeys(clean))




def organization_set_domains(*, actor, organization, domains: list[str]):
    """Set the organisation's e-mail domains (the organisation's write permission)."""
    from bcrm.accounts.permissions import require_organization_write

    require_organization_write(actor, organization)
    organization.email_domains = organization_domains_valid(domains)
    organization.save(update_fields=["email_domains", "updated_at"])
    return organization
