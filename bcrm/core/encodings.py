"""The text encoding of an uploaded CSV file, decided in one place for the import (bcrm.dataio) and the
analyst's file tools (`bcrm analyse`, bcrm.fileanalysis).

Accepted: UTF-8 (with or without a byte order mark), UTF-16 with a byte order mark (where the caller allows
it), GB18030/GBK/GB2312, Big5, Shift-JIS and EUC-KR (read with their Windows supersets cp950, cp932, cp949,
which is what spreadsheet programs write). Decided on a sample of the file's first bytes:

1. a byte order mark decides; NUL bytes mean UTF-16 without a mark or a binary file: refused;
2. text that is valid UTF-8 is UTF-8 (ASCII included);
3. otherwise every East Asian candidate that decodes the sample without error is weighed:
   charset-normalizer's "chaos" (how much the decoded text looks like mojibake) drops the implausible ones,
   and of the rest the one whose characters are the common ones of its own script wins (GB2312 level-1
   hanzi for GB18030, Big5's frequent characters, kana and JIS level-1 kanji for Shift-JIS, KS X 1001 hangul
   for EUC-KR) — GB18030 bytes read as Shift-JIS give rare kanji and half-width katakana, and the other way
   round, so the right reading stands out.
4. When no candidate reads the file, or two read it about equally well, the file is refused with the code
   ``unknown_encoding`` rather than guessed: a wrong guess would store mojibake.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

from bcrm.core.texts import gettext_noop, text

#: The name shown to people for each codec used to read a file.
LABELS = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "gb18030": "GB18030", "cp950": "Big5",
          "cp932": "Shift-JIS", "cp949": "EUC-KR"}
CANDIDATES = ("gb18030", "cp950", "cp932", "cp949")
# charset-normalizer's names for the candidates (and their close relatives it may answer with).
_NORMALIZER_NAMES = {"gb18030": "gb18030", "gb2312": "gb18030", "gbk": "gb18030", "big5": "cp950",
                     "cp950": "cp950", "big5hkscs": "cp950", "cp932": "cp932", "shift_jis": "cp932",
                     "cp949": "cp949", "euc_kr": "cp949"}
MIN_COMMON = 0.9      # the winner's share of common characters
MIN_MARGIN = 0.08     # its lead over the runner-up
SCORED_CHARS = 20_000
MIN_HANGUL = 16       # hangul needed to tell EUC-KR from GB18030 (a shorter all-hangul reading is a tie)

UNKNOWN = gettext_noop("The file's text encoding could not be recognised with confidence (it reads about as "
                       "well as %(candidates)s). Save it as CSV UTF-8 and upload it again.")
UNREADABLE = gettext_noop("The file is not UTF-8 or GB18030 text, nor Big5, Shift-JIS or EUC-KR. Save it as CSV "
                          "UTF-8 and upload it again.")
BINARY = gettext_noop("The file is not UTF-8 or GB18030 text (it looks like UTF-16 or a binary file).")


class EncodingError(Exception):
    """Refused: ``code`` for programs (``unknown_encoding``), ``text`` the reason as a code with parameters."""

    code = "unknown_encoding"

    def __init__(self, template: str, **params: Any):
        self.text = text(template, **params)
        self.text["code"] = self.code
        super().__init__(self.text["message"])

    @property
    def message(self) -> str:
        from bcrm.core.texts import render

        return render(self.text)


@dataclass(frozen=True)
class Detected:
    encoding: str         # a Python codec name, to open the file with
    label: str            # what to show people


def detect(sample: bytes, *, final: bool, allow_utf16: bool = False) -> Detected:
    """The encoding of a file whose first bytes are ``sample`` (``final``: the whole file)."""
    if sample.startswith(codecs.BOM_UTF8):
        return _found("utf-8-sig")
    if allow_utf16 and sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _found("utf-16")
    if b"\x00" in sample:
        raise EncodingError(BINARY)
    if _decodes(sample, "utf-8", final):
        return _found("utf-8-sig")
    readings = {c: t for c in CANDIDATES if (t := _decode(sample, c, final)) is not None}
    if not readings:
        raise EncodingError(UNREADABLE)
    plausible = _not_chaotic(sample, list(readings))
    scores = sorted(((_common_share(readings[c], c), c) for c in plausible), reverse=True)
    if not scores:
        raise EncodingError(UNREADABLE)
    scores = _korean_first(scores, readings)
    best_score, best = scores[0]
    runner_up = scores[1][0] if len(scores) > 1 else 0.0
    if best_score < MIN_COMMON or best_score - runner_up < MIN_MARGIN:
        close = [LABELS[c] for s, c in scores if best_score - s < MIN_MARGIN] or [LABELS[best]]
        raise EncodingError(UNKNOWN, candidates=" / ".join(close))
    return _found(best)


def _korean_first(scores: list[tuple[float, str]], readings: dict[str, str]) -> list[tuple[float, str]]:
    """EUC-KR hangul bytes are also GB2312 level-1 hanzi, so Korean read as GB18030 looks common too. The
    converse rarely holds: Chinese read as EUC-KR gives hanja and rare syllables, except by chance in a very
    short text. A reading of at least ``MIN_HANGUL`` characters that is nothing but common hangul is Korean:
    GB18030 steps back (a shorter one stays a tie, and is refused)."""
    shares = {c: s for s, c in scores}
    hangul = sum(1 for ch in readings.get("cp949", "")[:SCORED_CHARS] if "\uac00" <= ch <= "\ud7a3")
    if shares.get("cp949") == 1.0 and "gb18030" in shares and hangul >= MIN_HANGUL:
        return [(s - 1.0 if c == "gb18030" else s, c) for s, c in scores if c != "gb18030"] + [(0.0, "gb18030")]
    return scores


def _found(codec: str) -> Detected:
    return Detected(codec, LABELS[codec])


def _decode(sample: bytes, codec: str, final: bool) -> str | None:
    try:
        return codecs.getincrementaldecoder(codec)().decode(sample, final=final)
    except UnicodeDecodeError:
        return None


def _decodes(sample: bytes, codec: str, final: bool) -> bool:
    return _decode(sample, codec, final) is not None


def _not_chaotic(sample: bytes, candidates: list[str]) -> list[str]:
    """The candidates charset-normalizer finds plausible (all of them when it finds none: it judges by
    patterns that need some text, so a tiny file is left to the script test)."""
    from charset_normalizer import from_bytes

    isolation = [name for name, codec in _NORMALIZER_NAMES.items() if codec in candidates]
    matches = from_bytes(sample[:256 * 1024], cp_isolation=isolation, threshold=0.3)
    kept = {_NORMALIZER_NAMES.get(m.encoding) for m in matches}
    kept.discard(None)
    chosen = [c for c in candidates if c in kept]
    return chosen or candidates


def _common_share(decoded: str, codec: str) -> float:
    """The share of the non-ASCII characters of ``decoded`` that are common in the script ``codec`` is for."""
    common = total = 0
    test = _COMMON[codec]
    for ch in decoded:
        if ch < "\x80" or ch in "\r\n":
            continue
        total += 1
        if _punctuation(ch) or test(ch):
            common += 1
        if total >= SCORED_CHARS:
            break
    return common / total if total else 1.0


def _punctuation(ch: str) -> bool:
    """Punctuation and symbols every East Asian encoding has (full-width forms, CJK symbols)."""
    return ("\u3000" <= ch <= "\u3003" or "\u3008" <= ch <= "\u3011" or "\uff01" <= ch <= "\uff5e"
            or ch in "\u00b7\u2014\u2018\u2019\u201c\u201d\u2026\u00d7")


def _bytes(ch: str, codec: str) -> bytes | None:
    try:
        return ch.encode(codec)
    except UnicodeEncodeError:
        return None


def _common_gb(ch: str) -> bool:
    b = _bytes(ch, "gb2312")
    return b is not None and len(b) == 2 and 0xB0 <= b[0] <= 0xD7   # level 1: the 3,755 most used hanzi


def _common_big5(ch: str) -> bool:
    b = _bytes(ch, "big5")
    return b is not None and len(b) == 2 and 0xA440 <= (b[0] << 8 | b[1]) <= 0xC67E   # frequent characters


def _common_sjis(ch: str) -> bool:
    if "\u3041" <= ch <= "\u30ff":   # hiragana, katakana (full width)
        return True
    b = _bytes(ch, "shift_jis")
    return b is not None and len(b) == 2 and 0x889F <= (b[0] << 8 | b[1]) <= 0x9872   # JIS level-1 kanji


def _common_kr(ch: str) -> bool:
    if not "\uac00" <= ch <= "\ud7a3":
        return False
    b = _bytes(ch, "euc_kr")
    return b is not None and len(b) == 2   # the 2,350 hangul of KS X 1001 (not the composed 8-byte forms)


_COMMON = {"gb18030": _common_gb, "cp950": _common_big5, "cp932": _common_sjis, "cp949": _common_kr}
