"""The portfolio lifetime-value model is kept between runs (issue 19): a daily value run predicts with the model
the last refit kept, so a client whose commitments did not change keeps their figures, and a full run predicts
with the same model, so both give the same labels. It is refitted when it is ``BCRM_CLV_REFIT_DAYS`` old or when
a run asks; it is never one fitted after the run's date; previews and failed runs keep nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from decimal import Decimal
from unittest import mock

import numpy as np
import pytest
from django.core.management import call_command
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bcrm.segmentation import model_features, services
from bcrm.segmentation.models import ClvFit, Run
from bcrm.stats import ModelError
from bcrm.stats.clv import BGNBDFit, GammaGammaFit, predict_clv
from tests.doors import Api
from tests.factories import make_participation, make_project
from tests.test_model_features import TODAY, aware, history  # noqa: F401  (a fixture)

NAMES = ("predicted_clv",)  # what the value criterion reads of the three


def value_run(**kwargs) -> services.RunReport:
    return services.run_segmentation(actor=None, dimension="value", with_stability=False, **kwargs)


def commit_again(org, days_ago: int = 2) -> None:
    make_participation(make_project(name=f"New {org.pk}"), org, status="funded", currency="USD",
                       amount=Decimal("3000000"), status_changed_at=aware(days_ago))


def figures(report: services.RunReport) -> dict[str, np.ndarray]:
    return {name: report.outcome.matrix[name].values for name in NAMES}


# --- the engine -------------------------------------------------------------------------------------------

def test_a_daily_run_predicts_with_the_kept_model_so_unchanged_clients_keep_their_figures(history):  # noqa: F811
    first = value_run(as_of=TODAY)
    kept = first.run.clv_fit
    assert kept is not None and kept.as_of == TODAY and ClvFit.objects.count() == 1
    assert set(kept.params) == {"r", "alpha", "a", "b", "p", "q", "gamma"} and kept.customers == 50
    changed = history["committed"][0]
    commit_again(changed)
    second = value_run(as_of=TODAY)
    assert second.run.mode == "incremental" and second.run.clv_fit_id == kept.pk and ClvFit.objects.count() == 1
    pop = second.outcome.population
    at = pop.positions([changed.pk])[0]
    others = np.ones(pop.size, dtype=bool)
    others[at] = False
    before, after = figures(first), figures(second)
    for name in NAMES:
        # Refitting moved every client's figures: a quarter of the 1M value assignments rewritten each day.
        np.testing.assert_array_equal(after[name][others], before[name][others], err_msg=name)
    assert after["predicted_clv"][at] != before["predicted_clv"][at]  # their own new deal counts
    # What every run did before the model was kept: a refit moves the figures of clients that did not change.
    refitted = figures(value_run(as_of=TODAY, refit_clv=True))
    assert (refitted["predicted_clv"][others] != before["predicted_clv"][others]).sum() > others.sum() // 2


def test_between_refits_the_date_moving_leaves_every_clients_figures_alone(history, settings):  # noqa: F811
    """Predicted as of the kept model's date: a month later nobody is a month older in the model (ages are whole
    months), so no value assignment is rewritten for the lifetime value alone; a commitment after the model's
    date counts from the refit. (Predicted as of each run's date, every client's figures moved at each month's
    turn.)"""
    settings.BCRM_CLV_REFIT_DAYS = 40
    first = value_run(as_of=TODAY - dt.timedelta(days=35))
    late = history["committed"][5]
    commit_again(late, days_ago=1)  # after the model's date
    later = value_run(as_of=TODAY)
    assert later.run.clv_fit_id == first.run.clv_fit_id
    np.testing.assert_array_equal(figures(later)["predicted_clv"], figures(first)["predicted_clv"])
    at = later.outcome.population.positions([late.pk])[0]
    refitted = figures(value_run(as_of=TODAY, refit_clv=True))["predicted_clv"]
    assert refitted[at] != figures(later)["predicted_clv"][at]  # the late commitment now counts


def test_a_full_run_predicts_with_the_same_kept_model_and_gives_the_daily_runs_labels(history):  # noqa: F811
    value_run(as_of=TODAY)
    commit_again(history["committed"][3])
    daily = value_run(as_of=TODAY)
    full = value_run(as_of=TODAY, full=True)
    assert full.run.mode == "full" and full.run.clv_fit_id == daily.run.clv_fit_id
    for name in NAMES:
        np.testing.assert_array_equal(figures(full)[name], figures(daily)[name], err_msg=name)
    np.testing.assert_array_equal(full.outcome.label, daily.outcome.label)
    np.testing.assert_array_equal(full.outcome.score, daily.outcome.score)


def test_the_model_is_refitted_when_the_kept_one_is_refit_days_old_or_when_a_run_asks(history, settings):  # noqa: F811
    settings.BCRM_CLV_REFIT_DAYS = 7
    start = TODAY - dt.timedelta(days=10)
    a = value_run(as_of=start).run.clv_fit
    assert a.as_of == start
    assert value_run(as_of=start + dt.timedelta(days=6)).run.clv_fit_id == a.pk  # six days old: kept
    b = value_run(as_of=start + dt.timedelta(days=7)).run.clv_fit  # seven: refitted
    assert b.pk != a.pk and b.as_of == start + dt.timedelta(days=7)
    c = value_run(as_of=start + dt.timedelta(days=7), refit_clv=True).run.clv_fit
    assert c.pk not in (a.pk, b.pk) and ClvFit.objects.count() == 3
    assert value_run(as_of=start + dt.timedelta(days=8)).run.clv_fit_id == c.pk  # the newest kept one


def test_a_run_never_predicts_with_a_model_fitted_after_its_date(history):  # noqa: F811
    today = value_run(as_of=TODAY).run.clv_fit
    earlier = TODAY - dt.timedelta(days=2)
    back = value_run(as_of=earlier).run.clv_fit
    assert back.pk != today.pk and back.as_of == earlier  # it saw nothing after its date
    assert value_run(as_of=TODAY).run.clv_fit_id == today.pk  # today's runs keep today's model


def test_a_preview_keeps_no_model_and_a_failed_run_keeps_none(history, settings):  # noqa: F811
    settings.BCRM_FEATURE_CACHE_SECONDS = 0
    preview = services.run_segmentation(actor=None, dimension="value", dry_run=True, with_stability=False)
    assert not preview.outcome.matrix["predicted_clv"].missing.all()  # it predicted, with a fit of its own
    assert ClvFit.objects.count() == 0
    with mock.patch.object(services, "_write_assignments", side_effect=RuntimeError("disk full")), \
            pytest.raises(RuntimeError):
        value_run(as_of=TODAY)
    assert ClvFit.objects.count() == 0 and not Run.objects.exists()
    run = value_run(as_of=TODAY)
    assert run.run.clv_fit is not None
    # a preview predicts with the kept model: the run's figures and labels
    again = services.run_segmentation(actor=None, dimension="value", dry_run=True, with_stability=False)
    assert ClvFit.objects.count() == 1
    np.testing.assert_array_equal(figures(again)["predicted_clv"], figures(run)["predicted_clv"])
    np.testing.assert_array_equal(again.outcome.label, run.outcome.label)


def test_a_kept_model_with_damaged_parameters_is_refitted_not_fatal(history, caplog):  # noqa: F811
    kept = value_run(as_of=TODAY).run.clv_fit
    ClvFit.objects.filter(pk=kept.pk).update(params={**kept.params, "alpha": -1})
    with caplog.at_level(logging.WARNING, logger="bcrm.segmentation.model_features"):
        run = value_run(as_of=TODAY, full=True).run
    assert run.clv_fit_id not in (None, kept.pk) and "not usable" in caplog.text
    assert run.clv_fit.params["alpha"] > 0


def test_a_failed_fit_keeps_nothing_and_says_why(db, team):
    from tests.factories import make_org

    for i in range(3):
        make_participation(make_project(), make_org(legal_name=f"Tiny {i}", team=team), status="funded",
                           status_changed_at=aware(60))
    run = value_run(as_of=TODAY).run
    assert run.clv_fit is None and ClvFit.objects.count() == 0
    assert "clv" in model_features.LAST_NOTES


# --- the pure part: a kept fit predicts exactly as the fit that found it ------------------------------------

def simulated(seed: int, n: int = 400) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    T = rng.uniform(6, 36, n)
    lam, p = rng.gamma(1.5, 1 / 4, n), rng.beta(1.5, 5, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                break
            x[i] += 1
            tx[i] = t
            if rng.random() < p[i]:
                break
    spend = np.where(x > 0, rng.gamma(3, 200, n), 0.0)
    return x, tx, T, spend


@hsettings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_a_kept_fit_predicts_exactly_as_the_fit_that_found_it(seed):
    x, tx, T, spend = simulated(seed)
    try:
        fitted = predict_clv(x, tx, T, spend, units_per_month=1.0)
    except ModelError:
        return  # a draw the model cannot fit has nothing to keep
    stored = json.loads(json.dumps({**fitted.bgnbd.params,
                                    **(fitted.gamma_gamma.params if fitted.gamma_gamma else {})}))
    kept = (BGNBDFit.from_params(stored), GammaGammaFit.from_params(stored) if fitted.gamma_gamma else None)
    again = predict_clv(x, tx, T, spend, units_per_month=1.0, fitted=kept)
    np.testing.assert_array_equal(again.expected_transactions, fitted.expected_transactions)
    np.testing.assert_array_equal(again.p_alive, fitted.p_alive)
    if fitted.clv is not None:
        np.testing.assert_array_equal(again.clv, fitted.clv)


@pytest.mark.parametrize("params", [{}, {"r": 1, "alpha": 2, "a": 0.5}, {"r": 1, "alpha": "x", "a": 1, "b": 1},
                                    {"r": 1, "alpha": float("nan"), "a": 1, "b": 1}, {"r": 0, "alpha": 1, "a": 1, "b": 1}])
def test_a_kept_fit_with_missing_or_invalid_parameters_is_refused(params):
    with pytest.raises(ModelError, match="no valid parameter"):
        BGNBDFit.from_params(params)


# --- the doors ---------------------------------------------------------------------------------------------

def test_the_cli_refits_on_request_and_says_which_model_it_used(history):  # noqa: F811
    first = io.StringIO()
    call_command("segment", "--dimension", "value", "--json", stdout=first)
    model = json.loads(first.getvalue())["clv_model"]
    assert model["as_of"] == TODAY.isoformat() and model["spend_model"]
    again = io.StringIO()
    call_command("segment", "--dimension", "value", "--refit-clv", "--json", stdout=again)
    assert json.loads(again.getvalue())["clv_model"]["id"] != model["id"]
    text = io.StringIO()
    call_command("segment", "--dimension", "value", stdout=text)
    assert f"lifetime-value model #{ClvFit.objects.latest('id').pk} fitted as of {TODAY.isoformat()}" in text.getvalue()


def test_the_api_runs_with_a_refit_and_lists_the_kept_models(history, analyst, rm):  # noqa: F811
    api = Api(analyst)
    status, body = api.call("post", "/segmentation/runs", {"dimension": "value"})
    assert status == 201 and body["clv_model"]["id"]
    status, refit = api.call("post", "/segmentation/runs", {"dimension": "value", "refit_clv": True})
    assert status == 201 and refit["clv_model"]["id"] != body["clv_model"]["id"]
    status, models = api.call("get", "/segmentation/clv-models")
    assert status == 200 and [m["id"] for m in models["items"]] == [refit["clv_model"]["id"], body["clv_model"]["id"]]
    assert set(models["items"][0]["params"]) == {"r", "alpha", "a", "b", "p", "q", "gamma"}
    status, runs = api.call("get", "/segmentation/runs?dimension=value")
    assert runs["items"][0]["clv_fit_id"] == refit["clv_model"]["id"]
    status, _ = api.call("post", "/segmentation/runs", {"dimension": "value", "refit_clv": "perhaps"})
    assert status == 422
    status, _ = Api(rm).call("get", "/segmentation/clv-models")
    assert status == 403  # a relationship manager does not read the portfolio's models


def test_the_run_page_refits_on_request_and_names_the_model(history, analyst, client):  # noqa: F811
    client.force_login(analyst)
    page = client.get("/segmentation/value/").content.decode()
    assert 'name="refit_clv"' in page
    assert 'name="refit_clv"' not in client.get("/segmentation/risk/").content.decode()
    first = client.post("/segmentation/value/run/", follow=True).content.decode()
    kept = ClvFit.objects.get()
    assert f"model #{kept.pk}, fitted as of {TODAY.isoformat()}" in first and "α " in first
    client.post("/segmentation/value/run/", {"refit_clv": "1"})
    assert ClvFit.objects.count() == 2 and Run.objects.latest("id").clv_fit_id != kept.pk
    client.post("/segmentation/value/run/")
    assert ClvFit.objects.count() == 2
