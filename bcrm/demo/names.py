"""Bilingual fictional names for the demo portfolio.

Every English name is assembled from the same parts as its Chinese counterpart (a pinyin syllable
and its character, an English word and its translation), so the two scripts always say the same
thing. Nothing here touches the database: the word lists are data, the functions are pure apart
from the ``random.Random`` they are handed, which keeps a seed's output reproducible.
"""

from __future__ import annotations

import functools
import hashlib
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

Pair = tuple[str, str]  # (English / pinyin, Chinese)

# Company brand syllables: one character and its pinyin. Pinyin is unique in the list so two
# different Chinese brands never romanise to the same English brand.
SYLLABLES: list[Pair] = [
    ("Hua", "华"), ("Rui", "瑞"), ("Zhong", "中"), ("Tai", "泰"), ("Jin", "金"), ("Xin", "鑫"),
    ("Heng", "恒"), ("Bo", "博"), ("Yuan", "源"), ("Hang", "航"), ("Hai", "海"), ("Tian", "天"),
    ("An", "安"), ("Sheng", "盛"), ("Jia", "嘉"), ("He", "和"), ("Hui", "汇"), ("Tong", "通"),
    ("Da", "达"), ("Hong", "宏"), ("Chang", "昌"), ("Long", "隆"), ("Feng", "丰"), ("Run", "润"),
    ("Ze", "泽"), ("Guang", "光"), ("Ming", "明"), ("De", "德"), ("Yong", "永"), ("Xing", "兴"),
    ("Dong", "东"), ("Nan", "南"), ("Bei", "北"), ("Zheng", "正"), ("Cheng", "诚"), ("Jing", "景"),
    ("Yi", "毅"), ("Chuan", "川"), ("Guo", "国"), ("Lian", "联"), ("Yin", "银"), ("Ning", "宁"),
    ("Jiang", "江"), ("Shan", "山"), ("Chen", "晨"), ("Yang", "阳"), ("Ding", "鼎"), ("Yue", "越"),
    ("Kai", "凯"), ("Rong", "融"), ("Fu", "富"), ("Xiang", "祥"), ("Mei", "美"), ("Bang", "邦"),
    ("Yu", "誉"), ("Zhi", "致"), ("Qi", "启"), ("Chuang", "创"), ("Jun", "骏"), ("Lang", "朗"),
    ("Wei", "威"), ("Teng", "腾"), ("Hao", "浩"), ("Zhuo", "卓"), ("Peng", "鹏"), ("Lan", "蓝"),
    ("Qing", "青"), ("Gang", "港"), ("Wan", "湾"), ("Hu", "沪"), ("Fang", "方"), ("Li", "立"),
    ("Yun", "运"), ("Shi", "石"), ("Kun", "坤"), ("Qian", "乾"), ("Gui", "贵"), ("Wo", "沃"),
    ("Sen", "森"), ("Lin", "林"), ("Song", "松"), ("Bai", "柏"), ("Lei", "磊"), ("Yan", "岩"),
    ("Qin", "勤"), ("Min", "敏"), ("Dao", "道"), ("Tu", "途"), ("Xun", "迅"), ("Jie", "捷"), ("Chi", "驰"),
]

