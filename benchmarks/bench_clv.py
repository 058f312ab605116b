"""BG/NBD + Gamma-Gamma fit and prediction on synthetic customers, beside the floor (one evaluation of the
log-likelihood on every row) and the ``lifetimes`` package on the same data and the same operations, same run.

    .venv/bin/python benchmarks/bench_clv.py [--n 1000000] [--repeat 3] [--seed 0] [--ages continuous|weeks]
        [--lifetimes-python benchmarks/.lifetimes-venv/bin/python | --no-lifetimes]

Data: customers drawn from the BG/NBD + Gamma-Gamma generative process with the CDNOW parameters
(r=0.243, α=4.414, a=0.793, b=2.426; p=6.25, q=3.74, γ=15.44), first purchases spread over 12 weeks and
a 39-week calibration period. ``--ages continuous`` (the default, the honest case): ages and recencies are
real numbers, so nearly every customer is a distinct (x, t_x, T) triple and grouping identical rows saves
nothing. ``--ages weeks``: whole weeks, as a weekly summary gives them — a million customers then hold a
few thousand distinct triples, which bcrm groups and lifetimes does not (report that case separately; it
flatters the grouping, not the maths).

Work timed, the same on both sides: **fit + predict** = fit both models, then per customer the expected
repeat purchases in the next 52 weeks, P(alive) and the expected spend; **CLV** = the 12-month lifetime
value at 1 % a month (4.345 weeks a month, as lifetimes' ``freq="W"``) from the fitted models, timed on its
own (lifetimes' ``customer_lifetime_value`` is slow, and mixing it in would flatter bcrm). Figures: median
and minimum wall time over ``--repeat`` runs after a warm-up. ``lifetimes`` (installed only in its own
virtual environment, see benchmarks/README.md) runs the same work on the same rows in a subprocess, once,
in its default configuration; the script prints both models' log-likelihoods at both sets of parameters
(same data, same formula), the largest difference in the predictions, and the load average.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import gammaln

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bcrm.stats import clv

LIFETIMES_PYTHON = str(Path(__file__).resolve().parent / ".lifetimes-venv" / "bin" / "python")
WEEKS_PER_MONTH = 4.345            # lifetimes' factor for freq="W"
HORIZON_WEEKS = 52.0

LIFETIMES_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np
import pandas as pd
warnings.simplefilter("ignore")
from lifetimes import BetaGeoFitter, GammaGammaFitter
data = np.load(sys.argv[1])
x, tx, T, z = (pd.Series(data[k]) for k in ("x", "tx", "T", "z"))
times = {}
start = time.perf_counter()
bg = BetaGeoFitter().fit(x, tx, T)
times["bgnbd_fit"] = time.perf_counter() - start
pos = x > 0
mark = time.perf_counter()
gg = GammaGammaFitter().fit(x[pos], z[pos])
times["gamma_gamma_fit"] = time.perf_counter() - mark
mark = time.perf_counter()
expected = np.asarray(bg.conditional_expected_number_of_purchases_up_to_time(%(horizon)r, x, tx, T))
alive = np.asarray(bg.conditional_probability_alive(x, tx, T))
spend = np.asarray(gg.conditional_expected_average_profit(x, z))
times["predict"] = time.perf_counter() - mark
times["total"] = time.perf_counter() - start
mark = time.perf_counter()
value = np.asarray(gg.customer_lifetime_value(bg, x, tx, T, z, time=12, discount_rate=0.01, freq="W"))
times["clv"] = time.perf_counter() - mark
np.savez(sys.argv[2], expected=expected, alive=alive, spend=spend, clv=value)
import lifetimes
print(json.dumps({"times": times, "version": lifetimes.__version__,
                  "bgnbd": {k: float(v) for k, v in bg.params_.items()},
                  "gamma_gamma": {k: float(v) for k, v in gg.params_.items()}}))
"""


