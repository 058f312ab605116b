"""An import reads and parses its next batches in a thread while the database takes the current one
(bcrm.dataio.services.ParsedAhead): the batches come in the file's order, parsed, in the import's language; an
error in the file is raised where its batch is taken; leaving early stops the thread."""

import threading
import time

import pytest
from django.utils import translation
from django.utils.translation import gettext as _

from bcrm.dataio.services import ParsedAhead


def batches(n, size=3, fail_at=None):
    for b in range(n):
        if b == fail_at:
            raise ValueError(f"batch {b} is not readable")
        yield [(b * size + i + 1, [f"cell {b * size + i + 1}"]) for i in range(size)]


def parse(rows):
    for row in rows:
        row.values = {"text": row.raw[0].upper(), "thread": threading.current_thread().name,
                      "message": _("This field is required.")}


def workers():
    return [t for t in threading.enumerate() if t.name == "import-parse"]


def test_batches_come_in_order_parsed_in_another_thread():
    out = list(ParsedAhead(batches(20), parse))
    numbers = [row.number for rows in out for row in rows]
    assert numbers == list(range(1, 61))
    assert [row.values["text"] for row in out[4]] == ["CELL 13", "CELL 14", "CELL 15"]
    assert {row.values["thread"] for rows in out for row in rows} == {"import-parse"}
    assert not workers()


def test_the_thread_parses_in_the_import_language():
    with translation.override("zh-hans"):
        out = list(ParsedAhead(batches(2), parse))
    assert out[0][0].values["message"] == "此字段为必填项。"  # bcrm's catalogue
    with translation.override("en"):
        out = list(ParsedAhead(batches(1), parse))
    assert out[0][0].values["message"] == "This field is required."


def test_an_error_in_the_file_is_raised_after_the_batches_before_it():
    taken = []

    def take():
        for rows in ParsedAhead(batches(10, fail_at=3), parse):
            taken.append(rows[0].number)

    with pytest.raises(ValueError, match="batch 3 is not readable"):
        take()
    assert taken == [1, 4, 7]
    assert not workers()


def test_leaving_early_stops_the_thread_and_reads_no_further():
    read = []

    def counted():
        for batch in batches(1000):
            read.append(batch[0][0])
            yield batch

    ahead = ParsedAhead(counted(), parse, depth=2)
    for i, _rows in enumerate(ahead):
        if i == 1:
            break
    time.sleep(0.2)
    assert not workers()
    assert len(read) <= 2 + 2 + 1  # the two taken, at most ``depth`` waiting, one in the worker's hands
