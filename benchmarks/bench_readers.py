"""Reading a 1,000,000-row file with the analyst tools' reader, beside pandas' ``read_csv`` of the same file
in the same run (issue 18).

    .venv/bin/python benchmarks/bench_readers.py [--rows 1000000] [--repeat 3] [--seed 0]

The file is a transaction log as a spreadsheet exports it: ``customer,date,amount`` with ISO dates and
amounts with two decimals. Timed: :func:`bcrm.fileanalysis.csvread.read_table` reading the three columns as
text, date and number — with every check it makes (missing-value markers, the decimal mark decided from
all the numbers, the date order decided per column) — and ``pandas.read_csv`` reading the same columns
(C engine, the date column parsed with its format). Prints the median of ``--repeat`` runs after a
warm-up, the ratio, the peak memory of each (tracemalloc), and the load average at start and end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcrm.settings")

import django

django.setup()

from bcrm.fileanalysis.csvread import read_table  # noqa: E402


def write_log(path: Path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    customers = rng.integers(1, rows // 4 + 2, rows)
    days = np.datetime64("2024-01-01") + rng.integers(0, 730, rows).astype("timedelta64[D]")
    amounts = np.round(rng.gamma(2.0, 40.0, rows), 2)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("customer,date,amount\n")
        for c, d, a in zip(customers.tolist(), days.astype(str).tolist(), amounts.tolist(), strict=True):
            handle.write(f"C{c:07d},{d},{a:.2f}\n")


def timed(call, repeat: int) -> tuple[float, int]:
    call()                                          # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import pandas as pd

    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.csv"
        write_log(path, args.rows, args.seed)
        kinds = {"customer": "text", "date": "date", "amount": "number"}
        ours, ours_peak = timed(lambda: read_table(path, lambda header: kinds), args.repeat)
        theirs, theirs_peak = timed(lambda: pd.read_csv(path, usecols=["customer", "date", "amount"],
                                                        parse_dates=["date"], date_format="%Y-%m-%d"), args.repeat)
        print(f"rows {args.rows:,}; file {path.stat().st_size / 2**20:.1f} MiB")
        print(f"bcrm read_table      {ours:7.2f} s   peak {ours_peak / 2**20:7.1f} MiB")
        print(f"pandas read_csv (C)  {theirs:7.2f} s   peak {theirs_peak / 2**20:7.1f} MiB")
        print(f"ratio bcrm / pandas  {ours / theirs:7.2f}x")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
