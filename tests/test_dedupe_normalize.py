"""Normalised keys: pure functions, checked on examples and by hypothesis on generated names."""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from bcrm.dedupe.matching import (
    KeyIndex,
    codes_score,
    combine,
    components,
    contact_facts,
    contact_reasons,
    drop_pairs,
    organization_facts,
    organization_reasons,
)
from bcrm.dedupe.normalize import (
    GROUP_WORDS,
    LEGAL_WORDS,
    email_domain,
    email_key,
    external_id_key,
    organization_name_key,
    organization_name_keys,
    organization_name_loose_key,
    person_name_key,
    phone_key,
    website_domain,
)

# ---------------------------------------------------------------------------------------------------
# Examples a person would agree with


@pytest.mark.parametrize(("a", "b"), [
    ("Huaneng Capital Co., Ltd.", "HUANENG CAPITAL LIMITED"),
    ("Huaneng Capital Co.,Ltd", "huaneng capital"),
    ("ＨＵＡＮＥＮＧ　ＣＡＰＩＴＡＬ　ＬＴＤ．", "Huaneng Capital Ltd"),
    ("华能资本服务有限公司", "华能资本服务股份有限公司"),
    ("华能资本服务有限责任公司", "华能资本服务公司"),
    ("汇丰银行（中国）有限公司", "汇丰银行有限公司"),
    ("HSBC Bank (China) Company Limited", "HSBC BANK LTD"),
    ("Banco Santander, S.A.", "Banco Santander SA"),
    ("Banco Santander S. A.", "BANCO SANTANDER"),
    ("Siemens AG", "SIEMENS"),
    ("Deutsche Bank GmbH", "Deutsche Bank"),
    ("The Carlyle Group L.P.", "Carlyle Group LP"),
    ("Moody's Investors Service, Inc.", "Moodys Investors Service Inc"),
    ("Carter & Lowe Capital", "Carter and Lowe Capital LLC"),
    ("Temasek Holdings (Private) Limited", "Temasek Holdings Private"),
])
def test_same_client_same_key(a, b):
    assert organization_name_key(a) == organization_name_key(b) != ""


@pytest.mark.parametrize(("a", "b"), [
    ("Huaneng Capital", "Huaneng Power International"),
    ("Bank of China", "Bank of China (Hong Kong)"),  # a different legal entity, told apart by its bracket
    ("China Huaneng Group", "China Huaneng"),  # only the loose key joins a group and its member
    ("华能资本控股集团", "华能资本"),
    ("Alpha Fund I", "Alpha Fund II"),
])
def test_different_clients_different_strict_key(a, b):
    assert organization_name_key(a) != organization_name_key(b)


def test_group_words_only_in_the_loose_key():
    assert organization_name_loose_key("China Huaneng Group Co., Ltd.") == organization_name_loose_key("China Huaneng")
    assert organization_name_loose_key("华能资本控股集团有限公司") == "华能资本"
    assert organization_name_keys("Silk Road Holdings Group Ltd") == ("silkroadholdingsgroup", "silkroad")


def test_a_name_is_never_reduced_to_nothing():
    assert organization_name_key("Holdings Ltd") == "holdings"
    assert organization_name_loose_key("Holdings Group Ltd") == "holdings"
    assert organization_name_key("有限公司") != ""
    assert organization_name_key("") == "" and organization_name_key(None) == ""


@pytest.mark.parametrize(("a", "b"), [
    ("Wang Wei", "WANG, Wei"),
    ("Wang Wei", "Wei Wang"),
    ("Mr. John Smith", "smith john"),
    ("王伟", "王 伟"),
    ("王伟先生", "王伟"),
    ("Ｗａｎｇ　Ｗｅｉ", "wang wei"),
])
def test_person_names(a, b):
    assert person_name_key(a) == person_name_key(b) != ""


def test_chinese_names_keep_their_order():
    assert person_name_key("王伟") != person_name_key("伟王")


def test_contact_details():
    assert email_key(" Li.Na@HuaNeng.COM ") == "li.na@huaneng.com"
    assert email_key("not an address") == "" and email_key("a@b@c") == ""
    assert email_domain("li.na@mail.hn-capital.com.cn") == "hn-capital.com.cn"
    for free in ("a@gmail.com", "a@QQ.com", "a@163.com", "a@126.com", "a@vip.qq.com", "a@outlook.com",
                 "a@hotmail.com", "a@yahoo.com.hk", "a@sina.com", "a@example.com"):
        assert email_domain(free) == "", free
    assert website_domain("https://www.huaneng.com/en/about?x=1") == "huaneng.com"
    assert website_domain("huaneng.com") == website_domain("HTTP://WWW.HUANENG.COM:8080") == "huaneng.com"
    assert website_domain("https://www.linkedin.com/company/huaneng") == ""
    assert website_domain("http://10.0.0.1/") == "" and website_domain("not a site") == ""
    assert phone_key("+86 138-1234-5678") == phone_key("138 1234 5678") == phone_key("(0086) 13812345678")
    assert phone_key("ext. 12") == ""
    assert external_id_key(" ORG-001 ") == external_id_key("ＯＲＧ－００１") == "org-001"


# ---------------------------------------------------------------------------------------------------
# Properties

ASCII_WORD = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8)
CJK_WORD = st.text(alphabet="华能资本服务国家开发银行丝路基金长江电力新能源投资", min_size=1, max_size=6)
WORD = st.one_of(ASCII_WORD, CJK_WORD)
NAME_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " .,&'()-" + "华能资本有限公司集团控股（）　",
                    max_size=40)
