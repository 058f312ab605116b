"""Property-based tests of the pure pieces: rating scale and page arithmetic."""

from hypothesis import example, given
from hypothesis import strategies as st

from bcrm.core.pagination import Page
from bcrm.parties.ratings import LETTER_SCALE, MOODYS_SCALE, rating_score


@given(st.integers(0, len(LETTER_SCALE) - 1), st.integers(0, len(LETTER_SCALE) - 1))
def test_better_letter_grade_has_lower_score(i, j):
    a, b = rating_score("sp", LETTER_SCALE[i]), rating_score("sp", LETTER_SCALE[j])
    assert (a < b) == (i < j)


@given(st.integers(0, len(MOODYS_SCALE) - 1))
def test_moodys_and_sp_agree_on_the_same_notch(i):
    assert rating_score("moodys", MOODYS_SCALE[i]) == rating_score("fitch", LETTER_SCALE[i]) == i + 1


@given(st.text(max_size=6))
@example("²")  # a digit to str.isdigit(), not to int()
def test_unknown_grades_score_none_or_on_scale(grade):
    for agency in ("sp", "moodys", "internal"):
        score = rating_score(agency, grade)
        assert score is None or 1 <= score <= 22


@given(count=st.integers(0, 5000), size=st.integers(1, 200), number=st.integers(1, 60))
def test_page_has_next_exactly_when_rows_remain(count, size, number):
    shown = max(0, min(size, count - (number - 1) * size))
    page = Page(items=[None] * shown, number=number, size=size, count=count, count_is_capped=False)
    assert page.has_next == ((number - 1) * size + shown < count)
    assert page.num_pages * size >= count
