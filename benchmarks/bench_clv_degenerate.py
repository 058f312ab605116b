"""Predictions of a degenerate BG/NBD fit (issue 18, item 8): the vectorised concentrated-posterior step
beside the per-customer quadrature it replaces, on the same customers, in the same run.

    .venv/bin/python benchmarks/bench_clv_degenerate.py [--n 1000000] [--quadrature-sample 5000] [--seed 0]

Data: n customers whose drop-out probability after each purchase is the same (0.05) for everyone, so the
fit degenerates (a and b without bound) — the case where SciPy's hypergeometric function gives up and
every such customer used to go through adaptive quadrature. Figures: the fit, the whole prediction
(expected transactions in the next 52 weeks for every customer) with the vectorised step, and the old
path — one quadrature per customer that needs it — timed on a sample of those customers and scaled to
all of them (the full loop at 1,000,000 customers would take minutes). Prints the machine's load average
at start and end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")

import django

django.setup()

from bcrm.stats import clv  # noqa: E402
from bcrm.stats.clv import expectations  # noqa: E402


def customers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Purchases at Gamma-distributed rates; after each, drop out with probability 0.05 (vectorised by
    drawing the number of purchases before drop-out, then their times)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.5, 5.0, n)
    T = rng.uniform(20.0, 80.0, n)
    lifetime_purchases = rng.geometric(0.05, n)                 # purchases made while alive, the last one fatal
    in_window = rng.poisson(rate * T)
    k = np.minimum(lifetime_purchases, in_window)
    x = np.maximum(k - 1, 0).astype(np.float64)                 # repeat purchases
    # the last purchase: the k-th of the in-window purchases, uniform order statistics on [0, T]
    tx = np.where(k > 0, T * rng.beta(np.maximum(k, 1), np.maximum(in_window - k + 1, 1)), 0.0)
    return x, np.where(x > 0, tx, 0.0), T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--quadrature-sample", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    x, tx, T = customers(args.n, args.seed)
    start = time.perf_counter()
    fit = clv.fit_bgnbd(x, tx, T)
    fit_seconds = time.perf_counter() - start
    print(f"customers {args.n:,}; fit {fit_seconds:.2f} s; a={fit.a:.3g} b={fit.b:.3g}; "
          f"degenerate note: {bool(fit.warnings)}")
    start = time.perf_counter()
    fit.expected_transactions(52, x, tx, T)
    vectorised = time.perf_counter() - start

    # Which customers the quadrature served: those where the hypergeometric form is not usable.
    params = fit.params
    base = params["alpha"] + T
    s = 52.0 / base
    big_a = params["r"] + x
    c = params["a"] + params["b"] + x - 1
    from scipy.special import hyp2f1
    with np.errstate(all="ignore"):
        value = c / (params["a"] - 1) * (1 - hyp2f1(big_a, params["a"] - 1, c, -s))
    upper = big_a * s
    bad = (~np.isfinite(value) | (value < -1e-12 * upper) | (value > upper * (1 + 1e-9) + 1e-300)) & (s > 0)
    rows = np.flatnonzero(bad)
    sample = rows[: args.quadrature_sample]
    start = time.perf_counter()
    for i in sample:
        expectations._expected_quadrature(float(big_a[i]), float(s[i]), params["a"], float(params["b"] + x[i]))
    per_row = (time.perf_counter() - start) / max(sample.size, 1)
    quadrature = per_row * rows.size
    print(f"customers needing the fallback: {rows.size:,} ({rows.size / args.n:.1%})")
    print(f"predict, vectorised:            {vectorised:8.2f} s")
    before = vectorised + quadrature         # the old path: the same vectorised work plus one quadrature each
    print(f"predict, with per-customer quadrature (baseline; {sample.size:,} quadratures timed, scaled): "
          f"{before:8.2f} s  → {before / vectorised:.1f}x faster now")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