# Brand words for organisations outside Greater China, with the translation a Chinese desk would use.
BRAND_WORDS: list[Pair] = [
    ("Meridian", "子午线"), ("Aurora", "极光"), ("Summit", "巅峰"), ("Harbour", "港湾"), ("Crescent", "新月"),
    ("Atlas", "擎天"), ("Northstar", "北极星"), ("Bluewater", "蓝水"), ("Evergreen", "长青"),
    ("Keystone", "基石"), ("Pinnacle", "高峰"), ("Horizon", "地平线"), ("Oakridge", "橡岭"),
    ("Falcon", "猎鹰"), ("Cedar", "雪松"), ("Sterling", "斯特林"), ("Orion", "猎户"), ("Beacon", "灯塔"),
    ("Granite", "花岗"), ("Riverstone", "河石"), ("Silverline", "银线"), ("Sunridge", "阳岭"),
    ("Westbrook", "西溪"), ("Ironbridge", "铁桥"), ("Clearwater", "清水"), ("Redwood", "红杉"),
    ("Highland", "高地"), ("Lakeshore", "湖岸"), ("Stonegate", "石门"), ("Brightwater", "明水"),
    ("Fairhaven", "安港"), ("Kingsway", "王道"), ("Greenfield", "绿野"), ("Silverstone", "银石"),
    ("Goldcrest", "金冠"), ("Windward", "迎风"), ("Seabright", "海明"), ("Polaris", "北辰"),
    ("Zenith", "天顶"), ("Equinox", "春分"), ("Solstice", "至日"), ("Cascade", "瀑流"),
    ("Tidewater", "潮水"), ("Anchor", "锚点"), ("Compass", "罗盘"), ("Lodestar", "引星"),
    ("Sapphire", "蓝宝"), ("Emerald", "翡翠"), ("Obsidian", "黑曜"), ("Monarch", "君主"),
    ("Heritage", "传承"), ("Pioneer", "先锋"), ("Frontier", "前沿"), ("Crestview", "冠景"),
]
BRAND_MODIFIERS: list[Pair] = [
    ("North", "北"), ("South", "南"), ("East", "东"), ("West", "西"), ("Great", "大"), ("First", "首"),
    ("United", "联合"), ("Global", "环球"), ("Pacific", "太平洋"), ("Atlantic", "大西洋"), ("Gulf", "海湾"),
    ("Silk Road", "丝路"), ("Continental", "大陆"), ("Royal", "皇家"), ("Coastal", "沿海"), ("Alpine", "高山"),
]

# What a kind of organisation calls itself.
KIND_PHRASES: dict[str, list[Pair]] = {
    "equity_investor": [("Investment", "投资"), ("Capital", "资本"), ("Equity Partners", "股权投资合伙"),
                        ("Ventures", "创投")],
    "commercial_bank": [("Bank", "银行"), ("Commercial Bank", "商业银行"), ("Banking Corporation", "银行集团"),
                        ("Merchant Bank", "商人银行")],
    "dfi": [("Development Bank", "开发银行"), ("Development Finance Corporation", "开发金融公司"),
            ("Infrastructure Investment Bank", "基础设施投资银行")],
    "eca": [("Export-Import Bank", "进出口银行"), ("Export Credit Insurance", "出口信用保险"),
            ("Export Finance Agency", "出口金融署")],
    "fund": [("Infrastructure Fund", "基础设施基金"), ("Capital Partners", "资本合伙"),
             ("Fund Management", "基金管理"), ("Asset Management", "资产管理")],
    "institutional_investor": [("Life Insurance", "人寿保险"), ("Pension Fund", "养老基金"),
                               ("Insurance Group", "保险集团"), ("Investment Trust", "投资信托")],
    "sponsor": [("Energy Development", "能源开发"), ("Infrastructure Group", "基础设施集团"),
                ("Power Holdings", "电力控股"), ("Project Development", "项目开发")],
    "strategic_partner": [("Holdings", "控股"), ("Group", "集团"), ("Industrial Group", "实业集团")],
    "offtaker": [("Power Grid", "电网"), ("Utilities", "公用事业"), ("Water Supply", "供水"),
                 ("Electricity Distribution", "配电")],
    "contractor": [("Engineering", "工程"), ("Construction", "建设"), ("Engineering & Construction", "工程建设")],
    "advisor": [("Advisory", "咨询"), ("Financial Advisers", "财务顾问"), ("Consulting", "顾问")],
    "other": [("Trading", "贸易"), ("Services", "服务"), ("Technology", "科技")],
}
# Kinds whose names carry no sector word ("Huarui Bank", not "Huarui Water Bank").
PLAIN_KINDS = {"commercial_bank", "dfi", "eca", "institutional_investor"}
# Public bodies and multilaterals carry no company-law suffix.
NO_SUFFIX_KINDS = {"dfi", "eca", "government"}

SECTOR_WORDS: dict[str, list[Pair]] = {
    "energy": [("New Energy", "新能源"), ("Clean Energy", "清洁能源"), ("Renewables", "可再生能源"), ("Power", "电力")],
    "transport": [("Transport", "交通"), ("Rail", "轨道"), ("Logistics", "物流"), ("Ports", "港口")],
    "water": [("Water", "水务"), ("Environmental", "环保")],
    "digital": [("Digital", "数字"), ("Data", "数据"), ("Telecom", "通信")],
    "social": [("Healthcare", "医疗"), ("Education", "教育")],
    "finance": [("Financial", "金融"), ("Wealth", "财富")],
    "industry": [("Industrial", "实业"), ("Materials", "材料")],
    "other": [("Infrastructure", "基础设施")],
}


