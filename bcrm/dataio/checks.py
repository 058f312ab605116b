"""Row validation that is not weaker than ``full_clean()``, at bulk speed.

- Field checks: each model field's own ``validate()`` (choices, null, blank) and validators (max length,
  decimal digits, e-mail, URL, integer range) — what ``full_clean()`` runs per field — minus the
  foreign-key existence query, since the importer resolves references itself, in bulk.
- Check constraints: the model's ``CheckConstraint`` conditions evaluated in Python on the row with
  SQL's three-valued logic (a comparison with NULL is unknown, and unknown passes a CHECK), so a
  row is refused with the constraint's own message instead of a query per row. Lookups it does not
  know are left to the database, which still enforces every constraint as the last line.
- ``Model.clean()`` runs where a model defines one (organisations: rating scale, verified KYC).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.constants import LOOKUP_SEP
from django.utils.translation import gettext as _

UNKNOWN = None

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "exact": operator.eq, "gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt,
}


class Unsupported(Exception):
    pass


def _value(row: dict[str, Any], model: type[models.Model], name: str) -> Any:
    field = model._meta.get_field(name)
    attname = getattr(field, "attname", name)
    value = row.get(attname, row.get(name))
    code = getattr(value, "code", None)  # django-countries Country
    return value if code is None or isinstance(value, str) else code


def _leaf(model: type[models.Model], lookup: str, expected: Any, row: dict[str, Any]) -> bool | None:
    parts = lookup.split(LOOKUP_SEP)
    name, kind = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "exact")
    if len(parts) > 2:
        raise Unsupported(lookup)
    value = _value(row, model, name)
    if isinstance(expected, F):
        expected = _value(row, model, expected.name)
    if kind == "isnull":
        return (value is None) == bool(expected)
    if kind == "in":
        return UNKNOWN if value is None else value in expected
    compare = _COMPARE.get(kind)
    if compare is None:
        raise Unsupported(lookup)
    if value is None or expected is None:
        return UNKNOWN
    return compare(value, expected)


def evaluate(q: Any, model: type[models.Model], row: dict[str, Any]) -> bool | None:
    """True, False or None (unknown) for the Q ``q`` on ``row`` (attname → value)."""
    results: list[bool | None] = []
    for child in q.children:
        if isinstance(child, Q):
            results.append(evaluate(child, model, row))
        else:
            lookup, expected = child
            results.append(_leaf(model, lookup, expected, row))
    if q.connector == Q.OR:
        result: bool | None = True if any(r is True for r in results) else (
            UNKNOWN if any(r is UNKNOWN for r in results) else False)
    else:
        result = False if any(r is False for r in results) else (
            UNKNOWN if any(r is UNKNOWN for r in results) else True)
    if q.negated:
        result = UNKNOWN if result is UNKNOWN else not result
    return result


@functools.cache
def check_constraints(model: type[models.Model]) -> list[tuple[models.CheckConstraint, str]]:
    found = []
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.CheckConstraint):
            message = str(constraint.violation_error_message or "") if constraint.violation_error_message else ""
            found.append((constraint, message))
    return found


def constraint_errors(model: type[models.Model], row: dict[str, Any]) -> list[str]:
    """Messages of the check constraints ``row`` would break (the ones Python can evaluate)."""
    errors = []
    for test, message in compiled_constraints(model):
        if test(row) is False:
            errors.append(message)
    return errors


@functools.cache
def compiled_constraints(model: type[models.Model]) -> list[tuple[Callable[[dict[str, Any]], bool | None], str]]:
    """Each evaluable check constraint as a function of the row (compiled once per model)."""
    return [(test, message) for test, message, _reads in constraint_tests(model)]


@functools.cache
def constraint_tests(model: type[models.Model]) -> list[tuple[Callable[[dict[str, Any]], bool | None], str, tuple[str, ...]]]:
    """Each evaluable check constraint as a function of the row, its message, and the attnames it reads."""
    compiled = []
    for constraint, _message in check_constraints(model):
        try:
            test = _compile(constraint.condition, model)
        except Unsupported:
            continue
        compiled.append((test, str(constraint.get_violation_error_message()), _reads(constraint.condition, model)))
    return compiled


def _reads(q: Any, model: type[models.Model]) -> tuple[str, ...]:
    names: list[str] = []
    for child in q.children:
        if isinstance(child, Q):
            names.extend(_reads(child, model))
            continue
        lookup, expected = child
        names.append(getattr(model._meta.get_field(lookup.split(LOOKUP_SEP)[0]), "attname", lookup))
        if isinstance(expected, F):
            names.append(getattr(model._meta.get_field(expected.name), "attname", expected.name))
    return tuple(dict.fromkeys(names))


def distinct_values(values: list[Any]) -> set[Any] | None:
    """The distinct values of a column when equal values are the same value (text, whole numbers, None — not
    True beside 1, not Decimal("1.0") beside Decimal("1.00")); else None: each value must be taken on its own."""
    kinds = set(map(type, values))
    if not kinds <= _DISTINCT_TYPES or {bool, int} <= kinds:
        return None
    return set(values)


_DISTINCT_TYPES = frozenset({str, int, bool, type(None)})


def _compile(q: Any, model: type[models.Model]) -> Callable[[dict[str, Any]], bool | None]:
    parts: list[Callable[[dict[str, Any]], bool | None]] = []
    for child in q.children:
        if isinstance(child, Q):
            parts.append(_compile(child, model))
        else:
            lookup, expected = child
            parts.append(_compile_leaf(model, lookup, expected))
    negated, either = q.negated, q.connector == Q.OR

    def test(row: dict[str, Any]) -> bool | None:
        results = [part(row) for part in parts]
        if either:
            result = True if True in results else (UNKNOWN if UNKNOWN in results else False)
        else:
            result = False if False in results else (UNKNOWN if UNKNOWN in results else True)
        if negated and result is not UNKNOWN:
            return not result
        return result

    return test


def _compile_leaf(model: type[models.Model], lookup: str, expected: Any) -> Callable[[dict[str, Any]], bool | None]:
    parts = lookup.split(LOOKUP_SEP)
    if len(parts) > 2:
        raise Unsupported(lookup)
    name, kind = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "exact")
    if kind not in _COMPARE and kind not in ("isnull", "in"):
        raise Unsupported(lookup)
    attname = getattr(model._meta.get_field(name), "attname", name)
    other = getattr(model._meta.get_field(expected.name), "attname", expected.name) if isinstance(expected, F) else None
    compare = _COMPARE.get(kind)

    def value_of(row: dict[str, Any], key: str) -> Any:
        value = row.get(key)
        code = getattr(value, "code", None)  # django-countries Country
        return value if code is None or isinstance(value, str) else code

    def leaf(row: dict[str, Any]) -> bool | None:
        value = value_of(row, attname)
        target = value_of(row, other) if other is not None else expected
        if kind == "isnull":
            return (value is None) == bool(target)
        if value is None or target is None:
            return UNKNOWN
        if kind == "in":
            return value in target
        return compare(value, target)  # type: ignore[misc]

    return leaf


VALID_CACHE = 4096  # values remembered as valid per field checker
CACHED_TYPES = frozenset({str, int, bool})  # whose equal values are the same value


def field_checker(field: models.Field) -> Callable[[Any], list[str]]:
    """What ``full_clean()`` checks on one field — ``Field.validate()`` (choices, null, blank) and
    ``Field.run_validators()`` — with the same messages, as a function; choices are a set lookup."""
    messages = field.error_messages
    empty = field.empty_values
    choices = {v for v, _label in field.flatchoices} if field.choices else None
    validators = list(field.validators)
    null, blank, editable = field.null, field.blank, field.editable
    # Values already found valid (validators are pure functions of the value): a file repeats its kinds, minutes
    # and currencies on every row. Bounded, so a column of distinct values costs a few thousand entries at most.
    valid: set[tuple[type, Any]] = set()

    def check(value: Any) -> list[str]:
        if not editable:
            return []
        kind = value.__class__
        if kind not in CACHED_TYPES:  # Decimal("1.0") == Decimal("1.000"), yet only one may fit the field
            return _check(value)
        key = (kind, value)
        if key in valid:
            return []
        errors = _check(value)
        if not errors and len(valid) < VALID_CACHE:
            valid.add(key)
        return errors

    def _check(value: Any) -> list[str]:
        if choices is not None and value not in empty and value not in choices:
            return [str(messages["invalid_choice"] % {"value": value})]
        if value is None and not null:
            return [str(messages["null"])]
        if not blank and value in empty:
            return [str(messages["blank"])]
        if value in empty or not validators:
            return []
        errors: list[str] = []
        for validator in validators:
            try:
                validator(value)
            except ValidationError as exc:
                for error in exc.error_list:
                    message = error.message
                    if error.code in messages:
                        message = messages[error.code]
                    errors.append(str(message % error.params) if error.params else str(message))
        return errors

    return check


def database_error_message(model: type[models.Model], error: Exception) -> str:
    """A person's message for an integrity error the checks above did not foresee: the violated
    constraint's own message when the database names it, else a generic one."""
    text = str(error)
    for constraint in model._meta.constraints:
        if constraint.name and constraint.name in text:
            return str(constraint.get_violation_error_message())
    if "unique" in text.lower() or "duplicate" in text.lower():
        return _("This row conflicts with a record that already exists (a unique value is taken).")
    return _("The database refused this row (it breaks one of its rules).")
