"""``bcrm analyse scorecard FILE --target COL``: fit a credit-risk points scorecard to any CSV file.

A thin door onto :func:`bcrm.stats.scorecard.fit_scorecard`: every column but the target (and the
excluded ones) is a candidate variable — numbers, or text for a categorical variable; an empty cell is a
missing value, which gets its own bin. Prints the cross-validated AUC, KS and Gini, the information value
of each variable and the points table; ``--out`` writes the points table as CSV.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bcrm.fileanalysis.csvread import (
    EXIT_BAD_CELL,
    CsvError,
    add_reading_arguments,
    decimal_mark,
    find_column,
    is_missing,
    parse_flag,
    parse_number,
    read_table,
)
from bcrm.fileanalysis.jsonable import clean as _clean
from bcrm.stats import ModelError, scorecard

HELP = "Fit a credit-risk points scorecard (optimal binning, WoE, logistic regression) to a CSV file."
DESCRIPTION = """\
Fit a points scorecard to any CSV file with a 0/1 outcome column (--target: 1 = default / bad, 0 = good;
true/false, yes/no and 是/否 work too; rows with an empty target are skipped).

Every other column is a candidate variable: numbers, or text for a categorical variable. An empty cell is
a missing value and gets its own bin. Columns named ID, customer_id or client_id are left out, and so are
the ones given to --exclude; --columns keeps only the ones named. Constant variables, and variables with an
information value below --min-iv (default 0.02), are dropped with a note.

