"""Allocating a book of 10,000 lines (bcrm/book/allocation.py), beside a plain proportional float split of the
same asks, same run.

    .venv/bin/python benchmarks/bench_allocation.py [--n 10000] [--repeat 7] [--seed 0]

Figures: median and minimum wall time in milliseconds over ``--repeat`` runs after one warm-up, for
``pro_rata`` (lots of 1,000, minimum ticket 100,000: some lines drop out and are redistributed) and
``priority`` (four classes), and ``ratio`` = policy median / baseline median. The baseline
(``proportional_float_split``) has no lots, no minimum ticket and no exact sum. The load average is printed
at start and end: the machine is shared. Pure Python: no database, no Django set-up.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bcrm.book.allocation import Line, allocate, proportional_float_split


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"load average at start: {load()}")

    rng = random.Random(args.seed)
    asks = [Decimal(int(rng.lognormvariate(13, 1.2) // 1000) * 1000 + rng.choice([0, 500])) for _ in range(args.n)]
    lines = [Line(key=f"{i:08d}", ask=ask, rank=(rng.randint(0, 1), rng.randint(0, 1))) for i, ask in enumerate(asks)]
    demand = sum(asks)
    target = (demand * Decimal("0.6")).quantize(Decimal(1))
    floats = [float(a) for a in asks]

    baseline = timed(lambda: proportional_float_split(floats, float(target)), args.repeat)
    base = statistics.median(baseline)
    print(f"{args.n:,} lines, firm demand {demand:,}, target {target:,} (coverage {demand / target:.2f}x)")
    print(f"{'case':<34}{'median ms':>11}{'min ms':>10}{'ratio':>9}")
    print(f"{'baseline: float proportional split':<34}{base:>11.2f}{min(baseline):>10.2f}{1:>9.1f}")
    for policy in ("pro_rata", "priority"):
        def run(policy=policy):
            return allocate(lines, target=target, lot=Decimal(1000), min_ticket=Decimal(100_000), policy=policy)

        samples = timed(run, args.repeat)
        result = run()
        zero = sum(1 for a in result.lines if a.amount == 0)
        median = statistics.median(samples)
        print(f"{policy:<34}{median:>11.2f}{min(samples):>10.2f}{median / base:>9.1f}"
              f"   allocated {result.allocated:,} of {result.to_allocate:,}; {zero:,} lines at zero")
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
