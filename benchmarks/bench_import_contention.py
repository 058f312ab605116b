"""API requests while a big import writes, on SQLite: errors and latency beside the same clients with no import.

    .venv/bin/python benchmarks/bench_import_contention.py [--rows 200000] [--clients 20] [--seconds 30]

Scratch SQLite database and data folder in ``/tmp/bcrm_bench_contention/`` (recreated).

1. migrate, create a lead with an API token and ``--orgs`` organisations; write a CSV of ``--rows`` new
   organisations (external id, names, kind, country);
2. start the web server (``manage.py runserver --noreload``, threaded) on a free port;
3. baseline: ``--clients`` threads, each an API client (a token of its own per phase), call ``GET /api/v1/me`` and
   ``GET /api/v1/organizations?page=N`` in turn for ``--seconds``;
4. contention: ``bcrm import organizations FILE`` (all or nothing) starts in its own process, and the same
   clients run for ``--seconds`` while it writes (the import's write transaction holds SQLite's only write
   lock).

``--until-done`` keeps the clients going for the whole import (its staging and its write transaction).
Printed per phase: requests, errors (any status other than 200, and timeouts, with the statuses seen),
p50/p95 latency, and the ratio of the contention phase's p50/p95 to the baseline's. Aim: 0 errors.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRATCH = Path("/tmp/bcrm_bench_contention")
TIMEOUT = 30.0


def env() -> dict[str, str]:
    values = {**os.environ, "BCRM_DATA_DIR": str(SCRATCH / "data"), "DJANGO_SETTINGS_MODULE": "bcrm.settings",
              "BCRM_TASKS_IMMEDIATE": "1"}
    values.pop("DATABASE_URL", None)
    return values


def setup(orgs: int) -> tuple[str, str]:
    """Migrate, make the lead, two tokens and ``orgs`` organisations (in this process); the raw tokens: one per
    phase, so the contention phase's first requests write its last-used time while the import runs."""
    os.environ.update(env())
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bcrm.accounts.services import token_create, user_create
    from bcrm.parties.models import Organization

    lead = user_create(actor=None, username="bench_lead", password="bench-pw-2026", roles=["lead"], validate=False)
    raws = token_create(user=lead)[1], token_create(user=lead)[1]
    Organization.objects.bulk_create([
        Organization(legal_name=f"Existing {i}", kind="fund", country="CN", external_id=f"E-{i}") for i in range(orgs)])
    return raws


def write_file(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["external_id", "legal_name", "local_name", "kind", "country"])
        for i in range(rows):
            out.writerow([f"B-{i}", f"Bench Capital {i}", f"基准资本{i}", "fund", "CN"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                              cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2)
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    server.kill()
    raise SystemExit("the server did not start")


def clients(port: int, raw: str, n: int, seconds: float, running=None) -> tuple[list[float], Counter]:
    """``n`` clients for ``seconds`` (or, given ``running``, for as long as it answers true)."""
    latencies: list[float] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def go_on() -> bool:
        return running() if running is not None else time.monotonic() < stop

    def client(k: int) -> None:
        i = 0
        while go_on():
            path = "/api/v1/me" if i % 2 == 0 else f"/api/v1/organizations?page={1 + (k + i) % 5}"
            i += 1
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                             headers={"Authorization": f"Bearer {raw}"})
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                status = f"{type(exc).__name__}"
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors[str(status)] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def report(name: str, latencies: list[float], errors: Counter) -> tuple[float, float]:
    p50, p95 = quantile(latencies, 0.5), quantile(latencies, 0.95)
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none"
    print(f"{name:12} requests {len(latencies):6}  errors {sum(errors.values()):4} ({shown})  "
          f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    return p50, p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--until-done", action="store_true",
                        help="run the clients for the whole import (staging and write), not --seconds of it")
    args = parser.parse_args()

    shutil.rmtree(SCRATCH, ignore_errors=True)
    (SCRATCH / "data").mkdir(parents=True)
    raw, fresh = setup(args.orgs)
    file = SCRATCH / "orgs.csv"
    write_file(file, args.rows)
    port = free_port()
    server = start_server(port)
    try:
        clients(port, raw, 2, 2.0)  # warm-up
        base = report("no import", *clients(port, raw, args.clients, args.seconds))
        started = time.perf_counter()
        importer = subprocess.Popen([sys.executable, "manage.py", "import", "organizations", str(file)],
                                    cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # the import reads its header and starts writing
        running = (lambda: importer.poll() is None) if args.until_done else None
        during = report("during import", *clients(port, fresh, args.clients, args.seconds, running))
        still = importer.poll() is None
        _out, err = importer.communicate()
        took = time.perf_counter() - started
        print(f"import of {args.rows:,} rows: exit {importer.returncode}, {took:.1f} s"
              f"{' (still running when the clients stopped)' if still else ' (ended while the clients ran)'}")
        if importer.returncode:
            print(err.decode(errors="replace")[-2000:])
        for line in err.decode(errors="replace").splitlines():
            if "staged in" in line:   # the import's own log: how long it read and staged, how long it wrote
                print("  " + line.split("INFO", 1)[-1].strip())
        print(f"ratio during/no import: p50 {during[0] / base[0]:.1f}x  p95 {during[1] / base[1]:.1f}x")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    from benchmarks.loadavg import run_with_load_average

    run_with_load_average(main)