Each variable is binned optimally against the target (optbinning), its bins replaced by their weight of
evidence, and a logistic regression fitted on them; quality is measured by stratified K-fold
cross-validation (--folds, default 5): AUC, KS and Gini. Points: --base-score points (600) at good:bad odds
of --base-odds (50:1), and every --pdo points (20) double the odds; higher points = lower risk.
Exit status: 0 done, 1 bad arguments, file or data, 2 a target cell that is not 0/1 (its line is named).
"""
#: Column names that identify a row rather than describe it (``id``, ``client_id``, R's row names written
#: as an unnamed first column, pandas' ``Unnamed: 0``): left out unless named with ``--columns``.
ID_COLUMN = re.compile(r"^(|id|.+[_ .-]id|rownames|row[._ ]?names|row|index|unnamed: ?\d+|\.\.\.1)$", re.IGNORECASE)
#: Target values read as "bad" when the target is not 0/1.
BAD_WORDS = frozenset({"bad", "default", "defaulted", "delinquent", "churn", "churned", "lost", "fraud", "坏",
                       "违约", "逾期", "流失"})


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("file", help=_("CSV file (UTF-8, GB18030, Big5, Shift-JIS or EUC-KR; delimiter detected)"))
    parser.add_argument("--target", required=True, help=_("the 0/1 outcome column (1 = default / bad)"))
    parser.add_argument("--folds", type=int, default=5, help=_("cross-validation folds (default 5)"))
    parser.add_argument("--seed", type=int, default=0, help=_("seed of the fold shuffle (default 0)"))
    parser.add_argument("--min-iv", type=float, default=scorecard.DEFAULT_MIN_IV,
                        help=_("drop variables with a lower information value (default 0.02)"))
    parser.add_argument("--columns", action="append", default=[], metavar="COL",
                        help=_("use only these variables (repeatable, or comma separated)"))
    parser.add_argument("--exclude", action="append", default=[], metavar="COL",
                        help=_("leave these columns out (repeatable, or comma separated)"))
    parser.add_argument("--base-score", type=float, default=scorecard.DEFAULT_SCALING["base_score"],
                        help=_("points at the base odds (default 600)"))
    parser.add_argument("--base-odds", type=float, default=scorecard.DEFAULT_SCALING["base_odds"],
                        help=_("good:bad odds at the base score (default 50)"))
    parser.add_argument("--pdo", type=float, default=scorecard.DEFAULT_SCALING["pdo"],
                        help=_("points to double the odds (default 20)"))
    parser.add_argument("--out", default=None, metavar="POINTS.csv", help=_("write the points table to this CSV file"))
    parser.add_argument("--bad", default=None, metavar="VALUE",
                        help=_("the target's value that means bad (default, churned …) when it is not 0/1"))
    parser.add_argument("--allow-leakage", action="append", default=[], metavar="COL",
                        help=_("keep this column even though it looks like leakage (repeatable)"))
    add_reading_arguments(parser, dates=False)
    parser.add_argument("--json", action="store_true", help=_("print one JSON document"))


def _names(items: list[str]) -> list[str]:
    return [name.strip() for item in items for name in item.split(",") if name.strip()]


def run(path: str, *, target: str, folds: int = 5, seed: int = 0, min_iv: float = scorecard.DEFAULT_MIN_IV,
        columns: list[str] | tuple[str, ...] = (), exclude: list[str] | tuple[str, ...] = (),
        base_score: float = scorecard.DEFAULT_SCALING["base_score"],
        base_odds: float = scorecard.DEFAULT_SCALING["base_odds"], pdo: float = scorecard.DEFAULT_SCALING["pdo"],
        out: str | None = None, decimal: str | None = None,
        allow_leakage: list[str] | tuple[str, ...] = (), bad: str | None = None) -> dict[str, Any]:
    """The report ``bcrm analyse scorecard --json`` prints, for the CSV file at ``path`` (the points table
    written to ``out`` when given): the one function the CLI, the API and the page call. Bad options, file
    or data → :class:`CommandError` (its message is for the user)."""
    options: dict[str, Any] = {"file": path, "target": target, "folds": folds, "seed": seed, "min_iv": min_iv,
               "columns": list(columns), "exclude": list(exclude), "base_score": base_score,
               "base_odds": base_odds, "pdo": pdo, "out": out}
    if options["folds"] < 2:
        raise CommandError(_("--folds must be 2 or more."))
    if not (options["pdo"] > 0 and options["base_odds"] > 0 and math.isfinite(options["base_score"])):
        raise CommandError(_("--pdo and --base-odds must be above 0."))
    target_name = options["target"]
    only = _names(options["columns"])
    exclude = _names(options["exclude"])
    chosen: dict[str, Any] = {}

    def choose(header: list[str]) -> dict[str, str]:
        target = find_column(header, target_name)
        if target is None:
            raise CsvError(_("No column %(name)s in the header; the columns are: %(columns)s")
                           % {"name": repr(target_name), "columns": ", ".join(header[:30])})
        for name in only + exclude:
            if find_column(header, name) is None:
                raise CsvError(_("No column %(name)s in the header; the columns are: %(columns)s")
                               % {"name": repr(name), "columns": ", ".join(header[:30])})
        picked = [find_column(header, name) for name in only] if only else \
            [c for c in header if c != target and not ID_COLUMN.match(c)]
        dropped = {find_column(header, name) for name in exclude}
        variables = [c for c in picked if c and c != target and c not in dropped]
        chosen["target"], chosen["variables"] = target, variables
        chosen["ignored"] = [c for c in header if c != target and c not in variables]
        return {target: "text", **dict.fromkeys(variables, "text")}

    try:
        table = read_table(options["file"], choose, header=True, decimal=decimal)
    except CsvError as exc:
        raise CommandError(str(exc), returncode=exc.returncode) from exc
    if not chosen["variables"]:
        raise CommandError(_("No variable columns left besides the target %(target)s.") % {"target": repr(chosen["target"])})
    target_cells: list[str] = table.columns[chosen["target"]]
    warnings = list(table.warnings)
    outcome, keep, bad_value = _outcome(target_cells, table.lines, chosen["target"], bad, warnings)
    try:
        mark = decimal or decimal_mark([table.columns[name] for name in chosen["variables"]], table.delimiter, table.lines,
                            list(chosen["variables"]))
    except CsvError as exc:
        raise CommandError(str(exc), returncode=exc.returncode) from exc
    X = {name: _variable(table.columns[name], name, mark, table.lines, warnings)[keep]
         for name in chosen["variables"]}
    try:
        fit = scorecard.fit_scorecard(X, outcome[keep], folds=options["folds"], seed=options["seed"],
                                      min_iv=options["min_iv"], allow_leakage=_names(list(allow_leakage)),
                                      scaling={"base_score": options["base_score"], "base_odds": options["base_odds"],
                                               "pdo": options["pdo"]})
    except ModelError as exc:
        raise CommandError(_(exc.template) % exc.params) from exc
    report = {"file": str(options["file"]), "target": chosen["target"], "rows": table.rows,
              "skipped": int((~keep).sum()), "ignored_columns": chosen["ignored"], **fit.as_dict()}
    report["notes"] = [_(n["template"]) % n["params"] for n in fit.notes]
    report["warnings"] = warnings
    report["bad_value"] = bad_value
    if options["out"]:
        _write_points(options["out"], fit.points_table)
        report["out"] = options["out"]
    return _clean(report)


def handle(command: BaseCommand, options: dict[str, Any]) -> None:
    """Run ``bcrm analyse scorecard`` with parsed ``options``; output to ``command.stdout``."""
    report = run(options["file"], target=options["target"], folds=options["folds"], seed=options["seed"],
                 min_iv=options["min_iv"], columns=options["columns"], exclude=options["exclude"],
                 base_score=options["base_score"], base_odds=options["base_odds"], pdo=options["pdo"],
                 out=options["out"], decimal=options.get("decimal"),
                 allow_leakage=options.get("allow_leakage") or (), bad=options.get("bad"))
    if options["json"]:
        command.stdout.write(json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False))
    else:
        command.stdout.write(_render(report, scorecard.PointsTable.from_dict(report["points_table"])))


def _outcome(cells: list[str], lines: np.ndarray, column: str, bad: str | None,
             warnings: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """The target as 1 = bad, 0 = good, with the rows to keep (an empty cell is skipped) and the value read
    as bad. A 0/1 (true/false, yes/no, 是/否) target as it is; any other two-valued target by ``bad``, else
    by a word that means bad (default, churned, 违约 …), and the report says which value it took."""
    present = [cell for cell in cells if not is_missing(cell)]
    values = sorted(set(present))
    try:
        flags = [parse_flag(cell) for cell in cells]
        if bad is None:
            keep = np.array([f is not None for f in flags], dtype=bool)
            return np.array([1 if f else 0 for f in flags], dtype=np.int8), keep, "1"
    except ValueError:
        pass
    if bad is not None and bad not in values:
        raise CommandError(_("--bad %(bad)s is not a value of the target %(column)s (its values: %(values)s).")
                           % {"bad": repr(bad), "column": repr(column), "values": ", ".join(values[:10])})
    if len(values) != 2:
        odd = next((i for i, cell in enumerate(cells) if not is_missing(cell) and cell not in values[:2]), 0)
        raise CommandError(_("Line %(line)d, column %(column)s: the target is not 0/1 and has %(count)d values: "
                             "%(values)s. It needs two: 1 = default / bad and 0 = good, or two words with --bad "
                             "naming the bad one; leave a cell empty to skip its row.")
                           % {"line": int(lines[odd]) if len(lines) else 0, "column": repr(column),
                              "count": len(values), "values": ", ".join(repr(v) for v in values[:10])},
                           returncode=EXIT_BAD_CELL)
    if bad is None:
        words = [v for v in values if v.casefold() in BAD_WORDS]
        if len(words) != 1:
            raise CommandError(_("The target %(column)s has the values %(values)s: say which one means bad with "
                                 "--bad VALUE.") % {"column": repr(column),
                                                    "values": " and ".join(repr(v) for v in values)})
        bad = words[0]
    warnings.append(_("Target %(column)s: %(bad)s is read as bad (1), %(good)s as good (0).")
                    % {"column": repr(column), "bad": repr(bad), "good": repr(next(v for v in values if v != bad))})
    keep = np.array([not is_missing(cell) for cell in cells], dtype=bool)
    return np.array([1 if cell == bad else 0 for cell in cells], dtype=np.int8), keep, bad


def _variable(cells: list[str], name: str, mark: str, lines: np.ndarray, warnings: list[str]) -> np.ndarray:
    """A column as numbers (NaN when empty or marked missing) when most of its filled cells are numbers —
    the few that are not are read as missing and named in ``warnings`` — otherwise as text (None when
    empty): a categorical variable, which ``warnings`` says too when some of its cells are numbers."""
    numbers = np.full(len(cells), np.nan)
    odd: list[int] = []
    filled = 0
    for i, cell in enumerate(cells):
        if not cell:
            continue
        filled += 1
        try:
            value = parse_number(cell, mark)
        except ValueError:
            odd.append(i)
            continue
        if value is not None:
            numbers[i] = value
    if filled and len(odd) * 2 > filled:
        numeric = filled - len(odd)
        if numeric:
            warnings.append(_("Column %(column)s is read as categories: %(odd)d of its %(filled)d filled cells are "
                              "not numbers (%(numeric)d are).")
                            % {"column": repr(name), "odd": len(odd), "filled": filled, "numeric": numeric})
        return np.array([cell or None for cell in cells], dtype=object)
    if odd:
        examples = ", ".join(f"{cells[i]!r} (line {int(lines[i])})" for i in odd[:3])
        warnings.append(_("Column %(column)s is read as numbers; %(count)d cell(s) that are not numbers are read as "
                          "missing: %(examples)s.") % {"column": repr(name), "count": len(odd), "examples": examples})
    return numbers




def _write_points(out: str, table: scorecard.PointsTable) -> None:
    fields = ["variable", "bin", "count", "event_rate", "woe", "points"]
    try:
        with Path(out).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for row in table.rows():
                writer.writerow({k: ("" if row[k] is None else (f"{row[k]:.10g}" if isinstance(row[k], float) else row[k]))
                                 for k in fields})
    except OSError as exc:
        raise CommandError(_("Cannot write %(path)s: %(reason)s") % {"path": out, "reason": exc.strerror or str(exc)}) from exc


def _metric(cv: dict[str, Any], name: str) -> str:
    return f"{cv[name]:.3f} ± {cv[name + '_sd']:.3f}"


def _render(report: dict[str, Any], table: scorecard.PointsTable) -> str:
    cv = report["cross_validation"]
    lines = [
        f"{pgettext('scorecard report', 'File'):<14}{report['file']}",
        f"{pgettext('scorecard report', 'Target'):<14}{report['target']}  "
        f"({pgettext('scorecard report', 'rows')}: {report['n_rows']:,}, "
        f"{pgettext('scorecard report', 'bad')}: {report['n_events']:,}, "
        f"{pgettext('scorecard report', 'skipped')}: {report['skipped']:,})",
        "",
        pgettext("scorecard report", "Cross-validated (%(folds)d folds, mean ± sd)") % {"folds": cv["folds"]},
        f"  AUC  {_metric(cv, 'auc')}   KS  {_metric(cv, 'ks')}   Gini  {_metric(cv, 'gini')}",
        f"  {pgettext('scorecard report', 'in-sample')}: AUC {report['training']['auc']:.3f}  "
        f"KS {report['training']['ks']:.3f}  Gini {report['training']['gini']:.3f}",
        "",
        pgettext("scorecard report", "Information value"),
    ]
    used = {v.name for v in table.variables}
    reasons = {"constant": pgettext("scorecard report", "constant"), "low_iv": pgettext("scorecard report", "IV too low"),
               "not_binnable": pgettext("scorecard report", "not binnable")}
    for name, iv in sorted(report["information_value"].items(), key=lambda item: -item[1]):
        status = pgettext("scorecard report", "used") if name in used else reasons.get(report["dropped"].get(name, ""), "")
        lines.append(f"  {name:<28}{iv:>10.4f}  {status}")
    for name, reason in report["dropped"].items():
        if name not in report["information_value"]:
            lines.append(f"  {name:<28}{'—':>10}  {reasons.get(reason, reason)}")
    lines += ["", pgettext("scorecard report", "Points (%(base)g at odds %(odds)g:1, %(pdo)g points double the odds)")
              % {"base": table.base_score, "odds": table.base_odds, "pdo": table.pdo},
              f"  {pgettext('scorecard report', 'variable'):<20}{pgettext('scorecard report', 'bin'):<28}"
              f"{pgettext('scorecard report', 'count'):>8}{pgettext('scorecard report', 'bad rate'):>10}"
              f"{'WoE':>9}{pgettext('scorecard report', 'points'):>9}"]
    for row in table.rows():
        rate = "—" if row["event_rate"] is None else f"{100 * row['event_rate']:.1f}%"
        count = "" if row["count"] is None else f"{row['count']:,}"
        woe = "" if row["woe"] is None else f"{row['woe']:.3f}"
        lines.append(f"  {row['variable'][:19]:<20}{str(row['bin'])[:27]:<28}{count:>8}{rate:>10}{woe:>9}"
                     f"{row['points']:>9.1f}")
    for note in report["notes"]:
        lines.append(f"{pgettext('scorecard report', 'Note')}: {note}")
    for warning in report.get("warnings", []):
        lines.append(f"{pgettext('scorecard report', 'Warning')}: {warning}")
    if report.get("out"):
        lines += ["", pgettext("scorecard report", "Points table written to %(path)s") % {"path": report["out"]}]
    return "\n".join(lines) + "\n"
