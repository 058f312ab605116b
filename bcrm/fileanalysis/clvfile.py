"""``bcrm analyse clv FILE``: lifetime-value models (BG/NBD + Gamma-Gamma) on any customer file.

A thin door onto :mod:`bcrm.stats.clv`: reads an RFM summary or a transaction log with
:func:`bcrm.fileanalysis.csvread.read_table`, fits the models, prints the parameters with standard errors,
the log-likelihood and the fit diagnostics, and writes per-customer predictions with ``--out``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bcrm.core.formatting import ljust, rjust
from bcrm.fileanalysis.csvread import (
    NO_DATE,
    CsvError,
    Table,
    add_reading_arguments,
    find_column,
    read_table,
    reading_options,
)
from bcrm.fileanalysis.jsonable import clean as _clean
from bcrm.stats import ModelError, clv

HELP = "Fit the lifetime-value models (BG/NBD + Gamma-Gamma) to a customer summary or a transaction log."
DESCRIPTION = """\
Fit the BG/NBD model of repeat purchases (and, when the file has spend, the Gamma-Gamma model of their
value) to any file, and predict per customer: expected repeat purchases over the horizon, the probability
of still being active, expected spend per purchase and discounted lifetime value.

--summary: one row per customer with columns
    frequency (or x)   repeat purchases
    recency   (or t_x) age at the last purchase (0 without repeat purchases)
    T                  age at the end of the period, in --unit (default week)
    monetary_value (or zbar)  optional: mean value of the repeat purchases
    ID (or id, customer_id, customer)  optional: copied to --out
