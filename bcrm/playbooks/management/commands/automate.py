"""`bcrm automate`: one pass of the automation engine (also run daily by `bcrm worker`).

    bcrm automate [--as-of YYYY-MM-DD] [--dry-run] [--full] [--json] [--as USER]
"""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from bcrm.accounts.permissions import SystemOperator
from bcrm.accounts.services import user_get_by_username
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--as-of takes a date as YYYY-MM-DD, not {text!r}") from None


class Command(BaseCommand):
    help = ("Turn the playbooks into tasks: tiers from labels, due steps, capacity-aware assignment, SLA "
            "escalations, automated progress reports. Running it again creates nothing twice.")

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="YYYY-MM-DD: run as of the close of that working day (default now)")
        parser.add_argument("--dry-run", action="store_true", help="compute everything, write nothing")
        parser.add_argument("--full", action="store_true",
                            help="examine every client (default: those due or changed since the last run)")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--as", dest="as_user", help="act as this user (default: the system operator)")

    def handle(self, *args, **options):
        from bcrm.playbooks.automation import as_of_moment, run_automation

        actor = SystemOperator()
        try:
            if options["as_user"]:
                actor = user_get_by_username(options["as_user"])
            as_of = as_of_moment(parse_date(options["as_of"])) if options["as_of"] else None
            report = run_automation(actor=actor, as_of=as_of, dry_run=options["dry_run"], trigger="cli",
                                    full=options["full"])
        except ServiceError as exc:
            raise command_error(exc) from exc
        except CommandError:
            raise
        except Exception as exc:  # recorded on the run; the command fails visibly
            raise CommandError(f"The automation failed and changed nothing: {exc}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str))
            return
        c = report.counts
        head = "Dry run (nothing written)" if report.run is None else f"Automation run #{report.run.pk}"
        self.stdout.write(f"{head} as of {report.as_of:%Y-%m-%d %H:%M %Z}, policy v{report.policy_version}, "
                          f"{report.duration_ms:,} ms, {report.mode} run, {report.examined:,} clients examined")
        tiers = c.get("tiers", {})
        self.stdout.write(f"  clients            {c.get('clients', 0):>10,}   dedicated {tiers.get('dedicated', 0):,}, "
                          f"standard {tiers.get('standard', 0):,}; tiers changed {c.get('tiers_changed', 0):,}")
        due = c.get("due", {})
        created = c.get("created", {})
        self.stdout.write(f"  steps due          {sum(due.values()):>10,}   "
                          + ", ".join(f"{k} {v:,}" for k, v in sorted(due.items())))
        self.stdout.write(f"  tasks created      {sum(created.values()):>10,}   "
                          + ", ".join(f"{k} {v:,}" for k, v in sorted(created.items())))
        self.stdout.write(f"  assigned           {c.get('assigned', 0):>10,}   overflow (no capacity) "
                          f"{c.get('overflow', 0):,}")
        self.stdout.write(f"  fulfilled & closed {c.get('fulfilled', 0):>10,}")
        self.stdout.write(f"  SLA breaches       {c.get('breaches', 0):>10,}   due dates set {c.get('sla_stamped', 0):,}")
        self.stdout.write(f"  reports queued     {c.get('deliveries_queued', 0):>10,}   "
                          f"period {c.get('report_period', '—')}")
        for item in report.overflow:
            self.stdout.write(f"  overflow: {item['team']}: {item['tasks']:,} tasks, {item['hours']} h → "
                              f"reported to {len(item['leads'])} lead(s)")