def simulate(n: int, seed: int, continuous: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r, alpha, a, b, p, q, gamma = 0.243, 4.414, 0.793, 2.426, 6.25, 3.74, 15.44
    rng = np.random.default_rng(seed)
    T = 39 - (rng.uniform(0, 12, n) if continuous else rng.integers(0, 12, n).astype(np.float64))
    lam = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    events = rng.poisson(lam * T)
    x = np.minimum(events, rng.geometric(drop))
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = T[pos] * rng.beta(x[pos], events[pos] - x[pos] + 1)        # age at the last purchase
    if not continuous:
        tx = np.round(tx)
    nu = rng.gamma(q, 1 / gamma, n)
    z = np.zeros(n)
    z[pos] = np.round(rng.gamma(p * x[pos], 1 / (x[pos] * nu[pos])), 2)      # mean spend, cents
    z[pos] = np.maximum(z[pos], 0.01)
    return x.astype(np.float64), tx, T, z


def floor_bgnbd(params: tuple[float, float, float, float], x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> float:
    """FHL eq. 6 on every row, vectorised, nothing precomputed: the least a fit must do per iteration."""
    r, al, a, b = params
    ln_a1 = gammaln(r + x) - gammaln(r) + r * math.log(al)
    ln_a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    ln_a3 = -(r + x) * np.log(al + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_a4 = np.where(x > 0, math.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(al + tx), -np.inf)
    return float(np.sum(ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)))


def floor_gamma_gamma(params: tuple[float, float, float], x: np.ndarray, z: np.ndarray) -> float:
    p, q, g = params
    return float(np.sum(gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * math.log(g) + (p * x - 1) * np.log(z)
                        + p * x * np.log(x) - (p * x + q) * np.log(g + x * z)))


def fit_and_predict(x: np.ndarray, tx: np.ndarray, T: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """What lifetimes' script times as fit + predict: both fits, expected purchases in 52 weeks, P(alive),
    expected spend."""
    bg = clv.fit_bgnbd(x, tx, T)
    gg = clv.fit_gamma_gamma(x, z)
    return {"expected": bg.expected_transactions(HORIZON_WEEKS, x, tx, T), "alive": bg.probability_alive(x, tx, T),
            "spend": gg.conditional_expected_spend(x, z)}


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    out = fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - start)
    return samples, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lifetimes-python", default=LIFETIMES_PYTHON)
    parser.add_argument("--no-lifetimes", action="store_true")
    parser.add_argument("--ages", choices=("continuous", "weeks"), default="continuous")
    args = parser.parse_args()

    import os
    print(f"load average at start: {os.getloadavg()}")
    x, tx, T, z = simulate(args.n, args.seed, continuous=args.ages == "continuous")
    (_, _, _), counts, _ = clv.group_rows(x, tx, T)
    print(f"# BG/NBD + Gamma-Gamma on {args.n:,} synthetic customers (CDNOW parameters, ages {args.ages}): "
          f"{counts.size:,} distinct (x, t_x, T), {int((x > 0).sum()):,} repeat buyers")

    # --- ours: fit + predict, and each part on its own ------------------------------------------------
    bg_fit = clv.fit_bgnbd(x, tx, T)
    gg_fit = clv.fit_gamma_gamma(x, z)
    parts: list[tuple[str, Callable[[], Any]]] = [
        ("bcrm fit + predict (total)", lambda: fit_and_predict(x, tx, T, z)),
        ("  BG/NBD fit (incl. grouping)", lambda: clv.fit_bgnbd(x, tx, T)),
        ("  Gamma-Gamma fit", lambda: clv.fit_gamma_gamma(x, z)),
        ("  predict 52 weeks + P(alive)", lambda: (bg_fit.expected_transactions(HORIZON_WEEKS, x, tx, T),
                                                    bg_fit.probability_alive(x, tx, T))),
        ("  12-month CLV", lambda: clv.customer_lifetime_value(bg_fit, x, tx, T, gg_fit.conditional_expected_spend(x, z),
                                                               months=12, units_per_month=WEEKS_PER_MONTH)),
    ]
    bg_params = (bg_fit.r, bg_fit.alpha, bg_fit.a, bg_fit.b)
    gg_params = (gg_fit.p, gg_fit.q, gg_fit.gamma)
    pos = x > 0
    floors = [
        ("floor: one BG/NBD log-likelihood, all rows", lambda: floor_bgnbd(bg_params, x, tx, T)),
        ("floor: one Gamma-Gamma log-likelihood", lambda: floor_gamma_gamma(gg_params, x[pos], z[pos])),
    ]
    rows: list[tuple[str, float, float]] = []
    results: dict[str, Any] = {}
    for name, fn in floors + parts:
        samples, out = timed(fn, args.repeat)
        rows.append((name, statistics.median(samples), min(samples)))
        results[name] = out
    floor = rows[0][1]
    total = rows[len(floors)][1]                                   # "bcrm fit + predict (total)"
    ours_result: dict[str, np.ndarray] = results["bcrm fit + predict (total)"]
    ours_clv = results["  12-month CLV"]
    clv_seconds = next(median for name, median, _low in rows if name == "  12-month CLV")

    # --- lifetimes on the same rows, in its own interpreter ---------------------------------------------
    lifetimes: dict[str, Any] | None = None
    lt_predictions: dict[str, np.ndarray] | None = None
    python = Path(args.lifetimes_python)
    if args.no_lifetimes:
        note = "lifetimes: skipped (--no-lifetimes)"
    elif not python.exists():
        note = (f"lifetimes: not run — no interpreter at {python}; install it with\n"
                f"  python3 -m venv benchmarks/.lifetimes-venv && benchmarks/.lifetimes-venv/bin/pip install "
                f"lifetimes 'setuptools<82' numpy scipy pandas")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            data_path, out_path = Path(tmp) / "data.npz", Path(tmp) / "pred.npz"
            np.savez(data_path, x=x, tx=tx, T=T, z=z)
            proc = subprocess.run([str(python), "-c", LIFETIMES_SCRIPT % {"horizon": HORIZON_WEEKS},
                                   str(data_path), str(out_path)], capture_output=True, text=True)
            if proc.returncode != 0:
                note = f"lifetimes: failed ({proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode})"
            else:
                lifetimes = json.loads(proc.stdout.strip().splitlines()[-1])
                with np.load(out_path) as saved:
                    lt_predictions = {k: saved[k] for k in saved.files}
                note = f"lifetimes {lifetimes['version']} (separate venv: {python}), same rows, one run"

    # --- report -----------------------------------------------------------------------------------------
    print(f"{'what':46} {'median s':>9} {'min s':>8} {'x floor':>8}")
    for name, median, low in rows:
        print(f"{name:46} {median:9.3f} {low:8.3f} {median / floor:8.1f}")
    print(note)
    if lifetimes is not None:
        t = lifetimes["times"]
        for key, label in (("total", "lifetimes fit + predict (total)"), ("bgnbd_fit", "  BG/NBD fit"),
                           ("gamma_gamma_fit", "  Gamma-Gamma fit"), ("predict", "  predict + P(alive) + spend"),
                           ("clv", "lifetimes 12-month CLV (on its own)")):
            print(f"{label:46} {t[key]:9.3f} {'':>8} {t[key] / floor:8.1f}")
        print(f"speed-up, fit + predict: lifetimes / bcrm = {t['total'] / total:.1f}x")
        print(f"speed-up, 12-month CLV:  lifetimes / bcrm = {t['clv'] / clv_seconds:.1f}x")
        lt_bg = lifetimes["bgnbd"]
        lt_gg = lifetimes["gamma_gamma"]
        ll_ours = clv.bgnbd_log_likelihood(bg_params, x, tx, T)
        ll_lt = clv.bgnbd_log_likelihood((lt_bg["r"], lt_bg["alpha"], lt_bg["a"], lt_bg["b"]), x, tx, T)
        gg_ours = clv.gamma_gamma_log_likelihood(gg_params, x, z)
        gg_lt = clv.gamma_gamma_log_likelihood((lt_gg["p"], lt_gg["q"], lt_gg["v"]), x, z)
        print(f"BG/NBD log-likelihood   bcrm {ll_ours:,.3f}   lifetimes {ll_lt:,.3f}   (bcrm − lifetimes = "
              f"{ll_ours - ll_lt:+.6f})")
        print(f"Gamma-Gamma log-lik.    bcrm {gg_ours:,.3f}   lifetimes {gg_lt:,.3f}   (bcrm − lifetimes = "
              f"{gg_ours - gg_lt:+.6f})")
        print("parameters  bcrm      " + "  ".join(f"{k}={v:.4f}" for k, v in {**bg_fit.params, **gg_fit.params}.items()))
        print("            lifetimes " + "  ".join(f"{k}={v:.4f}" for k, v in {**lt_bg, **lt_gg}.items()))
        if lt_predictions is not None:
            for key, mine in (("expected", ours_result["expected"]), ("alive", ours_result["alive"]),
                              ("spend", ours_result["spend"]), ("clv", ours_clv)):
                theirs = lt_predictions[key]
                rel = np.max(np.abs(mine - theirs) / np.maximum(np.abs(theirs), 1e-12))
                print(f"  prediction {key:<9} largest relative difference {rel:.2e} (parameters differ by the "
                      f"optimisers' tolerance)")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
