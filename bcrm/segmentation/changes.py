"""Which clients' results changed since their standing assignment: pure NumPy, no Django.

A run writes an assignment row only for the clients whose result a reader would see differently; every
other client keeps its standing row (written by an earlier run of the chain). The default criteria use
percentile ranks and min-max scaling, so a change in a few clients moves everybody's score, contributions
and the line by tiny amounts: comparing floats exactly would rewrite every row every run. Floats are
therefore compared at a stated precision, always against the **stored** value (never the previous run's
unrounded one), so the difference between what a reader sees and what a full run would have written
never exceeds that precision, however long the chain:

================  =====================================================================================
label, engine label, previous label, overridden, kept by hysteresis, rule, missing-evidence reasons,
the features named in the explanation          exactly
score             within 0.0005 (the pages show three decimals), **and** on the same side of the new
                  run's line as the new score (the margin, computed when read as score − line, never
                  shows a client on the wrong side)
contributions     within 0.0005 each (shown with three decimals)
feature values    years, months and scores within 0.05, shares within 0.005 (half the last digit the
                  pages show: one decimal, a whole percentage); others within 0.0005 + 0.0001 × |value|
                  (four significant digits: money, counts). Years of relationship grow for everyone every
                  day, and the relationship strength with them: at four digits a quarter of the 1M
                  relationship rows were rewritten each day the as-of date moved (issue 19)
completeness      within 0.0005 (shown as a whole percentage)
stability         within 0.005 (shown as a whole percentage)
months of history within 0.05 (for the clients short of history)
================  =====================================================================================

A client whose label moved in this run is always written (the moves are what migrations, events and the
current labels follow).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SCORE_TOLERANCE = 5e-4
CONTRIBUTION_TOLERANCE = 5e-4
VALUE_TOLERANCE = 5e-4
VALUE_RELATIVE = 1e-4
COMPLETENESS_TOLERANCE = 5e-4
STABILITY_TOLERANCE = 5e-3
HISTORY_TOLERANCE = 0.05
#: Decimals the pages show a feature value with, by its unit (``Feature.unit``), where that is fewer digits than
#: four significant ones (``selectors.format_feature_value`` reads it; a share shown as a whole percentage is two
#: decimals of the fraction). A value is compared within half its last shown digit; other units:
#: VALUE_TOLERANCE + VALUE_RELATIVE.
SHOWN_DECIMALS = {"years": 1, "months": 1, "score": 1, "share": 2}
UNIT_TOLERANCE = {unit: 0.5 * 10.0 ** -decimals for unit, decimals in SHOWN_DECIMALS.items()}

#: The explanation's numbers per client, in this order (float32 when stored: ``pack``/``unpack``).
TOP = 3
FINGERPRINT = (
    [f"feature_{i}" for i in range(TOP)] + [f"value_{i}" for i in range(TOP)]
    + [f"contribution_{i}" for i in range(TOP)] + ["rule", "reasons", "history", "completeness_shown"]
)
WIDTH = len(FINGERPRINT)
EXACT = np.array([name.startswith(("feature_", "rule", "reasons")) for name in FINGERPRINT])
VALUES = np.array([name.startswith("value_") for name in FINGERPRINT])
CONTRIBUTIONS = np.array([name.startswith("contribution_") for name in FINGERPRINT])
ROW_BYTES = WIDTH * 4


@dataclass
class Results:
    """Aligned per-client results: one run's computed ones, or the standing rows (``present`` False where a
    client has none)."""

    label: np.ndarray          # object: label codes
    engine_label: np.ndarray   # object
    previous: np.ndarray       # object: the label users saw before ("" none)
    overridden: np.ndarray     # bool
    held: np.ndarray           # bool
    score: np.ndarray          # float64, NaN none
    completeness: np.ndarray   # float64
    stability: np.ndarray      # float64, NaN none
    fingerprint: np.ndarray    # float64 (n × WIDTH), NaN unknown
    present: np.ndarray | None = None  # bool; None = every client has a row


def _close(a: np.ndarray, b: np.ndarray, tolerance: np.ndarray | float) -> np.ndarray:
    """Equal within ``tolerance``, NaN equal to NaN (and only to NaN)."""
    with np.errstate(invalid="ignore"):
        near = np.abs(a - b) <= tolerance
    return near | (np.isnan(a) & np.isnan(b))


def unchanged(new: Results, old: Results, line: float | None, units: Sequence[str] = ()) -> np.ndarray:
    """Clients whose standing row still says what ``new`` says, at the precision above (bool per client).

    ``line`` is the new run's threshold (None: no line, so no side to keep); ``units`` the unit of each of
    the run's features, in the order the fingerprints number them (none: four significant digits for all)."""
    n = new.label.size
    same = np.ones(n, dtype=bool) if old.present is None else old.present.astype(bool).copy()
    same &= (new.label == old.label) & (new.engine_label == old.engine_label) & (new.previous == old.previous)
    same &= new.label == new.previous  # a client that moved is always written
    same &= (new.overridden == old.overridden) & (new.held == old.held)
    same &= _close(new.score, old.score, SCORE_TOLERANCE)
    if line is not None and np.isfinite(line):
        with np.errstate(invalid="ignore"):
            same &= np.isnan(new.score) | ((new.score >= line) == (old.score >= line))
    same &= _close(new.completeness, old.completeness, COMPLETENESS_TOLERANCE)
    same &= _close(new.stability, old.stability, STABILITY_TOLERANCE)
    a, b = new.fingerprint, old.fingerprint
    with np.errstate(invalid="ignore"):
        value_tolerance = VALUE_TOLERANCE + VALUE_RELATIVE * np.maximum(np.abs(a[:, VALUES]), np.abs(b[:, VALUES]))
    if len(units):
        by_feature = np.array([UNIT_TOLERANCE.get(unit, 0.0) for unit in units] + [0.0])  # [-1]: no feature
        named = a[:, :TOP]
        index = np.where(np.isfinite(named) & (named >= 0) & (named < len(units)), named, -1).astype(np.int64)
        value_tolerance = np.maximum(value_tolerance, by_feature[index])
    same &= _close(a[:, EXACT], b[:, EXACT], 0.0).all(axis=1)
    same &= _close(a[:, VALUES], b[:, VALUES], np.nan_to_num(value_tolerance)).all(axis=1)
    same &= _close(a[:, CONTRIBUTIONS], b[:, CONTRIBUTIONS], CONTRIBUTION_TOLERANCE).all(axis=1)
    history = FINGERPRINT.index("history")
    same &= _close(a[:, history], b[:, history], HISTORY_TOLERANCE)
    shown = FINGERPRINT.index("completeness_shown")
    same &= _close(a[:, shown], b[:, shown], COMPLETENESS_TOLERANCE)
    return same


def pack(rows: np.ndarray) -> list[bytes]:
    """Each fingerprint row as float32 bytes (what ``Assignment.fingerprint`` stores)."""
    data = np.ascontiguousarray(rows, dtype=np.float32)
    raw = data.tobytes()
    return [raw[i:i + ROW_BYTES] for i in range(0, len(raw), ROW_BYTES)]


def unpack(stored: Sequence) -> np.ndarray:
    """Stored fingerprints (bytes, memoryview or None) → float64 (n × WIDTH), NaN rows for missing ones (a
    row written before fingerprints were kept: it never compares equal, so it is rewritten once)."""
    blank = np.full(WIDTH, np.nan, dtype=np.float32).tobytes()
    joined = b"".join(bytes(v) if v is not None and len(v) == ROW_BYTES else blank for v in stored)
    return np.frombuffer(joined, dtype=np.float32).reshape(-1, WIDTH).astype(np.float64)
