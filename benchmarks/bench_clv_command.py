"""The user's whole command, ``bcrm analyse clv FILE --summary --json``, beside a ``lifetimes`` script that does
the same from the same CSV file (read it, fit both models, predict per customer), same run.

    .venv/bin/python benchmarks/bench_clv_command.py [--n 1000000] [--repeat 3] [--seed 0] [--out]
        [--lifetimes-python benchmarks/.lifetimes-venv/bin/python] [--keep FILE.csv]

The file: one row per customer ``ID,frequency,recency,T,monetary_value`` drawn as in bench_clv.py (CDNOW
parameters, continuous ages, so nearly every customer is a distinct (x, t_x, T) triple); ages in weeks with six
decimals, spend in cents.

Both sides run as the user runs them, each in its own process, start-up included:

* **bcrm**: ``bcrm analyse clv FILE --summary --json`` (reading with every check, both fits, per customer
  the expected purchases in 12 months, P(alive), the expected spend and the 12-month lifetime value, the
  calibration histogram, the JSON report); with ``--out`` it also writes the per-customer predictions.
* **lifetimes** (its default configuration, in its own virtual environment, see benchmarks/README.md):
  ``pandas.read_csv`` of the same file, ``BetaGeoFitter`` and ``GammaGammaFitter`` fits, per customer the
  expected purchases in 12 months, P(alive) and the expected spend (no lifetime value: lifetimes'
  ``customer_lifetime_value`` is slow and would flatter bcrm); with ``--out`` it writes them with
  ``DataFrame.to_csv``.

Start-up, measured alone in the same run (each side's process doing nothing but its imports), because at
100,000 customers it is a large part of both commands and no fit can make it faster:

* **common floor**, in each side's own environment: ``python -c "import numpy, pandas, scipy.special,
  scipy.optimize"`` — what any Python program that reads the file with pandas and fits with SciPy pays;
* **bcrm start-up**: the settings, the file-analysis app, its subcommands and pandas, then ``--help``;
* **lifetimes start-up**: ``import pandas`` and ``from lifetimes import BetaGeoFitter, GammaGammaFitter``.

The second ratio printed subtracts each side's common floor from its whole command (everything bcrm loads
beyond NumPy, SciPy and pandas — Django's settings, translations, the app — stays on bcrm's side): the
speed-up on what is not the interpreter's and the libraries' start-up. ``--no-startup`` skips these.

Each side first runs once on a 2,000-customer file, untimed, with Python allowed to write its bytecode
caches (``PYTHONDONTWRITEBYTECODE`` is removed from the children's environment): a user's installation has
them (pip compiles at install), and without them bcrm's start-up compiles hundreds of modules every time.
Then the two alternate, ``--repeat`` times each; the figures are the median and minimum wall times and the
CPU time (user + system) of each run, their ratios (lifetimes / bcrm), and the load average at start and
end. On a loaded shared machine the CPU times are the steadier measure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_clv import LIFETIMES_PYTHON, simulate
from benchmarks.loadavg import run_with_load_average

BCRM = str(Path(sys.executable).with_name("bcrm"))
COMMON_IMPORTS = "import numpy, pandas, scipy.special, scipy.optimize"
BCRM_STARTUP = "import pandas; from bcrm.cli import main; main(['analyse', 'clv', '--help'])"
LIFETIMES_STARTUP = "import pandas; from lifetimes import BetaGeoFitter, GammaGammaFitter"
HORIZON_WEEKS = 12 * 4.348                 # bcrm's 12 months in weeks (30.4375 days a month)

LIFETIMES_SCRIPT = r"""
import sys, warnings
import numpy as np
import pandas as pd
warnings.simplefilter("ignore")
from lifetimes import BetaGeoFitter, GammaGammaFitter
frame = pd.read_csv(sys.argv[1])
x, tx, T, z = frame["frequency"], frame["recency"], frame["T"], frame["monetary_value"]
bg = BetaGeoFitter().fit(x, tx, T)
pos = x > 0
gg = GammaGammaFitter().fit(x[pos], z[pos])
frame["expected_transactions"] = bg.conditional_expected_number_of_purchases_up_to_time(%(horizon)r, x, tx, T)
frame["p_alive"] = bg.conditional_probability_alive(x, tx, T)
frame["expected_spend"] = gg.conditional_expected_average_profit(x, z)
if len(sys.argv) > 2:
    frame.to_csv(sys.argv[2], index=False)