--transactions: one row per purchase: customer, date, amount (amount optional). A file without a header
    (a first line without letters) is read as customer, date[, amount] when it has 2-3 columns; a wider one
    needs --map by position (CDNOW's log: --map customer=1 --map date=3 --map amount=5): a column is never
    taken by its position silently. --period collects purchases (several in one period count once), --unit measures time;
    --calibration-end fits on purchases up to that date and compares the rest with the predictions.
Without either, a file with a frequency (or x) column is a summary, anything else a transaction log.

--map NAME=COLUMN renames: frequency, recency, T, monetary_value, id (summary) or customer, date, amount
(transactions); a column of a file without a header is its position, 1 = first.

Lifetime value = sum over months i = 1..H of the expected purchases in month i x expected spend
/ (1 + discount)^i (a month is 30.4375 days).
Exit status: 0 done, 1 bad arguments, file or data, 2 a cell that cannot be read (its line is named).
"""

SUMMARY_COLUMNS: dict[str, tuple[str, ...]] = {
    "frequency": ("frequency", "x"),
    "recency": ("recency", "t_x"),
    "T": ("T",),
    "monetary_value": ("monetary_value", "zbar", "spend"),
    "id": ("ID", "customer_id", "customer", "client_id"),
}
TRANSACTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "customer": ("customer", "customer_id", "client", "client_id", "master_id", "id"),
    "date": ("date", "transaction_date", "order_date", "purchase_date", "datetime", "timestamp"),
    "amount": ("amount", "value", "dollars", "dollar_value", "revenue", "spend", "sales", "monetary_value"),
}
REQUIRED = {"summary": ("frequency", "recency", "T"), "transactions": ("customer", "date")}
FREQUENCY_BINS = 7          # calibration histogram: 0 … 6 repeat purchases and 7 or more


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("file", help=_("CSV file (UTF-8, GB18030, Big5, Shift-JIS or EUC-KR; delimiter detected)"))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--summary", action="store_true", help=_("one row per customer: frequency, recency, T"))
    mode.add_argument("--transactions", action="store_true", help=_("one row per purchase: customer, date, amount"))
    parser.add_argument("--map", action="append", default=[], metavar="NAME=COLUMN",
                        help=_("the file's column for a name, e.g. frequency=n_repeat or date=3 (repeatable)"))
    parser.add_argument("--horizon", type=int, default=12, metavar="MONTHS",
                        help=_("months ahead for the predictions and lifetime value (default 12)"))
    parser.add_argument("--discount", type=float, default=0.01, metavar="RATE",
                        help=_("monthly discount rate for lifetime value (default 0.01)"))
    parser.add_argument("--unit", choices=tuple(clv.DAYS_PER_UNIT), default="week",
                        help=_("time unit of recency and T (default week)"))
    parser.add_argument("--period", choices=tuple(clv.DAYS_PER_UNIT), default="day",
                        help=_("transactions: purchases in one period count once (default day)"))
    parser.add_argument("--calibration-end", default=None, metavar="DATE",
                        help=_("transactions: fit on purchases up to this date (YYYY-MM-DD); later ones are the hold-out"))
    parser.add_argument("--out", default=None, metavar="PRED.csv", help=_("write per-customer predictions to this CSV file"))
    add_reading_arguments(parser)
    parser.add_argument("--json", action="store_true", help=_("print one JSON document"))


# --------------------------------------------------------------------------------------------------
# Reading


def _mapping(items: list[str]) -> dict[str, str]:
    known = set(SUMMARY_COLUMNS) | set(TRANSACTION_COLUMNS)
    out: dict[str, str] = {}
    for item in items:
        name, sep, column = item.partition("=")
        name, column = name.strip(), column.strip()
        if name == "spend":
            name = "monetary_value"
        if not sep or not name or not column:
            raise CommandError(_("--map takes NAME=COLUMN, e.g. frequency=n_repeat; got %(item)s.") % {"item": repr(item)})
        if name not in known:
            raise CommandError(_("--map: unknown name %(name)s; use one of %(names)s.")
                               % {"name": repr(name), "names": ", ".join(sorted(known, key=str.lower))})
        out[name] = column
    return out


def _resolve(header: list[str], names: dict[str, tuple[str, ...]], mapping: dict[str, str],
             required: tuple[str, ...]) -> dict[str, str]:
    """Our name → the file's column, from --map first, then the usual spellings."""
    found: dict[str, str] = {}
    for name, spellings in names.items():
        if name in mapping:
            column = find_column(header, mapping[name])
            if column is None:
                raise CsvError(_("No column %(name)s in the header; the columns are: %(columns)s")
                               % {"name": repr(mapping[name]), "columns": ", ".join(header[:30])})
            found[name] = column
            continue
        for spelling in spellings:
            column = find_column(header, spelling)
            if column is not None and column not in found.values():
                found[name] = column
                break
    missing = [name for name in required if name not in found]
    if missing:
        raise CsvError(_("The file has no column for %(names)s (columns: %(columns)s); name it with --map, "
                         "e.g. --map %(example)s=COLUMN.")
                       % {"names": ", ".join(missing), "columns": ", ".join(header[:30]), "example": missing[0]})
    return found


def _detect_mode(path: str, mapping: dict[str, str]) -> str:
    def probe(header: list[str]) -> dict[str, str]:
        return {}

    table = read_table(path, probe, header=None)
    if not table.has_header:
        return "transactions"
    frequency = mapping.get("frequency")
    candidates = [frequency] if frequency else list(SUMMARY_COLUMNS["frequency"])
    return "summary" if any(find_column(table.header, c) for c in candidates) else "transactions"


def _read_summary(path: str, mapping: dict[str, str], reading: dict[str, Any], *, ids: bool
                  ) -> tuple[Table, dict[str, str]]:
    """The summary's columns; the id column (still resolved and reported) is read only with ``ids``: a
    million customer ids are a million Python strings, and only ``--out`` or a message about one customer
    needs them (see :func:`_customer_ids`)."""
    resolved: dict[str, str] = {}

    def choose(header: list[str]) -> dict[str, str]:
        resolved.clear()
        resolved.update(_resolve(header, SUMMARY_COLUMNS, mapping, REQUIRED["summary"]))
        return {column: ("text" if name == "id" else "number") for name, column in resolved.items()
                if ids or name != "id"}

    table = read_table(path, choose, header=True, **reading)
    return table, dict(resolved)


def _read_transactions(path: str, mapping: dict[str, str], reading: dict[str, Any]) -> tuple[Table, dict[str, str]]:
    resolved: dict[str, str] = {}
    kinds = {"customer": "text", "date": "date", "amount": "number"}

    def choose(header: list[str]) -> dict[str, str]:
        resolved.clear()
        if header and header[0] == "1":                        # no header: positions
            width = len(header)
            for name, column in mapping.items():
                if name not in kinds:
                    raise CsvError(_("--map: %(name)s is not a column of a transaction log (customer, date, amount).")
                                   % {"name": name})
                if not column.isdigit() or not 1 <= int(column) <= width:
                    raise CsvError(_("The file has no header: name its columns by position, 1 to %(width)d "
                                     "(got %(column)s).") % {"width": width, "column": repr(column)})
            # Only the documented two- or three-column layout (customer, date[, amount]) is read without a
            # mapping; any other width would be a guess (a column of quantities taken as the amount).
            if width <= 3:
                defaults = dict(zip(("customer", "date", "amount"), ("1", "2", "3"), strict=False))
                resolved.update({name: column for name, column in defaults.items() if int(column) <= width})
            missing = [name for name in ("customer", "date") if name not in mapping and name not in resolved]
            if missing or (width > 3 and "amount" not in mapping):
                raise CsvError(_("The file has no header and %(width)d columns: say which is which with --map "
                                 "by position, e.g. --map customer=1 --map date=3 --map amount=5 (a column is "
                                 "never taken by its position silently).") % {"width": width})
            resolved.update(mapping)
        else:
            extra = set(mapping) - set(kinds)
            if extra:
                raise CsvError(_("--map: %(name)s is not a column of a transaction log (customer, date, amount).")
                               % {"name": ", ".join(sorted(extra))})
            resolved.update(_resolve(header, TRANSACTION_COLUMNS, mapping, REQUIRED["transactions"]))
        return {column: kinds[name] for name, column in resolved.items()}

    table = read_table(path, choose, header=None, **reading)
    return table, dict(resolved)


# --------------------------------------------------------------------------------------------------
# The subcommand


def _where(params: dict[str, Any], data: dict[str, Any] | None) -> str:
    """Where the model's ``row`` (1-based, over the customers it was given) is in the user's file: the line
    and the customer id (a summary file), or the customer id (a transaction log); "" without a row."""
    row = params.get("row")
    if not data or not isinstance(row, int) or not 1 <= row <= data["frequency"].size:
        return ""
    customer = _customer_ids(data)[row - 1]
    if "lines" in data:
        return _("Row %(row)d is line %(line)d of the file, customer %(id)s.") % {
            "row": row, "line": int(data["lines"][row - 1]), "id": customer}
    return _("Row %(row)d is customer %(id)s.") % {"row": row, "id": customer}


def _message(item: Any, data: dict[str, Any] | None) -> str:
    """A model's error or note in the reader's language, followed by where its row is in the file."""
    template, params = (item.template, item.params) if isinstance(item, ModelError) else \
        (item["template"], item["params"])
    return " ".join(part for part in (_(template) % params, _where(params, data)) if part)


def _model_error(exc: ModelError, data: dict[str, Any] | None = None) -> CommandError:
    return CommandError(_message(exc, data))


def run(path: str, *, summary: bool = False, transactions: bool = False, map: list[str] | tuple[str, ...] = (),
        horizon: int = 12, discount: float = 0.01, unit: str = "week", period: str = "day",
        calibration_end: str | None = None, out: str | None = None, decimal: str | None = None,
        dayfirst: bool | None = None, date_format: str | None = None) -> dict[str, Any]:
    """The report ``bcrm analyse clv --json`` prints, for the file at ``path`` (per-customer predictions
    written to ``out`` when given): the one function the CLI, the API and the page call. Bad options, file
    or data → :class:`CommandError` (its message is for the user)."""
    mapping = _mapping(list(map))
    if horizon < 1:
        raise CommandError(_("--horizon must be a whole number of months, 1 or more."))
    if not (math.isfinite(discount) and 0 <= discount < 1):
        raise CommandError(_("--discount must be a monthly rate from 0 to 1, e.g. 0.01."))
    if unit not in clv.DAYS_PER_UNIT or period not in clv.DAYS_PER_UNIT:
        raise CommandError(_("--unit and --period take one of %(units)s.") % {"units": ", ".join(clv.DAYS_PER_UNIT)})
    options = {"period": period, "unit": unit, "calibration_end": calibration_end}
    reading = {"decimal": decimal, "dayfirst": dayfirst, "date_format": date_format}
    try:
        mode = "summary" if summary else "transactions" if transactions else _detect_mode(path, mapping)
        if mode == "summary":
            if calibration_end:
                raise CommandError(_("--calibration-end applies to a transaction log (--transactions)."))
            table, resolved = _read_summary(path, mapping, reading, ids=bool(out))
            data = _summary_data(table, resolved, path, reading)
        else:
            table, resolved = _read_transactions(path, mapping, reading)
            data = _transaction_data(table, resolved, options)
    except CsvError as exc:
        raise CommandError(str(exc), returncode=exc.returncode) from exc
    except ModelError as exc:
        raise _model_error(exc) from exc
    units_per_month = clv.UNITS_PER_MONTH[unit]
    try:
        result = clv.predict_clv(data["frequency"], data["recency"], data["T"], data.get("monetary_value"),
                                 horizon_months=horizon, discount_rate=discount, units_per_month=units_per_month)
    except ModelError as exc:
        raise _model_error(exc, data) from exc
    report = _report(path, mode, unit, horizon, discount, table, resolved, data, result)
    if out:
        _write_predictions(out, data, result)
        report["out"] = out
    return _clean(report)


def handle(command: BaseCommand, options: dict[str, Any]) -> None:
    """Run ``bcrm analyse clv`` with parsed ``options``; output to ``command.stdout``."""
    report = run(options["file"], summary=options["summary"], transactions=options["transactions"],
                 map=options["map"], horizon=options["horizon"], discount=options["discount"], unit=options["unit"],
                 period=options["period"], calibration_end=options["calibration_end"], out=options["out"],
                 **reading_options(options))
    if options["json"]:
        command.stdout.write(json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False))
    else:
        command.stdout.write(_render(report))


