"""One column spec per entity: the single place that says which columns an import reads and an export
writes, what each is called in English and Chinese (and the other names sheets use for it), how its
cells parse, whether it is required, and how a reference to another row resolves.

Export writes exactly these columns, and import reads them back, so export then import changes nothing.

References come in three columns, strongest last: ``organization`` (an external id or a unique legal or
local name — what a hand-kept sheet has), ``organization_external_id`` and ``organization_bcrm_id``
(bcrm's own id, which export writes). When a row has several, the strongest one decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from bcrm.core.texts import render
from bcrm.dataio import parsers as p
from bcrm.dataio.choices import Entity
from bcrm.engagement.choices import InteractionKind
from bcrm.engagement.models import Interaction
from bcrm.financing.choices import ParticipationRole, ParticipationStatus, ProjectStage
from bcrm.financing.models import Participation, Project
from bcrm.parties.choices import KycStatus, Language, OrganizationKind, RatingAgency, Sector, Seniority
from bcrm.parties.models import Contact, Organization

# Column kinds
FIELD = "field"        # sets one model field from its own cell
REF = "ref"            # one of the three columns naming a referenced row
BCRM_ID = "bcrm_id"    # the row's own bcrm id: update that row
TAGS = "tags"          # organisation tags, "; "-separated
PRESENT = "present"    # an interaction's contacts present, "; "-separated e-mails or names


@dataclass(frozen=True)
class Column:
    name: str
    label: str | Promise
    zh: str
    parse: Callable[[Any], Any] | None = None
    required: bool = False
    synonyms: tuple[str, ...] = ()
    kind: str = FIELD
    field: str | None = None          # the model field it sets (default: ``name``)
    ref: str | None = None            # organization | project | team | user
    ref_part: str = "name"            # name | external_id | bcrm_id
    compliance: bool = False          # KYC and sanctions: only compliance, lead and admin change them
    currency_column: str | None = None  # an amount cell may name its currency; it must agree with this column
    numeric: bool = False             # exported as a number, never as text

    @property
    def target(self) -> str:
        return self.field or self.name


@dataclass(frozen=True)
class EntitySpec:
    entity: str
    model: type[models.Model]
    columns: tuple[Column, ...]
    label: str | Promise
    zh: str
    refs: tuple[str, ...] = field(default=())  # reference groups, e.g. ("organization", "project")
    required_refs: tuple[str, ...] = field(default=())  # groups of which at least one column must be present

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[Column]:
        return [c for c in self.columns if c.required]


def col(name: str, label, zh: str, parse=None, *synonyms: str, **kwargs) -> Column:
    return Column(name=name, label=label, zh=zh, parse=parse, synonyms=tuple(synonyms), **kwargs)


def bcrm_id() -> Column:
    return col("bcrm_id", _("bcrm ID"), "bcrm编号", p.parse_int, "bcrm id", "系统编号", "bcrm 编号", kind=BCRM_ID,
               numeric=True)


REF_LABELS = {
    "organization": (_("organisation"), _("organisation external id"), _("organisation bcrm ID"), "机构客户"),
    "project": (_("project"), _("project external id"), _("project bcrm ID"), "项目"),
    "sponsor": (_("sponsor"), _("sponsor external id"), _("sponsor bcrm ID"), "发起人"),
}


def ref_columns(group: str, *, names: tuple[str, ...] = (), external_names: tuple[str, ...] = (),
                ref: str | None = None) -> list[Column]:
    """The three columns naming a referenced row: by external id or unique name, by external id, by bcrm id."""
    label, external_label, bcrm_label, zh = REF_LABELS[group]
    kind_of = ref or group
    return [
        col(group, label, zh, p.parse_text, *names, kind=REF, ref=kind_of, ref_part="name", field=group),
        col(f"{group}_external_id", external_label, f"{zh}外部编号", p.parse_text, *external_names, kind=REF,
            ref=kind_of, ref_part="external_id", field=group),
        col(f"{group}_bcrm_id", bcrm_label, f"{zh}bcrm编号", p.parse_int, kind=REF, ref=kind_of,
            ref_part="bcrm_id", field=group, numeric=True),
    ]


ORG_NAMES = ("客户", "机构", "机构名称", "客户名称", "公司", "公司名称", "客户全称", "organisation", "organization",
             "client", "client name", "company", "company name", "机构客户名称")
ORG_EXTERNAL = ("客户编号", "机构编号", "客户代码", "organisation external id", "client id", "client code")
PROJECT_NAMES = ("项目名称", "project name", "项目全称")
PROJECT_EXTERNAL = ("项目编号", "项目代码", "project id", "project code")

ORGANIZATIONS = EntitySpec(
    entity=Entity.ORGANIZATIONS, model=Organization, label=_("Organisations"), zh="机构客户",
    columns=(
        bcrm_id(),
        col("external_id", _("external id"), "外部编号", p.parse_text, "客户编号", "机构编号", "客户代码", "编号",
            "client id", "client code", "code", "id code"),
        col("legal_name", _("legal name"), "法定名称", p.parse_text, "机构名称", "客户名称", "公司名称", "名称", "全称",
            "英文名称", "客户全称", "name", "company", "company name", "organisation", "organization", "client",
            "client name", required=True),
        col("local_name", _("local name"), "本地名称", p.parse_text, "中文名称", "中文名", "中文全称", "简称",
            "chinese name"),
        col("kind", _("kind"), "类型", p.choice_parser(OrganizationKind), "机构类型", "客户类型", "类别", "type",
            "client type", "organisation type", required=True),
        col("country", _("country"), "国家/地区", p.parse_country, "国家", "地区", "国别", "所在国家", "国家或地区",
            "country/region", "country code", required=True),
        col("sector", _("sector"), "行业", p.choice_parser(Sector), "所属行业", "industry"),
        col("website", _("website"), "网站", p.parse_text, "网址", "官网", "url", "web"),
        col("rating_agency", _("rating agency"), "评级机构", p.choice_parser(RatingAgency), "agency"),
        col("rating_grade", _("rating grade"), "评级等级", p.parse_text, "信用评级", "评级", "rating",
            "credit rating"),
        col("kyc_status", _("KYC status"), "客户身份识别(KYC)状态", p.choice_parser(KycStatus), "KYC状态", "kyc",
            compliance=True),
        col("kyc_expires_on", _("KYC expires on"), "客户身份识别(KYC)到期日", p.parse_date, "KYC到期日",
            "kyc expiry", compliance=True),
        col("sanctions_flag", _("sanctions hit"), "命中制裁名单", p.parse_bool, "制裁", "制裁名单", "sanctions",
            compliance=True),
        col("relationship_since", _("relationship since"), "建立关系日期", p.parse_date, "合作开始日期",
            "建立关系时间", "client since"),
        col("team", _("owning team"), "所属团队", p.parse_text, "团队", "team", kind=REF, ref="team"),
        col("relationship_manager", _("relationship manager"), "客户经理", p.parse_text, "rm", "负责人",
            kind=REF, ref="user"),
        col("tags", _("tags"), "标签", p.parse_text, "标记", kind=TAGS),
        col("notes", _("notes"), "备注", p.parse_long_text, "说明", "remarks", "comments", "note"),
    ),
)

CONTACTS = EntitySpec(
    entity=Entity.CONTACTS, model=Contact, label=_("Contacts"), zh="联系人", refs=("organization",),
    required_refs=("organization",),
    columns=(
        bcrm_id(),
        *ref_columns("organization", names=ORG_NAMES, external_names=ORG_EXTERNAL),
        col("full_name", _("name"), "姓名", p.parse_text, "名称", "联系人", "联系人姓名", "full name", "contact",
            "contact name", "name", required=True),
        col("local_name", _("local name"), "本地名称", p.parse_text, "中文名", "中文姓名", "chinese name"),
        col("title", _("job title"), "职务", p.parse_text, "职位", "头衔", "title", "position"),
        col("seniority", _("seniority"), "职级", p.choice_parser(Seniority), "级别", "层级"),
        col("email", _("e-mail"), "电子邮件", p.parse_email, "邮箱", "电子邮箱", "email", "mail", "email address"),
        col("phone", _("phone"), "电话", p.parse_text, "手机", "联系电话", "手机号", "mobile", "telephone", "tel"),
        col("language", _("language"), "语言", p.choice_parser(Language, {"中文": "zh-hans", "chinese": "zh-hans",
                                                                      "zh": "zh-hans", "英文": "en", "英语": "en"}),
            "首选语言", "preferred language"),
        col("report_consent", _("consents to receive reports"), "同意接收报告", p.parse_bool, "同意接收", "consent"),
        col("consent_given_at", _("consent given at"), "同意时间", p.parse_datetime, "consent date"),
        col("is_primary", _("primary contact"), "主要联系人", p.parse_bool, "主联系人", "primary"),
    ),
)

PROJECTS = EntitySpec(
    entity=Entity.PROJECTS, model=Project, label=_("Projects"), zh="项目", refs=("sponsor",),
    columns=(
        bcrm_id(),
        col("external_id", _("external id"), "外部编号", p.parse_text, *PROJECT_EXTERNAL, "编号"),
        col("name", _("name"), "名称", p.parse_text, *PROJECT_NAMES, "project", required=True),
        col("local_name", _("local name"), "本地名称", p.parse_text, "中文名称", "项目中文名", "chinese name"),
        col("sector", _("sector"), "行业", p.choice_parser(Sector), "所属行业", "industry", required=True),
        col("country", _("country"), "国家/地区", p.parse_country, "国家", "地区", "所在国", "country/region",
            required=True),
        col("stage", _("stage"), "阶段", p.choice_parser(ProjectStage), "项目阶段"),
        col("currency", _("currency"), "币种", p.parse_currency, "货币", "ccy"),
        col("total_cost", _("total cost"), "总投资", p.parse_money, "项目总投资", "总成本", "投资总额",
            currency_column="currency", numeric=True),
        col("financing_target", _("financing target"), "融资目标", p.parse_money, "融资金额", "融资规模", "target",
            currency_column="currency", numeric=True),
        col("expected_close", _("expected financial close"), "预计融资关闭日", p.parse_date, "预计关闭日期",
            "融资关闭日期", "expected close"),
        *ref_columns("sponsor", names=("项目发起人", "sponsor name"), ref="organization"),
        col("description", _("description"), "描述", p.parse_long_text, "项目描述", "简介"),
    ),
)

PARTICIPATIONS = EntitySpec(
    entity=Entity.PARTICIPATIONS, model=Participation, label=_("Participations"), zh="参与", refs=("project", "organization"),
    required_refs=("project", "organization"),
    columns=(
        bcrm_id(),
        *ref_columns("project", names=PROJECT_NAMES, external_names=PROJECT_EXTERNAL),
        *ref_columns("organization", names=ORG_NAMES, external_names=ORG_EXTERNAL),
        col("role", _("role"), "角色", p.choice_parser(ParticipationRole, {"股权": "equity", "优先级债务": "senior_debt",
                                                                         "夹层融资": "mezzanine", "夹层": "mezzanine",
                                                                         "担保": "guarantee", "承购": "offtake",
                                                                         "顾问": "advisory"}),
            "参与角色", "参与方式", "出资方式", required=True),
        col("tranche", _("tranche"), "贷款分档", p.parse_text, "分档", "档次"),
        col("amount", _("amount"), "金额", p.parse_money, "承诺金额", "承诺出资", "出资金额", "参与金额", "认购金额",
            "commitment", currency_column="currency", numeric=True, required=True),
        col("currency", _("currency"), "币种", p.parse_currency, "货币", "ccy"),
        col("status", _("status"), "状态", p.choice_parser(ParticipationStatus), "进展", "进度", "pipeline status"),
        col("probability", _("probability"), "概率", p.parse_probability, "成功概率", "可能性", numeric=True),
        col("fee_income", _("fee income"), "费用收入", p.parse_money, "手续费收入", "费用", "fees",
            currency_column="currency", numeric=True),
        col("notes", _("notes"), "备注", p.parse_long_text, "说明", "remarks", "comments"),
    ),
)

INTERACTIONS = EntitySpec(
    entity=Entity.INTERACTIONS, model=Interaction, label=_("Interactions"), zh="互动记录", refs=("organization", "project"),
    required_refs=("organization",),
    columns=(
        bcrm_id(),
        *ref_columns("organization", names=ORG_NAMES, external_names=ORG_EXTERNAL),
        *ref_columns("project", names=PROJECT_NAMES, external_names=PROJECT_EXTERNAL),
        col("kind", _("kind"), "类型", p.choice_parser(InteractionKind, {"会议": "meeting", "电话": "call", "邮件": "email",
                                                                       "拜访": "visit", "实地考察": "visit",
                                                                       "活动": "event", "高层会晤": "senior_meeting"}),
            "互动类型", "方式", "形式", "type", required=True),
        col("occurred_at", _("when"), "时间", p.parse_datetime, "日期", "互动时间", "发生时间", "拜访时间", "会议时间",
            "互动日期", "date", "time", "occurred at", required=True),
        col("owner", _("who"), "记录人", p.parse_text, "经办人", "负责人", "owner", kind=REF, ref="user"),
        col("minutes_spent", _("minutes spent"), "耗时(分钟)", p.parse_int, "耗时", "时长", "分钟", "minutes",
            "duration", numeric=True),
        col("summary", _("summary"), "摘要", p.parse_long_text, "内容", "纪要", "会议纪要", "互动内容", "主题", "subject",
            required=True),
        col("outcome", _("outcome"), "结果", p.parse_long_text, "成果", "后续", "下一步", "next steps"),
        col("contacts", _("contacts present"), "在场联系人", p.parse_text, "联系人", "参会人", "参会联系人", "attendees",
            kind=PRESENT),
    ),
)

SPECS: dict[str, EntitySpec] = {s.entity: s for s in (ORGANIZATIONS, CONTACTS, PROJECTS, PARTICIPATIONS, INTERACTIONS)}

# Headers an import never reads and never complains about beyond listing them: the error file's reason column.
REASON_HEADERS = ("reason", "原因")
# The organisation export's class and tier columns (code column, English name column, Chinese name column):
# computed by the segmentation and the automation, so an import reads them never and lists them as ignored never
# (export then import changes nothing and says nothing).
CLASS_COLUMNS = (
    ("value_label", "Value class", "价值分类"),
    ("risk_label", "Risk class", "风险分类"),
    ("relationship_label", "Relationship class", "关系分类"),
    ("tier", "Service tier", "服务层级"),
)
EXPORT_ONLY_HEADERS = tuple(h for triple in CLASS_COLUMNS for h in triple)


def spec_for(entity: str) -> EntitySpec:
    return SPECS[entity]


# --- the import report in the reader's language -------------------------------------------------------------

def field_label(entity: str, name: str) -> str:
    """A column or field of ``entity`` by its label in the active language (the code itself if unknown)."""
    from django.core.exceptions import FieldDoesNotExist
    from django.utils import translation

    spec = SPECS.get(entity)
    if spec is None or not name:
        return name
    chinese = (translation.get_language() or "").lower().startswith("zh")
    for column in spec.columns:
        if name in (column.name, column.target):
            return column.zh if chinese else str(column.label)
    try:
        return str(getattr(spec.model._meta.get_field(name), "verbose_name", name))
    except FieldDoesNotExist:
        return name


def reason_items(entity: str, errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """A rejected row's reasons, each with its field's label and the message in the active language (a
    message stored with its code is rendered again; older ones are shown as they were written)."""
    out = []
    for error in errors or []:
        name = str(error.get("field") or "")
        message = render(error["template"], error.get("params")) if error.get("template") else str(
            error.get("message") or "")
        out.append({"field": name, "label": field_label(entity, name) if name else "", "message": message})
    return out


def reason_text(entity: str, errors: list[dict[str, Any]]) -> str:
    """The reasons on one line: "Kind [kind]: “银行” is not one of: …; …"."""
    return "; ".join(f"{e['label']} [{e['field']}]: {e['message']}" if e["field"] and e["label"] != e["field"]
                     else f"{e['field']}: {e['message']}" if e["field"] else e["message"]
                     for e in reason_items(entity, errors))