@dataclass(frozen=True)
class Country:
    code: str
    name: Pair
    currency: str
    phone_prefix: str
    cities: list[Pair]
    suffixes: list[Pair]
    chinese_speaking: bool = False


COUNTRIES: dict[str, Country] = {c.code: c for c in [
    Country("CN", ("China", "中国"), "CNY", "+86",
            [("Shenzhen", "深圳"), ("Shanghai", "上海"), ("Beijing", "北京"), ("Guangzhou", "广州"),
             ("Hangzhou", "杭州"), ("Chengdu", "成都"), ("Wuhan", "武汉"), ("Tianjin", "天津"),
             ("Xiamen", "厦门"), ("Nanjing", "南京")],
            [("Co., Ltd.", "有限公司"), ("Co., Ltd.", "股份有限公司")], True),
    Country("HK", ("Hong Kong", "香港"), "HKD", "+852", [("Kowloon", "九龙"), ("Central", "中环")],
            [("Limited", "有限公司")], True),
    Country("SG", ("Singapore", "新加坡"), "SGD", "+65", [("Jurong", "裕廊"), ("Marina Bay", "滨海湾")],
            [("Pte. Ltd.", "私人有限公司")], True),
    Country("GB", ("United Kingdom", "英国"), "GBP", "+44",
            [("London", "伦敦"), ("Edinburgh", "爱丁堡"), ("Manchester", "曼彻斯特")],
            [("Limited", "有限公司"), ("plc", "股份公司")]),
    Country("DE", ("Germany", "德国"), "EUR", "+49", [("Frankfurt", "法兰克福"), ("Munich", "慕尼黑"), ("Hamburg", "汉堡")],
            [("GmbH", "有限责任公司"), ("AG", "股份公司")]),
    Country("FR", ("France", "法国"), "EUR", "+33", [("Paris", "巴黎"), ("Lyon", "里昂")],
            [("SA", "股份公司"), ("SAS", "简易股份公司")]),
    Country("US", ("United States", "美国"), "USD", "+1",
            [("New York", "纽约"), ("Houston", "休斯敦"), ("San Francisco", "旧金山")],
            [("LLC", "有限责任公司"), ("Inc.", "公司")]),
    Country("JP", ("Japan", "日本"), "JPY", "+81", [("Tokyo", "东京"), ("Osaka", "大阪")], [("K.K.", "株式会社")]),
    Country("AE", ("United Arab Emirates", "阿联酋"), "AED", "+971", [("Abu Dhabi", "阿布扎比"), ("Dubai", "迪拜")],
            [("PJSC", "公众股份公司"), ("LLC", "有限责任公司")]),
    Country("SA", ("Saudi Arabia", "沙特阿拉伯"), "SAR", "+966", [("Riyadh", "利雅得"), ("Jeddah", "吉达")],
            [("Company", "公司")]),
    Country("KZ", ("Kazakhstan", "哈萨克斯坦"), "KZT", "+7", [("Almaty", "阿拉木图"), ("Astana", "阿斯塔纳")],
            [("JSC", "股份公司")]),
    Country("ID", ("Indonesia", "印度尼西亚"), "IDR", "+62", [("Jakarta", "雅加达"), ("Surabaya", "泗水")],
            [("Tbk", "股份公司")]),
    Country("VN", ("Vietnam", "越南"), "VND", "+84", [("Hanoi", "河内"), ("Ho Chi Minh City", "胡志明市")],
            [("JSC", "股份公司")]),
    Country("PK", ("Pakistan", "巴基斯坦"), "PKR", "+92", [("Karachi", "卡拉奇"), ("Lahore", "拉合尔")],
            [("Limited", "有限公司")]),
    Country("EG", ("Egypt", "埃及"), "EGP", "+20", [("Cairo", "开罗"), ("Alexandria", "亚历山大")],
            [("S.A.E.", "股份公司")]),
    Country("KE", ("Kenya", "肯尼亚"), "KES", "+254", [("Nairobi", "内罗毕"), ("Mombasa", "蒙巴萨")],
            [("Limited", "有限公司")]),
    Country("ZA", ("South Africa", "南非"), "ZAR", "+27", [("Johannesburg", "约翰内斯堡"), ("Cape Town", "开普敦")],
            [("(Pty) Ltd", "有限公司")]),
    Country("BR", ("Brazil", "巴西"), "BRL", "+55", [("São Paulo", "圣保罗"), ("Rio de Janeiro", "里约热内卢")],
            [("S.A.", "股份公司")]),
    Country("CL", ("Chile", "智利"), "CLP", "+56", [("Santiago", "圣地亚哥"), ("Antofagasta", "安托法加斯塔")],
            [("S.A.", "股份公司")]),
    Country("MY", ("Malaysia", "马来西亚"), "MYR", "+60", [("Kuala Lumpur", "吉隆坡"), ("Penang", "槟城")],
            [("Berhad", "有限公司")], True),
    Country("TH", ("Thailand", "泰国"), "THB", "+66", [("Bangkok", "曼谷"), ("Chonburi", "春武里")],
            [("Public Company Limited", "大众有限公司")]),
    Country("AU", ("Australia", "澳大利亚"), "AUD", "+61", [("Sydney", "悉尼"), ("Melbourne", "墨尔本")],
            [("Pty Ltd", "有限公司")]),
]}
# How often each country appears: a China-based team with a Belt-and-Road and Gulf book.
COUNTRY_WEIGHTS: dict[str, float] = {
    "CN": 32, "HK": 8, "SG": 6, "GB": 5, "DE": 4, "FR": 4, "US": 6, "JP": 4, "AE": 4, "SA": 3, "KZ": 2,
    "ID": 3, "VN": 3, "PK": 2, "EG": 2, "KE": 2, "ZA": 2, "BR": 2, "CL": 2, "MY": 2, "TH": 2, "AU": 2,
}

