"""East Asian CSV encodings: detected in one place (bcrm.core.encodings) for the import and `bcrm analyse`;
a file the detector is unsure of is refused with ``unknown_encoding``, never stored as mojibake."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.core import encodings
from bcrm.dataio.choices import JobStatus
from bcrm.fileanalysis.csvread import CsvError, read_columns
from bcrm.parties.models import Organization
from tests.doors import Api
from tests.fixtures_dataio.helpers import run_import, write_csv

# Real names per script (the property below builds files from them).
NAMES = {
    "shift_jis": ["株式会社テスト", "東京海上日動火災保険株式会社", "みずほ銀行", "三菱ＵＦＪ信託銀行", "野村證券",
                  "日本政策投資銀行", "ソフトバンク・ビジョン・ファンド", "オリックス株式会社"],
    "big5": ["台灣銀行股份有限公司", "國泰金融控股", "富邦人壽保險", "中華開發資本", "兆豐國際商業銀行",
             "玉山銀行", "臺灣土地銀行", "元大證券"],
    "gb18030": ["华能资本服务有限公司", "丝路基金", "国家开发银行", "中国进出口银行", "亚洲基础设施投资银行",
                "招商局资本", "中金公司", "深圳能源集团"],
    "euc_kr": ["한국산업은행", "삼성생명보험주식회사", "국민연금공단", "한국수출입은행", "미래에셋자산운용",
               "신한금융투자", "하나은행", "한국투자증권"],
}
LABEL = {"shift_jis": "Shift-JIS", "big5": "Big5", "gb18030": "GB18030", "euc_kr": "EUC-KR"}


def csv_bytes(names: list[str], codec: str) -> bytes:
    return ("external_id,legal_name,kind,country\n"
            + "".join(f"X-{i},{name},fund,CN\n" for i, name in enumerate(names))).encode(codec)


@pytest.mark.parametrize("codec", list(NAMES))
def test_each_encoding_is_recognised(codec):
    found = encodings.detect(csv_bytes(NAMES[codec], codec), final=True)
    assert found.label == LABEL[codec]


@pytest.mark.parametrize("data", [
    "名称\n基金\n".encode("gb18030"),                    # two hanzi that are also two hangul in EUC-KR
    "legal_name\n한국산업은행\n".encode("euc_kr"),        # too few hangul to tell from GB18030
    "legal_name\nCafé\n".encode("latin-1"),              # no East Asian encoding reads it
])
def test_unsure_or_unreadable_is_refused_with_a_code(data):
    with pytest.raises(encodings.EncodingError) as info:
        encodings.detect(data, final=True)
    assert info.value.code == "unknown_encoding" and info.value.text["code"] == "unknown_encoding"
    assert "UTF-8" in info.value.message


def test_utf8_with_and_without_bom_and_utf16_only_where_allowed():
    text = "legal_name\n株式会社テスト\n"
    assert encodings.detect(text.encode("utf-8"), final=True).encoding == "utf-8-sig"
    assert encodings.detect(text.encode("utf-8-sig"), final=True).encoding == "utf-8-sig"
    assert encodings.detect(text.encode("utf-16"), final=True, allow_utf16=True).encoding == "utf-16"
    with pytest.raises(encodings.EncodingError):
        encodings.detect(text.encode("utf-16"), final=True)


@settings(max_examples=50, deadline=None)
@given(codec=st.sampled_from(list(NAMES)), picks=st.lists(st.integers(0, 7), min_size=1, max_size=12))
def test_never_mojibake(codec, picks):
    """Whatever the file, the codec chosen reads it back as written — or the file is refused."""
    names = [NAMES[codec][i] for i in picks]
    data = csv_bytes(names, codec)
    try:
        found = encodings.detect(data, final=True)
    except encodings.EncodingError:
        return
    assert data.decode(found.encoding).removeprefix("\ufeff") == data.decode(codec)


@pytest.mark.usefixtures("import_dir")
@pytest.mark.parametrize("codec", ["shift_jis", "big5"])
def test_shift_jis_and_big5_files_import_as_written(tmp_path, lead, codec):
    rows = [["external_id", "legal_name", "kind", "country"], ["EA-1", NAMES[codec][0], "fund", "JP"],
            ["EA-2", NAMES[codec][1], "fund", "TW"]]
    job = run_import(lead, "organizations", write_csv(tmp_path / "f.csv", rows, encoding=codec))
    assert job.status == JobStatus.DONE, job.message
    assert Organization.objects.get(external_id="EA-1").legal_name == NAMES[codec][0]
    assert Organization.objects.get(external_id="EA-2").legal_name == NAMES[codec][1]


@pytest.mark.usefixtures("import_dir")
def test_unsure_file_fails_the_import_with_its_code_and_stores_nothing(lead):
    data = "legal_name,kind,country\n基金,fund,CN\n".encode("gb18030")
    status, job = Api(lead).post_form("/imports", {"entity": "organizations", "mode": "commit",
                                                   "file": _upload("short.csv", data)})
    assert status == 202 and job["status"] == "failed"
    assert job["reason_code"] == "unknown_encoding" and "CSV UTF-8" in job["message"]
    assert not Organization.objects.exists()


def test_analyse_reads_the_same_encodings(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_bytes("顧客,スコア\n株式会社テスト,1.5\nみずほ銀行,2.5\n".encode("shift_jis"))
    data = read_columns(path, "スコア")
    assert list(data.scores) == [1.5, 2.5] and data.encoding == "cp932"
    path.write_bytes("name,score\n基金,1\n".encode("gb18030"))
    with pytest.raises(CsvError, match="CSV UTF-8"):
        read_columns(path, "score")


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")
