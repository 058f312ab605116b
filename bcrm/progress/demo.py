"""Demo milestones and team updates for every project, in bulk (the scale data set has thousands of
projects). Deterministic for a seed; adds nothing to a project that already has milestones."""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from bcrm.financing.models import Project
from bcrm.progress.models import Milestone, ProjectUpdate

BATCH = 2000

# (English, 中文, months from the project's financial close: negative is before)
MILESTONES = [
    ("Feasibility study approved", "可行性研究报告获批", -14),
    ("Environmental and social impact assessment", "环境与社会影响评估完成", -10),
    ("Term sheets signed", "条款清单签署", -5),
    ("Credit approvals received", "授信审批完成", -3),
    ("Financial close", "融资关闭", 0),
    ("First drawdown", "首次提款", 2),
]

UPDATES_EN = [
    "Met the lenders' technical adviser on site; the grid connection study is on schedule.",
    "Two lenders completed credit approval this month; the remaining tranche is in term-sheet negotiation.",
    "The EPC contractor confirmed the construction timetable; first drawdown is planned after financial close.",
    "Due diligence questions from the DFI answered; the environmental monitoring plan was updated.",
]
UPDATES_ZH = [
    "本月与贷款行技术顾问完成现场考察，并网研究按计划推进。",
    "两家贷款行本月完成授信审批，剩余贷款分档正在进行条款清单谈判。",
    "总承包商(EPC)确认了施工计划，首次提款安排在融资关闭之后。",
    "已回复开发性金融机构的尽职调查问题，并更新了环境监测计划。",
]


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return dt.date(year, month, min(day.day, 28))


def demo_progress(*, as_of: dt.date, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    tz = timezone.get_current_timezone()
    projects = Project.objects.exclude(milestones__isnull=False).order_by("pk").values_list("pk", "expected_close")
    milestones: list[Milestone] = []
    updates: list[ProjectUpdate] = []
    counts = {"projects": 0, "milestones": 0, "updates": 0}

    def flush() -> None:
        Milestone.objects.bulk_create(milestones, batch_size=BATCH)
        ProjectUpdate.objects.bulk_create(updates, batch_size=BATCH)
        counts["milestones"] += len(milestones)
        counts["updates"] += len(updates)
        milestones.clear()
        updates.clear()

    for pk, expected_close in projects.iterator(chunk_size=BATCH):
        counts["projects"] += 1
        close = expected_close or _add_months(as_of, rng.randint(-6, 12))
        for position, (name, local_name, offset) in enumerate(MILESTONES[: rng.randint(3, len(MILESTONES))]):
            due = _add_months(close, offset)
            done = due <= as_of and rng.random() < 0.8
            completed = due + dt.timedelta(days=rng.randint(-10, 20)) if done else None
            if completed is not None and completed > as_of:
                completed = as_of
            milestones.append(Milestone(project_id=pk, name=name, local_name=local_name, due_on=due,
                                        completed_on=completed, position=position))
        for _i in range(rng.randint(1, 3)):
            chinese = rng.random() < 0.5
            body = rng.choice(UPDATES_ZH if chinese else UPDATES_EN)
            day = as_of - dt.timedelta(days=rng.randint(0, 75))
            written = dt.datetime.combine(day, dt.time(rng.randint(8, 18), rng.choice((0, 15, 30, 45))), tzinfo=tz)
            updates.append(ProjectUpdate(project_id=pk, written_at=written, body=body,
                                         language="zh-hans" if chinese else "en"))
        if len(milestones) >= BATCH:
            flush()
    flush()
    return counts
