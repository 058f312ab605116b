"""Each split method on 1,000,000 lognormal scores, beside ``np.sort`` of the same array, same run.

    .venv/bin/python benchmarks/bench_splits.py [--n 1000000] [--repeat 7] [--seed 0]

Figures: median and minimum wall time in milliseconds over ``--repeat`` runs after one warm-up, and
``ratio`` = method median / ``np.sort`` median (the baseline: every O(n log n) method sorts once).
Also: label stability at its default settings (50 resamples of 50,000) and the whole comparison table.
Pure NumPy: no database, no Django set-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bcrm.segmentation import splits
from bcrm.segmentation.stability import label_stability


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    scores = rng.lognormal(mean=0.0, sigma=1.0, size=args.n)
    outcome = rng.random(args.n) < 1 / (1 + np.exp(-np.log(scores)))       # more likely 1 for high scores
    costs = rng.choice(np.arange(0.5, 5.01, 0.5), size=args.n)             # 0.5 … 5 hours per client

    baseline = timed(lambda: np.sort(scores), args.repeat)
    base = statistics.median(baseline)
    print(f"# split methods on {args.n:,} lognormal scores, {args.repeat} runs each (numpy {np.__version__})")
    print(f"{'method':46} {'median':>8} {'min':>8} {'ratio':>7}  result")
    print(f"{'np.sort (baseline)':46} {base:8.1f} {min(baseline):8.1f} {1.0:7.1f}")

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("fixed threshold=2", lambda: splits.split("fixed", scores, threshold=2.0)),
        ("top_share q=0.2", lambda: splits.split("top_share", scores, q=0.2)),
        ("top_k k=10000", lambda: splits.split("top_k", scores, k=10_000)),
        ("pareto p=0.8", lambda: splits.split("pareto", scores, p=0.8)),
        ("natural_break", lambda: splits.split("natural_break", scores)),
        ("information_gain", lambda: splits.split("information_gain", scores, outcome=outcome)),
        ("capacity one cost (2 h, 2000 h)", lambda: splits.split("capacity", scores, cost=2.0, budget=2000)),
        ("capacity per-client costs, 200 h (exact)", lambda: splits.split("capacity", scores, costs=costs, budget=200)),
        ("capacity per-client costs, 2000 h (greedy)",
         lambda: splits.split("capacity", scores, costs=costs, budget=2000)),
        ("compare_methods (4 methods, with outcome)", lambda: splits.compare_methods(scores, outcome=outcome)),
    ]
    for label, fn in cases:
        samples = timed(fn, args.repeat)
        result = fn()
        if isinstance(result, list):
            summary = ", ".join(r.method for r in result)
        else:
            d = result.diagnostics
            summary = f"threshold={result.threshold:.4g} upper={d['n_upper']:,}"
            if "exact" in d:
                summary += f" exact={d['exact']} gap={d['gap']:.2e}"
        median = statistics.median(samples)
        print(f"{label:46} {median:8.1f} {min(samples):8.1f} {median / base:7.1f}  {summary}")

    for method, params in (("natural_break", {}), ("top_share", {"q": 0.2})):
        samples = timed(lambda method=method, params=params: label_stability(scores, method, params=params),
                        max(1, args.repeat // 2))
        stability = label_stability(scores, method, params=params)
        median = statistics.median(samples)
        print(f"{'stability ' + method + ' (50 x 50,000)':46} {median:8.1f} {min(samples):8.1f} "
              f"{median / base:7.1f}  below 0.9: {int((stability < 0.9).sum()):,}")


if __name__ == "__main__":
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
