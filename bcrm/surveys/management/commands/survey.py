"""`bcrm survey send …` and `bcrm survey list …`: satisfaction surveys from the command line."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from bcrm.accounts.permissions import can_view_organization
from bcrm.accounts.services import user_get_by_username
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.financing.models import Project
from bcrm.parties.models import Contact, Organization
from bcrm.surveys import selectors, services
from bcrm.surveys.models import InvitationStatus


def _by_id_or_external_id(model, value: str, what: str):
    query = Q(external_id=value)
    if value.isdigit():
        query |= Q(pk=int(value))
    rows = list(model.objects.filter(query)[:2])
    if not rows:
        raise CommandError(f"No {what} with id or external id {value!r}.")
    if len(rows) > 1:
        raise CommandError(f"{value!r} is the id of one {what} and the external id of another; "
                           f"use the external id of the one you mean.")
    return rows[0]


class Command(BaseCommand):
    help = "Send satisfaction survey invitations by e-mail, or list them."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        send = sub.add_parser("send", help="invite contacts and e-mail them their personal link")
        send.add_argument("--organization", action="append", default=[], metavar="ID|EXTERNAL_ID",
                          help="every contact of this client (repeat for several)")
        send.add_argument("--project", action="append", default=[], metavar="ID|EXTERNAL_ID",
                          help="the survey is about this project; alone, every contact of the clients taking "
                               "part in it is invited (repeat for several projects)")
        send.add_argument("--contact", action="append", default=[], type=int, metavar="ID",
                          help="this contact (repeat for several)")
        send.add_argument("--expires-days", type=int, default=services.DEFAULT_EXPIRY_DAYS,
                          help=f"days the link stays open (default {services.DEFAULT_EXPIRY_DAYS})")
        send.add_argument("--dry-run", action="store_true", help="say who would be invited; write and send nothing")
        send.add_argument("--as", dest="as_user", metavar="USER",
                          help="act as this user, with their permissions (default: the operator, unrestricted)")
        send.add_argument("--json", dest="as_json", action="store_true", help="print the result as JSON")
        listing = sub.add_parser("list", help="list invitations, newest first")
        listing.add_argument("--status", choices=InvitationStatus.values)
        listing.add_argument("--organization", metavar="ID|EXTERNAL_ID")
        listing.add_argument("--project", metavar="ID|EXTERNAL_ID")
        listing.add_argument("--limit", type=int, default=100)
        listing.add_argument("--as", dest="as_user", metavar="USER")
        listing.add_argument("--json", dest="as_json", action="store_true")

    def handle(self, *args, action, **options):
        try:
            actor = user_get_by_username(options["as_user"]) if options.get("as_user") else None
            if action == "send":
                self.send(actor, **options)
            else:
                self.list(actor, **options)
        except ServiceError as exc:
            raise command_error(exc) from exc

    # send ----------------------------------------------------------------------------------------------

    def _batches(self, actor, options) -> list[tuple[Project | None, list[Organization], list[Contact]]]:
        organizations = [_by_id_or_external_id(Organization, v, "organisation") for v in options["organization"]]
        projects = [_by_id_or_external_id(Project, v, "project") for v in options["project"]]
        contacts = []
        for pk in options["contact"]:
            contact = Contact.objects.select_related("organization").filter(pk=pk).first()
            if contact is None:
                raise CommandError(f"No contact with id {pk}.")
            contacts.append(contact)
        if actor is not None:
            for organization in [*organizations, *(c.organization for c in contacts)]:
                if not can_view_organization(actor, organization):
                    raise CommandError(f"{actor.get_username()} may not see {organization}: no such client for them.")
        if not (organizations or projects or contacts):
            raise CommandError("Name whom to invite: --organization, --project or --contact.")
        if organizations or contacts:
            if len(projects) > 1:
                raise CommandError("With --organization or --contact, name at most one --project "
                                   "(the project the survey is about).")
            return [(projects[0] if projects else None, organizations, contacts)]
        return [(project, [], []) for project in projects]

    def send(self, actor, *, expires_days, dry_run, as_json: bool, **options):
        report: dict[str, list] = {"invited": [], "skipped": [], "failed": []}
        for project, organizations, contacts in self._batches(actor, options):
            recipients = selectors.survey_recipients(actor=actor, organizations=organizations, contacts=contacts,
                                                     project=project)
            if not recipients:
                where = f"project {project}" if project and not (organizations or contacts) else "the clients named"
                self.stderr.write(f"No contacts to invite in {where}.")
                continue
            result = services.survey_invite_and_send(actor=actor, contacts=recipients, project=project,
                                                     expires_in_days=expires_days, dry_run=dry_run)
            for inv in result.invitations:
                row = {
                    "invitation": inv.pk, "contact": inv.contact_id, "name": inv.contact.full_name,
                    "email": inv.contact.email, "organization": inv.organization.legal_name,
                    "project": project.name if project else None, "language": inv.language,
                    "expires_at": inv.expires_at.isoformat(),
                }
                outcome = result.outcome_of(inv)
                if outcome is not None and not outcome.sent:
                    report["failed"].append({**row, "error": outcome.error})
                else:
                    report["invited"].append(row)
            for skip in result.skipped:
                report["skipped"].append({
                    "contact": skip.contact.pk, "name": skip.contact.full_name,
                    "organization": skip.contact.organization.legal_name, "reason_code": skip.code,
                    "reason": skip.reason,
                })
        if as_json:
            self.stdout.write(_dumps({"dry_run": dry_run, **report}))
        else:
            verb = "would invite" if dry_run else "invited"
            for row in report["invited"]:
                self.stdout.write(f"{verb}\t{row['name']} <{row['email']}>\t{row['organization']}\t{row['language']}")
            for row in report["skipped"]:
                self.stdout.write(f"skipped\t{row['name']}\t{row['organization']}\t{row['reason']}")
            for row in report["failed"]:
                self.stdout.write(f"FAILED\t{row['name']} <{row['email']}>\t{row['organization']}\t{row['error']}")
            self.stdout.write(f"{len(report['invited'])} {verb}, {len(report['skipped'])} skipped, "
                              f"{len(report['failed'])} failed.")
        if report["failed"]:
            raise CommandError(f"{len(report['failed'])} invitation(s) could not be sent; "
                               "`bcrm survey list --status pending` shows them; the worker retries them, "
                               "and so does a new send.")

    # list ----------------------------------------------------------------------------------------------

    def list(self, actor, *, status, limit, as_json: bool, **options):
        filters: dict = {"status": status}
        if options.get("organization"):
            filters["organization"] = _by_id_or_external_id(Organization, options["organization"], "organisation").pk
        if options.get("project"):
            filters["project"] = _by_id_or_external_id(Project, options["project"], "project").pk
        rows = list(selectors.invitation_list(actor=actor, filters=filters)[: max(1, limit)])
        if as_json:
            self.stdout.write(_dumps([{
                "id": inv.pk, "contact": inv.contact_id, "name": inv.contact.full_name, "email": inv.contact.email,
                "organization": inv.organization.legal_name, "project": inv.project.name if inv.project else None,
                "language": inv.language, "status": inv.status,
                "sent_at": inv.sent_at.isoformat() if inv.sent_at else None,
                "expires_at": inv.expires_at.isoformat(), "used_at": inv.used_at.isoformat() if inv.used_at else None,
                "nps": inv.response.nps if inv.response else None, "csat": inv.response.csat if inv.response else None,
                "send_error": inv.send_error,
            } for inv in rows]))
            return
        for inv in rows:
            answer = f"NPS {inv.response.nps} CSAT {inv.response.csat}" if inv.response else ""
            sent = f"{inv.sent_at:%Y-%m-%d}" if inv.sent_at else "-"
            self.stdout.write("\t".join([
                str(inv.pk), inv.status, inv.contact.full_name, inv.organization.legal_name,
                inv.project.name if inv.project else "-", sent, f"{inv.expires_at:%Y-%m-%d}", answer,
            ]).rstrip())


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
