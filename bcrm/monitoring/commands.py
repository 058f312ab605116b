"""`bcrm report kpis` and `bcrm report effect`: the sub-commands the monitoring app adds to `bcrm report`.

    bcrm report kpis [--period YYYY-MM] [--breakdown tier|value|risk|relationship] [--team ID] [--json]
                     [--recompute] [--xlsx OUT]
    bcrm report effect [--dimension value|risk|relationship] [--outcome nps|csat|commitments_after] [--run ID]
                       [--json]
    bcrm report management [--period YYYY-MM] [--language en|zh-hans] [--pdf OUT] [--html OUT] [--send]
                           [--to ADDRESS ...] [--json]

They act as the system operator (whoever runs `bcrm` holds the database). `kpis` prints the stored snapshot;
it computes the period's snapshot first when none is stored yet, or when asked with --recompute.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from bcrm.accounts.permissions import SystemOperator
from bcrm.core.commands import write_output
from bcrm.progress.periods import previous_period


def add_parsers(subparsers, parser) -> None:
    called = getattr(parser, "called_from_command_line", None)
    kpis = subparsers.add_parser("kpis", help="the month's KPI snapshot by class or tier",
                                 called_from_command_line=called)
    kpis.add_argument("--period", help="YYYY-MM; default the previous calendar month")
    kpis.add_argument("--breakdown", default="tier", help="tier (default), value, risk or relationship")
    kpis.add_argument("--team", help="a team id; default all teams")
    kpis.add_argument("--json", action="store_true", help="machine-readable output")
    kpis.add_argument("--recompute", action="store_true", help="compute the period's snapshot again first")
    kpis.add_argument("--xlsx", metavar="OUT", help="write every breakdown to this XLSX file")
    effect = subparsers.add_parser("effect", help="the dedicated tier's effect at a dimension's line",
                                   called_from_command_line=called)
    effect.add_argument("--dimension", default="value", help="value (default), risk or relationship")
    effect.add_argument("--outcome", default="nps", help="nps (default), csat or commitments_after")
    effect.add_argument("--run", type=int, help="the run whose line to use; default the latest run at least 30 days "
                                                "old (outcomes need time), else the latest")
    effect.add_argument("--json", action="store_true", help="machine-readable output")
    management = subparsers.add_parser("management", help="the month's management report (PDF, e-mail)",
                                       called_from_command_line=called)
    management.add_argument("--period", help="YYYY-MM; default the previous calendar month")
    management.add_argument("--language", default="en", help="en (default) or zh-hans, for --pdf and --html")
    management.add_argument("--pdf", metavar="OUT", help="write the PDF here")
    management.add_argument("--html", metavar="OUT", help="write the HTML here")
    management.add_argument("--send", action="store_true",
                            help="e-mail it now (a PDF in English and one in Chinese) to the active team leads "
                                 "and administrators, or to --to")
    management.add_argument("--to", action="append", metavar="ADDRESS", help="send to this address (repeatable)")
    management.add_argument("--json", action="store_true", help="machine-readable output")


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _num(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def kpis(command, options: dict[str, Any]) -> None:
    from bcrm.monitoring import selectors, services

    actor = SystemOperator()
    period = options["period"] or previous_period(timezone.localdate())
    data = selectors.kpis(actor, period, options["breakdown"], options["team"])
    computed = None
    if options["recompute"] or data["computed_at"] is None:
        computed = services.compute_snapshot(actor=None, period=period)
        data = selectors.kpis(actor, period, options["breakdown"], options["team"])
    if options["xlsx"]:
        from bcrm.monitoring.exports import kpis_workbook

        write_output(options["xlsx"], kpis_workbook(actor, period, options["team"]))
    if options["json"]:
        out = dict(data)
        if computed is not None:
            out["computed_run"] = {"id": computed.pk, "duration_ms": computed.duration_ms, "rows": computed.rows}
        if options["xlsx"]:
            out["xlsx"] = options["xlsx"]
        command.stdout.write(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return
    if computed is not None:
        command.stdout.write(f"computed the {data['period']} snapshot: {computed.rows} rows in "
                             f"{computed.duration_ms} ms")
    team = "all teams" if data["team"] is None else f"team {data['team']}"
    command.stdout.write(f"KPIs {data['period']} by {data['breakdown']}, {team} (computed {data['computed_at']})")
    header = (f"  {'segment':<22}{'clients':>8}{'committed':>18}{'share':>8}{'cadence':>9}{'SLA resp':>9}"
              f"{'SLA res':>9}{'hours':>9}{'h/1M':>9}{'NPS':>7}{'CSAT':>6}{'repeat':>8}{'insuff.':>8}")
    command.stdout.write(header)
    for row in data["rows"]:
        f = row["figures"]
        insufficient = "—" if f["insufficient"] is None else str(f["insufficient"])
        command.stdout.write(
            f"  {row['segment_name'][:21]:<22}{f['clients']:>8}{float(f['committed']):>18,.2f}"
            f"{_pct(f['committed_share']):>8}{_pct(f['cadence']['share']):>9}{_pct(f['sla_response']['share']):>9}"
            f"{_pct(f['sla_resolution']['share']):>9}{f['hours']:>9.1f}{_num(f['hours_per_million'], 2):>9}"
            f"{_num(f['nps']['nps'], 0):>7}{_num(f['csat']['mean'], 2):>6}{_pct(f['repeat']['share']):>8}"
            f"{insufficient:>8}")
    if data["rows"]:
        command.stdout.write(f"  amounts in {data['rows'][0]['figures']['currency']}")
    if options["xlsx"]:
        command.stdout.write(f"wrote XLSX to {options['xlsx']}")


def effect(command, options: dict[str, Any]) -> None:
    from bcrm.monitoring import services

    result = services.effect_estimate(actor=SystemOperator(), dimension=options["dimension"],
                                      outcome=options["outcome"], run=options.get("run"))
    if options["json"]:
        command.stdout.write(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        return
    est = result["estimate"]
    run = result["run"]
    where = f"run {run['id']} as of {run['as_of']}, line {run['threshold']:.4g}" if run else "no run"
    command.stdout.write(f"Effect of the dedicated tier on {result['outcome']} at the {result['dimension']} line "
                         f"({where})")
    command.stdout.write(f"  verdict: {est['verdict']}  ({est['design']} design, {est['n_used']} clients, "
                         f"{est['n_left']} below / {est['n_right']} above within the bandwidth)")
    if est["effect"] is not None:
        command.stdout.write(f"  effect {est['effect']:.4g}, 95% interval {_num(est['ci_low'], 4)} to "
                             f"{_num(est['ci_high'], 4)}, p = {_num(est['p_value'], 3)}, bandwidth "
                             f"{_num(est['bandwidth'], 4)}")
    for note in est["notes"]:
        command.stdout.write(f"  · {note}")
    pairs = result["before_after"]
    if pairs is not None:
        command.stdout.write(f"Before/after, {pairs['migrated']} clients who moved up since run "
                             f"{result['previous_run']['id']}: verdict {pairs['verdict']}")
        for note in pairs["notes"]:
            command.stdout.write(f"  · {note}")


def management(command, options: dict[str, Any]) -> None:
    from bcrm.monitoring import report, selectors, services

    actor = SystemOperator()
    period = options["period"] or previous_period(timezone.localdate())
    if not options["pdf"] and not options["html"] and not options["send"]:
        raise CommandError("Say what to do: --pdf OUT, --html OUT and/or --send.")
    first, _last = services.parse_kpi_period(period)
    period = f"{first:%Y-%m}"
    computed = None
    if not selectors.has_snapshot(period):
        computed = services.compute_snapshot(actor=None, period=period)
    out: dict[str, Any] = {"period": period}
    if computed is not None:
        out["computed_run"] = {"id": computed.pk, "duration_ms": computed.duration_ms, "rows": computed.rows}
    if options["pdf"] or options["html"]:
        built = report.build(actor, period, options["language"])
        out["language"] = built.language
        if options["html"]:
            write_output(options["html"], report.render_html(built).encode("utf-8"))
            out["html"] = options["html"]
        if options["pdf"]:
            write_output(options["pdf"], report.render_pdf(built))
            out["pdf"] = options["pdf"]
    if options["send"]:
        out["send"] = report.send(actor=None, period=period, recipients=options["to"]).as_dict()
    if options["json"]:
        command.stdout.write(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return
    if computed is not None:
        command.stdout.write(f"computed the {period} snapshot: {computed.rows} rows in {computed.duration_ms} ms")
    for kind in ("html", "pdf"):
        if kind in out:
            command.stdout.write(f"wrote the {period} management report ({out['language']}) as {kind.upper()} to "
                                 f"{out[kind]}")
    if "send" in out:
        sent = out["send"]
        command.stdout.write(f"sent to {len(sent['sent'])}: {', '.join(sent['sent']) or '-'}")
        for address, error in sent["failed"].items():
            command.stdout.write(f"NOT sent to {address}: {error}")
        if sent["failed"]:
            raise CommandError(f"{len(sent['failed'])} address(es) failed; see above.")
