"""`bcrm segment`: classify the portfolio on one dimension (or all three), or compare two runs.

    bcrm segment [--dimension value|risk|relationship] [--as-of DATE] [--method M] [--param k=v ...]
                 [--dry-run] [--full] [--refit-clv] [--json] [--as USER]
    bcrm segment compare RUN_A RUN_B [--json]
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from bcrm.accounts.permissions import SystemOperator
from bcrm.accounts.services import user_get_by_username
from bcrm.core.commands import command_error
from bcrm.core.errors import ServiceError
from bcrm.segmentation.choices import Dimension, label_display


def parse_param(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise CommandError(f"--param takes name=value, not {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


class Command(BaseCommand):
    help = "Classify every client on a dimension (dry run: report only), or `segment compare A B`."

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="*", help="empty to run; `compare RUN_A RUN_B` for a migration matrix")
        parser.add_argument("--dimension", choices=Dimension.values, action="append",
                            help="repeat for several; default all three")
        parser.add_argument("--as-of", type=dt.date.fromisoformat, help="YYYY-MM-DD; default today")
        parser.add_argument("--method", help="try another split method than the criterion's")
        parser.add_argument("--param", action="append", default=[], type=parse_param, metavar="NAME=VALUE")
        parser.add_argument("--dry-run", action="store_true", help="compute and report, write nothing")
        parser.add_argument("--full", action="store_true",
                            help="recompute every client's features (default: only the clients that changed)")
        parser.add_argument("--refit-clv", action="store_true",
                            help="fit the lifetime-value model anew (default: the kept model, refitted every "
                                 "BCRM_CLV_REFIT_DAYS days)")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--as", dest="as_user", help="act as this user (default: the system operator)")

    def handle(self, *args, action, **options):
        actor = None
        if options["as_user"]:
            try:
                actor = user_get_by_username(options["as_user"])
            except ServiceError as exc:
                raise command_error(exc) from exc
        try:
            if action:
                if action[0] != "compare" or len(action) != 3:
                    raise CommandError("usage: bcrm segment compare RUN_A RUN_B")
                return self.compare(actor, action[1], action[2], options["json"])
            return self.run(actor, options)
        except ServiceError as exc:
            raise command_error(exc) from exc

    def run(self, actor, options):
        from bcrm.segmentation.services import run_segmentation

        dimensions = options["dimension"] or list(Dimension.values)
        params = dict(options["param"]) if options["param"] else None
        if params is not None and len(dimensions) > 1 and not options["method"]:
            raise CommandError("--param needs --method, or a single --dimension")
        reports = []
        for dimension in dimensions:
            report = run_segmentation(actor=actor, dimension=dimension, as_of=options["as_of"],
                                      method=options["method"], params=params, dry_run=options["dry_run"],
                                      full=options["full"], refit_clv=options["refit_clv"])
            data = report.as_dict()
            reports.append(data)
            if not options["json"]:
                self.print_report(data)
        if options["json"]:
            out = reports[0] if len(reports) == 1 else reports
            self.stdout.write(json.dumps(out, ensure_ascii=False, indent=2, default=str))

    def print_report(self, data):
        dim = data["dimension"]
        head = "DRY RUN " if data["dry_run"] else f"run {data['run_id']} "
        threshold = "—" if data["threshold"] is None else f"{data['threshold']:.4f}"
        self.stdout.write(f"{head}{dim} (criterion v{data['criterion_version']}, as of {data['as_of']}): "
                          f"method {data['method']} {data['params'] or ''} threshold {threshold}")
        counts = data["counts"]
        for code, n in counts.items():
            if code in ("total", "overridden"):
                continue
            self.stdout.write(f"  {label_display(dim, code):<24} {n:>9,}")
        self.stdout.write(f"  {'overridden':<24} {counts['overridden']:>9,}   total {counts['total']:,}")
        share = data["diagnostics"].get("portfolio_value_share_upper")
        if share is not None:
            self.stdout.write(f"  portfolio value in the upper class: {share * 100:.1f}%")
        moved = data["moved"]
        self.stdout.write(f"  moved up {moved['up']['count']:,}, down {moved['down']['count']:,}, "
                          f"to insufficient {moved['to_insufficient']['count']:,}; {data['duration_ms']:,} ms")
        self.stdout.write(f"  features: {data['mode']}, {data['recomputed']:,} clients recomputed")
        model = data["clv_model"]
        if model:
            params = ", ".join(f"{k} {v:.4g}" for k, v in model["params"].items())
            self.stdout.write(f"  lifetime-value model #{model['id']} fitted as of {model['as_of']} ({params})")
        if data["comparison"]:
            self.stdout.write("  method comparison: " + "; ".join(
                f"{c['method']} {'—' if c['threshold'] is None else format(c['threshold'], '.3f')} "
                f"({c['n_upper']} up)" for c in data["comparison"]))
        sys.stdout.flush()

    def compare(self, actor, a, b, as_json):
        from bcrm.segmentation import selectors

        try:
            run_a = selectors.run_get(actor=actor or SystemOperator(), pk=int(a))
            run_b = selectors.run_get(actor=actor or SystemOperator(), pk=int(b))
        except ValueError:
            raise CommandError("run ids are numbers") from None
        result = selectors.migration_matrix(actor=actor or SystemOperator(), run_a=run_a, run_b=run_b)
        if as_json:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
            return
        names = result["label_names"]
        width = max(len(n) for n in names) + 2
        self.stdout.write(f"{result['dimension']}: run {run_a.pk} (rows) → run {run_b.pk} (columns); "
                          f"{result['moved']:,} of {result['total']:,} moved")
        self.stdout.write(" " * width + "".join(f"{n:>{width}}" for n in names))
        for name, row in zip(names, result["matrix"], strict=True):
            self.stdout.write(f"{name:<{width}}" + "".join(f"{v:>{width},}" for v in row))
