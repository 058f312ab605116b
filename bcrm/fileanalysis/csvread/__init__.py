"""Reading columns of any CSV file, shared by the ``bcrm analyse`` subcommands.

Any of UTF-8 (with or without BOM), UTF-16 with BOM, GB18030, Big5, Shift-JIS or EUC-KR (decided by
bcrm.core.encodings, as for the import); the delimiter sniffed (``,;\t|``), and for a file without a header
also runs of spaces (as in the CDNOW transaction log); thousands separators accepted in numbers; only the
wanted columns kept in memory, each converted as it is read.

* :func:`read_columns` — a score column with an optional 0/1 outcome and a cost column (``analyse split``);
* :func:`read_table` — any set of columns, each read as numbers, text or dates, chosen once the header is
  known (``analyse clv`` and ``analyse scorecard``).

A cell that cannot be read raises :class:`CsvError` with ``returncode`` 2 naming its line and value;
anything else wrong with the file (missing, empty, unknown column, undecodable) ``returncode`` 1.

Real spreadsheets must not fool the readers silently:

* the common missing-value markers (R's ``NA``, ``n/a``, ``NULL``, ``-``, ``#N/A``, ``—`` …, see
  :data:`MISSING_MARKERS`) are empty cells, counted per column;
* the decimal mark is decided once per file from the delimiter and every number cell (``1,5`` in a
  semicolon file is one and a half; ``1,500`` alone in a semicolon file is ambiguous and refused unless the
  caller names the mark), see :func:`infer_decimal`;
* the order of day and month in ``01/02/2024``-style dates is decided per column from all its values, and a
  column whose values cannot tell (or that mixes both orders) is refused with a message naming the option
  that settles it, see :func:`date_order`;
* a file with a header whose columns are separated by runs of spaces (CDNOW's master file) is read by name;
* a header that names a column twice is refused rather than silently reading the first.
"""


from bcrm.fileanalysis.csvread.cells import (
    DATE_ORDERS,
    DECIMAL_MARKS,
    DELIMITERS,
    EXIT_BAD_CELL,
    FALSE_WORDS,
    MISSING_MARKERS,
    SAMPLE_BYTES,
    TRUE_WORDS,
    CsvError,
    infer_decimal,
    is_missing,
    parse_flag,
    parse_number,
)
from bcrm.fileanalysis.csvread.columns import ColumnData, read_columns
from bcrm.fileanalysis.csvread.options import READING_OPTIONS, add_reading_arguments, reading_options
from bcrm.fileanalysis.csvread.table import (
    KINDS,
    NO_DATE,
    Table,
    date_order,
    decimal_mark,
    find_column,
    parse_date,
    read_table,
)

# The package's public names; its modules: cells (the file's text: encodings, delimiter, numbers, flags, missing
# markers), columns (read_columns: a score and its outcome and costs), table (read_table: any columns as numbers,
# text or dates), options (the reading options every analyst tool's doors share).
__all__ = [
    "DATE_ORDERS", "DECIMAL_MARKS", "DELIMITERS", "EXIT_BAD_CELL", "FALSE_WORDS", "MISSING_MARKERS", "SAMPLE_BYTES",
    "TRUE_WORDS", "CsvError", "infer_decimal", "is_missing", "parse_flag", "parse_number", "ColumnData",
    "read_columns", "READING_OPTIONS", "add_reading_arguments", "reading_options", "KINDS", "NO_DATE", "Table",
    "date_order", "decimal_mark", "find_column", "parse_date", "read_table",
]
