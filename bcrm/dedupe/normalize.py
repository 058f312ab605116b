"""Normalised keys for duplicate detection: pure functions, no Django.

Two records that a person would call the same client should get the same key; two that a person
would tell apart should not. The rules, in the order they apply:

- Unicode NFKC (full-width ``ＨＵＡＮＥＮＧ（中国）`` becomes ``HUANENG(中国)``), then case folding;
- punctuation and whitespace separate words and are then dropped (``Co.,Ltd.`` = ``Co Ltd``);
- legal-form suffixes are removed from the end, in English and Chinese, repeatedly
  (``Co., Ltd.``, ``Limited``, ``Inc.``, ``S.A.``, ``GmbH``… ``有限公司``, ``股份有限公司``…), and a
  ``(China)`` / ``(中国)`` qualifier anywhere;
- the *loose* key also removes group words (``Group``, ``Holdings``, ``集团``, ``控股``): a group and
  its holding company are often, but not always, the same client, so a loose match scores lower.

A name is never reduced to nothing: ``Holdings Ltd`` keeps ``holdings``.
"""

from __future__ import annotations

import re
import unicodedata

# Legal forms, as whole words at the end of a name (after punctuation is dropped, so "S.A." is "sa").
LEGAL_WORDS = frozenset({
    "co", "company", "ltd", "limited", "inc", "incorporated", "corp", "corporation", "llc", "plc", "lp", "llp",
    "sa", "spa", "sas", "sarl", "srl", "ag", "gmbh", "kg", "bv", "nv", "oy", "ab", "as", "asa", "pte", "pty",
    "kk", "bhd", "sdn", "tbk", "jsc", "pjsc", "ooo", "sl",
})
# Spelled with spaces between letters ("S. A.", "S p A") they arrive as several one-letter words.
LEGAL_SEQUENCES = (("s", "a"), ("s", "p", "a"), ("b", "v"), ("n", "v"), ("s", "a", "r", "l"), ("s", "r", "l"),
                   ("l", "l", "c"), ("p", "l", "c"), ("k", "k"), ("a", "g"))
# Chinese legal forms, longest first: removed from the end of the last word.
LEGAL_SUFFIXES_ZH = ("股份有限责任公司", "有限责任公司", "股份有限公司", "有限公司", "股份公司", "责任公司", "公司")
GROUP_WORDS = frozenset({"group", "groups", "holding", "holdings"})
GROUP_SUFFIXES_ZH = ("控股集团", "集团", "控股", "股份")
LEADING_WORDS = frozenset({"the"})

_CHINA_QUALIFIER = re.compile(r"[(\[【〔]\s*(?:中国|中國|china|prc|the\s+prc)\s*[)\]】〕]")
_JOINERS = re.compile(r"[.'’`]")  # dropped without a break: "S.A." is one word, "Moody's" too
_WORD = re.compile(r"[^\W_]+")
_URL_REST = re.compile(r"[/?#\\]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")

HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "madam", "dame"})
HONORIFIC_SUFFIXES_ZH = ("先生", "女士", "小姐", "博士", "教授")

# Addresses anybody can have: a shared one says nothing about two organisations being one.
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "qq.com", "foxmail.com", "vip.qq.com", "163.com", "126.com", "yeah.net",
    "vip.163.com", "vip.126.com", "188.com", "sina.com", "sina.cn", "vip.sina.com", "sohu.com", "aliyun.com",
    "139.com", "189.cn", "wo.cn", "21cn.com", "tom.com", "263.net", "outlook.com", "hotmail.com", "live.com",
    "msn.com", "hotmail.co.uk", "outlook.com.hk", "yahoo.com", "yahoo.com.hk", "yahoo.com.tw", "yahoo.co.jp",
    "yahoo.co.uk", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com",
    "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.ru", "yandex.ru", "yandex.com", "naver.com", "daum.net",
    "hanmail.net", "rediffmail.com", "zoho.com", "mail.com", "inbox.com",
})
# Hosts a website field often holds that belong to nobody in particular.
SHARED_WEB_DOMAINS = frozenset({
    "linkedin.com", "facebook.com", "twitter.com", "x.com", "weibo.com", "weixin.qq.com", "wechat.com",
    "instagram.com", "youtube.com", "github.com", "google.com", "baidu.com", "wikipedia.org", "bloomberg.com",
    "crunchbase.com", "wix.com", "wixsite.com", "wordpress.com", "blogspot.com", "sites.google.com",
})
# Reserved for documentation (RFC 2606): test data uses them for everybody.
DOCUMENTATION_DOMAINS = frozenset({"example.com", "example.org", "example.net", "localhost", "invalid", "test"})
# Second-level labels under which registrants take the third label ("huaneng.com.cn").
_PUBLIC_SECOND_LEVEL = frozenset({
    "com", "net", "org", "gov", "edu", "ac", "co", "or", "ne", "go", "ltd", "plc", "mil", "nom", "sch",
})


def fold(text: str | None) -> str:
    """NFKC then case folding, twice, so the result is stable under both."""
    if not text:
        return ""
    if text.isascii():  # the common case, and NFKC leaves ASCII alone
        return text.lower()
    once = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return unicodedata.normalize("NFKC", once.casefold())


def _words(text: str) -> list[str]:
    text = _CHINA_QUALIFIER.sub(" ", text)
    text = text.replace("&", " and ").replace("＆", " and ")
    return _WORD.findall(_JOINERS.sub("", text))


