"""`bcrm demo --clients N --no-serve` from an empty database: the whole time and each phase's.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bcrm_demo BCRM_DATA_DIR=var/demo100k-pg \\
        nice -n 5 .venv/bin/python benchmarks/bench_demo.py --clients 100000
    BCRM_DATA_DIR=var/demo100k nice -n 5 .venv/bin/python benchmarks/bench_demo.py --clients 100000

The command prints each phase's time and ends with the whole time and each phase's share (migrate, logins,
rows, classification per dimension, milestones, service history, first automation run with its overflow,
plans, KPI snapshots, duplicate scan); this runs it in a child process and stamps every line with the seconds
since the start and the 1-minute load average, with the load average at start and end. There is no baseline
query for a whole load: compare a phase with the same phase of another run in the same minutes (and the rows
phase with the rows/s it prints), and read the load average beside it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadavg import run_with_load_average


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-u", str(root / "manage.py"), "demo", "--clients", str(args.clients),
         "--seed", str(args.seed), "--no-serve"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    for line in child.stdout:
        print(f"[{time.perf_counter() - started:8.1f} s  load {os.getloadavg()[0]:5.2f}] {line}", end="", flush=True)
    child.wait()
    print(f"wall {time.perf_counter() - started:.1f} s, exit {child.returncode}", flush=True)


if __name__ == "__main__":
    run_with_load_average(main)
