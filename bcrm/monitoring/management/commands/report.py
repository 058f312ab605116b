"""`bcrm report`: reports from the command line.

    bcrm report progress PROJECT [--period YYYY-MM] [--language en|zh-hans] [--pdf OUT] [--html OUT]
                                 [--send] [--json]

PROJECT is an id, an external id, or a name or local name (exact, any case). Without --pdf, --html,
--send or --json the report's figures are printed. The monitoring reports (kpis, effect, management) are
sub-commands of the same parser (:mod:`bcrm.monitoring.commands`). The command is monitoring's, the
highest of the two apps whose reports it serves (README "Architecture").
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from bcrm.accounts.permissions import SystemOperator
from bcrm.core.commands import command_error, write_output
from bcrm.core.errors import ServiceError
from bcrm.financing.models import Project
from bcrm.monitoring import commands as monitoring_commands
from bcrm.parties.choices import Language
from bcrm.progress import selectors, services
from bcrm.progress.periods import is_period, previous_period
from bcrm.progress.render import render_html, render_pdf

MAX_CANDIDATES = 10


def find_project(text: str) -> Project:
    """By id, external id, or exact name / local name (case-insensitive); CommandError when none or many."""
    text = (text or "").strip()
    if not text:
        raise CommandError("PROJECT is empty: give an id, an external id or a name.")
    if text.isdigit():
        project = Project.objects.filter(pk=int(text)).first()
        if project is not None:
            return project
    project = Project.objects.filter(external_id=text).first()
    if project is not None:
        return project
    matches = list(Project.objects.filter(Q(name__iexact=text) | Q(local_name__iexact=text))
                   .order_by("name", "id")[: MAX_CANDIDATES + 1])
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CommandError(f"No project {text!r}: give its id, external id, name or local name.")
    listed = "\n".join(f"  {p.pk}\t{p.external_id or '-'}\t{p}" for p in matches[:MAX_CANDIDATES])
    more = "\n  …" if len(matches) > MAX_CANDIDATES else ""
    raise CommandError(f"{text!r} names several projects; give the id or external id:\n{listed}{more}")


class Command(BaseCommand):
    help = ("Reports: `report progress PROJECT` (HTML, PDF, e-mail to consenting contacts); `report kpis` "
            "(the KPI snapshot); `report effect` (the dedicated tier's effect); `report management` (the monthly "
            "management report as PDF, optionally e-mailed).")

    def add_arguments(self, parser):
        subparsers = parser.add_subparsers(dest="report", metavar="REPORT", required=True,
                                           parser_class=type(parser))
        progress = subparsers.add_parser("progress", help="a project's monthly progress report",
                                         called_from_command_line=getattr(parser, "called_from_command_line", None))
        progress.add_argument("project", metavar="PROJECT", help="id, external id, name or local name")
        progress.add_argument("--period", help="YYYY-MM; default the previous calendar month")
        progress.add_argument("--language", choices=Language.values, default=Language.EN)
        progress.add_argument("--pdf", metavar="OUT", help="write the PDF here")
        progress.add_argument("--html", metavar="OUT", help="write the HTML here")
        progress.add_argument("--send", action="store_true",
                              help="e-mail it now to every consenting contact of the project's participants")
        progress.add_argument("--json", action="store_true", help="machine-readable output")
        monitoring_commands.add_parsers(subparsers, parser)  # kpis, effect, management

    def handle(self, *args, **options):
        if options["report"] == "progress":
            try:
                return self.progress(options)
            except ServiceError as exc:
                raise command_error(exc) from exc
        if options["report"] in ("kpis", "effect", "management"):
            try:
                return getattr(monitoring_commands, options["report"])(self, options)
            except ServiceError as exc:
                raise command_error(exc) from exc
        raise CommandError(f"unknown report {options['report']!r}")

    def progress(self, options):
        period = options["period"] or previous_period(timezone.localdate())
        if not is_period(period):
            raise CommandError(f"--period {period!r} is not a month: write YYYY-MM, e.g. 2026-04.")
        language = options["language"]
        project = find_project(options["project"])
        report = selectors.progress_report(project, period, language)
        out: dict = {"project_id": project.pk, "period": period, "language": language}
        if options["html"]:
            write_output(options["html"], render_html(report, language).encode("utf-8"))
            out["html"] = options["html"]
        if options["pdf"]:
            write_output(options["pdf"], render_pdf(report, language))
            out["pdf"] = options["pdf"]
        if options["send"]:
            result = services.report_send(actor=SystemOperator(), project=project, period=period)
            out["send"] = result.as_dict()
        if options["json"]:
            out["report"] = report.as_dict()
            self.stdout.write(json.dumps(out, ensure_ascii=False, indent=2, default=str))
            return
        self.print_report(report)
        for kind in ("html", "pdf"):
            if kind in out:
                self.stdout.write(f"wrote {kind.upper()} to {out[kind]}")
        if "send" in out:
            s = out["send"]
            sent = s["sent"] or {}
            self.stdout.write(
                f"queued {s['created']}, already queued {s['already_queued']}, skipped {s['skipped_no_consent']} "
                f"without consent and {s['skipped_no_email']} without e-mail; e-mailed {sent.get('sent', 0)}, "
                f"retrying {sent.get('retrying', 0)}, failed {sent.get('failed', 0)}")

    def print_report(self, report) -> None:
        p, f = report.project, report.financing
        self.stdout.write(f"{p} — progress report {report.period} (as of {report.as_of})")
        self.stdout.write(f"  stage {p.get_stage_display()}, expected close {p.expected_close or '—'}")
        share = "—" if f.committed_percent is None else f"{f.committed_percent}%"
        self.stdout.write(f"  committed {f.committed:,.2f} of {f.target:,.2f} {f.currency} ({share})")
        for row in f.ladder:
            if row.count:
                self.stdout.write(f"    {row.label:<20} {row.count:>4}  {row.amount:>18,.2f}")
        counts = report.milestone_counts
        self.stdout.write(f"  milestones: {counts['done']} done, {counts['due']} due, {counts['overdue']} overdue")
        self.stdout.write(f"  updates this period: {len(report.updates)}")