CN_PROVINCES: list[Pair] = [
    ("Guangdong", "广东"), ("Jiangsu", "江苏"), ("Zhejiang", "浙江"), ("Shandong", "山东"), ("Fujian", "福建"),
    ("Sichuan", "四川"), ("Hubei", "湖北"), ("Hainan", "海南"), ("Yunnan", "云南"), ("Ningxia", "宁夏"),
    ("Inner Mongolia", "内蒙古"), ("Xinjiang", "新疆"), ("Gansu", "甘肃"), ("Anhui", "安徽"), ("Hebei", "河北"),
]
CN_GOVERNMENT_BODIES: list[Pair] = [
    ("Provincial Development and Reform Commission", "省发展和改革委员会"),
    ("Provincial Department of Finance", "省财政厅"), ("Provincial Energy Administration", "省能源局"),
    ("Provincial Department of Water Resources", "省水利厅"), ("Provincial Department of Transport", "省交通运输厅"),
]
GOVERNMENT_BODIES: list[Pair] = [
    ("Ministry of Energy", "能源部"), ("Ministry of Finance", "财政部"), ("Ministry of Transport", "交通部"),
    ("Public Investment Authority", "公共投资局"), ("Water Resources Authority", "水资源管理局"),
    ("Infrastructure Agency", "基础设施署"), ("Ministry of Digital Economy", "数字经济部"),
]
MUNICIPAL_BODIES: list[Pair] = [
    ("Municipal Transport Bureau", "市交通局"), ("Municipal Water Authority", "市水务局"),
    ("Port Authority", "港务局"), ("Municipal Development Agency", "市发展局"),
    ("Municipal Energy Bureau", "市能源局"), ("Urban Investment Corporation", "城市投资公司"),
]

