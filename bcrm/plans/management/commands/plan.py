"""`bcrm plan list …` and `bcrm plan pdf …`: financing plans from the command line."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from bcrm.accounts.permissions import SystemOperator
from bcrm.accounts.services import user_get_by_username
from bcrm.core.commands import command_error, write_output
from bcrm.core.errors import ServiceError
from bcrm.plans import selectors
from bcrm.plans.models import PlanStatus
from bcrm.plans.render import LANGUAGES, plan_pdf


class Command(BaseCommand):
    help = "List financing plans, or write a plan's proposal as PDF."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="plans, most recently changed first")
        listing.add_argument("--client", type=int, metavar="ID", help="only this client's plans")
        listing.add_argument("--project", type=int, metavar="ID", help="only plans on this project")
        listing.add_argument("--status", choices=PlanStatus.values)
        listing.add_argument("--limit", type=int, default=200)
        listing.add_argument("--as", dest="as_user", metavar="USER",
                             help="act as this user, with their permissions (default: the operator, unrestricted)")
        listing.add_argument("--json", dest="as_json", action="store_true", help="print the plans as JSON")
        pdf = sub.add_parser("pdf", help="the plan's proposal document (current version) as PDF")
        pdf.add_argument("plan_id", type=int, metavar="PLAN_ID")
        pdf.add_argument("out", metavar="OUT", help="the PDF file to write")
        pdf.add_argument("--language", choices=LANGUAGES, default="en")
        pdf.add_argument("--as", dest="as_user", metavar="USER")

    def handle(self, *args, action, **options):
        try:
            actor = user_get_by_username(options["as_user"]) if options.get("as_user") else SystemOperator()
            if action == "list":
                self.list(actor, **options)
            else:
                self.pdf(actor, **options)
        except ServiceError as exc:
            raise command_error(exc) from exc

    def list(self, actor, *, client, project, status, limit, as_json, **options):
        plans = list(selectors.plan_list(actor=actor, filters={"organization": client, "project": project,
                                                               "status": status})[:limit])
        rows = [selectors.plan_as_dict(plan) for plan in plans]
        if as_json:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not rows:
            self.stdout.write("No plans.")
            return
        for row in rows:
            terms = row["terms"]
            self.stdout.write(
                f"{row['id']:>6}  {row['status']:<16} v{row['current_version']:<3} {row['organization'][:30]:<30}  "
                f"{row['project'][:30]:<30} {row['tranche'][:12]:<12} {terms['instrument']:<12} "
                f"{terms['amount']:>18} {terms['currency']}")

    def pdf(self, actor, *, plan_id, out, language, **options):
        plan = selectors.plan_get_for_user(user=actor, pk=plan_id)
        with translation.override(language):
            data = plan_pdf(plan, language)
        if not data:
            raise CommandError("The PDF came out empty.")
        write_output(out, data)
        self.stdout.write(f"Wrote {out} ({len(data)} bytes, plan {plan.pk} v{plan.current_number}, {language}).")
