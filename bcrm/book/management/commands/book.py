"""`bcrm book`: show a tranche's book, preview or commit its allocation."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from bcrm.accounts.permissions import SystemOperator
from bcrm.book import output, selectors, services
from bcrm.book.models import AllocationPolicy
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.core.formatting import money
from bcrm.dataio.cli import resolve_actor


class Command(BaseCommand):
    help = ("The syndication book of a project's tranche: `show` prints target, totals per ladder step and "
            "coverage; `allocate` allocates an oversubscribed book (or previews it with --dry-run).")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="target, totals per ladder step, coverage")
        show.add_argument("project", type=int)
        show.add_argument("--tranche", default=None, help="the tranche (omit when the project has one book)")
        show.add_argument("--history", action="store_true", help="add how coverage built up")
        show.add_argument("--json", action="store_true")
        show.add_argument("--as", dest="as_user", default=None, help="read as USER (default: the operator)")
        allocate = sub.add_parser("allocate", help="allocate an oversubscribed book")
        allocate.add_argument("project", type=int)
        allocate.add_argument("--tranche", default=None)
        allocate.add_argument("--policy", required=True, choices=["pro_rata", "priority"])
        allocate.add_argument("--dry-run", action="store_true", help="preview: change nothing")
        allocate.add_argument("--json", action="store_true")
        allocate.add_argument("--as", dest="as_user", default=None,
                              help="act as USER, with their permissions (default: the operator)")

    def handle(self, *args, action, **options):
        actor = resolve_actor(options.get("as_user")) or SystemOperator()
        try:
            getattr(self, f"do_{action}")(actor=actor, **options)
        except ServiceError as exc:
            raise command_error(exc) from exc

    def do_show(self, *, actor, project: int, tranche, history: bool, json: bool, **options):
        book = selectors.book_get(actor=actor, project_id=project, tranche=tranche)
        summary = selectors.book_summary(actor=actor, book=book)
        points = selectors.book_history(actor=actor, book=book) if history else None
        if json:
            self.stdout.write(_dumps(output.book_data(summary, points)))
            return
        cur = summary["currency"]
        self.stdout.write(f"{book.project.name} · tranche {book.tranche or '—'}: target {money(summary['target'])} {cur}")
        for row in summary["steps"]:
            self.stdout.write(f"  {row['status']:<16} {row['count']:>5}  {money(row['amount']):>20} {cur}")
        self.stdout.write(f"firm {money(summary['firm'])} {cur}, soft {money(summary['soft'])} {cur}; "
                          f"coverage firm {summary['firm_coverage']:.2f}x, firm + soft {summary['coverage']:.2f}x"
                          + (" (oversubscribed)" if summary["oversubscribed"] else ""))
        for point in points or []:
            self.stdout.write(f"  {point['date']}  firm {point['firm_coverage']:.2f}x  firm + soft {point['coverage']:.2f}x")

    def do_allocate(self, *, actor, project: int, tranche, policy: str, dry_run: bool, json: bool, **options):
        book = selectors.book_get(actor=actor, project_id=project, tranche=tranche)
        policy = str(AllocationPolicy(policy).value)
        if dry_run:
            result = services.allocation_preview(actor=actor, book=book, policy=policy)
            data = output.allocation_data(result, committed=False)
        else:
            record, result = services.allocation_commit(actor=actor, book=book, policy=policy)
            data = output.allocation_data(result, committed=True, allocation_id=record.pk)
        if json:
            self.stdout.write(_dumps(data))
            return
        cur = result["currency"]
        for line in result["lines"]:
            self.stdout.write(f"  #{line['participation_id']:<8} {line['organization'][:40]:<40} "
                              f"ask {money(line['ask']):>18}  allocated {money(line['amount']):>18} {cur}")
        verb = "Would allocate" if dry_run else "Allocated"
        self.stdout.write(f"{verb} {money(result['allocated'])} of {money(result['target'])} {cur} "
                          f"(firm demand {money(result['demand'])} {cur}, policy {policy}).")


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
