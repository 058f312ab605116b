"""Fixed bilingual material for the demo: the project book and the wording of everyday CRM records."""

from __future__ import annotations

from dataclasses import dataclass

from bcrm.demo.names import COUNTRIES, Pair


@dataclass(frozen=True)
class ProjectSpec:
    key: str
    name: Pair
    sector: str
    country: str
    currency: str
    total_cost: float  # in the project's currency
    target_share: float  # financing target as a share of total cost
    stage: str
    close_in_days: int  # expected financial close relative to the reference date
    description: Pair


OFFSHORE_WIND = "yuedong-wind"
PLATFORM_BOOK = "scf-book"

# The two source cases first: a large energy project with a few core investors among many small
# ones, and a fintech platform's financing book with a handful of strategic clients.
PROJECTS: list[ProjectSpec] = [
    ProjectSpec(OFFSHORE_WIND, ("Yuedong 2 GW Offshore Wind Farm", "粤东2GW海上风电项目"), "energy", "CN", "CNY",
                36e9, 0.75, "marketing", 150,
                ("Two gigawatts of offshore wind off eastern Guangdong; equity and senior debt being syndicated.",
                 "粤东海域2吉瓦海上风电，股权与优先级债务正在银团募集。")),
    ProjectSpec(PLATFORM_BOOK, ("Supply Chain Finance Platform Financing Book", "供应链金融平台融资簿"), "finance",
                "CN", "CNY", 8e9, 1.0, "operation", -400,
                ("Revolving funding lines from banks and investors behind the platform's supply-chain receivables.",
                 "银行与投资人为平台供应链应收账款提供的循环融资额度。")),
    ProjectSpec("ningxia-solar", ("Ningxia 1 GW Solar PV Park", "宁夏1GW光伏电站"), "energy", "CN", "CNY",
                4.2e9, 0.7, "construction", -200,
                ("Utility-scale solar with a provincial grid offtake.", "配套省级电网消纳的大型地面光伏电站。")),
    ProjectSpec("almaty-ring", ("Almaty Ring Road PPP", "阿拉木图环城公路PPP项目"), "transport", "KZ", "USD",
                1.1e9, 0.7, "financial_close", -30,
                ("Availability-payment toll road concession, 66 km.", "66公里可用性付费收费公路特许经营项目。")),
    ProjectSpec("jakarta-lrt", ("Greater Jakarta Light Rail Extension", "大雅加达轻轨延伸线"), "transport", "ID",
                "USD", 2.4e9, 0.65, "structuring", 300,
                ("A 24 km light-rail extension with a government viability-gap grant.",
                 "24公里轻轨延伸线，政府提供可行性缺口补助。")),
    ProjectSpec("hcmc-water", ("Ho Chi Minh City Water Treatment Plant", "胡志明市水处理厂"), "water", "VN", "USD",
                0.45e9, 0.7, "marketing", 120,
                ("500,000 m³/day treatment plant under a 25-year BOT.", "日处理50万立方米的25年BOT水处理厂。")),
    ProjectSpec("karachi-desal", ("Karachi Seawater Desalination Plant", "卡拉奇海水淡化厂"), "water", "PK", "USD",
                0.6e9, 0.75, "development", 420,
                ("Reverse-osmosis desalination with a municipal water purchase agreement.",
                 "反渗透海水淡化项目，与市政签订购水协议。")),
    ProjectSpec("sg-datacentre", ("Singapore Hyperscale Data Centre Campus", "新加坡超大规模数据中心园区"), "digital",
                "SG", "USD", 1.8e9, 0.6, "marketing", 90,
                ("Three data halls, 120 MW IT load, pre-leased to two cloud tenants.",
                 "三栋数据楼、120兆瓦IT负载，已预租给两家云服务商。")),
    ProjectSpec("gulf-cable", ("Gulf Subsea Fibre Cable System", "海湾海底光缆系统"), "digital", "AE", "USD",
                0.9e9, 0.7, "structuring", 240,
                ("A 3,000 km subsea cable linking Gulf landing stations.", "连接海湾各登陆站的3000公里海底光缆。")),
    ProjectSpec("rift-geothermal", ("Rift Valley Geothermal Power Plant", "东非大裂谷地热电站"), "energy", "KE", "USD",
                0.7e9, 0.75, "construction", -120,
                ("140 MW geothermal plant with a 25-year power purchase agreement.", "140兆瓦地热电站，签有25年购电协议。")),
    ProjectSpec("atacama-solar", ("Atacama Solar-plus-Storage Project", "阿塔卡马光储一体化项目"), "energy", "CL", "USD",
                1.3e9, 0.7, "operation", -500,
                ("Solar PV with four-hour battery storage in the Atacama desert.", "阿塔卡马沙漠光伏配套4小时储能。")),
    ProjectSpec("northsea-hydrogen", ("North Sea Green Hydrogen Terminal", "北海绿氢码头"), "energy", "DE", "EUR",
                1.2e9, 0.7, "origination", 600,
                ("Electrolyser and export terminal for green hydrogen and ammonia.", "绿氢与绿氨电解及出口码头。")),
]

