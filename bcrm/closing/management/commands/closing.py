"""`bcrm closing show PROJECT`: a project's closing checklist and its readiness."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from bcrm.accounts.permissions import SystemOperator
from bcrm.accounts.services import user_get_by_username
from bcrm.closing import selectors
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.financing.models import Project


def _project_id(value: str) -> int:
    query = Q(external_id=value)
    if value.isdigit():
        query |= Q(pk=int(value))
    ids = list(Project.objects.filter(query).values_list("pk", flat=True)[:2])
    if not ids:
        raise CommandError(f"No project with id or external id {value!r}.")
    if len(ids) > 1:
        raise CommandError(f"{value!r} is the id of one project and the external id of another; use the external id.")
    return ids[0]


class Command(BaseCommand):
    help = "Show a project's closing checklist (conditions precedent) and its readiness."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="items, their status and owners, and readiness")
        show.add_argument("project", metavar="PROJECT", help="id or external id")
        show.add_argument("--as", dest="as_user", metavar="USER")
        show.add_argument("--json", dest="as_json", action="store_true")

    def handle(self, *args, action, project, as_json=False, **options):
        try:
            actor = user_get_by_username(options["as_user"]) if options.get("as_user") else SystemOperator()
            found, checklist = selectors.project_closing(user=actor, pk=_project_id(project))
        except ServiceError as exc:
            raise command_error(exc) from exc
        data = selectors.checklist_as_dict(found, checklist, today=timezone.localdate())
        if as_json:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
            return
        if not data["exists"]:
            self.stdout.write(f"{found.name}: no closing checklist yet.")
            return
        state = data["readiness"]
        self.stdout.write(f"{found.name}: {state['percent']}% satisfied or waived ({state['satisfied']} satisfied, "
                          f"{state['waived']} waived, {state['submitted']} submitted, {state['open']} open), "
                          f"{state['overdue']} overdue, {state['blocking']} blocking close"
                          + (f"; signed off {data['signed_off_at']}" if data["signed_off_at"] else "") + ".")
        for item in data["items"]:
            due = item["due_on"] or "—"
            flag = " OVERDUE" if item["overdue"] else ""
            self.stdout.write(f"{item['id']:>6}  {item['status']:<10} {due:<10} {item['category']:<12} "
                              f"{item['title']}{flag}")
