"""``bcrm analyse bgbb FILE``: the discrete-time BG/BB model on any file of (x, t_x, n) histories.

A thin door onto :mod:`bcrm.stats.bgbb`: reads one row per client (or per history, with a count in a
weights column, as published data are compressed), fits the model, prints the parameters with standard
errors and the log-likelihood, and the probability of being alive and the expected transactions over the
next opportunities per row (``--out``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bcrm.fileanalysis.csvread import CsvError, Table, add_reading_arguments, find_column, read_table
from bcrm.fileanalysis.jsonable import clean as _clean
from bcrm.stats import ModelError, bgbb

HELP = "Fit the discrete-time BG/BB model (repeat business at fixed opportunities) to a file of histories."
DESCRIPTION = """\
For clients who can transact only at fixed opportunities (an annual bond programme, a yearly fund close),
fit the beta-geometric/beta-binomial model (Fader, Hardie & Shang 2010) and predict per history the
probability of still being active and the expected transactions over the next --horizon opportunities.

One row per client, or per history with --weights naming a column of counts:
    frequency (or x)     opportunities with a transaction
    recency   (or t_x)   the last opportunity with a transaction (0 when none)
    periods   (or n)     opportunities observed
    --weights COLUMN     optional: how many clients have that history
Exit status: 0 done, 1 bad arguments, file or data, 2 a cell that cannot be read (its line is named).
"""

COLUMNS = {"frequency": ("frequency", "x"), "recency": ("recency", "t_x", "tx"), "periods": ("periods", "n")}


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("file", help=_("CSV file (UTF-8, GB18030, Big5, Shift-JIS or EUC-KR; delimiter detected)"))
    parser.add_argument("--weights", default=None, metavar="COLUMN",
                        help=_("a column holding how many clients have each row's history"))
    parser.add_argument("--horizon", type=int, default=5, metavar="OPPORTUNITIES",
                        help=_("opportunities ahead for the expected transactions (default 5)"))
    parser.add_argument("--out", default=None, metavar="PRED.csv", help=_("write per-row predictions to this CSV file"))
    add_reading_arguments(parser, dates=False)
    parser.add_argument("--json", action="store_true", help=_("print one JSON document"))


def run(path: str, *, weights: str | None = None, horizon: int = 5, out: str | None = None,
        decimal: str | None = None) -> dict[str, Any]:
    """The report ``bcrm analyse bgbb --json`` prints: the one function the CLI, the API and the page call.
    Bad options, file or data → :class:`CommandError` (its message is for the user)."""
    if horizon < 0:
        raise CommandError(_("--horizon must be a whole number of opportunities, 0 or more."))
    resolved: dict[str, str] = {}

    def choose(header: list[str]) -> dict[str, str]:
        resolved.clear()
        for name, spellings in COLUMNS.items():
            column = next((c for c in (find_column(header, s) for s in spellings) if c), None)
            if column is None:
                raise CsvError(_("The file has no column for %(names)s (columns: %(columns)s).")
                               % {"names": name, "columns": ", ".join(header[:30])})
            resolved[name] = column
        if weights:
            column = find_column(header, weights)
            if column is None:
                raise CsvError(_("No column %(name)s in the header; the columns are: %(columns)s")
                               % {"name": repr(weights), "columns": ", ".join(header[:30])})
            resolved["weights"] = column
        return dict.fromkeys(resolved.values(), "number")

    try:
        table = read_table(path, choose, header=True, decimal=decimal)
    except CsvError as exc:
        raise CommandError(str(exc), returncode=exc.returncode) from exc
    data = {name: np.asarray(table.columns[column], dtype=np.float64) for name, column in resolved.items()}
    keep = np.ones(table.rows, dtype=bool)
    for values in data.values():
        keep &= ~np.isnan(values)
    if not keep.any():
        raise CommandError(_("No row has every needed value (%(rows)d rows read).") % {"rows": table.rows})
    x, tx, n = data["frequency"][keep], data["recency"][keep], data["periods"][keep]
    w = data["weights"][keep] if "weights" in data else None
    try:
        fit = bgbb.fit_bgbb(x, tx, n, weights=w)
        alive = fit.p_alive(x, tx, n)
        expected = fit.expected_transactions(horizon, x, tx, n)
    except ModelError as exc:
        message = _(exc.template) % exc.params
        row = exc.params.get("row")
        if isinstance(row, int) and 1 <= row <= int(keep.sum()):
            message += " " + _("(Row %(row)d is line %(line)d of the file.)") % {
                "row": row, "line": int(table.lines[keep][row - 1])}
        raise CommandError(message) from exc
    counts = w if w is not None else np.ones(x.size)
    report: dict[str, Any] = {
        "file": str(path), "columns": resolved, "rows": table.rows, "skipped": int((~keep).sum()),
        "bgbb": fit.as_dict(), "horizon_opportunities": horizon,
        "totals": {"customers": float(counts.sum()),
                   "expected_transactions": float(np.dot(counts, expected)),
                   "mean_p_alive": float(np.dot(counts, alive) / counts.sum()),
                   "new_customer_expected_transactions": bgbb.expected_transactions_unconditional(fit, horizon)},
        "warnings": list(table.warnings),
    }
    if out:
        _write(out, table, keep, resolved, data, alive, expected)
        report["out"] = out
    return _clean(report)


def handle(command: BaseCommand, options: dict[str, Any]) -> None:
    """Run ``bcrm analyse bgbb`` with parsed ``options``; output to ``command.stdout``."""
    report = run(options["file"], weights=options["weights"], horizon=options["horizon"], out=options["out"],
                 decimal=options.get("decimal"))
    if options["json"]:
        command.stdout.write(json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False))
    else:
        command.stdout.write(_render(report))


def _write(out: str, table: Table, keep: np.ndarray, resolved: dict[str, str], data: dict[str, np.ndarray],
           alive: np.ndarray, expected: np.ndarray) -> None:
    names = list(resolved.values()) + ["p_alive", "expected_transactions"]
    columns = [data[name][keep] for name in resolved] + [alive, expected]
    try:
        with Path(out).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for i in range(int(keep.sum())):
                writer.writerow([f"{values[i]:.10g}" for values in columns])
    except OSError as exc:
        raise CommandError(_("Cannot write %(path)s: %(reason)s") % {"path": out, "reason": exc.strerror or str(exc)}) from exc




def _render(report: dict[str, Any]) -> str:
    fit = report["bgbb"]
    lines = [pgettext("bgbb report", "BG/BB fit on %(customers)s customers (%(rows)d rows)")
             % {"customers": f"{report['totals']['customers']:,.0f}", "rows": report["rows"]}]
    for name, value in fit["params"].items():
        se = fit["se"].get(name)
        lines.append(f"  {name:<6} {value:10.4f}" + (f"  (SE {se:.4f})" if se is not None else ""))
    lines.append(pgettext("bgbb report", "Log-likelihood: %(ll).2f") % {"ll": fit["log_likelihood"]})
    totals = report["totals"]
    lines.append(pgettext("bgbb report", "Expected transactions in the next %(h)d opportunities: %(total).1f; "
                                         "mean P(alive) %(alive).3f")
                 % {"h": report["horizon_opportunities"], "total": totals["expected_transactions"],
                    "alive": totals["mean_p_alive"]})
    for warning in report["warnings"]:
        lines.append(f"{pgettext('bgbb report', 'Warning')}: {warning}")
    if report.get("out"):
        lines.append(pgettext("bgbb report", "Predictions written to %(path)s") % {"path": report["out"]})
    return "\n".join(lines) + "\n"
