"""Moved to bcrm.core.bulk (the entity services' batch writers use it too); kept as an alias for the importer."""

from bcrm.core.bulk import PkSet, RowInserter, datetime_converter, fetch_by_tuples

__all__ = ["PkSet", "RowInserter", "datetime_converter", "fetch_by_tuples"]
