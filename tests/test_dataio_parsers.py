"""Cell parsers, header matching and the formula neutralising round trip: pure functions."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bcrm.dataio import parsers as p
from bcrm.dataio.headers import match_headers, normalize_header, resolve_header
from bcrm.dataio.readers import ImportFileError
from bcrm.dataio.specs import SPECS
from bcrm.parties.choices import OrganizationKind

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("text", ["2026-03-05", "2026/3/5", "2026.3.5", "2026年3月5日", "２０２６／３／５", "20260305",
                                  "46086", "2026-03-05 00:00:00", " 2026-3-05 "])
def test_dates(text):
    assert p.parse_date(text) == dt.date(2026, 3, 5)


def test_excel_cells_and_serials():
    assert p.parse_date(46086) == dt.date(2026, 3, 5)
    assert p.parse_date(46086.0) == dt.date(2026, 3, 5)
    assert p.parse_date(dt.datetime(2026, 3, 5)) == dt.date(2026, 3, 5)
    assert p.parse_datetime(46086.5, ) == dt.datetime(2026, 3, 5, 12, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize("text", ["3/5/2026", "2026-02-30", "yesterday", "2026", "2026-03-05 14:30"])
def test_bad_dates(text):
    with pytest.raises(p.ParseError):
        p.parse_date(text)


def test_datetimes_are_aware_in_the_configured_zone():
    assert p.parse_datetime("2026-03-05 14:30") == dt.datetime(2026, 3, 5, 14, 30, tzinfo=SHANGHAI)
    assert p.parse_datetime("2026/3/5 9:05:07") == dt.datetime(2026, 3, 5, 9, 5, 7, tzinfo=SHANGHAI)
    assert p.parse_datetime("2026年3月5日 14时30分") == dt.datetime(2026, 3, 5, 14, 30, tzinfo=SHANGHAI)
    utc = p.parse_datetime("2026-03-05T06:30:00Z")
    assert utc == dt.datetime(2026, 3, 5, 14, 30, tzinfo=SHANGHAI)
    assert p.parse_datetime("2026-03-05 14:30:00+08:00").utcoffset() == dt.timedelta(hours=8)
    assert p.parse_datetime("2026-03-05").tzinfo is not None
    assert p.parse_datetime(dt.datetime(2026, 3, 5, 14, 30)) == dt.datetime(2026, 3, 5, 14, 30, tzinfo=SHANGHAI)


@pytest.mark.parametrize("text, amount, currency", [
    ("1,000,000.00", Decimal("1000000.00"), None),
    ("USD 1,000,000.00", Decimal("1000000.00"), "USD"),
    ("1,000,000 USD", Decimal("1000000"), "USD"),
    ("¥1,000", Decimal("1000"), "CNY"),
    ("￥1,000", Decimal("1000"), "CNY"),
    ("$2.5", Decimal("2.5"), "USD"),
    ("US$ 3", Decimal("3"), "USD"),
    ("HK$1 000", Decimal("1000"), "HKD"),
    ("1.5亿", Decimal("150000000"), None),
    ("300万元", Decimal("3000000"), "CNY"),
    ("１，２３４．５", Decimal("1234.5"), None),
    ("-5", Decimal("-5"), None),
    ("(1,000)", Decimal("-1000"), None),
    ("€ -7", Decimal("-7"), "EUR"),
])
def test_amounts(text, amount, currency):
    assert p.parse_money(text) == (amount, currency)


@pytest.mark.parametrize("text", ["abc", "1.2.3", "1,000.00.5", "USD EUR 5", "¥5 USD", "--5", "", "nan"])
def test_bad_amounts(text):
    with pytest.raises(p.ParseError):
        p.parse_money(text or " ")


def test_xlsx_numbers_are_exact_decimals():
    assert p.parse_decimal(1234.5) == Decimal("1234.5")
    assert p.parse_decimal(0.1) == Decimal("0.1")
    assert p.parse_decimal(10) == Decimal(10)
    assert p.parse_int("75") == 75 and p.parse_int(75.0) == 75
    with pytest.raises(p.ParseError):
        p.parse_int("7.5")
    with pytest.raises(p.ParseError):
        p.parse_decimal("USD 5")  # a currency where none belongs


def test_probability():
    assert p.parse_probability("30%") == Decimal("0.3")
    assert p.parse_probability("0.3") == Decimal("0.3")
    assert p.parse_probability("30") == Decimal("0.3")
    assert p.parse_probability("1") == Decimal("1")


@pytest.mark.parametrize("text, code", [("usd", "USD"), (" CNY ", "CNY"), ("¥", "CNY"), ("人民币", "CNY"), ("RMB", "CNY"),
                                        ("美元", "USD"), ("$", "USD"), ("港币", "HKD"), ("ＥＵＲ", "EUR")])
def test_currencies(text, code):
    assert p.parse_currency(text) == code


@pytest.mark.parametrize("text", ["XXX", "dollars", "BTC", "US"])
def test_bad_currencies(text):
    with pytest.raises(p.ParseError):
        p.parse_currency(text)


@pytest.mark.parametrize("text, code", [
    ("CN", "CN"), ("cn", "CN"), ("CHN", "CN"), ("156", "CN"), ("China", "CN"), ("中国", "CN"), ("中国大陆", "CN"),
    ("PRC", "CN"), ("Hong Kong", "HK"), ("香港", "HK"), ("中国香港", "HK"), ("United States", "US"), ("美国", "US"),
    ("USA", "US"), ("UK", "GB"), ("英国", "GB"), ("South Korea", "KR"), ("韩国", "KR"), ("Viet Nam", "VN"),
    ("Vietnam", "VN"), ("越南", "VN"), ("新加坡", "SG"), ("  germany ", "DE"), ("德国", "DE"),
])
def test_countries(text, code):
    assert p.parse_country(text) == code


@pytest.mark.parametrize("text", ["Chna", "Atlantis", "XX", "火星"])
def test_bad_countries(text):
    with pytest.raises(p.ParseError):
        p.parse_country(text)


@pytest.mark.parametrize("text, value", [("true", True), ("Yes", True), ("是", True), ("1", True), (1, True), (True, True),
                                         ("false", False), ("NO", False), ("否", False), ("0", False), (0, False)])
def test_booleans(text, value):
    assert p.parse_bool(text) is value


def test_bad_boolean():
    with pytest.raises(p.ParseError):
        p.parse_bool("maybe")


def test_choices_by_value_english_or_chinese_label():
    parse = p.choice_parser(OrganizationKind)
    assert parse("commercial_bank") == "commercial_bank"
    assert parse("Commercial bank") == "commercial_bank"
    assert parse("COMMERCIAL BANK") == "commercial_bank"
    assert parse("商业银行") == "commercial_bank"
    assert parse("commercial bank") == "commercial_bank"
    with pytest.raises(p.ParseError):
        parse("bank of mum and dad")


# ------------------------------------------------------------------------------------- neutralising

@pytest.mark.parametrize("text", ["=1+1", "+86 10 1234", "-5%", "@SUM(A1)", "\tx", "\rx", "'=x", "''+y"])
def test_neutralise_prefixes_a_quote(text):
    assert p.neutralise(text) == "'" + text
    assert p.unneutralise(p.neutralise(text)) == text


@pytest.mark.parametrize("text", ["plain", "'quoted", "''", "'", "", "a=b", "O'Brien"])
def test_neutralise_leaves_harmless_text(text):
    assert p.neutralise(text) == text
    assert p.unneutralise(text) == text


@given(st.text())
def test_neutralise_round_trip(text):
    out = p.neutralise(text)
    assert p.unneutralise(out) == text
    assert out[:1] not in p.FORMULA_TRIGGERS


@given(st.decimals(min_value=0, max_value=10**15, places=2, allow_nan=False, allow_infinity=False))
def test_amount_text_round_trip(amount):
    assert p.parse_decimal(format(amount, "f")) == amount
    assert p.parse_decimal(f"{amount:,}") == amount


@given(st.datetimes(min_value=dt.datetime(1992, 1, 1), max_value=dt.datetime(2090, 1, 1),  # China: no DST since 1991
                    timezones=st.just(SHANGHAI)))
def test_datetime_text_round_trip(moment):
    assert p.parse_datetime(moment.isoformat(sep=" ")) == moment


@given(st.text(max_size=30))
@example(text="0\x1f")  # a control character str.strip() drops but float() refuses
def test_parsers_never_crash(text):
    for parse in (p.parse_date, p.parse_datetime, p.parse_money, p.parse_country, p.parse_currency, p.parse_bool,
                  p.parse_int, p.parse_probability):
        try:
            parse(text)
        except p.ParseError:
            pass


# ------------------------------------------------------------------------------------------ headers

def test_header_normalisation():
    assert normalize_header("  Legal_Name* ") == "legal name"
    assert normalize_header("ＬＥＧＡＬ　ＮＡＭＥ") == "legal name"
    assert normalize_header("国家/地区：") == "国家/地区"


@pytest.mark.parametrize("header, field", [
    ("legal_name", "legal_name"), ("Legal name", "legal_name"), ("法定名称", "legal_name"), ("机构名称", "legal_name"),
    ("客户名称", "legal_name"), ("国家", "country"), ("国家/地区", "country"), ("客户编号", "external_id"),
    ("KYC状态", "kyc_status"), ("备注（内部）", "notes"), ("Country/Region", "country"),
])
def test_organization_headers(header, field):
    assert resolve_header(SPECS["organizations"], header) == field


@pytest.mark.parametrize("header, field", [
    ("金额", "amount"), ("承诺金额", "amount"), ("币种", "currency"), ("项目名称", "project"), ("项目编号", "project_external_id"),
    ("客户名称", "organization"), ("客户编号", "organization_external_id"), ("金额（万元）", "amount"),
])
def test_participation_headers(header, field):
    assert resolve_header(SPECS["participations"], header) == field


@pytest.mark.parametrize("entity", list(SPECS))
def test_every_label_names_its_own_column(entity):
    """Field name, English label and Chinese label of each column lead back to that column (so an
    export in any header language imports again), and no two columns share a synonym."""
    from django.utils import translation

    spec = SPECS[entity]
    for column in spec.columns:
        with translation.override("en"):
            english = str(column.label)
        for header in (column.name, english, column.zh):
            assert resolve_header(spec, header) == column.name, (entity, header)
    seen = {}
    for column in spec.columns:
        for synonym in column.synonyms:
            key = normalize_header(synonym)
            assert seen.get(key, column.name) == column.name, (entity, synonym)
            seen[key] = column.name


def test_mapping_wins_and_can_ignore():
    spec = SPECS["organizations"]
    match = match_headers(spec, ["Firm", "类型", "Land", "Junk", "Internal"],
                          mapping={"Firm": "legal_name", "Land": "country", "Internal": ""})
    assert {c.name for c in match.columns.values()} == {"legal_name", "kind", "country"}
    assert match.ignored == ["Junk"]


def test_two_headers_for_one_field_fail():
    with pytest.raises(ImportFileError, match="both mean legal_name"):
        match_headers(SPECS["organizations"], ["legal_name", "机构名称", "kind", "country"])


def test_missing_required_column_fails():
    with pytest.raises(ImportFileError, match="country"):
        match_headers(SPECS["organizations"], ["legal_name", "kind"])
    with pytest.raises(ImportFileError, match="organization"):
        match_headers(SPECS["contacts"], ["full_name", "email"])