# Person names: surname and given-name characters with their pinyin.
CN_SURNAMES: list[Pair] = [
    ("Wang", "王"), ("Li", "李"), ("Zhang", "张"), ("Liu", "刘"), ("Chen", "陈"), ("Yang", "杨"), ("Huang", "黄"),
    ("Zhao", "赵"), ("Wu", "吴"), ("Zhou", "周"), ("Xu", "徐"), ("Sun", "孙"), ("Ma", "马"), ("Zhu", "朱"),
    ("Hu", "胡"), ("Guo", "郭"), ("He", "何"), ("Lin", "林"), ("Gao", "高"), ("Luo", "罗"), ("Zheng", "郑"),
    ("Liang", "梁"), ("Xie", "谢"), ("Song", "宋"), ("Tang", "唐"), ("Han", "韩"), ("Feng", "冯"), ("Deng", "邓"),
    ("Cao", "曹"), ("Peng", "彭"), ("Zeng", "曾"), ("Xiao", "萧"), ("Tian", "田"), ("Dong", "董"), ("Pan", "潘"),
    ("Yuan", "袁"), ("Cai", "蔡"), ("Jiang", "蒋"), ("Yu", "余"), ("Du", "杜"), ("Ye", "叶"), ("Cheng", "程"),
    ("Wei", "魏"), ("Su", "苏"), ("Lyu", "吕"), ("Ding", "丁"), ("Ren", "任"), ("Lu", "卢"), ("Yao", "姚"),
    ("Shen", "沈"), ("Zhong", "钟"), ("Cui", "崔"), ("Tan", "谭"), ("Fan", "范"), ("Liao", "廖"), ("Shi", "石"),
    ("Jin", "金"), ("Jia", "贾"), ("Xia", "夏"), ("Fang", "方"), ("Zou", "邹"), ("Xiong", "熊"), ("Bai", "白"),
    ("Meng", "孟"), ("Qin", "秦"), ("Qiu", "邱"), ("Hou", "侯"), ("Xue", "薛"), ("Duan", "段"), ("Lei", "雷"),
    ("Long", "龙"), ("Tao", "陶"), ("Mao", "毛"), ("Hao", "郝"), ("Gu", "顾"), ("Gong", "龚"), ("Shao", "邵"),
    ("Wan", "万"), ("Qian", "钱"), ("Dai", "戴"), ("Yan", "严"), ("Mo", "莫"), ("Kong", "孔"), ("Chang", "常"),
]
CN_GIVEN: list[Pair] = [
    ("Wei", "伟"), ("Fang", "芳"), ("Na", "娜"), ("Min", "敏"), ("Jing", "静"), ("Li", "丽"), ("Qiang", "强"),
    ("Lei", "磊"), ("Jun", "军"), ("Yang", "洋"), ("Yong", "勇"), ("Yan", "艳"), ("Jie", "杰"), ("Juan", "娟"),
    ("Tao", "涛"), ("Ming", "明"), ("Chao", "超"), ("Xiu", "秀"), ("Xia", "霞"), ("Ping", "平"), ("Gang", "刚"),
    ("Ying", "英"), ("Hua", "华"), ("Jian", "建"), ("Wen", "文"), ("Hui", "辉"), ("Ling", "玲"), ("Peng", "鹏"),
    ("Xiao", "晓"), ("Hong", "红"), ("Ting", "婷"), ("Yu", "宇"), ("Hao", "浩"), ("Kai", "凯"), ("Xin", "欣"),
    ("Xue", "雪"), ("Lin", "琳"), ("Zhi", "志"), ("Hai", "海"), ("Si", "思"), ("Jia", "嘉"), ("Chen", "晨"),
    ("Bo", "博"), ("Zi", "子"), ("Han", "涵"), ("Rui", "睿"), ("Xuan", "轩"), ("Yi", "怡"), ("Shi", "诗"),
    ("Zhen", "振"), ("Guo", "国"), ("Chun", "春"), ("Cheng", "成"), ("Dong", "东"), ("Feng", "峰"), ("An", "安"),
]

VOWELS = frozenset("aeiouAEIOU")


def join_pinyin(parts: Sequence[str]) -> str:
    """Syllables as one word; an apostrophe before a vowel-initial syllable keeps Hua'an apart from Huaan."""
    word = parts[0]
    for part in parts[1:]:
        word += ("'" if part[0] in VOWELS else "") + part.lower()
    return word


