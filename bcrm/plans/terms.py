"""The terms of a financing plan as plain data, and the pure pieces over them: what changed between two
versions (:func:`diff_terms`). No database here (property-tested with hypothesis)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the terms a plan version (and a plan template) holds, in the order documents and comparisons show them
TERM_FIELDS: tuple[str, ...] = (
    "instrument", "amount", "currency", "tenor_months", "grace_months", "repayment", "reference_rate",
    "margin_bps", "upfront_fee_pct", "commitment_fee_pct", "arrangement_fee", "security", "covenants",
    "conditions", "rationale",
)


@dataclass(frozen=True)
class TermChange:
    field: str
    before: Any
    after: Any


def diff_terms(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[TermChange]:
    """The terms whose value differs between two versions, in :data:`TERM_FIELDS` order (a term missing on
    one side counts as None). Equal terms are left out; ``diff(a, a)`` is empty."""
    return [TermChange(name, before.get(name), after.get(name)) for name in TERM_FIELDS
            if before.get(name) != after.get(name)]