def _strip_tail(words: list[str], single: frozenset[str], sequences: tuple[tuple[str, ...], ...],
                suffixes_zh: tuple[str, ...]) -> bool:
    """Remove one legal-form (or group) ending from ``words`` in place; True if something went."""
    if not words:
        return False
    last = words[-1]
    if len(words) > 1:
        if last in single:
            words.pop()
            return True
        if len(last) == 1:  # "S A", "S p A": spelled out letter by letter
            for seq in sequences:
                n = len(seq)
                if len(words) > n and tuple(words[-n:]) == seq:
                    del words[-n:]
                    return True
    if last.endswith(suffixes_zh):
        for suffix in suffixes_zh:
            if last.endswith(suffix):
                if len(last) > len(suffix):
                    words[-1] = last[: -len(suffix)]
                    return True
                if len(words) > 1:
                    words.pop()
                    return True
    return False


def _organization_words(name: str | None, *, loose: bool) -> list[str]:
    words = _words(fold(name))
    while len(words) > 1 and words[0] in LEADING_WORDS:
        words.pop(0)
    changed = True
    while changed and words:
        changed = _strip_tail(words, LEGAL_WORDS, LEGAL_SEQUENCES, LEGAL_SUFFIXES_ZH)
        if not changed and loose:
            changed = _strip_tail(words, GROUP_WORDS, (), GROUP_SUFFIXES_ZH)
    return words


def organization_name_key(name: str | None) -> str:
    """The strict key: ``Huaneng Capital Co., Ltd.`` and ``HUANENG CAPITAL LIMITED`` → ``huanengcapital``."""
    return "".join(_organization_words(name, loose=False))


def organization_name_keys(name: str | None) -> tuple[str, str]:
    """(strict key, loose key) in one pass: the loose key goes on from where the strict one stops."""
    words = _organization_words(name, loose=False)
    strict = "".join(words)
    changed = True
    while changed and words:
        changed = _strip_tail(words, GROUP_WORDS, (), GROUP_SUFFIXES_ZH) or _strip_tail(
            words, LEGAL_WORDS, LEGAL_SEQUENCES, LEGAL_SUFFIXES_ZH)
    return strict, "".join(words)


def organization_name_loose_key(name: str | None) -> str:
    """The loose key: also without group words (``华能资本控股集团有限公司`` → ``华能资本``)."""
    return "".join(_organization_words(name, loose=True))


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def person_name_key(name: str | None) -> str:
    """``Wang Wei``, ``WANG, Wei`` and ``Wei Wang`` → ``wang wei``; ``王 伟``, ``王伟先生`` → ``王伟``.

    Latin names are compared as a set of words (family-name order varies); Chinese names keep their
    order (family name first, always) and lose the spaces between characters.
    """
    text = fold(name)
    if not text:
        return ""
    words = [w for w in _WORD.findall(_JOINERS.sub("", text)) if w not in HONORIFICS]
    if not words:
        return ""
    if has_cjk(text):
        joined = "".join(words)
        for suffix in HONORIFIC_SUFFIXES_ZH:
            if joined.endswith(suffix) and len(joined) > len(suffix):
                joined = joined[: -len(suffix)]
                break
        return joined
    return " ".join(sorted(words))


def email_key(email: str | None) -> str:
    text = fold(email).strip()
    if text.count("@") != 1:
        return ""
    local, domain = text.split("@")
    domain = domain.strip(".")
    if not local or not domain:
        return ""
    return f"{local}@{domain}"


def registrable_domain(host: str) -> str:
    """``mail.huaneng.com.cn`` → ``huaneng.com.cn``; ``www.huaneng.com`` → ``huaneng.com``."""
    labels = [label for label in fold(host).strip(".").split(".") if label]
    if len(labels) >= 3 and labels[-2] in _PUBLIC_SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def company_domain(host: str) -> str:
    """The registrable domain of ``host`` if it can belong to one organisation, else ""."""
    if host.replace(".", "").isdigit():
        return ""  # an IP address names a machine, not an organisation
    domain = registrable_domain(host)
    if "." not in domain and domain not in DOCUMENTATION_DOMAINS:
        return ""
    if (domain in FREE_MAIL_DOMAINS or domain in SHARED_WEB_DOMAINS or domain in DOCUMENTATION_DOMAINS
            or fold(host).strip(".") in FREE_MAIL_DOMAINS or domain.rsplit(".", 1)[-1] in DOCUMENTATION_DOMAINS):
        return ""
    return domain


def email_domain(email: str | None) -> str:
    """The organisation's domain of an e-mail address; "" for free-mail and documentation domains."""
    key = email_key(email)
    if not key:
        return ""
    return company_domain(key.rsplit("@", 1)[1])


def website_domain(url: str | None) -> str:
    """The registrable domain of a website; "" for social-network and hosting domains."""
    text = fold(url).strip()
    if not text:
        return ""
    # scheme://user@host:port/path?query#fragment, parsed by hand: urlsplit costs more than the rest.
    text = text.split("://", 1)[1] if "://" in text else text.removeprefix("//")
    host = _URL_REST.split(text, 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return ""  # an IP v6 address
    return company_domain(host.split(":", 1)[0])


def phone_key(phone: str | None) -> str:
    """The last ten digits: ``+86 138-1234-5678`` and ``138 1234 5678`` agree; fewer than 7 digits → ""."""
    digits = "".join(ch for ch in fold(phone) if ch.isdigit() and ch.isascii())
    if len(digits) < 7:
        return ""
    return digits[-10:]


def external_id_key(value: str | None) -> str:
    """External ids compared without case, width or whitespace: ``ORG-001`` = ``org-001 `` = ``ＯＲＧ－００１``."""
    return "".join(fold(value).split())
