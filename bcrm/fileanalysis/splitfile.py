"""``bcrm analyse split FILE.csv --column C``: where would each split method draw the line through a
column of any CSV file?

The ``split`` subcommand of ``bcrm analyse`` (:func:`add_arguments`, :func:`handle`), a thin door onto
:mod:`bcrm.segmentation.splits`; the CSV file is read by :func:`bcrm.fileanalysis.csvread.read_columns` (any of
UTF-8, UTF-8 with BOM, UTF-16 with BOM or GB18030; the delimiter sniffed; thousands separators accepted;
only the named columns kept in memory).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bcrm.core.formatting import display_width, ljust, rjust
from bcrm.fileanalysis.csvread import (
    ColumnData,
    CsvError,
    add_reading_arguments,
    parse_flag,
    parse_number,
    read_columns,
)
from bcrm.segmentation import splits
from bcrm.segmentation.diagnostics import diagnostic_labels

__all__ = ["ColumnData", "CsvError", "parse_flag", "parse_number", "read_columns", "add_arguments", "handle", "run"]

HELP = "Split a column of scores from a CSV file in two and compare the split methods."
DESCRIPTION = """\
Split a column of scores from any CSV file in two (higher score = upper class) and show where the line
falls, the class sizes and the diagnostics of the split.

methods and their --param:
  fixed             threshold=T   clients scoring T or more
  top_share         q=0.2         the top share q (floor(q x n) clients, ties at the line go below)
  top_k             k=100         the k best (ties at the line go below)
  pareto            p=0.8         the fewest top clients holding share p of the total score
  natural_break                   the least within-class squared error (default)
  capacity          budget=400 cost=2.5 (or --costs COLUMN)   most total score within the hours
  information_gain                needs --outcome COLUMN: the largest entropy reduction

