"""The KPI snapshot and the effect estimate through their doors: `bcrm report kpis|effect`, the REST API
(JSON and XLSX) and the worker's monthly tick."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from functools import partial

import pytest
from django.core.management import CommandError

from bcrm.monitoring.models import KpiSnapshot, SnapshotRun
from tests import test_monitoring_snapshot as shared
from tests.doors import Api, command
from tests.test_monitoring_snapshot import PERIOD, local

# the small portfolio of the snapshot tests and its computed snapshot, as fixtures here too
portfolio = shared.portfolio
computed = shared.computed

pytestmark = pytest.mark.django_db


report = partial(command, "report")  # `bcrm report …`; answers its stdout


def paths(response) -> list[str]:
    return [f["path"] for f in response.json()["error"]["fields"]]


# CLI ------------------------------------------------------------------------------------------------------------


def test_cli_kpis_computes_a_missing_snapshot_and_prints_json(portfolio):
    data = json.loads(report("kpis", "--period", PERIOD, "--json"))
    assert data["computed_run"]["rows"] == KpiSnapshot.objects.filter(period=PERIOD).count()
    rows = {r["segment"]: r["figures"] for r in data["rows"]}
    assert rows["all"]["clients"] == 5 and rows["dedicated"]["committed"] == "1880000.55"
    again = json.loads(report("kpis", "--period", PERIOD, "--json", "--breakdown", "value"))
    assert "computed_run" not in again  # stored: read, not recomputed
    assert [r["segment"] for r in again["rows"]] == ["high", "general", "insufficient", "unclassified", "all"]


def test_cli_kpis_table_recompute_and_team(computed, team):
    text = report("kpis", "--period", PERIOD, "--recompute", "--team", str(team.pk))
    assert "computed the 2026-04 snapshot" in text and "Dedicated service" in text and "team " in text
    assert SnapshotRun.objects.filter(status="done").count() == 2


def test_cli_kpis_xlsx(computed, tmp_path):
    from openpyxl import load_workbook

    out = tmp_path / "kpis.xlsx"
    assert "wrote XLSX" in report("kpis", "--period", PERIOD, "--xlsx", str(out))
    book = load_workbook(out)
    assert book.sheetnames == ["value", "risk", "relationship", "tier"]


@pytest.mark.parametrize("args, message", [
    (["--period", "2026-13"], "YYYY-MM"),
    (["--breakdown", "size"], "breakdown"),
    (["--team", "desk"], "team"),
])
def test_cli_kpis_bad_input(args, message):
    with pytest.raises(CommandError) as caught:
        report("kpis", *args)
    assert message in str(caught.value)
    assert not KpiSnapshot.objects.exists()


def test_cli_effect_says_too_few_on_an_empty_portfolio():
    data = json.loads(report("effect", "--dimension", "value", "--outcome", "nps", "--json"))
    assert data["estimate"]["verdict"] == "too_few" and data["run"] is None
    assert "verdict: too_few" in report("effect")


def test_cli_effect_bad_input():
    with pytest.raises(CommandError, match="dimension"):
        report("effect", "--dimension", "size")
    with pytest.raises(CommandError, match="outcome"):
        report("effect", "--outcome", "happiness")


def test_cli_progress_report_is_still_there():
    with pytest.raises(CommandError, match="project"):
        report("progress", "no such project")


# API ------------------------------------------------------------------------------------------------------------


def test_api_reads_the_stored_figures(computed, analyst):
    response = Api(analyst).request("get", f"/kpis?period={PERIOD}&breakdown=tier")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["period"] == PERIOD and body["team"] is None
    assert {r["segment"]: r["figures"]["clients"] for r in body["rows"]}["all"] == 5


def test_api_bad_period_and_breakdown(analyst):
    api = Api(analyst)
    response = api.request("get", "/kpis?period=2026-13")
    assert response.status_code == 422 and paths(response) == ["period"]
    response = api.request("get", f"/kpis?period={PERIOD}&breakdown=size")
    assert response.status_code == 422 and paths(response) == ["breakdown"]
    response = api.request("post", "/kpis/snapshots", {"period": "2026-13"})
    assert response.status_code == 422 and paths(response) == ["period"]


def test_api_rm_sees_own_team_only(computed, rm, team, other_team):
    api = Api(rm)
    assert api.request("get", f"/kpis?period={PERIOD}&team={team.pk}").status_code == 200
    assert api.request("get", f"/kpis?period={PERIOD}&team={other_team.pk}").status_code == 403
    assert api.request("get", f"/kpis?period={PERIOD}").status_code == 403


def test_api_compute_snapshot(portfolio, lead, viewer):
    assert Api(viewer).request("post", "/kpis/snapshots", {"period": PERIOD}).status_code == 403
    response = Api(lead).request("post", "/kpis/snapshots", {"period": PERIOD})
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "done" and response.json()["rows"] > 0
    assert KpiSnapshot.objects.filter(period=PERIOD).count() == response.json()["rows"]


def test_api_xlsx_one_sheet_per_breakdown(computed, analyst):
    from openpyxl import load_workbook

    response = Api(analyst).request("get", f"/kpis.xlsx?period={PERIOD}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["value", "risk", "relationship", "tier"]
    sheet = book["tier"]
    header = [c.value for c in sheet[1]]
    rows = {r[1]: dict(zip(header, r, strict=False)) for r in sheet.iter_rows(min_row=2, values_only=True) if r[1]}
    assert rows["all"]["Clients"] == 5
    assert Decimal(str(rows["dedicated"]["Committed"])) == Decimal("1880000.55")


def test_api_xlsx_keeps_the_permission_rule(computed, rm):
    assert Api(rm).request("get", f"/kpis.xlsx?period={PERIOD}").status_code == 403


def test_api_effect(analyst, rm):
    api = Api(analyst)
    response = api.request("get", "/effect?dimension=value&outcome=csat")
    assert response.status_code == 200 and response.json()["estimate"]["verdict"] == "too_few"
    response = api.request("get", "/effect?dimension=size&outcome=smiles")
    assert response.status_code == 422 and sorted(paths(response)) == ["dimension", "outcome"]
    assert Api(rm).request("get", "/effect").status_code == 403


# The worker's monthly tick --------------------------------------------------------------------------------------


def test_tick_computes_the_previous_month_once(portfolio, django_capture_on_commit_callbacks):
    from bcrm.monitoring.tasks import tick

    with django_capture_on_commit_callbacks(execute=True):
        assert tick(local(2026, 5, 1, 0, 5)) == PERIOD
    assert SnapshotRun.objects.get().trigger == "schedule"
    assert KpiSnapshot.objects.filter(period=PERIOD).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert tick(local(2026, 5, 20)) is None          # this month's is taken
    with django_capture_on_commit_callbacks(execute=True):
        assert tick(local(2026, 4, 30, 23, 59)) is None  # an older month is never re-run by the clock
    assert SnapshotRun.objects.count() == 1


def test_api_lorenz_curve(computed, analyst, rm):
    response = Api(analyst).request("get", f"/kpis/lorenz?period={PERIOD}")
    assert response.status_code == 200 and len(response.json()["x"]) == 101
    assert Api(analyst).request("get", "/kpis/lorenz?period=2025-01").status_code == 404
    assert Api(rm).request("get", f"/kpis/lorenz?period={PERIOD}").status_code == 403
