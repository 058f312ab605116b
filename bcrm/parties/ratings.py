"""Credit rating grades mapped to one numeric scale: 1 (AAA/Aaa) … 22 (D); lower is better.

S&P, Fitch and domestic agencies share the letter scale; Moody's has its own spelling of it.
Internal ratings are given as 1–22 directly.
"""

from __future__ import annotations

LETTER_SCALE = [
    "AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-",
    "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C", "D",
]
MOODYS_SCALE = [
    "Aaa", "Aa1", "Aa2", "Aa3", "A1", "A2", "A3", "Baa1", "Baa2", "Baa3", "Ba1", "Ba2", "Ba3",
    "B1", "B2", "B3", "Caa1", "Caa2", "Caa3", "Ca", "C", "D",
]
INVESTMENT_GRADE_WORST = 10  # BBB- / Baa3


def rating_score(agency: str, grade: str) -> int | None:
    """The numeric scale value of ``grade`` at ``agency``, or None when the grade is not on its scale."""
    grade = (grade or "").strip()
    if not agency or not grade:
        return None
    if agency == "moodys":
        lookup = {g.upper(): i + 1 for i, g in enumerate(MOODYS_SCALE)}
        return lookup.get(grade.upper())
    if agency == "internal":
        # isdigit() accepts "²"; only ASCII digits are a grade.
        if not (grade.isascii() and grade.isdigit()):
            return None
        return int(grade) if 1 <= int(grade) <= len(LETTER_SCALE) else None
    lookup = {g: i + 1 for i, g in enumerate(LETTER_SCALE)}
    return lookup.get(grade.upper())


def grades_for(agency: str) -> list[str]:
    if agency == "moodys":
        return list(MOODYS_SCALE)
    if agency == "internal":
        return [str(i) for i in range(1, len(LETTER_SCALE) + 1)]
    return list(LETTER_SCALE)