SUFFIXES = st.sampled_from([
    "Co., Ltd.", "Ltd", "LIMITED", "Inc.", "Corp.", "Corporation", "LLC", "PLC", "S.A.", "AG", "GmbH",
    "Co Ltd", "Company Limited", "有限公司", "股份有限公司", "有限责任公司", "(China) Co., Ltd.", "（中国）有限公司",
])


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


@given(NAME_TEXT)
@example("co 公司")
@example("Holdings Ltd")
def test_keys_are_idempotent(name):
    strict, loose = organization_name_keys(name)
    assert organization_name_key(strict) == strict
    assert organization_name_loose_key(loose) == loose
    assert person_name_key(person_name_key(name)) == person_name_key(name)


@given(NAME_TEXT)
def test_the_one_pass_keys_equal_the_separate_ones(name):
    assert organization_name_keys(name) == (organization_name_key(name), organization_name_loose_key(name))


@given(st.lists(WORD, min_size=1, max_size=4))
def test_invariant_to_case_width_and_whitespace(words):
    name = " ".join(words)
    key = organization_name_key(name)
    assert organization_name_key(name.upper()) == key
    assert organization_name_key(name.lower()) == key
    assert organization_name_key(fullwidth(name)) == key
    assert organization_name_key("  " + "   ".join(words) + " \t") == key
    assert person_name_key(fullwidth(name.upper())) == person_name_key(name)


@given(st.lists(WORD, min_size=1, max_size=4), SUFFIXES)
def test_invariant_to_legal_form_suffixes(words, suffix):
    assume(words[-1].lower() not in LEGAL_WORDS | GROUP_WORDS and len(words[-1]) > 1)
    assume(not any(words[-1].endswith(s) for s in ("公司", "集团", "控股", "股份")))
    base = " ".join(words)
    assert organization_name_key(f"{base} {suffix}") == organization_name_key(base)
    assert organization_name_loose_key(f"{base} {suffix}") == organization_name_loose_key(base)


@given(st.lists(st.text(alphabet=string.ascii_letters, min_size=1, max_size=8), min_size=1, max_size=3))
def test_person_name_word_order_does_not_matter(words):
    assert person_name_key(" ".join(words)) == person_name_key(", ".join(reversed(words)))


@given(st.text(alphabet=string.digits + " -+()", max_size=25))
def test_phone_key_is_digits_only(phone):
    key = phone_key(phone)
    assert key == "" or (key.isdigit() and 7 <= len(key) <= 10)


# ---------------------------------------------------------------------------------------------------
# Blocking: the vectorised pairing gives what the obvious quadratic loop gives


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 30), st.integers(0, 1)), max_size=60),
       st.integers(2, 6))
def test_blocking_equals_brute_force(entries, max_block):
    index = KeyIndex()
    for key, pk, field in entries:
        index.add(f"k{key}", pk, field)
    codes = np.array([[1, 2], [2, 4]], dtype=np.int64)
    low, high, mask, skipped = index.pairs(codes, max_block=max_block)
    got = {(a, b): m for a, b, m in zip(*combine([(low, high, mask)]), strict=True)}
    expected: dict[tuple[int, int], int] = {}
    n_skipped = 0
    for key in {e[0] for e in entries}:
        members = {(pk, f) for k, pk, f in entries if k == key}
        ids = sorted({pk for pk, _f in members})
        if len(ids) < 2:
            continue
        if len(ids) > max_block:
            n_skipped += 1
            continue
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                m = 0
                for pa, fa in members:
                    for pb, fb in members:
                        if pa == a and pb == b:
                            m |= int(codes[fa, fb])
                expected[(a, b)] = expected.get((a, b), 0) | m
    assert got == expected and skipped == n_skipped


@given(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 20)).filter(lambda p: p[0] < p[1]), max_size=30))
def test_components_are_connected_groups_keyed_by_their_smallest_id(pairs):
    low = np.array([p[0] for p in pairs], dtype=np.int64)
    high = np.array([p[1] for p in pairs], dtype=np.int64)
    roots = components(low, high)
    # brute force: grow each group from its pairs
    group: dict[int, set[int]] = {}
    for a, b in pairs:
        merged = group.get(a, {a}) | group.get(b, {b})
        for x in merged:
            group[x] = merged
    for (a, _b), root in zip(pairs, roots.tolist(), strict=True):
        assert root == min(group[a])


def test_dismissed_pairs_are_dropped():
    low, high, mask = np.array([1, 1, 2]), np.array([2, 3, 3]), np.array([1, 1, 1])
    low, high, mask = drop_pairs(low, high, mask, [(1, 3), (7, 8)])
    assert list(zip(low.tolist(), high.tolist(), strict=True)) == [(1, 2), (2, 3)]


def test_pair_reasons_and_scores():
    a = organization_facts(1, legal_name="Huaneng Capital Co., Ltd.", local_name="华能资本",
                           website="https://huaneng.com", emails=["x@huaneng.com"])
    b = organization_facts(2, legal_name="华能资本有限公司", website="www.huaneng.com", external_id=None)
    codes = [r.code for r in organization_reasons(a, b)]
    assert codes == ["legal_local", "website_domain"]
    assert codes_score("organizations", codes) == 94
    assert codes_score("organizations", []) == 0
    assert codes_score("organizations", ["external_id", "legal_name", "local_name"]) == 99  # never certain
    c1 = contact_facts(1, organization_id=1, full_name="Wang Wei", email="W@x.com")
    c2 = contact_facts(2, organization_id=2, full_name="Wang Wei", email="w@x.com")
    assert contact_reasons(c1, c2) == []  # two organisations: never the same contact record