@functools.lru_cache(maxsize=65536)
def ascii_slug(text: str) -> str:
    """The mail and web domain of a fictional organisation: letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())


def name_key(legal_name: str) -> int:
    """A stable 64-bit digest of a legal name: a million of these fit in a set where the names would not."""
    return int.from_bytes(hashlib.blake2b(legal_name.casefold().encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class OrgName:
    legal_name: str
    local_name: str
    domain: str


@dataclass(frozen=True)
class Person:
    full_name: str
    local_name: str
    chinese: bool


class NameBook:
    """Hands out organisation names that are unique within one generated portfolio.

    A name already taken gets a city in brackets, then a numbered branch or office, which is how real
    registries tell same-named entities apart.
    ``surnames`` are English family names for partnership-style firms ("Carter & Lowe Capital"),
    which have no established Chinese rendering and so get no local name.
    """

    def __init__(self, rng: random.Random, *, surnames: Sequence[str], long_brands: bool = False):
        self.rng = rng
        self.surnames = list(surnames)
        self.long_brands = long_brands
        self.seen: set[int] = set()
        self.serials: dict[int, int] = {}

    def organization(self, kind: str, country_code: str, sector: str) -> OrgName:
        rng = self.rng
        country = COUNTRIES[country_code]
        if kind == "government":
            head, head_zh, domain = self._government(country)
            suffix: Pair = ("", "")
            unit: Pair = ("Office", "办事处")
        else:
            brand, brand_zh = self._brand(country)
            phrase, phrase_zh = rng.choice(KIND_PHRASES[kind])
            focus: Pair = ("", "")
            if (self.long_brands or kind not in PLAIN_KINDS) and rng.random() < 0.6:
                focus = rng.choice(SECTOR_WORDS.get(sector) or SECTOR_WORDS["other"])
            head = " ".join(p for p in (brand, focus[0], phrase) if p)
            head_zh = f"{brand_zh}{focus[1]}{phrase_zh}" if brand_zh else ""
            domain = f"{ascii_slug(brand)}-{ascii_slug(phrase.split()[0])}.example"
            suffix = ("", "") if kind in NO_SUFFIX_KINDS else rng.choice(country.suffixes)
            unit = ("Branch", "分公司")
        legal_suffix = f" {suffix[0]}" if suffix[0] else ""
        branches = [("", "")] + [(f" ({en})", f"（{zh}）") for en, zh in rng.sample(country.cities, len(country.cities))]
        for extra, extra_zh in branches:
            legal = f"{head}{extra}{legal_suffix}"
            if self._claim(legal):
                return OrgName(legal, f"{head_zh}{extra_zh}{suffix[1]}" if head_zh else "", domain)
        # Every city taken as well: number the office, remembering where the numbering got to.
        base = name_key(head + legal_suffix)
        serial = self.serials.get(base, 1)
        while True:
            serial += 1
            legal = f"{head}{legal_suffix}, {unit[0]} {serial}"
            if self._claim(legal):
                self.serials[base] = serial
                local = f"{head_zh}{suffix[1]}第{serial}{unit[1]}" if head_zh else ""
                return OrgName(legal, local, domain)

    def _claim(self, legal_name: str) -> bool:
        key = name_key(legal_name)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def _brand(self, country: Country) -> Pair:
        rng = self.rng
        if country.chinese_speaking and rng.random() < 0.9:
            count = 3 if self.long_brands and rng.random() < 0.6 else 2
            picks = rng.sample(SYLLABLES, count)
            return join_pinyin([p[0] for p in picks]), "".join(p[1] for p in picks)
        if rng.random() < (0.4 if self.long_brands else 0.25) and self.surnames:
            first, second = rng.sample(self.surnames, 2)
            return (f"{first} & {second}" if rng.random() < 0.5 else first), ""
        word, word_zh = rng.choice(BRAND_WORDS)
        if rng.random() < (0.6 if self.long_brands else 0.3):
            modifier, modifier_zh = rng.choice(BRAND_MODIFIERS)
            return f"{modifier} {word}", f"{modifier_zh}{word_zh}"
        return word, word_zh

    def _government(self, country: Country) -> tuple[str, str, str]:
        rng = self.rng
        if country.code == "CN" and not (self.long_brands and rng.random() < 0.5):
            (province, province_zh), (body, body_zh) = rng.choice(CN_PROVINCES), rng.choice(CN_GOVERNMENT_BODIES)
            return f"{province} {body}", f"{province_zh}{body_zh}", f"{ascii_slug(province)}-gov.example"
        body, body_zh = rng.choice(GOVERNMENT_BODIES)
        name, name_zh = country.name
        if self.long_brands and rng.random() < 0.5:
            # A big book also holds city-level bodies.
            city, city_zh = rng.choice(country.cities)
            body, body_zh = rng.choice(MUNICIPAL_BODIES)
            return f"{city} {body}", f"{city_zh}{body_zh}", f"{ascii_slug(city)}-gov.example"
        return f"{name} {body}", f"{name_zh}{body_zh}", f"{ascii_slug(name)}-gov.example"

    def chinese_person(self) -> Person:
        rng = self.rng
        surname, surname_zh = rng.choice(CN_SURNAMES)
        given = rng.sample(CN_GIVEN, 1 if rng.random() < 0.3 else 2)
        return Person(f"{surname} {join_pinyin([g[0] for g in given])}", surname_zh + "".join(g[1] for g in given),
                      True)


def email_for(full_name: str, domain: str) -> str:
    """first.last@domain of the organisation; ``.example`` domains cannot reach anyone."""
    local = ".".join(ascii_slug(part) for part in full_name.split() if ascii_slug(part))
    return f"{local or 'contact'}@{domain}"
