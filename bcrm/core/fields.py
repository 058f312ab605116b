"""Checks on the ``data`` dicts the doors hand to services."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from bcrm.core.errors import InvalidInput


def only_fields(data: dict[str, Any], allowed: set[str] | frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(fields={k: [_("This field cannot be set here.")] for k in unknown})
    return dict(data)