# Building blocks for the scale data set's ~2,000 projects: an asset type at a place.
ASSETS: list[tuple[str, str, str, float]] = [
    ("{mw} MW Solar PV Park", "{mw}MW光伏电站", "energy", 0.8e6),
    ("{mw} MW Onshore Wind Farm", "{mw}MW陆上风电场", "energy", 1.3e6),
    ("{mw} MW Offshore Wind Farm", "{mw}MW海上风电项目", "energy", 3.0e6),
    ("{mw} MW Battery Storage", "{mw}MW储能电站", "energy", 0.5e6),
    ("Ring Road PPP", "环城公路PPP项目", "transport", 0.0),
    ("Light Rail Line", "轻轨线路", "transport", 0.0),
    ("Container Terminal", "集装箱码头", "transport", 0.0),
    ("Water Treatment Plant", "水处理厂", "water", 0.0),
    ("Desalination Plant", "海水淡化厂", "water", 0.0),
    ("Data Centre Campus", "数据中心园区", "digital", 0.0),
    ("Fibre Backbone Network", "光纤骨干网", "digital", 0.0),
    ("Hospital PPP", "医院PPP项目", "social", 0.0),
]
PROJECT_PLACES: list[tuple[str, Pair]] = [(code, city) for code, c in COUNTRIES.items() for city in c.cities]

INTERACTION_TEXT: dict[str, list[Pair]] = {
    "meeting": [("Portfolio review of {project}.", "{project}投资组合回顾。"),
                ("Walked through the financing structure of {project}.", "讲解{project}的融资结构。"),
                ("Discussed allocation appetite for the next deals.", "讨论后续项目的认购意向。")],
    "call": [("Call on the term sheet comments for {project}.", "就{project}条款清单意见通话。"),
             ("Checked in on credit committee timing.", "了解信贷委员会审批时间。"),
             ("Follow-up call on drawdown timing.", "跟进提款时间安排。")],
    "email": [("Sent the updated information memorandum for {project}.", "发送{project}更新版信息备忘录。"),
              ("Answered questions on the hedging strategy.", "回复关于对冲策略的问题。"),
              ("Shared the draft model and due-diligence reports.", "分享财务模型草稿及尽调报告。")],
    "visit": [("Site visit to {project} with the technical adviser.", "与技术顾问赴{project}现场考察。"),
              ("Hosted the client's team at the construction site.", "在施工现场接待客户团队。")],
    "event": [("Attended the annual infrastructure investor forum.", "出席年度基础设施投资者论坛。"),
              ("Roundtable on green finance disclosure.", "绿色金融信息披露圆桌会。")],
    "report_sent": [("Quarterly progress report on {project} sent.", "已发送{project}季度进展报告。"),
                    ("Monthly construction and disbursement update sent.", "已发送月度建设及拨付进展。")],
    "senior_meeting": [("Chair-level meeting on the strategic partnership.", "董事长层面战略合作会谈。"),
                       ("CEO dinner: co-investment pipeline for the coming year.", "总裁晚宴：来年跟投项目储备。"),
                       ("Senior management review of {project} commitments.", "高层审阅{project}出资承诺。")],
}
OUTCOMES: list[Pair] = [
    ("Client to revert after internal review.", "客户内部审议后答复。"),
    ("Agreed next steps and owners.", "已明确下一步工作与负责人。"),
    ("Positive; expects to increase the ticket.", "反馈积极，预计增加认购额。"),
    ("Needs more ESG detail before committing.", "承诺前需要更多ESG信息。"),
]
REQUEST_SUBJECTS: list[Pair] = [
    ("Updated drawdown schedule", "提款计划更新"), ("KYC document refresh", "KYC文件更新"),
    ("Co-investment allocation query", "跟投份额查询"), ("Quarterly report request", "季度报告申请"),
    ("Interest rate hedge pricing", "利率对冲报价"), ("ESG data request", "ESG数据申请"),
    ("Term sheet clarification", "条款清单澄清"), ("Site visit arrangement", "现场考察安排"),
    ("Fee invoice correction", "费用发票更正"), ("Access to the data room", "数据室访问权限"),
]
TASK_TITLES: list[Pair] = [
    ("Prepare quarterly portfolio report", "准备季度投资组合报告"),
    ("Follow up on term sheet comments", "跟进条款清单意见"),
    ("Schedule senior management meeting", "安排高层会谈"),
    ("Send co-investment opportunity memo", "发送跟投机会备忘录"),
    ("Update contact details and consent", "更新联系人信息及授权"),
    ("Review credit rating change", "复核信用评级变化"),
]
KYC_TASK: Pair = ("Renew KYC documentation", "更新KYC文件")
SURVEY_COMMENTS: dict[str, list[Pair]] = {
    "good": [("Responsive team, clear reporting.", "团队响应及时，报告清晰。"),
             ("Great access to senior management.", "与高层沟通顺畅。")],
    "neutral": [("Reporting could come earlier.", "报告可以更早提供。"), ("Fine overall.", "整体尚可。")],
    "bad": [("Slow answers to our questions.", "问题回复太慢。"),
            ("We heard about the deal too late.", "我们得知项目信息太晚。")],
}
TITLES: dict[str, list[Pair]] = {
    "board": [("Chairman", "董事长"), ("Board Director", "董事")],
    "c_level": [("Chief Investment Officer", "首席投资官"), ("Chief Financial Officer", "首席财务官"),
                ("Chief Executive Officer", "总裁")],
    "senior": [("Managing Director", "董事总经理"), ("Head of Infrastructure Finance", "基础设施融资部总经理")],
    "middle": [("Director", "总监"), ("Vice President", "副总裁"), ("Investment Manager", "投资经理")],
    "staff": [("Analyst", "分析师"), ("Associate", "经理助理")],
}
TAGS: list[str] = [
    "framework agreement", "co-investor", "green finance", "belt and road", "ESG reporting", "watchlist",
    "platform client", "repeat investor",
]


def bilingual(pair: Pair, **values: str) -> str:
    """English, then Chinese: both desks read the same record."""
    en, zh = pair
    return f"{en.format(**{k: v for k, v in values.items() if not k.endswith('_zh')})} / " \
           f"{zh.format(**{k[:-3]: v for k, v in values.items() if k.endswith('_zh')})}"