def _summary_data(table: Table, resolved: dict[str, str], path: str, reading: dict[str, Any]) -> dict[str, Any]:
    cols = {name: table.columns[column] for name, column in resolved.items() if column in table.columns}
    numeric = [name for name in ("frequency", "recency", "T", "monetary_value") if name in cols]
    keep = np.ones(table.rows, dtype=bool)
    for name in numeric:
        keep &= ~np.isnan(np.asarray(cols[name], dtype=np.float64))
    if not keep.any():
        raise CsvError(_("No row has every needed value (%(rows)d rows read).") % {"rows": table.rows})
    every = bool(keep.all())                                # the usual case: no copies
    data: dict[str, Any] = {name: np.asarray(cols[name], dtype=np.float64) if every else
                            np.asarray(cols[name], dtype=np.float64)[keep] for name in numeric}
    ids = cols.get("id")
    lines = table.lines if every else table.lines[keep]
    if isinstance(ids, list):
        data["id"] = ids if keep.all() else [v for v, k in zip(ids, keep, strict=True) if k]
    elif "id" in resolved:                                  # not read yet: on demand
        column = resolved["id"]
        data["read_ids"] = lambda: _read_ids(path, column, reading, lines, data)
    else:
        data["read_ids"] = lambda: [str(line) for line in lines.tolist()]
    data["id_column"] = resolved.get("id")
    data["lines"] = lines
    data["rows"] = table.rows
    data["skipped"] = int((~keep).sum())
    return data