Without --method: natural_break, and a table comparing the methods that need no parameter.
Exit status: 0 done, 1 bad arguments or file, 2 a cell that is not a number (its line is named).
"""
DEFAULT_METHOD = "natural_break"


# --------------------------------------------------------------------------------------------------
# The subcommand


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("file", help=_("CSV file (UTF-8, GB18030, Big5, Shift-JIS or EUC-KR; delimiter detected)"))
    parser.add_argument("--column", required=True, help=_("the column holding the scores (higher = upper class)"))
    parser.add_argument("--method", choices=splits.METHODS, default=None,
                        help=_("split method (default natural_break, compared with every other method)"))
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help=_("a parameter of the method, e.g. q=0.2, k=100, p=0.8, budget=400 (repeatable)"))
    parser.add_argument("--outcome", default=None,
                        help=_("a 0/1 column: the information gain of the split against it is reported"))
    parser.add_argument("--costs", default=None,
                        help=_("a column of hours per client, for the capacity method"))
    add_reading_arguments(parser, dates=False)
    parser.add_argument("--json", action="store_true", help=_("print one JSON document"))


def _params(items: list[str]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(_("--param takes NAME=VALUE, e.g. q=0.2; got %(item)s.") % {"item": repr(item)})
        raw[name.strip()] = value.strip()
    return raw


def _split_error(exc: splits.SplitError) -> CommandError:
    return CommandError(_(exc.template) % exc.params)


def run(path: str, *, column: str, method: str | None = None, param: list[str] | tuple[str, ...] = (),
        outcome: str | None = None, costs: str | None = None, decimal: str | None = None) -> dict[str, Any]:
    """The report ``bcrm analyse split --json`` prints, for the CSV file at ``path``: the one function the
    CLI, the API and the page call. Bad options or file → :class:`CommandError` (its message is for the user)."""
    chosen = method or DEFAULT_METHOD
    try:
        params = splits.parse_params(chosen, _params(list(param)))
    except splits.SplitError as exc:
        raise _split_error(exc) from exc
    try:
        data = read_columns(path, column, outcome=outcome, costs=costs, decimal=decimal)
    except CsvError as exc:
        raise CommandError(str(exc), returncode=exc.returncode) from exc
    if data.scores.size == 0:
        raise CommandError(_("Column %(column)s has no numbers (%(rows)d rows, %(skipped)d skipped as empty).")
                           % {"column": repr(data.column), "rows": data.rows, "skipped": data.skipped})
    try:
        result = splits.split(chosen, data.scores, outcome=data.outcome, costs=data.costs, **params)
        comparison = [] if method else splits.compare_methods(
            data.scores, outcome=data.outcome, costs=data.costs)
    except splits.SplitError as exc:
        raise _split_error(exc) from exc
    report = _report(path, data, chosen, params, result, comparison)
    report["histogram"] = _histogram(data.scores, result.upper)
    return report


def handle(command: BaseCommand, options: dict[str, Any]) -> None:
    """Run ``bcrm analyse split`` with parsed ``options``; output to ``command.stdout``."""
    report = run(options["file"], column=options["column"], method=options["method"], param=options["param"],
                 outcome=options["outcome"], costs=options["costs"], decimal=options.get("decimal"))
    if options["json"]:
        command.stdout.write(json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False))
    else:
        command.stdout.write(_render(report))


def _histogram(scores: Any, upper: Any, bins: int = 30) -> dict[str, Any]:
    """The score distribution by class (30 equal bins): the chart beside the line."""
    scores = np.asarray(scores, dtype=np.float64)
    upper = np.asarray(upper, dtype=bool)
    known = np.isfinite(scores)
    if not known.any():
        return {"edges": [], "upper": [], "lower": []}
    lo, hi = float(scores[known].min()), float(scores[known].max())
    if hi == lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    up, _edges = np.histogram(scores[known & upper], bins=edges)
    low, _edges = np.histogram(scores[known & ~upper], bins=edges)
    return {"edges": [round(float(e), 6) for e in edges], "upper": up.tolist(), "lower": low.tolist()}


def _params_of(result: splits.SplitResult) -> dict[str, Any]:
    declared = splits.PARAMS[result.method]
    return {name: result.diagnostics[name] for name in declared if result.diagnostics.get(name) is not None}


def _report(file: str, data: ColumnData, method: str, params: dict[str, Any], result: splits.SplitResult,
            comparison: list[splits.SplitResult]) -> dict[str, Any]:
    rows = []
    for other in comparison:
        diagnostics = other.diagnostics
        row = {
            "method": other.method, "params": _params_of(other), "threshold": other.threshold,
            "n_upper": diagnostics["n_upper"], "share_upper": diagnostics["share_upper"],
            "value_share_upper": diagnostics["value_share_upper"], "within_ss": diagnostics["within_ss"],
            "between_ss": diagnostics["between_ss"],
        }
        if data.outcome is not None:
            row["information_gain"] = diagnostics.get("information_gain")
        rows.append(row)
    return {
        "file": str(file), "column": data.column, "outcome": data.outcome_column, "costs": data.costs_column,
        "method": method, "params": params, "threshold": result.threshold,
        "counts": {"upper": result.diagnostics["n_upper"], "lower": result.diagnostics["n_lower"],
                   "skipped": data.skipped, "rows": data.rows},
        "diagnostics": result.diagnostics, "comparison": rows,
        "warnings": _warnings(data, result),
    }


def _warnings(data: ColumnData, result: splits.SplitResult) -> list[str]:
    """What the reader decided, and a class left smaller than asked because of ties, in words."""
    warnings = [_("Numbers read with a decimal comma (1,5 is one and a half).")] if data.decimal == "," else []
    d = result.diagnostics
    if d.get("excluded_by_ties"):
        warnings.append(_("%(tied)d clients share the score %(score)s at the line, so all of them stay below it: "
                          "the upper class has %(upper)d of the %(requested)d asked for. Scores that do not "
                          "separate the clients cannot draw this line.")
                        % {"tied": d["tied_at_boundary"], "score": f"{d['boundary_score']:g}",
                           "upper": d["n_upper"], "requested": d["requested"]})
    return warnings


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return pgettext("split report", "yes") if value else pgettext("split report", "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"
    return str(value)


def _share(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _render(report: dict[str, Any]) -> str:
    counts = report["counts"]
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in report["params"].items())
    pairs = [(pgettext("split report", "File"), report["file"]), (pgettext("split report", "Column"), report["column"])]
    if report["outcome"]:
        pairs.append((pgettext("split report", "Outcome"), report["outcome"]))
    pairs += [
        (pgettext("split report", "Method"), report["method"] + (f" ({params})" if params else "")),
        (pgettext("split report", "Threshold"), _fmt(report["threshold"])),
        (pgettext("split report", "Upper"), f"{_fmt(counts['upper'])} ({_share(report['diagnostics']['share_upper'])})"),
        (pgettext("split report", "Lower"), _fmt(counts["lower"])),
        (pgettext("split report", "Skipped"), f"{_fmt(counts['skipped'])} " + pgettext("split report", "(empty cells)")),
    ]
    width = max(display_width(label) for label, _value in pairs) + 2
    lines = [f"{ljust(label, width)}{value}" for label, value in pairs]
    lines += ["", pgettext("split report", "Diagnostics")]
    words = diagnostic_labels()
    named = [(words.get(key, key), value) for key, value in report["diagnostics"].items()]
    width = max((display_width(label) for label, _value in named), default=0) + 2
    for label, value in named:
        lines.append(f"  {ljust(label, width)}{_fmt(value)}")
    if report["comparison"]:
        with_gain = any("information_gain" in row for row in report["comparison"])
        titles = [pgettext("split report", "method"), pgettext("split report", "params"), pgettext("split report", "threshold"), pgettext("split report", "upper"), pgettext("split report", "share"), pgettext("split report", "value share")]
        head = (f"{ljust(titles[0], 18)}{ljust(titles[1], 12)}{rjust(titles[2], 14)}{rjust(titles[3], 12)}"
                f"{rjust(titles[4], 9)}{rjust(titles[5], 13)}")
        if with_gain:
            gain_title = pgettext("split report", "info gain")
            head += rjust(gain_title, 11)
        lines += ["", pgettext("split report", "Comparison: where each method draws the line (* the method above)"), head]
        for row in report["comparison"]:
            params = ",".join(f"{k}={_fmt(v)}" for k, v in row["params"].items())
            name = row["method"] + (" *" if row["method"] == report["method"] else "")
            line = (f"{name:<18}{params:<12}{_fmt(row['threshold']):>14}{_fmt(row['n_upper']):>12}"
                    f"{_share(row['share_upper']):>9}{_share(row['value_share_upper']):>13}")
            if with_gain:
                gain = row.get("information_gain")
                line += f"{'—' if gain is None else f'{gain:.4f}':>11}"
            lines.append(line)
    return "\n".join(lines) + "\n"