print(bg.params_.to_dict(), gg.params_.to_dict())
"""


def write_file(path: Path, n: int, seed: int) -> None:
    x, tx, T, z = simulate(n, seed)
    ids = np.char.add("C", np.arange(1, n + 1).astype(str))
    with path.open("w", encoding="utf-8") as handle:
        handle.write("ID,frequency,recency,T,monetary_value\n")
        for start in range(0, n, 100_000):
            stop = start + 100_000
            handle.write("".join(f"{i},{int(a)},{b:.6f},{c:.6f},{d:.2f}\n" for i, a, b, c, d in
                                 zip(ids[start:stop].tolist(), x[start:stop].tolist(), tx[start:stop].tolist(),
                                     T[start:stop].tolist(), z[start:stop].tolist(), strict=True)))


ENVIRONMENT = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one run of ``command`` (its output is not kept)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=ENVIRONMENT)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", action="store_true", help="both sides also write the per-customer predictions")
    parser.add_argument("--lifetimes-python", default=LIFETIMES_PYTHON)
    parser.add_argument("--keep", default=None, metavar="FILE.csv", help="write the customer file here and keep it")
    parser.add_argument("--no-startup", action="store_true", help="do not measure the start-ups alone")
    args = parser.parse_args()
    python = Path(args.lifetimes_python)
    if not python.exists():
        raise SystemExit(f"no lifetimes interpreter at {python}; install it with\n  python3 -m venv "
                         f"benchmarks/.lifetimes-venv && benchmarks/.lifetimes-venv/bin/pip install lifetimes "
                         f"'setuptools<82' numpy scipy pandas")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.keep) if args.keep else Path(tmp) / "customers.csv"
        if not data.exists():
            write_file(data, args.n, args.seed)
        ours = [BCRM, "analyse", "clv", str(data), "--summary", "--json"]
        theirs = [str(python), "-c", LIFETIMES_SCRIPT % {"horizon": HORIZON_WEEKS}, str(data)]
        if args.out:
            ours += ["--out", str(Path(tmp) / "bcrm.csv")]
            theirs.append(str(Path(tmp) / "lifetimes.csv"))
        warm = Path(tmp) / "warm-up.csv"
        write_file(warm, 2_000, args.seed + 1)
        timed([BCRM, "analyse", "clv", str(warm), "--summary", "--json"])
        timed([str(python), "-c", LIFETIMES_SCRIPT % {"horizon": HORIZON_WEEKS}, str(warm)])
        print(f"# {args.n:,} customers, {data.stat().st_size / 2**20:.1f} MiB; "
              f"{'with' if args.out else 'without'} the per-customer predictions written", flush=True)
        runs = {"bcrm": ours, "lifetimes": theirs}
        if not args.no_startup:
            runs.update({"bcrm floor": [sys.executable, "-c", COMMON_IMPORTS],
                         "lifetimes floor": [str(python), "-c", COMMON_IMPORTS],
                         "bcrm start-up": [sys.executable, "-c", BCRM_STARTUP],
                         "lifetimes start-up": [str(python), "-c", LIFETIMES_STARTUP]})
            for command in list(runs.values())[2:]:         # their bytecode caches, untimed
                timed(command)
        wall: dict[str, list[float]] = {side: [] for side in runs}
        cpu: dict[str, list[float]] = {side: [] for side in runs}
        for _ in range(args.repeat):
            for side, command in runs.items():
                seconds, used = timed(command)
                wall[side].append(seconds)
                cpu[side].append(used)
            print(f"  bcrm {wall['bcrm'][-1]:.2f} s (CPU {cpu['bcrm'][-1]:.2f} s)   lifetimes "
                  f"{wall['lifetimes'][-1]:.2f} s (CPU {cpu['lifetimes'][-1]:.2f} s)", flush=True)
    print(f"{'what':52} {'median s':>9} {'min s':>8} {'CPU s':>8}")
    labels = {"bcrm": "bcrm analyse clv FILE --summary --json" + (" --out" if args.out else ""),
              "lifetimes": "lifetimes script: read_csv, fit, predict" + (", to_csv" if args.out else ""),
              "bcrm floor": "  bcrm's Python: numpy, pandas, scipy (floor)",
              "lifetimes floor": "  lifetimes' Python: numpy, pandas, scipy (floor)",
              "bcrm start-up": "  bcrm start-up alone (analyse clv --help)",
              "lifetimes start-up": "  lifetimes start-up alone (its imports)"}
    for side, label in labels.items():
        if side not in wall:
            continue
        print(f"{label:52} {statistics.median(wall[side]):9.2f} {min(wall[side]):8.2f} "
              f"{statistics.median(cpu[side]):8.2f}")
    print(f"speed-up, the whole command: lifetimes / bcrm = "
          f"{statistics.median(wall['lifetimes']) / statistics.median(wall['bcrm']):.1f}x (median wall), "
          f"{min(wall['lifetimes']) / min(wall['bcrm']):.1f}x (minimum wall), "
          f"{statistics.median(cpu['lifetimes']) / statistics.median(cpu['bcrm']):.1f}x (median CPU)")
    if "bcrm floor" in cpu:
        def beyond(side: str, measure: dict[str, list[float]]) -> float:
            return statistics.median(measure[side]) - statistics.median(measure[f"{side} floor"])

        print(f"speed-up beyond the common floor (each side less its own numpy+pandas+scipy start-up): "
              f"{beyond('lifetimes', wall) / beyond('bcrm', wall):.1f}x (median wall), "
              f"{beyond('lifetimes', cpu) / beyond('bcrm', cpu):.1f}x (median CPU)")


if __name__ == "__main__":
    run_with_load_average(main)