def _customer_ids(data: dict[str, Any]) -> list[str]:
    """The customers' ids, aligned with the model's rows, read from the file the first time they are needed."""
    if "id" not in data:
        try:
            data["id"] = data["read_ids"]()
        except CsvError as exc:
            raise CommandError(str(exc), returncode=exc.returncode) from exc
    return data["id"]


def _read_ids(path: str, column: str, reading: dict[str, Any], lines: np.ndarray, data: dict[str, Any]
              ) -> list[str]:
    """The id column of a summary file, for the customers on ``lines`` (the file's line numbers of the rows
    the model was given); what the reader says about the column (empty or marked cells) joins the
    report's warnings through ``data["id_warnings"]``."""
    table = read_table(path, lambda header: {column: "text"}, header=True, **reading)
    data["id_warnings"] = list(table.warnings)
    by_line = dict(zip(table.lines.tolist(), table.columns[column], strict=True))
    return [by_line.get(line, "") for line in lines.tolist()]


def _transaction_data(table: Table, resolved: dict[str, str], options: dict[str, Any]) -> dict[str, Any]:
    customers = table.columns[resolved["customer"]]
    days = np.asarray(table.columns[resolved["date"]])
    amounts = np.asarray(table.columns[resolved["amount"]], dtype=np.float64) if "amount" in resolved else None
    keep = (days != NO_DATE) & np.array([bool(c) for c in customers], dtype=bool)
    if amounts is not None:
        keep &= ~np.isnan(amounts)
    if not keep.any():
        raise CsvError(_("No row has every needed value (%(rows)d rows read).") % {"rows": table.rows})
    ids = np.array(customers, dtype=object)[keep].astype(str)
    summary = clv.rfm_summary(ids, days[keep].astype("datetime64[D]"),
                              None if amounts is None else amounts[keep], period=options["period"],
                              unit=options["unit"], calibration_end=options["calibration_end"])
    data: dict[str, Any] = {"frequency": summary.frequency, "recency": summary.recency, "T": summary.T,
                            "id": summary.customers.tolist(), "id_column": resolved["customer"],
                            "rows": table.rows, "skipped": int((~keep).sum()), "summary": summary}
    if summary.monetary_value is not None:
        data["monetary_value"] = summary.monetary_value
    return data


