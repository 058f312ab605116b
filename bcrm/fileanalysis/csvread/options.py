"""The options that settle what the file cannot tell, shared by every analyst tool's doors."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from bcrm.fileanalysis.csvread.cells import DECIMAL_MARKS

#: The keyword arguments :func:`read_table` takes for them (``read_columns``: ``decimal`` only).
READING_OPTIONS = ("decimal", "dayfirst", "date_format")


def add_reading_arguments(parser: Any, *, dates: bool = True) -> None:
    """``--decimal``, and with ``dates`` ``--dayfirst`` / ``--monthfirst`` and ``--date-format``."""
    parser.add_argument("--decimal", choices=DECIMAL_MARKS, default=None,
                        help=_("the decimal mark of the file's numbers (default: decided from the file; "
                               "refused when it cannot tell)"))
    if dates:
        order = parser.add_mutually_exclusive_group()
        order.add_argument("--dayfirst", dest="dayfirst", action="store_const", const=True, default=None,
                           help=_("read 01/02/2024 as 1 February (default: decided per column from its values)"))
        order.add_argument("--monthfirst", dest="dayfirst", action="store_const", const=False,
                           help=_("read 01/02/2024 as 2 January"))
        parser.add_argument("--date-format", default=None, metavar="FORMAT",
                            help=_("the format of every date cell, in strptime codes, e.g. %%m/%%d/%%Y"))


def reading_options(options: dict[str, Any]) -> dict[str, Any]:
    """The reading options among a door's parsed ``options``, for :func:`read_table`."""
    return {name: options.get(name) for name in READING_OPTIONS}
