"""The discrete-time BG/BB model (issue 18, item 7): the published estimates on the donations data, the
predictions against an independent numerical integration of the model, properties, bad input, doors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from bcrm.stats import ModelError, bgbb
from tests.datafiles import DONATIONS
from tests.doors import api_client
from tests.factories import make_user

PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}


def donations() -> np.ndarray:
    return np.loadtxt(DONATIONS, delimiter=",", skiprows=1)


@pytest.fixture(scope="module")
def fit() -> bgbb.BGBBFit:
    d = donations()
    return bgbb.fit_bgbb(d[:, 0], d[:, 1], d[:, 2], weights=d[:, 3])


def test_reproduces_fader_hardie_shang_2010_on_the_donations_data(fit):
    assert {k: round(v, 3) for k, v in fit.params.items()} == PUBLISHED
    assert round(fit.log_likelihood, 1) == -33225.6
    assert fit.n_customers == 11104 and fit.converged
    assert all(0 < se < 0.5 for se in fit.se.values())


def integrate_model(fit: bgbb.BGBBFit, x: int, tx: int, n: int, horizon: int) -> tuple[float, float]:
    """P(alive at n + 1) and expected transactions in the next ``horizon`` opportunities, by integrating the
    model's own story over p ~ Beta(α, β) and θ ~ Beta(γ, δ) numerically (a reference that shares no
    formula with the closed forms under test)."""
    a, b, g, d = fit.alpha, fit.beta, fit.gamma, fit.delta

    def history(p: float, theta: float) -> float:
        alive_all = p ** x * (1 - p) ** (n - x) * (1 - theta) ** n
        died = sum(p ** x * (1 - p) ** (tx - x + i) * theta * (1 - theta) ** (tx + i) for i in range(n - tx))
        return alive_all + died

    def alive_next(p: float, theta: float) -> float:
        return p ** x * (1 - p) ** (n - x) * (1 - theta) ** (n + 1)

    def future(p: float, theta: float) -> float:
        return p ** x * (1 - p) ** (n - x) * (1 - theta) ** n * sum(p * (1 - theta) ** k for k in range(1, horizon + 1))

    def mean(f) -> float:
        inner = lambda theta: integrate.quad(lambda p: f(p, theta), 0, 1, weight="alg", wvar=(a - 1, b - 1))[0]  # noqa: E731
        return integrate.quad(inner, 0, 1, weight="alg", wvar=(g - 1, d - 1))[0]

    evidence = mean(history)
    return mean(alive_next) / evidence, mean(future) / evidence


@pytest.mark.parametrize("x, tx, n", [(6, 6, 6), (0, 0, 6), (3, 5, 6), (1, 1, 6), (2, 3, 10)])
def test_p_alive_and_expected_transactions_agree_with_numerical_integration(fit, x, tx, n):
    alive, expected = integrate_model(fit, x, tx, n, horizon=5)
    assert fit.p_alive([x], [tx], [n])[0] == pytest.approx(alive, rel=1e-6)
    assert fit.expected_transactions(5, [x], [tx], [n])[0] == pytest.approx(expected, rel=1e-6)


histories = st.integers(min_value=1, max_value=12).flatmap(
    lambda n: st.integers(min_value=0, max_value=n).flatmap(
        lambda tx: st.tuples(st.integers(min_value=1 if tx else 0, max_value=tx), st.just(tx), st.just(n))))


@settings(max_examples=60, deadline=None)
@given(st.lists(histories, min_size=1, max_size=12), st.lists(st.integers(min_value=1, max_value=5), min_size=12,
                                                              max_size=12))
def test_weighted_rows_give_the_likelihood_of_the_expanded_rows(rows, counts):
    params = [1.2, 0.75, 0.66, 2.8]
    x, tx, n = (np.array(c) for c in zip(*rows, strict=True))
    w = np.array(counts[:len(rows)], dtype=float)
    expanded = np.repeat(np.arange(len(rows)), w.astype(int))
    compressed = bgbb.log_likelihood(params, x, tx, n, weights=w)
    assert compressed == pytest.approx(bgbb.log_likelihood(params, x[expanded], tx[expanded], n[expanded]), rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(histories, st.integers(min_value=0, max_value=20))
def test_predictions_are_probabilities_and_grow_with_the_horizon(fit, history, horizon):
    x, tx, n = history
    alive = fit.p_alive([x], [tx], [n])[0]
    assert 0 <= alive <= 1
    now, later = (fit.expected_transactions(h, [x], [tx], [n])[0] for h in (horizon, horizon + 1))
    assert 0 <= now <= later <= now + 1 + 1e-12          # at most one transaction per opportunity


@pytest.mark.parametrize("x, tx, n, words", [
    ([3], [2], [6], "frequency cannot exceed recency"),
    ([1], [7], [6], "cannot be after"),
    ([0], [2], [6], "recency is 0 exactly when"),
    ([1.5], [2], [6], "whole number"),
    ([-1], [0], [6], "must not be negative"),
])
def test_bad_histories_are_refused_with_the_row(x, tx, n, words):
    with pytest.raises(ModelError, match=words):
        bgbb.fit_bgbb(x * 20, tx * 20, n * 20)


def test_too_few_customers_and_no_transaction():
    with pytest.raises(ModelError, match="Too few customers"):
        bgbb.fit_bgbb([1, 0], [1, 0], [6, 6])
    with pytest.raises(ModelError, match="No customer made a transaction"):
        bgbb.fit_bgbb([0] * 20, [0] * 20, [6] * 20)


# --------------------------------------------------------------------------------------------------
# Doors: CLI, API, page


def test_cli_fits_the_compressed_file_with_weights(tmp_path):
    out = io.StringIO()
    pred = tmp_path / "pred.csv"
    call_command("analyse", "bgbb", str(DONATIONS), "--weights", "weights", "--out", str(pred), "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert {k: round(v, 3) for k, v in report["bgbb"]["params"].items()} == PUBLISHED
    assert report["totals"]["customers"] == 11104 and pred.read_text().count("\n") == 23
    text = io.StringIO()
    call_command("analyse", "bgbb", str(DONATIONS), "--weights", "weights", stdout=text)
    assert "BG/BB fit on 11,104 customers" in text.getvalue()


def test_cli_names_the_file_line_of_a_bad_history(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x,t_x,n\n" + "1,2,6\n" * 15 + "4,2,6\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 17 of the file"):
        call_command("analyse", "bgbb", str(path), "--json", stdout=io.StringIO())


@pytest.mark.django_db
def test_api_and_page(tmp_path, client):
    analyst = make_user("bgbb.analyst", "analyst", password="bgbb-pass-2026")
    api = api_client(analyst)
    with DONATIONS.open("rb") as handle:
        response = api.post("/api/v1/analyse/bgbb", {"file": handle, "weights": "weights", "horizon": "3"})
    assert response.status_code == 200, response.content
    assert round(response.json()["bgbb"]["params"]["delta"], 3) == 2.783
    client.force_login(analyst)
    with DONATIONS.open("rb") as handle:
        html = client.post("/analyse/", {"file": handle, "tool": "bgbb", "weights": "weights",
                                         "opportunities": "3"}).content.decode()
    assert 'id="bgbb-fit"' in html and "1.2035" in html
