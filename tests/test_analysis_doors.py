"""The analyst tools through the API (POST /api/v1/analyse/…) and the page (/analyse/): the same reports as
``bcrm analyse … --json``, the fit diagnostics drawn, bad files refused with a clear message."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import include, path
from ninja import NinjaAPI

import bcrm.urls
from bcrm.accounts.services import token_create
from bcrm.api import api
from bcrm.core.errors import InvalidInput, PermissionDenied
from bcrm.fileanalysis import services
from bcrm.fileanalysis.api import router
from bcrm.fileanalysis.forms import _pairs
from bcrm.ui import charts
from tests import doors
from tests.browsing import PASSWORD, TIMEOUT_MS
from tests.datafiles import LOG, SPEND, SUMMARY
from tests.factories import make_user

pytestmark = pytest.mark.django_db


# Until the integrator registers the router in bcrm/api.py and includes the page in bcrm/urls.py, these tests
# mount them on an API like the app's (same authentication, same error handlers); afterwards they use the app's.
analysis_api: NinjaAPI
if any(r is router for _prefix, r in api._routers):
    analysis_api = api
else:
    analysis_api = NinjaAPI(auth=api.auth, urls_namespace="analysis-test-api")
    analysis_api._exception_handlers.update(api._exception_handlers)
    analysis_api.add_router("", router)
_registered = any(getattr(p, "app_name", None) == "analysis" or getattr(p, "namespace", None) == "analysis"
                  for p in bcrm.urls.urlpatterns)
urlpatterns = [path("api/v1/", analysis_api.urls)] + \
    ([] if _registered else [path("", include("bcrm.fileanalysis.urls"))]) + list(bcrm.urls.urlpatterns)


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


def scorecard_csv(path: Path, n: int = 1200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    leverage = rng.normal(size=n)
    sector = np.array(["solar", "wind", "toll road"])[rng.integers(0, 3, n)]
    noise = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.5 * leverage + (sector == "toll road") * 0.8)))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["client_id", "leverage", "sector", "noise", "defaulted"])
        for i in range(n):
            writer.writerow([f"C{i:05d}", f"{leverage[i]:.4f}", sector[i], f"{noise[i]:.4f}", int(y[i])])
    return path


def upload(p: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or p.name, p.read_bytes(), content_type="text/csv")


def cli_json(*args: str) -> dict:
    out = io.StringIO()
    call_command("analyse", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def api_client(analyst):
    return doors.api_client(analyst)


def rounded(params: dict, digits: int) -> dict:
    return {k: round(v, digits) for k, v in params.items()}


# --------------------------------------------------------------------------------------------------
# API


def test_api_clv_on_cdnow_summary_gives_the_published_fit_and_the_cli_document(api_client):
    with SUMMARY.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/clv", {"file": handle})
    assert response.status_code == 200, response.content
    report = response.json()
    assert rounded(report["bgnbd"]["params"], 3) == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert round(report["bgnbd"]["log_likelihood"], 1) == -9582.4
    assert report["file"] == SUMMARY.name                    # not the server's temporary path
    cli = cli_json("clv", str(SUMMARY))
    cli.pop("file")
    report.pop("file")
    assert report == cli                                     # one function behind both doors


def test_api_clv_with_spend_and_options(api_client):
    with SPEND.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/clv", {"file": handle, "horizon": "6", "discount": "0.02",
                                                          "mode": "summary"})
    assert response.status_code == 200
    report = response.json()
    gg = report["gamma_gamma"]["params"]
    assert round(gg["p"], 2) == 6.25 and round(gg["q"], 2) == 3.74 and abs(gg["gamma"] - 15.44) < 0.01
    assert report["horizon_months"] == 6 and report["discount_rate"] == 0.02


def test_api_split_on_cdnow_summary(api_client):
    with SUMMARY.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/split", {"file": handle, "column": "frequency",
                                                            "method": "top_share", "param": ["q=0.2"]})
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["method"] == "top_share" and report["params"] == {"q": 0.2}
    assert report["counts"]["upper"] + report["counts"]["lower"] == 2357
    assert report["counts"]["upper"] <= int(0.2 * 2357)
    assert sum(report["histogram"]["upper"]) == report["counts"]["upper"]


def test_api_scorecard_on_synthetic_signal(api_client, tmp_path):
    path = scorecard_csv(tmp_path / "loans.csv")
    with path.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/scorecard", {"file": handle, "target": "defaulted", "folds": "3"})
    assert response.status_code == 200, response.content
    report = response.json()
    cv = report["cross_validation"]
    assert cv["folds"] == 3 and cv["auc"] > 0.7 and abs(cv["gini"] - (2 * cv["auc"] - 1)) < 1e-9
    assert report["information_value"]["leverage"] > report["information_value"]["noise"]
    assert len(cv["roc"]["fpr"]) == len(cv["roc"]["tpr"]) > 10
    assert report["points_table"]["variables"]


def test_api_bad_file_is_422_in_the_one_error_shape(api_client, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    with bad.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/scorecard", {"file": handle, "target": "defaulted"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and "defaulted" in error["message"]
    assert error["fields"][0]["path"] == "file"


def test_api_bad_option_names_the_field(api_client, tmp_path):
    path = scorecard_csv(tmp_path / "loans.csv", n=200)
    with path.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/scorecard", {"file": handle, "target": "defaulted", "folds": "1"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["path"] == "folds"


def test_api_target_not_binary_is_422(api_client, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,0\n2,7\n3,1\n", encoding="utf-8")
    with path.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/scorecard", {"file": handle, "target": "y"})
    assert response.status_code == 422 and "0/1" in response.json()["error"]["message"]


def test_api_file_over_the_limit_is_422(api_client, tmp_path, settings):
    settings.BCRM_ANALYSE_MAX_BYTES = 100
    path = scorecard_csv(tmp_path / "loans.csv", n=50)
    with path.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/scorecard", {"file": handle, "target": "defaulted"})
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["path"] == "file"


def test_api_missing_file_is_422(api_client):
    response = api_client.post("/api/v1/analyse/split", {"column": "x"})
    assert response.status_code == 422


def test_api_unauthenticated_is_401(tmp_path):
    path = scorecard_csv(tmp_path / "loans.csv", n=50)
    with path.open("rb") as handle:
        response = Client().post("/api/v1/analyse/scorecard", {"file": handle, "target": "defaulted"})
    assert response.status_code == 401


def test_api_user_without_a_role_is_403(tmp_path):
    nobody = make_user("nobody")
    _, raw = token_create(user=nobody)
    path = scorecard_csv(tmp_path / "loans.csv", n=50)
    with path.open("rb") as handle:
        response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
            "/api/v1/analyse/scorecard", {"file": handle, "target": "defaulted"})
    assert response.status_code == 403


def test_api_session_authentication_works_for_a_viewer(client, viewer, tmp_path):
    client.force_login(viewer)
    path = tmp_path / "s.csv"
    path.write_text("score\n" + "\n".join(str(v) for v in [1, 2, 3, 10, 11, 12, 30]) + "\n", encoding="utf-8")
    with path.open("rb") as handle:
        response = client.post("/api/v1/analyse/split", {"file": handle, "column": "score"})
    assert response.status_code == 200 and response.json()["method"] == "natural_break"


# --------------------------------------------------------------------------------------------------
# The service


def test_service_leaves_no_temporary_file_behind(analyst, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = tmp_path / "s.csv"
    path.write_text("score\n1\n2\n9\n", encoding="utf-8")
    services.analyse_upload(actor=analyst, tool="split", upload=upload(path), options={"column": "score"})
    with pytest.raises(InvalidInput):
        services.analyse_upload(actor=analyst, tool="split", upload=upload(path), options={"column": "nope"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


def test_service_refuses_a_user_without_a_role(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("score\n1\n2\n", encoding="utf-8")
    with pytest.raises(PermissionDenied):
        services.analyse_upload(actor=make_user("norole"), tool="split", upload=upload(path),
                                options={"column": "score"})


def test_pairs_parses_comma_and_line_separated_options():
    assert _pairs("q=0.2, k=10\nbudget=400;") == ["q=0.2", "k=10", "budget=400"]
    assert _pairs("") == []


# --------------------------------------------------------------------------------------------------
# The page


@pytest.fixture
def page_client(client, analyst):
    return doors.signed_in(analyst, client)


def test_page_shows_the_form(page_client):
    response = page_client.get("/analyse/")
    assert response.status_code == 200
    assert b'enctype="multipart/form-data"' in response.content and b'name="tool"' in response.content


def test_page_needs_sign_in_and_a_role(client):
    assert client.get("/analyse/").status_code == 302
    client.force_login(make_user("roleless"))
    assert client.get("/analyse/").status_code == 403


def test_page_clv_on_cdnow_summary_shows_parameters_chart_and_predictions(page_client):
    response = page_client.post("/analyse/", {"file": upload(SUMMARY), "tool": "clv", "mode": "auto",
                                              "horizon": "12", "discount": "0.01", "unit": "week", "period": "day"})
    assert response.status_code == 200
    html = response.content.decode()
    for value in ("0.2426", "4.4135", "0.7929", "2.4258", "-9582.43", "0.0126", "0.3782"):  # estimates, SEs, LL
        assert value in html, value
    assert 'id="chart-clv-calibration"' in html and "data-vega-spec" in html
    assert "clv-predictions.csv" in html and "data:text/csv;charset=utf-8;base64," in html
    assert "Traceback" not in html


def test_page_clv_on_a_transaction_log_shows_the_holdout(page_client):
    response = page_client.post("/analyse/", {"file": upload(LOG), "tool": "clv", "mode": "transactions",
                                              "map": "customer=1, date=3, amount=5",
                                              "horizon": "12", "discount": "0.01", "unit": "week", "period": "day",
                                              "calibration_end": "1997-09-30"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-clv-holdout"' in html and 'id="chart-clv-calibration"' in html


def test_page_scorecard_shows_auc_roc_iv_and_points(page_client, tmp_path):
    path = scorecard_csv(tmp_path / "loans.csv")
    response = page_client.post("/analyse/", {"file": upload(path), "tool": "scorecard", "target": "defaulted",
                                              "folds": "3", "min_iv": "0.02"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "AUC" in html and 'id="chart-scorecard-roc"' in html and 'id="chart-scorecard-iv"' in html
    assert 'id="points-table"' in html and "leverage" in html


def test_page_split_shows_threshold_histogram_and_comparison(page_client, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("id,score\n" + "\n".join(f"{i},{v}" for i, v in enumerate([1, 2, 3, 2, 40, 41, 45, 3])) + "\n",
                    encoding="utf-8")
    response = page_client.post("/analyse/", {"file": upload(path), "tool": "split", "column": "score"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-split-histogram"' in html and 'id="split-comparison"' in html and "natural_break" in html


def test_page_bad_upload_shows_the_error_inline_without_traceback(page_client, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n")
    response = page_client.post("/analyse/", {"file": upload(bad), "tool": "scorecard", "target": "defaulted"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "defaulted" in html and "has-error" in html and "Traceback" not in html
    assert 'id="analyse-result"' not in html


def test_page_requires_the_tools_main_option(page_client, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("score\n1\n", encoding="utf-8")
    response = page_client.post("/analyse/", {"file": upload(path), "tool": "split"})
    assert response.status_code == 422 and "Name the column holding the scores." in response.content.decode()


def test_page_refuses_binary_garbage(page_client):
    garbage = SimpleUploadedFile("x.csv", bytes(range(256)) * 10)
    response = page_client.post("/analyse/", {"file": garbage, "tool": "clv", "mode": "auto", "unit": "week",
                                              "period": "day"})
    assert response.status_code == 422 and "Traceback" not in response.content.decode()


# --------------------------------------------------------------------------------------------------
# Charts


def test_new_charts_are_valid_vega_lite_with_their_table():
    bars = charts.grouped_bars(["0", "1", "2+"], {"Observed": [10, 5, 2], "Model": [9.5, 5.2, None]},
                               key="g", title="t", x_title="x", y_title="y")
    charts.validated(bars)
    assert bars.columns == ["x", "Observed", "Model"] and bars.rows[2] == ["2+", "2.00", ""]
    curve = charts.roc([0, 0.5, 1], [0, 0.8, 1], auc=0.8, key="r")
    charts.validated(curve)
    assert curve.rows[1] == ["50.0%", "80.0%"] and "0.800" in curve.description


# --------------------------------------------------------------------------------------------------
# In real Chromium: the charts draw from the vendored bundle


@pytest.mark.browser
def test_browser_pages_draw_calibration_roc_iv_and_histogram(live_server, transactional_db, browser, tmp_path):
    make_user("ana.lyst", "analyst", password=PASSWORD)
    page = browser.new_page(locale="en-US")
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{live_server.url}/analyse/")
    page.fill("input[name=username]", "ana.lyst")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#analyse-form")
    page.set_input_files("input[name=file]", str(SUMMARY))
    page.check("input[name=tool][value=clv]")
    # only the chosen tool's options show
    assert page.is_visible("input[name=horizon]") and not page.is_visible("input[name=target]")
    page.check("input[name=tool][value=scorecard]")
    assert page.is_visible("input[name=target]") and not page.is_visible("input[name=horizon]")
    page.check("input[name=tool][value=clv]")
    page.click("#analyse-form button[type=submit]")
    page.wait_for_selector("#chart-clv-calibration svg")
    page.screenshot(path=str(tmp_path / "clv.png"), full_page=True)
    assert page.locator("#chart-clv-calibration .chart-canvas[data-drawn]").count() == 1
    assert "could not be drawn" not in page.inner_text("#analyse-result")

    page.set_input_files("input[name=file]", str(scorecard_csv(tmp_path / "loans.csv", n=600)))
    page.check("input[name=tool][value=scorecard]")
    page.fill("input[name=target]", "defaulted")
    page.fill("input[name=folds]", "3")
    page.click("#analyse-form button[type=submit]")
    page.wait_for_selector("#chart-scorecard-roc svg")
    page.wait_for_selector("#chart-scorecard-iv svg")
    page.screenshot(path=str(tmp_path / "scorecard.png"), full_page=True)
    assert "AUC" in page.inner_text("#scorecard-metrics")

    page.set_input_files("input[name=file]", str(SUMMARY))
    page.check("input[name=tool][value=split]")
    page.fill("input[name=column]", "frequency")
    page.click("#analyse-form button[type=submit]")
    page.wait_for_selector("#chart-split-histogram svg")
    page.screenshot(path=str(tmp_path / "split.png"), full_page=True)
    assert "could not be drawn" not in page.inner_text("#analyse-result")


def test_api_documents_the_three_endpoints(api_client):
    schema = api_client.get("/api/v1/openapi.json").json()
    for tool in ("split", "clv", "scorecard"):
        assert f"/api/v1/analyse/{tool}" in schema["paths"]
    form = schema["paths"]["/api/v1/analyse/clv"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in form


# --------------------------------------------------------------------------------------------------
# What the file cannot tell, settled through every door: CLI (tests/test_analysis_readers.py), API, page


def test_api_refuses_an_ambiguous_decimal_mark_and_takes_the_one_named(api_client, tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("score;x\n1,500;a\n2,750;b\n9,250;c\n", encoding="utf-8")
    with path.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/split", {"file": handle, "column": "score"})
    assert response.status_code == 422 and "--decimal" in response.json()["error"]["message"]
    with path.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/split", {"file": handle, "column": "score", "method": "fixed",
                                                            "param": "threshold=2", "decimal": ","})
    assert response.status_code == 200, response.content
    assert response.json()["counts"]["upper"] == 2 and response.json()["warnings"]


def test_page_reads_ambiguous_dates_in_the_order_the_analyst_chose(page_client, tmp_path):
    rows = []
    for line in LOG.read_text().splitlines()[:3000]:
        _master, customer, date, _cds, dollars = line.split()
        rows.append(f"{customer},{date[6:8]}/{date[4:6]}/{date[:4]},{dollars}")
    ambiguous = [r for r in rows if int(r.split(",")[1][:2]) <= 12]   # every day 12 or below: cannot tell
    path = tmp_path / "log.csv"
    path.write_text("customer,date,amount\n" + "\n".join(ambiguous) + "\n", encoding="utf-8")
    fields = {"tool": "clv", "mode": "transactions", "horizon": "12", "discount": "0.01", "unit": "week",
              "period": "day"}
    html = page_client.post("/analyse/", {"file": upload(path), **fields}).content.decode()
    assert "--dayfirst or --monthfirst" in html
    html = page_client.post("/analyse/", {"file": upload(path), **fields, "date_order": "dmy"}).content.decode()
    assert 'id="chart-clv-calibration"' in html and "Traceback" not in html


def test_api_scorecard_takes_a_word_target_and_leaves_leakage_out(api_client, tmp_path):
    rng = np.random.default_rng(8)
    lines = ["income,copy,result"]
    for _ in range(500):
        income = rng.normal(50, 15)
        bad = int(rng.random() < 1 / (1 + np.exp((income - 45) / 6)))
        lines.append(f"{income:.1f},{bad},{'lost' if bad else 'kept'}")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with path.open("rb") as handle:
        response = api_client.post("/api/v1/analyse/scorecard", {"file": handle, "target": "result", "folds": "3",
                                                                "bad": "lost"})
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["bad_value"] == "lost" and report["dropped"]["copy"] == "leakage"
