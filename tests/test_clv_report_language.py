"""The `bcrm analyse clv` text report reads wholly in the reader's language, its columns aligned by what a
terminal shows (a Chinese character takes two columns), and the padding helpers it uses."""

from __future__ import annotations

import re

from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from bcrm.core.formatting import display_width, ljust, rjust
from tests.datafiles import SPEND
from tests.doors import command

# Every English word the report's own labels are made of (numbers, file names and parameter symbols aside).
ENGLISH_LABELS = ("File", "Customers", "repeat buyers", "rows skipped", "Time unit", "parameter", "estimate",
                  "std. error", "log-likelihood", "customers", "converged", "iterations",
                  "expected repeat purchases", "mean P(alive)", "mean expected spend", "total lifetime value",
                  "population mean spend", "frequency-spend correlation")


def report(language: str) -> str:
    with translation.override(language):
        return command("analyse", "clv", str(SPEND))


def test_the_chinese_report_has_no_english_label():
    chinese, english = report("zh-hans"), report("en")
    for label in ENGLISH_LABELS:
        assert label in english
        assert not re.search(rf"(?<![\w/.]){re.escape(label)}(?![\w])", chinese), label
    assert "标准误" in chinese and "客户终身价值合计" in chinese


def test_the_chinese_reports_columns_line_up_on_a_terminal():
    lines = report("zh-hans").splitlines()
    header = next(line for line in lines if "估计值" in line)
    row = next(line for line in lines if line.startswith("  alpha"))
    # the estimate's and the standard error's headings end where their numbers end
    assert display_width(header) == display_width(row)
    totals = [line for line in lines if line.lstrip().startswith(("预期重复购买次数", "平均存活概率", "平均预期每次消费",
                                                                  "客户终身价值合计"))]
    starts = {display_width(line) - len(line.split()[-1]) for line in totals}
    assert len(totals) == 4 and len(starts) == 1


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Mn", "Me", "Cf"))),
       st.integers(0, 40))
def test_padding_reaches_the_width_and_keeps_the_text(text, width):
    for padded in (ljust(text, width), rjust(text, width)):
        assert text in padded and display_width(padded) == max(width, display_width(text))
    assert ljust(text, width).startswith(text) and rjust(text, width).endswith(text)


def test_a_chinese_character_is_two_columns():
    assert display_width("客户") == 4 and display_width("File") == 4 and display_width("客户a") == 5


def test_the_split_reports_diagnostics_are_words_in_the_readers_language():
    with translation.override("zh-hans"):
        chinese = command("analyse", "split", str(SPEND), "--column", "zbar")
    assert "类内平方和" in chinese and "within_ss" not in chinese and "Diagnostics" not in chinese
