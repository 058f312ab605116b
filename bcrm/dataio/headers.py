"""Which file column is which field: by saved mapping, field name, English or Chinese label, or synonym.

Comparison ignores case, surrounding whitespace, full-width forms (NFKC), ``_``/``-`` against spaces, a
trailing ``*`` or ``:`` and, as a last resort, a trailing unit in brackets (``金额（元）`` is ``金额``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from bcrm.dataio.readers import ImportFileError
from bcrm.dataio.specs import EXPORT_ONLY_HEADERS, REASON_HEADERS, SPECS, Column, EntitySpec

HEADER_SCAN_ROWS = 10


def normalize_header(text: Any) -> str:
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    text = re.sub(r"[_\-–—]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip().strip("*:： ").strip()
    return text


@functools.cache
def _export_only() -> frozenset[str]:
    return frozenset(normalize_header(h) for h in EXPORT_ONLY_HEADERS)


def _without_unit(key: str) -> str:
    return re.sub(r"\s*\([^()]*\)$", "", key).strip()


def _names(spec: EntitySpec) -> dict[str, str]:
    return _names_for(spec.entity)


@functools.cache
def _names_for(entity: str) -> dict[str, str]:
    """normalised header → column name, strongest first: field name, English label, Chinese label, synonyms."""
    spec = SPECS[entity]
    names: dict[str, str] = {}
    for column in spec.columns:
        names.setdefault(normalize_header(column.name), column.name)
    for column in spec.columns:
        with translation.override("en"):
            names.setdefault(normalize_header(str(column.label)), column.name)
        names.setdefault(normalize_header(column.zh), column.name)
    for column in spec.columns:
        with translation.override("zh-hans"):
            names.setdefault(normalize_header(str(column.label)), column.name)
        for synonym in column.synonyms:
            names.setdefault(normalize_header(synonym), column.name)
    return names


@dataclass
class HeaderMatch:
    columns: dict[int, Column] = field(default_factory=dict)  # file column index → spec column
    ignored: list[str] = field(default_factory=list)           # headers read from the file but not imported
    present: set[str] = field(default_factory=set)             # spec column names the file has

    def as_mapping(self, headers: list[Any]) -> dict[str, str]:
        return {str(headers[i]): c.name for i, c in self.columns.items()}


def resolve_header(spec: EntitySpec, header: Any, mapping: dict[str, str] | None = None) -> str | None:
    """The spec column ``header`` means, or None; a mapping entry of "" means "ignore this column"."""
    key = normalize_header(header)
    if not key:
        return None
    if mapping:
        for source, target in mapping.items():
            if normalize_header(source) == key:
                return target or None
    names = _names(spec)
    return names.get(key) or names.get(_without_unit(key))


def count_matches(spec: EntitySpec, cells: list[Any], mapping: dict[str, str] | None) -> int:
    return len({name for cell in cells if (name := resolve_header(spec, cell, mapping))})


def match_headers(spec: EntitySpec, headers: list[Any], mapping: dict[str, str] | None = None) -> HeaderMatch:
    """Map the header row; two headers meaning the same field, or a missing required column, fail the file."""
    result = HeaderMatch()
    seen: dict[str, Any] = {}
    valid = set(spec.names)
    for index, header in enumerate(headers):
        if header is None or not str(header).strip():
            continue
        name = resolve_header(spec, header, mapping)
        if name is None or name not in valid:
            key = normalize_header(header)
            deliberately_ignored = mapping and any(normalize_header(s) == key and not t for s, t in mapping.items())
            export_only = spec.entity == "organizations" and key in _export_only()
            if key not in REASON_HEADERS and not deliberately_ignored and not export_only:
                result.ignored.append(str(header))
            continue
        if name in seen:
            raise ImportFileError(_("Columns “%(first)s” and “%(second)s” both mean %(field)s; keep one of them.")
                                  % {"first": seen[name], "second": header, "field": name})
        seen[name] = header
        result.columns[index] = spec.column(name)
        result.present.add(name)
    missing = [c for c in spec.required if c.name not in result.present]
    groups = [g for g in spec.required_refs
              if not {g, f"{g}_external_id", f"{g}_bcrm_id"} & result.present]
    if missing or groups:
        names = [f"{c.name} ({c.label} / {c.zh})" for c in missing]
        names += [f"{g} ({spec.column(g).label} / {spec.column(g).zh})" for g in groups]
        raise ImportFileError(_("Required column missing: %(columns)s. No row was imported.")
                              % {"columns": "; ".join(names)})
    return result


def find_header_row(spec: EntitySpec, first_rows: list[tuple[int, list[Any]]],
                    mapping: dict[str, str] | None = None) -> int:
    """Index in ``first_rows`` of the header: the row naming most known columns (title rows above it,
    like a merged "2025 client list" banner, are skipped). Ties go to the earliest row."""
    best_index, best = 0, 0
    for index, (_number, cells) in enumerate(first_rows[:HEADER_SCAN_ROWS]):
        n = count_matches(spec, cells, mapping)
        if n > best:
            best_index, best = index, n
    return best_index
