"""A split method by name: the methods and their parameters, the dispatch, the parsing of typed parameters and
the comparison of every method on the same scores."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bcrm.segmentation.splits.base import (
    SplitError,
    SplitResult,
    _as_outcome,
    _as_scores,
    gettext_noop,
    outcome_diagnostics,
)
from bcrm.segmentation.splits.capacity import split_capacity
from bcrm.segmentation.splits.statistical import split_information_gain, split_natural_break
from bcrm.segmentation.splits.thresholds import split_fixed, split_pareto, split_top_k, split_top_share

METHODS: tuple[str, ...] = (
    "fixed", "top_share", "top_k", "pareto", "natural_break", "capacity", "information_gain",
)

#: Declared parameters of each method and their types (what :func:`parse_params` accepts).
PARAMS: dict[str, dict[str, type]] = {
    "fixed": {"threshold": float},
    "top_share": {"q": float},
    "top_k": {"k": int},
    "pareto": {"p": float},
    "natural_break": {},
    "capacity": {"budget": float, "cost": float},
    "information_gain": {},
}

#: Parameters each method needs; the others have defaults (pareto ``p`` = 0.8; capacity ``cost`` may
#: come as a per-client ``costs`` array instead).
REQUIRED: dict[str, tuple[str, ...]] = {
    "fixed": ("threshold",), "top_share": ("q",), "top_k": ("k",), "pareto": (), "natural_break": (),
    "capacity": ("budget",), "information_gain": (),
}

#: Parameters :func:`compare_methods` uses when the caller gives none. ``fixed``, ``top_k`` and
#: ``capacity`` have no neutral default and are compared only when their parameters are given.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "top_share": {"q": 0.2},
    "pareto": {"p": 0.8},
    "natural_break": {},
    "information_gain": {},
}


def _check_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if method not in PARAMS:
        raise SplitError(gettext_noop("Unknown split method %(method)s; choose one of %(choices)s."),
                         method=repr(method), choices=", ".join(METHODS))
    declared = PARAMS[method]
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise SplitError(gettext_noop("Method %(method)s has no parameter %(name)s; it takes %(accepted)s."),
                         method=method, name=", ".join(unknown), accepted=", ".join(declared) or "none")
    missing = [name for name in REQUIRED[method] if params.get(name) is None]
    if missing:
        raise SplitError(gettext_noop("Method %(method)s needs the parameter %(name)s."),
                         method=method, name=", ".join(missing))
    return {key: value for key, value in params.items() if value is not None}


def split(method: str, scores: Any, *, outcome: Any = None, costs: Any = None, **params: Any) -> SplitResult:
    """Run one split method by name with its parameters (see :data:`PARAMS`).

    ``outcome`` (0/1 per client) is required by ``information_gain``; for every other method, when
    given, the information gain of the split against it is added to the diagnostics. ``costs`` (hours
    per client) is read by ``capacity`` only, instead of the scalar ``cost`` parameter.
    """
    params = _check_params(method, params)
    if method == "fixed":
        result = split_fixed(scores, params["threshold"])
    elif method == "top_share":
        result = split_top_share(scores, params["q"])
    elif method == "top_k":
        result = split_top_k(scores, params["k"])
    elif method == "pareto":
        result = split_pareto(scores, params.get("p", 0.8))
    elif method == "natural_break":
        result = split_natural_break(scores)
    elif method == "capacity":
        if costs is not None and "cost" in params:
            raise SplitError(gettext_noop("Give either one cost per client or a cost for each client, not both."))
        if costs is None and "cost" not in params:
            raise SplitError(gettext_noop("The capacity method needs the hours each client costs (cost)."))
        result = split_capacity(scores, costs if costs is not None else params["cost"], params["budget"])
    else:
        return split_information_gain(scores, outcome)
    if outcome is not None:
        result.diagnostics.update(outcome_diagnostics(result.upper, outcome))
    return result


def _parse_number(text: str, name: str) -> float:
    cleaned = text.strip().replace("_", "")
    share = cleaned.endswith("%")
    try:
        number = float(cleaned[:-1] if share else cleaned)
    except ValueError:
        raise SplitError(gettext_noop("Parameter %(name)s must be a number, not %(value)s."),
                         name=name, value=repr(text)) from None
    if not math.isfinite(number):
        raise SplitError(gettext_noop("Parameter %(name)s must be a finite number, not %(value)s."),
                         name=name, value=repr(text))
    return number / 100 if share else number


def parse_params(method: str, raw: Mapping[str, str]) -> dict[str, Any]:
    """``{"q": "0.2"}`` as typed in a form, the API or ``--param q=0.2`` → ``{"q": 0.2}``.

    Unknown method or parameter names and values that are not numbers raise :class:`SplitError`;
    ``20%`` means 0.2; a whole-number parameter accepts ``10`` or ``10.0``. Range checks (q in (0, 1] …)
    happen when the method runs, and required parameters are checked then too.
    """
    if method not in PARAMS:
        raise SplitError(gettext_noop("Unknown split method %(method)s; choose one of %(choices)s."),
                         method=repr(method), choices=", ".join(METHODS))
    declared = PARAMS[method]
    typed: dict[str, Any] = {}
    for name, text in raw.items():
        key = str(name).strip()
        if key not in declared:
            raise SplitError(gettext_noop("Method %(method)s has no parameter %(name)s; it takes %(accepted)s."),
                             method=method, name=repr(key), accepted=", ".join(declared) or "none")
        number = _parse_number(str(text), key)
        if declared[key] is int:
            if not number.is_integer():
                raise SplitError(gettext_noop("Parameter %(name)s must be a whole number, not %(value)s."),
                                 name=key, value=repr(text))
            typed[key] = int(number)
        else:
            typed[key] = number
    return typed


def compare_methods(scores: Any, *, outcome: Any = None, costs: Any = None,
                    params_by_method: Mapping[str, Mapping[str, Any]] | None = None) -> list[SplitResult]:
    """Every method that can run on this input, in :data:`METHODS` order: where would the line fall?

    Defaults: :data:`DEFAULT_PARAMS` (top_share q = 0.2, pareto p = 0.8, natural_break,
    information_gain). ``params_by_method`` adds or overrides methods (``fixed``, ``top_k`` and
    ``capacity`` run only when given there; capacity also takes ``costs``). Skipped: information_gain
    without an outcome, capacity without a budget, and a default method the input does not allow (pareto
    on negative scores). Errors in parameters the caller gave are raised, not skipped.
    """
    s = _as_scores(scores)
    given = {method: dict(params) for method, params in (params_by_method or {}).items()}
    for method in given:
        if method not in PARAMS:
            raise SplitError(gettext_noop("Unknown split method %(method)s; choose one of %(choices)s."),
                             method=repr(method), choices=", ".join(METHODS))
    if outcome is not None:
        outcome = _as_outcome(outcome, s.size)               # a bad outcome is an error, not a skip
    results = []
    for method in METHODS:
        if method == "information_gain" and outcome is None:
            continue
        if method == "capacity" and given.get(method, {}).get("budget") is None:
            continue
        if method not in given and method not in DEFAULT_PARAMS:
            continue
        params = given.get(method, DEFAULT_PARAMS.get(method, {}))
        try:
            results.append(split(method, s, outcome=outcome, costs=costs if method == "capacity" else None,
                                 **params))
        except SplitError:
            if method in given:
                raise
    return results