def _warnings(table: Table, data: dict[str, Any]) -> list[str]:
    """What the reader decided or left out (missing cells, decimal comma, date order, columns by position)."""
    warnings = list(table.warnings) + data.get("id_warnings", [])
    for column, order in table.date_orders.items():
        warnings.append((_("Column %(column)s: dates read day first (DD/MM/YYYY), as its values show.") if order == "dmy"
                         else _("Column %(column)s: dates read month first (MM/DD/YYYY), as its values show."))
                        % {"column": repr(column)})
    if not table.has_header:
        warnings.append(_("The file has no header: its columns were taken by position as shown under columns."))
    return warnings


def _report(path: str, mode: str, unit: str, horizon: int, discount: float, table: Table,
            resolved: dict[str, str], data: dict[str, Any], result: clv.CLVResult) -> dict[str, Any]:
    bg = result.bgnbd
    x = data["frequency"]
    observed = np.bincount(np.minimum(x.astype(np.int64), FREQUENCY_BINS), minlength=FREQUENCY_BINS + 1)
    expected = bg.frequency_distribution(data["T"], FREQUENCY_BINS)
    report: dict[str, Any] = {
        "file": str(path), "mode": mode, "columns": resolved, "unit": unit,
        "rows": data["rows"], "skipped": data["skipped"], "customers": int(x.size),
        "repeat_buyers": int((x > 0).sum()),
        "bgnbd": bg.as_dict(),
        "frequency_fit": {"frequency": [str(i) for i in range(FREQUENCY_BINS)] + [f"{FREQUENCY_BINS}+"],
                          "observed": observed.tolist(), "expected": expected.tolist()},
        "gamma_gamma": result.gamma_gamma.as_dict() if result.gamma_gamma is not None else None,
        "horizon_months": horizon, "horizon_units": result.horizon, "discount_rate": discount,
        "totals": {
            "expected_transactions": float(result.expected_transactions.sum()),
            "mean_p_alive": float(result.p_alive.mean()),
            "expected_spend_mean": _mean(result.expected_spend),
            "clv": None if result.clv is None else float(np.nansum(result.clv)),
        },
        "notes": [_message(n, data) for n in result.notes],   # before the warnings: may read the ids
        "warnings": _warnings(table, data),
    }
    for fit in (report["bgnbd"], report["gamma_gamma"]):
        if fit:
            fit.pop("covariance", None)
            fit["search"] = search_label(fit["search_status"], fit["newton_steps"], fit["gradient_norm"])
    if mode == "transactions":
        summary: clv.RFMSummary = data["summary"]
        report["period"] = summary.period
        report["calibration_end"] = summary.calibration_end.isoformat()
        report["observation_end"] = summary.observation_end.isoformat()
        report["transactions"] = summary.n_transactions
        if summary.holdout_frequency is not None:
            predicted = bg.expected_transactions(summary.holdout_length, x, data["recency"], data["T"])
            actual = summary.holdout_frequency
            groups = np.minimum(x.astype(np.int64), FREQUENCY_BINS)
            counts = np.bincount(groups, minlength=FREQUENCY_BINS + 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_actual = np.bincount(groups, weights=actual, minlength=FREQUENCY_BINS + 1) / counts
                mean_predicted = np.bincount(groups, weights=predicted, minlength=FREQUENCY_BINS + 1) / counts
            report["holdout"] = {
                "length_units": summary.holdout_length, "actual": float(actual.sum()),
                "predicted": float(predicted.sum()),
                "by_frequency": {"frequency": report["frequency_fit"]["frequency"], "customers": counts.tolist(),
                                 "actual_mean": [_finite(v) for v in mean_actual],
                                 "predicted_mean": [_finite(v) for v in mean_predicted]},
            }
            data["holdout_frequency"] = actual
            data["holdout_predicted"] = predicted
    return report


def search_label(status: str, newton_steps: int, gradient: float) -> str:
    """How a fit's maximum was found, in the reader's language: how the quasi-Newton search (L-BFGS-B) ended
    (its status code, see bcrm.stats.clv.optimiser.SEARCH_STATUSES), then the Newton polish."""
    ended = {
        "converged": pgettext("clv search", "quasi-Newton search met its tolerance"),
        "line_search": pgettext("clv search", "quasi-Newton search ended early: its line search could not "
                                              "improve the likelihood further"),
        "iteration_limit": pgettext("clv search", "quasi-Newton search ended early: iteration limit reached"),
    }.get(status, pgettext("clv search", "quasi-Newton search ended early"))
    polish = pgettext("clv search", "then %(steps)d Newton step(s); final gradient %(gradient)s") % {
        "steps": newton_steps, "gradient": f"{gradient:.1e}"}
    return f"{ended}; {polish}"


def _mean(values: np.ndarray | None) -> float | None:
    if values is None or not np.isfinite(values).any():
        return None
    return float(np.nanmean(values))


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None




def _write_predictions(out: str, data: dict[str, Any], result: clv.CLVResult) -> None:
    columns: list[tuple[str, Any]] = [
        (data.get("id_column") or "row", _customer_ids(data)), ("frequency", data["frequency"]), ("recency", data["recency"]),
        ("T", data["T"])]
    if "monetary_value" in data:
        columns.append(("monetary_value", data["monetary_value"]))
    columns += [("expected_transactions", result.expected_transactions), ("p_alive", result.p_alive)]
    if result.expected_spend is not None and result.clv is not None:
        columns += [("expected_spend", result.expected_spend), ("clv", result.clv)]
    if "holdout_frequency" in data:
        columns += [("holdout_frequency", data["holdout_frequency"]), ("holdout_predicted", data["holdout_predicted"])]
    header = ",".join(_text_cells([name for name, _values in columns]))
    texts = [_text_cells(values) if isinstance(values, list) else _number_cells(np.asarray(values, dtype=np.float64))
             for _name, values in columns]
    try:
        target = Path(out)
        with target.open("w", encoding="utf-8", newline="") as handle:
            handle.write(header + "\r\n")
            for start in range(0, len(data["frequency"]), _WRITE_ROWS):
                stop = start + _WRITE_ROWS
                rows = zip(*(cells[start:stop] for cells in texts), strict=True)
                handle.write("".join(",".join(row) + "\r\n" for row in rows))
    except OSError as exc:
        raise CommandError(_("Cannot write %(path)s: %(reason)s") % {"path": out, "reason": exc.strerror or str(exc)}) from exc


_WRITE_ROWS = 100_000


def _text_cells(values: list[str]) -> list[str]:
    """Text cells as the csv module writes them (quoted when they hold a comma, a quote or a line break)."""
    return [f'"{cell.replace(chr(34), chr(34) * 2)}"' if any(c in cell for c in ',"\r\n') else cell
            for cell in values]


def _number_cells(values: np.ndarray) -> list[str]:
    """Numbers with 10 significant digits, one column at a time; "" where not finite."""
    cells = [f"{number:.10g}" for number in values.tolist()]
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        cells[i] = ""
    return cells


# --------------------------------------------------------------------------------------------------
# Text report


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(float(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _params_block(title: str, fit: dict[str, Any], names: dict[str, str]) -> list[str]:
    lines = [title, f"  {ljust(pgettext('clv report', 'parameter'), 12)}{rjust(pgettext('clv report', 'estimate'), 14)}"
                    f"{rjust(pgettext('clv report', 'std. error'), 14)}"]
    for key, label in names.items():
        lines.append(f"  {label:<12}{_num(fit['params'][key]):>14}{_num(fit['se'].get(key)):>14}")
    converged = pgettext("clv report", "yes") if fit["converged"] else pgettext("clv report", "no")
    lines.append(f"  {pgettext('clv report', 'log-likelihood')}: {_num(fit['log_likelihood'], 2)}   "
                 f"{pgettext('clv report', 'customers')}: {_num(fit['n_customers'])}   "
                 f"{pgettext('clv report', 'converged')}: {converged} ({fit['iterations']} "
                 f"{pgettext('clv report', 'iterations')})")
    if fit.get("search"):
        lines.append(f"  {pgettext('clv report', 'search')}: {fit['search']}")
    return lines


def _unit_label(unit: str) -> str:
    labels = {"day": pgettext("clv report", "days"), "week": pgettext("clv report", "weeks"),
              "month": pgettext("clv report", "months")}
    return labels.get(unit, unit)


def _render(report: dict[str, Any]) -> str:
    mode = pgettext("clv report", "summary") if report["mode"] == "summary" else pgettext("clv report", "transactions")
    lines = [
        f"{ljust(pgettext('clv report', 'File'), 14)}{report['file']} ({mode})",
        f"{ljust(pgettext('clv report', 'Customers'), 14)}{report['customers']:,} "
        f"({pgettext('clv report', 'repeat buyers')}: {report['repeat_buyers']:,}; "
        f"{pgettext('clv report', 'rows skipped')}: {report['skipped']:,})",
        f"{ljust(pgettext('clv report', 'Time unit'), 14)}{_unit_label(report['unit'])}",
    ]
    if report["mode"] == "transactions":
        lines.append(f"{ljust(pgettext('clv report', 'Calibration'), 14)}… {report['calibration_end']}   "
                     f"{pgettext('clv report', 'observed to')} {report['observation_end']}")
    lines.append("")
    lines += _params_block(pgettext("clv report", "BG/NBD (repeat purchases)"), report["bgnbd"],
                           {"r": "r", "alpha": "alpha", "a": "a", "b": "b"})
    fit = report["frequency_fit"]
    lines += ["", pgettext("clv report", "Repeat purchases in the calibration period: customers observed vs model"),
              "  " + "".join(f"{label:>9}" for label in fit["frequency"]),
              "  " + "".join(f"{v:>9,}" for v in fit["observed"]),
              "  " + "".join(f"{v:>9,.1f}" for v in fit["expected"])]
    if "holdout" in report:
        hold = report["holdout"]
        lines += ["", pgettext("clv report", "Hold-out of %(length)s: repeat purchases actual %(actual)s, "
                                           "predicted %(predicted)s")
                  % {"length": f"{_num(hold['length_units'], 1)} {_unit_label(report['unit'])}",
                     "actual": _num(hold["actual"], 0), "predicted": _num(hold["predicted"], 1)}]
    if report["gamma_gamma"]:
        lines += [""]
        lines += _params_block(pgettext("clv report", "Gamma-Gamma (spend per purchase)"), report["gamma_gamma"],
                               {"p": "p", "q": "q", "gamma": "gamma"})
        lines.append(f"  {pgettext('clv report', 'population mean spend')}: "
                     f"{_num(report['gamma_gamma']['population_mean_spend'], 2)}   "
                     f"{pgettext('clv report', 'frequency-spend correlation')}: "
                     f"{_num(report['gamma_gamma']['frequency_spend_correlation'], 3)}")
    totals = report["totals"]
    lines += ["", pgettext("clv report", "Next %(months)d months (discount %(rate)s a month)")
              % {"months": report["horizon_months"], "rate": f"{100 * report['discount_rate']:g}%"},
              f"  {ljust(pgettext('clv report', 'expected repeat purchases'), 28)}{_num(totals['expected_transactions'], 1)}",
              f"  {ljust(pgettext('clv report', 'mean P(alive)'), 28)}{_num(totals['mean_p_alive'], 3)}"]
    if totals["clv"] is not None:
        lines += [f"  {ljust(pgettext('clv report', 'mean expected spend'), 28)}{_num(totals['expected_spend_mean'], 2)}",
                  f"  {ljust(pgettext('clv report', 'total lifetime value'), 28)}{_num(totals['clv'], 2)}"]
    for note in report["notes"]:
        lines.append(f"{pgettext('clv report', 'Note')}: {note}")
    for warning in report.get("warnings", []):
        lines.append(f"{pgettext('clv report', 'Warning')}: {warning}")
    if report.get("out"):
        lines += ["", pgettext("clv report", "Predictions written to %(path)s") % {"path": report["out"]}]
    return "\n".join(lines) + "\n"
